// What real AWS does and moto does not (test/sandbox/aws-behaviour.ts), end to end: EC2's eventual
// consistency, Instance Connect just after boot, expired credentials, a launch that dies while
// pending. Each test reads the instance's final state from the API and the calls the proxy saw.
import { DeleteSecurityGroupCommand } from '@aws-sdk/client-ec2';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApiCall } from '../sandbox/index.js';
import {
  BIN,
  cli,
  ec2Client,
  instances,
  instanceState,
  launches,
  makeProject,
  reportedInstance,
  sshSecurityGroups,
  useSandbox,
  forgetLaunchCache,
} from './helpers.js';

const sb = useSandbox();
afterEach(() => {
  // Back to the sandbox's defaults.
  sb.aws.setEventualConsistency({ calls: 1 });
  sb.aws.setConnectAfterBoot(true);
  sb.aws.expireCredentials(false);
  sb.clearFaults();
});

// No instance profile: the sandbox has none, and finding that out adds a RunInstances of its own.
const NO_PROFILE = ['--iam-profile', ''];

/** Makes the next session the account's first: its security group is created again. */
async function forgetSecurityGroup() {
  const ec2 = ec2Client(sb);
  for (const g of await sshSecurityGroups(sb)) await ec2.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId }));
  // And the cached group id with it (a stale one is recovered from: round-trips.test.ts).
  forgetLaunchCache(sb);
}

/** The calls of `action` naming `id`, as [status, answered by an AWS behaviour]. */
function naming(action: string, id: string): [number, boolean][] {
  return sb
    .calls(action)
    .filter((c: ApiCall) => Object.values(c.params).includes(id))
    .map((c) => [c.status, !!c.behaviour]);
}

/** Instances of a project directory that are not terminated. */
async function liveOf(dir: string) {
  return (await instances(sb)).filter(
    (i) => i.Tags?.some((t) => t.Key === 'ssh-ec2:dir' && t.Value === dir) && i.State?.Name !== 'terminated',
  );
}

