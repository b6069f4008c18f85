// The sandbox's EC2 behaviours around a booting instance's console and a stopped instance's start
// (sandbox/console-and-start.ts), counted in calls.
import {
  EC2Client,
  GetConsoleOutputCommand,
  ModifyInstanceAttributeCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../sandbox/index.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

describe('the sandbox as EC2: console and start', () => {
  let sb: Sandbox;
  let ec2: EC2Client;

  beforeAll(async () => {
    // Only the console and start behaviours: EC2's lag (aws-behaviour.ts, tested in sandbox.test.ts
    // and end to end) would answer this test's own first calls NotFound.
    sb = await startSandbox({ aws: { lateConsole: 2, eventualConsistency: false, connectAfterBoot: false } });
    ec2 = new EC2Client({
      region: sb.region,
      endpoint: sb.endpoint,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    ec2?.destroy();
    await sb?.stop();
  });

  const launch = async (type: string) =>
    (
      await ec2.send(
        new RunInstancesCommand({
          ImageId: 'ami-0d1a00000000a0004',
          InstanceType: type as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
        }),
      )
    ).Instances![0]!.InstanceId!;
  const hasBlock = async (id: string, latest?: boolean) =>
    /BEGIN SSH HOST KEY FINGERPRINTS/.test(
      Buffer.from(
        (await ec2.send(new GetConsoleOutputCommand({ InstanceId: id, Latest: latest }))).Output ?? '',
        'base64',
      ).toString(),
    );
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (err: { name?: string }) => err.name,
    );

  it('shows the fingerprint block only from the (lateConsole + 1)th console call after each boot, per instance', async () => {
    const [a, b] = [await launch('g4dn.xlarge'), await launch('g4dn.xlarge')];
    expect([
      await hasBlock(a, true),
      await hasBlock(a),
      await hasBlock(b),
      await hasBlock(a, true),
      await hasBlock(b),
      await hasBlock(b),
    ]).toEqual([false, false, false, true, false, true]);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [a] }));
    await ec2.send(new StartInstancesCommand({ InstanceIds: [a] }));
    expect([await hasBlock(a), await hasBlock(a), await hasBlock(a)]).toEqual([false, false, true]);
  });

  it('refuses Latest=true for a Xen type only', async () => {
    const xen = await launch('t2.micro');
    expect(await code(hasBlock(xen, true))).toBe('UnsupportedOperation');
    expect(await code(hasBlock(xen))).toBe('ok');
  });

  it('answers the next K starts InsufficientInstanceCapacity, for the types asked; changes a type only while stopped', async () => {
    const id = await launch('g5.xlarge');
    const start = () => code(ec2.send(new StartInstancesCommand({ InstanceIds: [id] })));
    const retype = (type: string) =>
      code(ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: type } })));
    expect(await retype('g4dn.xlarge')).toBe('IncorrectInstanceState');
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    sb.aws.noStartCapacity(2, ['g5.xlarge']);
    sb.aws.noStartCapacity(1);
    expect([await start(), await start(), await start()]).toEqual([
      'InsufficientInstanceCapacity',
      'InsufficientInstanceCapacity',
      'InsufficientInstanceCapacity',
    ]);
    sb.aws.noStartCapacity(5, ['g5.xlarge']);
    expect(await retype('g4dn.xlarge')).toBe('ok');
    expect(await start()).toBe('ok');
    sb.aws.noStartCapacity(0);
  });
});
