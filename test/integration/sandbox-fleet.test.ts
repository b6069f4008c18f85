// The sandbox serves a batch as AWS would: SQS through the same proxy as EC2 (the laptop's SDK and
// an instance's AWS CLI with its instance profile), every queue URL on the proxy; CreateFleet from a
// launch template making one sandbox machine per instance (own sshd, home, boothooks), short of
// capacity when a test says so.
import { EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateQueueCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTANCE_PROFILE_KEY } from '../sandbox/instance-profile.js';
import { startSandbox, type Sandbox } from '../sandbox/index.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const credentials = { accessKeyId: 'observer', secretAccessKey: 'testing' };
const IMAGE = 'ami-0d1a00000000a0004';

/** Every URL in a text that is not on 127.0.0.0/8. */
const nonLoopback = (text: string): string[] =>
  [...text.matchAll(/https?:\/\/([^/\s"'<>:]+)/g)].map((m) => m[1]!).filter((h) => !/^127\.\d+\.\d+\.\d+$/.test(h));

describe('the sandbox serves a batch (SQS, launch templates, CreateFleet)', () => {
  let sb: Sandbox;
  let ec2: EC2Client;
  let sqs: SQSClient;
  beforeAll(async () => {
    sb = await startSandbox();
    ec2 = new EC2Client({ region: sb.region, endpoint: sb.endpoint, credentials, maxAttempts: 1 });
    // The laptop's client as ssh-ec2 makes it: the endpoint SSH_EC2_QUEUE_ENDPOINT names.
    sqs = new SQSClient({
      region: sb.region,
      endpoint: sb.env().SSH_EC2_QUEUE_ENDPOINT,
      credentials,
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    ec2?.destroy();
    sqs?.destroy();
    await sb?.stop();
  });

  /** The instance's AWS CLI as the agent's scripts run it: the instance profile only, via the sandbox's IMDS. */
  const instanceAws = (args: string) =>
    `env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_EC2_METADATA_DISABLED ` +
    `-u AWS_ENDPOINT_URL AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null ` +
    `AWS_EC2_METADATA_SERVICE_ENDPOINT='${sb.imdsUrl}/' AWS_DEFAULT_REGION='${sb.region}' ` +
    `/usr/bin/aws ${args} --endpoint-url '${sb.endpoint}' --output json`;

  it('SQS from the laptop: create, send, receive through the proxy, every queue URL on it, each call recorded', async () => {
    expect(sb.env().SSH_EC2_QUEUE_ENDPOINT).toBe(sb.endpoint);
    sb.clearCalls();
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: 'ssh-ec2-sweep-1', tags: { 'ssh-ec2:batch': 'sweep' } }),
    );
    expect(QueueUrl).toBe(`${sb.endpoint}/123456789012/ssh-ec2-sweep-1`);
    expect((await sqs.send(new GetQueueUrlCommand({ QueueName: 'ssh-ec2-sweep-1' }))).QueueUrl).toBe(QueueUrl);
    expect((await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'ssh-ec2-' }))).QueueUrls).toEqual([QueueUrl]);
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: '{"job":"a"}' }));
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 }));
    expect(got.Messages?.map((m) => m.Body)).toEqual(['{"job":"a"}']);
    expect(sb.calls().map((c) => [c.service, c.action, c.status])).toEqual([
      ['sqs', 'CreateQueue', 200],
      ['sqs', 'GetQueueUrl', 200],
      ['sqs', 'ListQueues', 200],
      ['sqs', 'SendMessage', 200],
      ['sqs', 'ReceiveMessage', 200],
    ]);
    expect(sb.calls('SendMessage')[0]).toMatchObject({ params: { QueueUrl }, accessKey: 'observer' });
  });

  it('a QueueUrl on the SDK client with no endpoint of its own still reaches the proxy (moto never says amazonaws.com)', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'ssh-ec2-nohost' }));
    expect(nonLoopback(String(QueueUrl))).toEqual([]);
    // No endpoint: the SDK would go to sqs.<region>.amazonaws.com, but takes the QueueUrl's host.
    const bare = new SQSClient({ region: sb.region, credentials, maxAttempts: 1 });
    try {
      sb.clearCalls();
      await bare.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x' }));
      expect(sb.calls('SendMessage')).toHaveLength(1);
    } finally {
      bare.destroy();
    }
  });

  it("an injected SQS fault reaches the SDK in SQS's error format", async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'ssh-ec2-fault' }));
    sb.inject({ action: 'ReceiveMessage', status: 400, code: 'OverLimit', message: 'too many in flight' });
    const err = await sqs.send(new ReceiveMessageCommand({ QueueUrl })).catch((e: unknown) => e);
    expect((err as Error).name).toBe('OverLimit');
    expect(sb.calls('ReceiveMessage').at(-1)).toMatchObject({ service: 'sqs', status: 400, injected: true });
  });

  it("SQS from an instance: its AWS CLI with the instance profile's credentials reaches moto through the proxy", async () => {
    const launched = await ec2.send(
      new RunInstancesCommand({ ImageId: IMAGE, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
    );
    const id = launched.Instances![0]!.InstanceId!;
    const m = sb.machine(id);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'ssh-ec2-from-instance' }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'job one' }));
    sb.clearCalls();
    const r = await m.runAsUser(
      instanceAws(`sqs receive-message --queue-url '${QueueUrl}' --wait-time-seconds 1 --visibility-timeout 30`),
    );
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect((JSON.parse(r.stdout) as { Messages: { Body: string }[] }).Messages.map((x) => x.Body)).toEqual(['job one']);
    const sent = await m.runAsUser(instanceAws(`sqs send-message --queue-url '${QueueUrl}' --message-body again`));
    expect(sent.exitCode).toBe(0);
    const urls = await m.runAsUser(instanceAws(`sqs list-queues --queue-name-prefix ssh-ec2-from`));
    expect(nonLoopback(urls.stdout)).toEqual([]);
    expect(JSON.parse(urls.stdout)).toEqual({ QueueUrls: [QueueUrl] });
    expect(sb.calls().map((c) => [c.service, c.action, c.status, c.accessKey])).toEqual([
      ['sqs', 'ReceiveMessage', 200, INSTANCE_PROFILE_KEY],
      ['sqs', 'SendMessage', 200, INSTANCE_PROFILE_KEY],
      ['sqs', 'ListQueues', 200, INSTANCE_PROFILE_KEY],
    ]);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });
});