describe('eventual consistency', () => {
  it('a new instance and security group unknown to EC2 at first, and Instance Connect refusing the first push: retried, the command runs, one instance, terminated', async () => {
    await forgetSecurityGroup();
    const dir = makeProject(sb, 'settling');
    sb.clearCalls();
    const r = await cli(sb, [...NO_PROFILE, 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    const id = reportedInstance(r.stderr);
    expect(launches(sb)).toHaveLength(1);
    // The first DescribeInstances by id answered NotFound, as EC2 may; never taken for "gone".
    const described = naming('DescribeInstances', id);
    expect(described[0]).toEqual([400, true]);
    expect(described.at(-1)).toEqual([200, false]);
    expect(sb.calls('DescribeInstances').find((c) => c.behaviour)?.params['InstanceId.1']).toBe(id);
    // The group just created: its first rule answered InvalidGroup.NotFound, then added.
    const group = sb.calls('CreateSecurityGroup')[0];
    expect(group?.status).toBe(200);
    const authorized = sb.calls('AuthorizeSecurityGroupIngress');
    expect(authorized.map((c) => [c.status, !!c.behaviour])).toEqual([
      [400, true],
      [200, false],
    ]);
    // Instance Connect: the first push after boot refused (state invalid), the next accepted.
    expect(naming('SendSSHPublicKey', id).slice(0, 2)).toEqual([
      [400, true],
      [200, false],
    ]);
    expect(await instanceState(sb, id)).toBe('terminated');
    expect(await liveOf(dir)).toEqual([]);
  });

  it('the new security group not yet known where instances are launched: the RunInstances answered InvalidGroup.NotFound is sent again, one instance', async () => {
    await forgetSecurityGroup();
    sb.aws.setEventualConsistency({ calls: 1, actions: ['RunInstances'] });
    const dir = makeProject(sb, 'group-settling');
    sb.clearCalls();
    const r = await cli(sb, [...NO_PROFILE, 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    const runs = sb.calls('RunInstances');
    expect(runs.map((c) => [c.status, !!c.behaviour])).toEqual([
      [400, true],
      [200, false],
    ]);
    expect(runs[1]!.params.ClientToken).toBe(runs[0]!.params.ClientToken);
    expect(await instanceState(sb, reportedInstance(r.stderr))).toBe('terminated');
    expect(await liveOf(dir)).toEqual([]);
  });

  it('the tags of a new instance: a CreateTags answered NotFound is sent again', async () => {
    sb.aws.setEventualConsistency({ calls: 1, actions: ['CreateTags'] });
    const dir = makeProject(sb, 'tags-settling');
    sb.clearCalls();
    // A new instance carries its limits' tags from the launch; they are written again once it is
    // connected only when they changed: with --max-time, its deadline is counted from then. A
    // launch answered more than a second after it was asked makes that deadline another second.
    const held = sb.hold('RunInstances');
    const running = cli(sb, [...NO_PROFILE, '--max-time', '1h', 'echo ran'], { cwd: dir });
    await held.arrived;
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    held.release();
    const r = await running;
    expect(r.exitCode, r.stderr).toBe(0);
    const id = reportedInstance(r.stderr);
    expect(naming('CreateTags', id)).toEqual([
      [400, true],
      [200, false],
    ]);
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('a terminate answered NotFound (twice) for the instance just launched is retried, never dropped: terminated', async () => {
    sb.aws.setEventualConsistency({ calls: 2, actions: ['TerminateInstances'] });
    const dir = makeProject(sb, 'terminate-settling');
    sb.clearCalls();
    const r = await cli(sb, [...NO_PROFILE, 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const id = reportedInstance(r.stderr);
    expect(naming('TerminateInstances', id)).toEqual([
      [400, true],
      [400, true],
      [200, false],
    ]);
    expect(r.stderr).toContain(`terminated ${id}`);
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('two first runs creating the security group at once: the second creation answers InvalidGroup.Duplicate and that run uses the group the other made', async () => {
    await forgetSecurityGroup();
    const [a, b] = [makeProject(sb, 'duplicate-a'), makeProject(sb, 'duplicate-b')];
    sb.clearCalls();
    // A's CreateSecurityGroup is held in flight (A found no group) while B, started after it,
    // creates the group and runs to its end; then A's creation reaches EC2. Letting A go only after
    // B has ended fixes the order of the two creations (B's made, A's Duplicate) without a race; the
    // runs have separate instances (each its own sshd and home), so nothing else orders them.
    const createA = sb.hold('CreateSecurityGroup');
    const runA = execa('node', [BIN, ...NO_PROFILE, 'echo a'], {
      cwd: a,
      env: sb.env(),
      extendEnv: false,
      stdin: 'ignore',
      reject: false,
      timeout: 90_000,
    });
    await createA.arrived;
    const rb = await cli(sb, [...NO_PROFILE, 'echo b'], { cwd: b });
    createA.release();
    const ra = await runA;
    expect(ra.exitCode, String(ra.stderr)).toBe(0);
    expect(rb.exitCode, rb.stderr).toBe(0);
    expect([ra.stdout, rb.stdout]).toEqual(['a', 'b\n']);
    expect(String(ra.stderr)).not.toMatch(/could not|error/i);
    const creates = sb.calls('CreateSecurityGroup');
    expect(creates.map((c) => c.status)).toEqual([200, 400]);
    const groups = await sshSecurityGroups(sb);
    expect(groups).toHaveLength(1);
    // Both launched into the one group.
    expect(launches(sb).map((c) => c.params['SecurityGroupId.1'])).toEqual([groups[0]!.GroupId, groups[0]!.GroupId]);
    expect(await liveOf(a)).toEqual([]);
    expect(await liveOf(b)).toEqual([]);
  });
});

describe('expired credentials', () => {
  it('expired before the run: exit 3 saying to renew them, nothing launched', async () => {
    const dir = makeProject(sb, 'expired-early');
    sb.clearCalls();
    sb.aws.expireCredentials({ ec2Code: 'RequestExpired' });
    const r = await cli(sb, [...NO_PROFILE, 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/your AWS credentials have expired \(AWS answered RequestExpired/);
    expect(r.stderr).toMatch(/Renew them/);
    expect(r.stdout).toBe('');
    expect(launches(sb)).toEqual([]);
    expect(await liveOf(dir)).toEqual([]);
  });

  for (const [connectCode, ec2Code] of [
    ['UnrecognizedClientException', 'RequestExpired'],
    ['InvalidSignatureException', 'ExpiredToken'],
  ] as const) {
    it(`expiring after the launch (Instance Connect: ${connectCode}, EC2: ${ec2Code}): exit 3, the instance named with how to end it; once renewed, ssh-ec2 down ends it`, async () => {
      const dir = makeProject(sb, `expired-${connectCode}`);
      sb.clearCalls();
      sb.aws.expireCredentials({ from: 'SendSSHPublicKey', connectCode, ec2Code });
      const r = await cli(sb, [...NO_PROFILE, 'echo ran'], { cwd: dir });
      expect(r.exitCode, r.stderr).toBe(3);
      expect(r.stdout).toBe('');
      const id = reportedInstance(r.stderr);
      expect(r.stderr).toContain(`your AWS credentials have expired (AWS answered ${connectCode}`);
      expect(r.stderr).toContain(`could not terminate ${id}: your AWS credentials have expired`);
      expect(r.stderr).toContain(`run \`ssh-ec2 down\` in ${dir}`);
      expect(sb.calls('TerminateInstances').map((c) => [c.status, c.behaviour])).toEqual([[400, true]]);
      expect(await instanceState(sb, id)).toBe('running');

      sb.aws.expireCredentials(false);
      const down = await cli(sb, ['down', '--yes'], { cwd: dir });
      expect(down.exitCode, down.stderr).toBe(0);
      expect(await instanceState(sb, id)).toBe('terminated');
      expect(await liveOf(dir)).toEqual([]);
    });
  }
});

describe('a launch that dies while pending', () => {
  it('EC2 ends the instance while pending (Client.InternalError): exit 4 with its StateReason, nothing left running', async () => {
    const dir = makeProject(sb, 'dies-pending');
    sb.clearCalls();
    sb.aws.terminateNextLaunch({
      code: 'Client.InternalError',
      message: 'Client.InternalError: Client error on launch',
    });
    const r = await cli(sb, [...NO_PROFILE, 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stdout).toBe('');
    const id = reportedInstance(r.stderr);
    expect(r.stderr).toContain(
      `instance ${id} was terminated by EC2 while starting: Client.InternalError: Client error on launch`,
    );
    expect(launches(sb)).toHaveLength(1);
    expect(await instanceState(sb, id)).toBe('terminated');
    expect(await liveOf(dir)).toEqual([]);
  });
});
