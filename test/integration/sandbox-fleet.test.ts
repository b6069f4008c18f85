// The sandbox serves a batch as AWS would: SQS through the same proxy as EC2 (the laptop's SDK and
// an instance's AWS CLI with its instance profile), every queue URL on the proxy; CreateFleet from a
// launch template making one sandbox machine per instance (own sshd, home, boothooks, shutdown
// behaviour, spot interruptions), short of capacity when a test says so; the fleet's and template's
// other calls passed through to moto.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateFleetCommand,
  CreateLaunchTemplateCommand,
  DeleteFleetsCommand,
  DeleteLaunchTemplateCommand,
  DescribeFleetsCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  EC2Client,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { CreateFleetCommandInput, Instance } from '@aws-sdk/client-ec2';
import {
  CreateQueueCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBJECT_KEY } from '../sandbox/aws-behaviour.js';
import { INSTANCE_PROFILE_KEY } from '../sandbox/instance-profile.js';
import { startSandbox, type Sandbox } from '../sandbox/index.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// An observer's key: AWS's behaviours (aws-behaviour.ts) concern the CLI's key (SUBJECT_KEY) only.
const credentials = { accessKeyId: 'observer', secretAccessKey: 'testing' };
const IMAGE = 'ami-0d1a00000000a0004';
const BOOTHOOK = '#cloud-boothook\n#!/bin/sh\necho "booted $INSTANCE_ID" > "$HOME/booted"\n';

/** Every URL host in a text that is not on 127.0.0.0/8. */
const nonLoopback = (text: string): string[] =>
  [...text.matchAll(/https?:\/\/([^/\s"'<>:]+)/g)].map((m) => m[1]!).filter((h) => !/^127\.\d+\.\d+\.\d+$/.test(h));

describe('the sandbox serves a batch (SQS, launch templates, CreateFleet)', () => {
  let sb: Sandbox;
  let ec2: EC2Client;
  let sqs: SQSClient;
  let key: string;
  let templateId: string;
  beforeAll(async () => {
    sb = await startSandbox();
    ec2 = new EC2Client({ region: sb.region, endpoint: sb.endpoint, credentials, maxAttempts: 1 });
    // The laptop's client as ssh-ec2 makes it: the endpoint SSH_EC2_QUEUE_ENDPOINT names.
    sqs = new SQSClient({ region: sb.region, endpoint: sb.env().SSH_EC2_QUEUE_ENDPOINT, credentials, maxAttempts: 1 });
    key = join(sb.dir, 'client-key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    sb.authorizeKey(readFileSync(`${key}.pub`, 'utf8'));
    const made = await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'ssh-ec2-sweep-20261130-192400',
        LaunchTemplateData: {
          ImageId: IMAGE,
          UserData: Buffer.from(BOOTHOOK).toString('base64'),
          InstanceInitiatedShutdownBehavior: 'terminate',
          IamInstanceProfile: { Name: 'ssh-ec2-instance' },
          TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'ssh-ec2:project', Value: 'p' }] }],
        },
        TagSpecifications: [
          { ResourceType: 'launch-template', Tags: [{ Key: 'ssh-ec2:batch', Value: 'sweep-20261130-192400' }] },
        ],
      }),
    );
    templateId = made.LaunchTemplate!.LaunchTemplateId!;
  });
  afterAll(async () => {
    ec2?.destroy();
    sqs?.destroy();
    await sb?.stop();
  });

  /** One instant fleet from the template: `count` of the types given (in order), tagged as a batch's lane. */
  const fleet = (
    count: number,
    types: string[],
    market: 'spot' | 'on-demand' = 'on-demand',
    client = ec2,
    template = templateId,
  ) =>
    client.send(
      new CreateFleetCommand({
        Type: 'instant',
        LaunchTemplateConfigs: [
          {
            LaunchTemplateSpecification: { LaunchTemplateId: template, Version: '$Latest' },
            Overrides: types.map((InstanceType) => ({ InstanceType: InstanceType as 't3.micro' })),
          },
        ],
        TargetCapacitySpecification: { TotalTargetCapacity: count, DefaultTargetCapacityType: market },
        ...(market === 'spot' && { SpotOptions: { AllocationStrategy: 'price-capacity-optimized' } }),
        TagSpecifications: [
          { ResourceType: 'fleet', Tags: [{ Key: 'ssh-ec2:batch', Value: 'sweep-20261130-192400' }] },
          { ResourceType: 'instance', Tags: [{ Key: 'ssh-ec2:batch', Value: 'sweep-20261130-192400' }] },
        ],
      } satisfies CreateFleetCommandInput),
    );
  const idsOf = (out: { Instances?: { InstanceIds?: string[] }[] }): string[] =>
    (out.Instances ?? []).flatMap((i) => i.InstanceIds ?? []);
  const described = async (ids: string[]): Promise<Instance[]> =>
    (await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }))).Reservations!.flatMap((r) => r.Instances!);
  const ssh = (address: string, command: string) =>
    execa(
      'ssh',
      [
        ...['-F', sb.sshConfig, '-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR'],
        ...['-o', `UserKnownHostsFile=${join(sb.dir, 'kh')}`, '-o', 'StrictHostKeyChecking=accept-new'],
        ...['-o', `HostKeyAlias=${address}`, '-l', sb.user, address, command],
      ],
      { reject: false, stdin: 'ignore' },
    );
  const terminate = (ids: string[]) =>
    ids.length > 0 ? ec2.send(new TerminateInstancesCommand({ InstanceIds: ids })) : Promise.resolve();

  /** The instance's AWS CLI as the agent's scripts run it: the instance profile only, via the sandbox's IMDS. */
  const instanceAws = (args: string) =>
    `env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_EC2_METADATA_DISABLED ` +
    `-u AWS_ENDPOINT_URL AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null ` +
    `AWS_EC2_METADATA_SERVICE_ENDPOINT='${sb.imdsUrl}/' AWS_DEFAULT_REGION='${sb.region}' ` +
    `/usr/bin/aws ${args} --endpoint-url '${sb.env().SSH_EC2_QUEUE_ENDPOINT}' --output json`;

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
    const bare = new SQSClient({
      region: sb.region,
      credentials,
      maxAttempts: 1,
      logger: { ...console, warn: () => {} },
    });
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

  it('CreateFleet instant of 3 from a launch template: 3 separate machines, each its own sshd and home, the boothook run', async () => {
    const before = sb.machines().length;
    const out = await fleet(3, ['t3.micro']);
    const ids = idsOf(out);
    expect(ids).toHaveLength(3);
    expect(out.Errors ?? []).toEqual([]);
    expect(
      sb
        .machines()
        .slice(before)
        .map((m) => m.instanceId),
    ).toEqual(expect.arrayContaining(ids));
    const instances = await described(ids);
    expect(instances.map((i) => i.State?.Name)).toEqual(['running', 'running', 'running']);
    // Tagged as EC2 tags a fleet's instances: the fleet's and template's tags, and AWS's own.
    for (const i of instances)
      expect(Object.fromEntries((i.Tags ?? []).map((t) => [t.Key, t.Value]))).toEqual({
        'ssh-ec2:project': 'p',
        'ssh-ec2:batch': 'sweep-20261130-192400',
        'aws:ec2:fleet-id': out.FleetId,
        'aws:ec2launchtemplate:id': templateId,
        'aws:ec2launchtemplate:version': '1',
      });
    for (const i of instances) {
      const m = sb.machine(i.InstanceId!);
      expect(m.userData).toBe(BOOTHOOK);
      expect(readFileSync(join(m.home, 'booted'), 'utf8')).toBe(`booted ${i.InstanceId}\n`);
      // Nothing but loopback: the address the client is told reaches this machine's own sshd.
      expect(i.PublicIpAddress).toMatch(/^127\./);
      expect(m.addresses).toContain(i.PublicIpAddress);
      const r = await ssh(i.PublicIpAddress!, 'cat booted; echo mine > where.txt; ls');
      expect(r.stdout).toBe(`booted ${i.InstanceId}\nbooted\nwhere.txt`);
    }
    expect(new Set(ids.map((id) => sb.machine(id).sshPort())).size).toBe(3);
    expect(new Set(ids.map((id) => sb.machine(id).home)).size).toBe(3);
    expect(nonLoopback(readFileSync(sb.sshConfig, 'utf8'))).toEqual([]);
    expect(readFileSync(sb.sshConfig, 'utf8')).not.toMatch(/HostName (?!127\.)/);
    await terminate(ids);
  });

  it("a fleet instance powering itself off is terminated (the template's shutdown behaviour), and its IMDS serves the instance profile", async () => {
    const [id] = idsOf(await fleet(1, ['t3.micro']));
    const m = sb.machine(id!);
    const creds = await m.runAsUser(
      `t=$(curl -sS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' ${sb.imdsUrl}/latest/api/token) && ` +
        `curl -sS -H "X-aws-ec2-metadata-token: $t" ${sb.imdsUrl}/latest/meta-data/iam/security-credentials/`,
    );
    expect(creds.stdout).toBe('ssh-ec2-sandbox-instance-role');
    await m.runAsUser(sb.poweroffCommand);
    expect(sb.poweroffs().at(-1)).toMatchObject({ instanceId: id, action: 'TerminateInstances', status: 200 });
    expect((await described([id!]))[0]?.State?.Name).toBe('terminated');
    expect(m.state()).toBe('terminated');
  });

  it('SQS from a fleet instance: its AWS CLI with the instance profile reaches moto through the proxy', async () => {
    const [id] = idsOf(await fleet(1, ['t3.micro']));
    const m = sb.machine(id!);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'ssh-ec2-from-instance' }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'job one' }));
    sb.clearCalls();
    const r = await m.runAsUser(
      instanceAws(`sqs receive-message --queue-url '${QueueUrl}' --wait-time-seconds 1 --visibility-timeout 30`),
    );
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect((JSON.parse(r.stdout) as { Messages: { Body: string }[] }).Messages.map((x) => x.Body)).toEqual(['job one']);
    expect(
      (await m.runAsUser(instanceAws(`sqs send-message --queue-url '${QueueUrl}' --message-body b`))).exitCode,
    ).toBe(0);
    const urls = await m.runAsUser(instanceAws('sqs list-queues --queue-name-prefix ssh-ec2-from'));
    expect(nonLoopback(urls.stdout)).toEqual([]);
    expect(JSON.parse(urls.stdout)).toEqual({ QueueUrls: [QueueUrl] });
    expect(sb.calls().map((c) => [c.service, c.action, c.status, c.accessKey])).toEqual([
      ['sqs', 'ReceiveMessage', 200, INSTANCE_PROFILE_KEY],
      ['sqs', 'SendMessage', 200, INSTANCE_PROFILE_KEY],
      ['sqs', 'ListQueues', 200, INSTANCE_PROFILE_KEY],
    ]);
    await terminate([id!]);
  });

  it('short of capacity: the fleet gets what there is, the rest from its next override, and Errors name what fell short (HTTP 200)', async () => {
    sb.fleetCapacity('t3.micro', 1);
    try {
      const alone = await fleet(3, ['t3.micro']);
      expect(idsOf(alone)).toHaveLength(1);
      expect(alone.Errors).toEqual([
        expect.objectContaining({
          ErrorCode: 'InsufficientInstanceCapacity',
          Lifecycle: 'on-demand',
          LaunchTemplateAndOverrides: expect.objectContaining({ Overrides: { InstanceType: 't3.micro' } }),
        }),
      ]);
      const two = await fleet(3, ['t3.micro', 't3.small']);
      expect(two.Instances?.map((i) => [i.InstanceType, i.InstanceIds?.length])).toEqual([
        ['t3.micro', 1],
        ['t3.small', 2],
      ]);
      expect(two.Errors?.map((e) => [e.ErrorCode, e.LaunchTemplateAndOverrides?.Overrides?.InstanceType])).toEqual([
        ['InsufficientInstanceCapacity', 't3.micro'],
      ]);
      // Each is a machine, of the type the answer says; the other override's from the same template.
      const ids = [...idsOf(alone), ...idsOf(two)];
      const types = (await described(ids)).map((i) => [i.InstanceId, i.InstanceType]);
      expect(Object.fromEntries(types)).toEqual(
        Object.fromEntries(
          [...(alone.Instances ?? []), ...(two.Instances ?? [])].flatMap((g) =>
            (g.InstanceIds ?? []).map((id) => [id, g.InstanceType]),
          ),
        ),
      );
      for (const id of ids) expect(readFileSync(join(sb.machine(id).home, 'booted'), 'utf8')).toBe(`booted ${id}\n`);
      await terminate(ids);

      // No spot capacity at all for a type: nothing, and the on-demand fleet that follows gets it.
      sb.fleetCapacity('t3.small', 0, 'spot');
      const none = await fleet(2, ['t3.small'], 'spot');
      expect(idsOf(none)).toEqual([]);
      expect(none.FleetId).toMatch(/^fleet-/);
      expect(none.Errors?.map((e) => [e.ErrorCode, e.Lifecycle])).toEqual([['InsufficientInstanceCapacity', 'spot']]);
      const onDemand = await fleet(2, ['t3.small']);
      expect(idsOf(onDemand)).toHaveLength(2);
      expect(onDemand.Errors ?? []).toEqual([]);
      await terminate(idsOf(onDemand));
    } finally {
      sb.fleetCapacity('t3.micro', undefined);
      sb.fleetCapacity('t3.small', undefined, 'spot');
    }
  });

  it('an injected fault fails the whole CreateFleet, and nothing is launched', async () => {
    const before = sb.machines().length;
    sb.inject({ action: 'CreateFleet', status: 400, code: 'InsufficientInstanceCapacity', message: 'none' });
    const err = await fleet(2, ['t3.micro']).catch((e: unknown) => e);
    expect((err as Error).name).toBe('InsufficientInstanceCapacity');
    expect(sb.machines()).toHaveLength(before);
    expect(sb.calls('CreateFleet').at(-1)).toMatchObject({ injected: true, status: 400 });
  });

  it('CreateFleet is idempotent by ClientToken: a retry after a lost answer gets the same fleet, no second launch', async () => {
    const retrying = new EC2Client({ region: sb.region, endpoint: sb.endpoint, credentials, maxAttempts: 2 });
    try {
      const before = sb.machines().length;
      sb.inject({ action: 'CreateFleet', afterForward: true }); // moto launches, the client hears a 500
      const out = await fleet(2, ['t3.micro'], 'on-demand', retrying);
      expect(idsOf(out)).toHaveLength(2);
      expect(sb.machines()).toHaveLength(before + 2);
      expect(sb.calls('CreateFleet').slice(-2)).toMatchObject([{ injected: true }, { replayed: true, status: 200 }]);
      await terminate(idsOf(out));
    } finally {
      retrying.destroy();
    }
  });

  it("a spot fleet's instances are spot instances (one-time requests) that EC2 can interrupt", async () => {
    const out = await fleet(2, ['t3.micro'], 'spot');
    const ids = idsOf(out);
    expect(new Set(out.Instances?.map((i) => i.Lifecycle))).toEqual(new Set(['spot']));
    const instances = await described(ids);
    expect(instances.map((i) => i.InstanceLifecycle)).toEqual(['spot', 'spot']);
    expect(instances.every((i) => /^sir-/.test(String(i.SpotInstanceRequestId)))).toBe(true);
    expect(sb.spot.requests().filter((r) => ids.includes(r.instanceId ?? ''))).toHaveLength(2);
    const [id, other] = ids as [string, string];
    sb.announceInterruption(id, 'terminate');
    const notice = (m = sb.machine(id)) =>
      m.runAsUser(
        `t=$(curl -sS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' ${sb.imdsUrl}/latest/api/token) && ` +
          `curl -sS -H "X-aws-ec2-metadata-token: $t" ${sb.imdsUrl}/latest/meta-data/spot/instance-action`,
      );
    expect(JSON.parse((await notice()).stdout)).toMatchObject({ action: 'terminate' });
    expect((await notice(sb.machine(other))).stdout).toBe('Not Found');
    await sb.completeInterruption(id);
    const [gone] = await described([id]);
    expect(gone?.State?.Name).toBe('terminated');
    expect(gone?.StateReason?.Code).toBe('Server.SpotInstanceTermination');
    expect(sb.machine(id).state()).toBe('terminated');
    await terminate([other]);
  });

  it('a spot fleet from a template whose shutdown behaviour is stop: refused per override as EC2 does, no instance', async () => {
    const made = await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'ssh-ec2-stopping-20261130-192400',
        LaunchTemplateData: { ImageId: IMAGE, InstanceInitiatedShutdownBehavior: 'stop' },
      }),
    );
    const stopping = made.LaunchTemplate!.LaunchTemplateId!;
    const spot = await fleet(2, ['t3.micro', 't3.small'], 'spot', ec2, stopping);
    expect(idsOf(spot)).toEqual([]);
    expect(spot.Errors?.map((e) => [e.ErrorCode, e.LaunchTemplateAndOverrides?.Overrides?.InstanceType])).toEqual([
      ['UnsupportedOperation', 't3.micro'],
      ['UnsupportedOperation', 't3.small'],
    ]);
    expect(spot.Errors?.[0]?.ErrorMessage).toMatch(/not supported for spot instances/);
    // On demand, the same template launches (an on-demand instance can stop).
    const onDemand = await fleet(1, ['t3.micro'], 'on-demand', ec2, stopping);
    expect(idsOf(onDemand)).toHaveLength(1);
    expect(onDemand.Errors ?? []).toEqual([]);
    await terminate(idsOf(onDemand));
    await ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateId: stopping }));
  });

  it("the CLI's own DescribeInstances by id just after CreateFleet hears NotFound once, as after RunInstances", async () => {
    const subject = new EC2Client({
      region: sb.region,
      endpoint: sb.endpoint,
      credentials: { accessKeyId: SUBJECT_KEY, secretAccessKey: 'testing' },
      maxAttempts: 1,
    });
    try {
      const ids = idsOf(await fleet(1, ['t3.micro'], 'on-demand', subject));
      const first = await subject.send(new DescribeInstancesCommand({ InstanceIds: ids })).catch((e: unknown) => e);
      expect((first as Error).name).toBe('InvalidInstanceID.NotFound');
      const second = await subject.send(new DescribeInstancesCommand({ InstanceIds: ids }));
      expect(second.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(ids[0]);
      await terminate(ids);
    } finally {
      subject.destroy();
    }
  });

  it('DeleteFleets of an instant fleet with TerminateInstances: its instances terminated, their machines down', async () => {
    const made = await fleet(1, ['t3.micro']);
    const [id] = idsOf(made);
    expect(sb.machine(id!).state()).not.toBe('terminated');
    const refused = await ec2.send(new DeleteFleetsCommand({ FleetIds: [made.FleetId!], TerminateInstances: false }));
    expect(refused.UnsuccessfulFleetDeletions?.[0]?.Error?.Code).toBe('unexpectedError');
    expect((await described([id!]))[0]!.State?.Name).toBe('running');
    const r = await ec2.send(new DeleteFleetsCommand({ FleetIds: [made.FleetId!], TerminateInstances: true }));
    expect(r.SuccessfulFleetDeletions?.map((d) => d.FleetId)).toEqual([made.FleetId]);
    expect((await described([id!]))[0]!.State?.Name).toMatch(/^(shutting-down|terminated)$/);
    expect(sb.machine(id!).state()).toBe('terminated');
  });

  it('DescribeFleets, DeleteFleets, DescribeLaunchTemplates and DeleteLaunchTemplate pass through, tag filters too', async () => {
    const byBatch = [{ Name: 'tag:ssh-ec2:batch', Values: ['sweep-20261130-192400'] }];
    sb.listInstantFleets(true);
    const fleets = (await ec2.send(new DescribeFleetsCommand({ Filters: byBatch }))).Fleets ?? [];
    expect(fleets.length).toBeGreaterThan(0);
    expect(fleets.every((f) => f.Tags?.some((t) => t.Key === 'ssh-ec2:batch'))).toBe(true);
    expect(
      (await ec2.send(new DescribeFleetsCommand({ Filters: [{ Name: 'tag:ssh-ec2:batch', Values: ['no'] }] })))
        .Fleets ?? [],
    ).toEqual([]);
    const ids = fleets.map((f) => f.FleetId!);
    // As AWS documents it (the sandbox's default): an instant fleet is listed only when asked for by its id.
    sb.listInstantFleets(false);
    expect((await ec2.send(new DescribeFleetsCommand({ Filters: byBatch }))).Fleets ?? []).toEqual([]);
    const one = await ec2.send(new DescribeFleetsCommand({ FleetIds: [ids[0]!] }));
    expect(one.Fleets?.map((f) => f.FleetId)).toEqual([ids[0]]);
    // As AWS: an instant fleet is deleted only with its instances; asked to keep them, it is refused.
    const kept = await ec2.send(new DeleteFleetsCommand({ FleetIds: ids, TerminateInstances: false }));
    expect(kept.SuccessfulFleetDeletions ?? []).toEqual([]);
    expect(kept.UnsuccessfulFleetDeletions?.map((d) => [d.FleetId, d.Error?.Code]).sort()).toEqual(
      [...ids].sort().map((id) => [id, 'unexpectedError']),
    );
    const deleted = await ec2.send(new DeleteFleetsCommand({ FleetIds: ids, TerminateInstances: true }));
    expect(deleted.SuccessfulFleetDeletions?.map((d) => d.FleetId).sort()).toEqual([...ids].sort());
    const templates = await ec2.send(new DescribeLaunchTemplatesCommand({ Filters: byBatch }));
    expect(templates.LaunchTemplates?.map((t) => t.LaunchTemplateId)).toEqual([templateId]);
    await ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateId: templateId }));
    expect((await ec2.send(new DescribeLaunchTemplatesCommand({ Filters: byBatch }))).LaunchTemplates ?? []).toEqual(
      [],
    );
    expect(sb.calls().filter((c) => c.status >= 500 && !c.injected)).toEqual([]);
  });
});
