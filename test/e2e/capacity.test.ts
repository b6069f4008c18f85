import { DeleteSecurityGroupCommand } from '@aws-sdk/client-ec2';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  defaultSubnets,
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
/** The default subnets of the sandbox region, by zone: what ssh-ec2 tries in this order. */
let subnets: { zone: string; id: string }[];
beforeAll(async () => {
  subnets = await defaultSubnets(sb);
});
afterEach(() => sb.clearFaults());

// No instance profile: the sandbox has none, and the launch that finds that out (and relaunches
// without one) would add RunInstances calls that have nothing to do with capacity.
const NO_PROFILE = ['--iam-profile', ''];

/** Instances of this project directory that are not terminated. */
async function live(dir: string) {
  return (await instances(sb)).filter(
    (i) => i.Tags?.some((t) => t.Key === 'ssh-ec2:dir' && t.Value === dir) && i.State?.Name !== 'terminated',
  );
}
async function ofProject(dir: string) {
  return (await instances(sb)).filter((i) => i.Tags?.some((t) => t.Key === 'ssh-ec2:dir' && t.Value === dir));
}
/** Makes the next session the account's first: its security group is created again (moto deletes one in use, too). */
async function forgetSecurityGroup() {
  const ec2 = ec2Client(sb);
  for (const g of await sshSecurityGroups(sb)) await ec2.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId }));
  // And the cached group id with it (a stale one is recovered from: round-trips.test.ts).
  forgetLaunchCache(sb);
}

describe('API retries', () => {
  it('a RunInstances answered 500 after it launched: the retry gets the same instance back, never a second one', async () => {
    const dir = makeProject(sb, 'lost-answer');
    sb.clearCalls();
    sb.inject({ action: 'RunInstances', status: 500, afterForward: true });
    const r = await cli(sb, [...NO_PROFILE, '--leave', 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    const calls = sb.calls('RunInstances');
    expect(calls).toHaveLength(2);
    expect(calls[0]!.injected && calls[1]!.replayed).toBe(true);
    expect(calls[1]!.params.ClientToken).toBe(calls[0]!.params.ClientToken);
    expect(await live(dir)).toHaveLength(1);
    expect((await cli(sb, ['true'], { cwd: dir })).exitCode).toBe(0);
  });

  it("every RunInstances answered 500 after it launched (the SDK's retries exhausted): the instance EC2 launched anyway is found and used, never orphaned", async () => {
    const dir = makeProject(sb, 'lost-answers');
    sb.clearCalls();
    sb.inject({ action: 'RunInstances', status: 500, afterForward: true, times: Infinity });
    const r = await cli(sb, [...NO_PROFILE, 'echo ran > ran.txt'], { cwd: dir });
    sb.clearFaults();
    expect(r.exitCode, r.stderr).toBe(0);
    const calls = sb.calls('RunInstances');
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.every((c) => c.injected)).toBe(true);
    expect(new Set(calls.map((c) => c.params.ClientToken)).size).toBe(1);
    const id = reportedInstance(r.stderr);
    expect(r.stderr).toMatch(
      new RegExp(`could not launch the instance: .*; but EC2 launched ${id} all the same: using it`),
    );
    expect(readFileSync(join(dir, 'ran.txt'), 'utf8')).toBe('ran\n');
    expect(await instanceState(sb, id)).toBe('terminated');
    expect(await live(dir)).toEqual([]);
    expect(await ofProject(dir)).toHaveLength(1);
  });

  it('throttling (RequestLimitExceeded) is retried with backoff', async () => {
    const dir = makeProject(sb, 'throttled');
    sb.clearCalls();
    sb.inject({
      action: 'DescribeInstances',
      status: 503,
      code: 'RequestLimitExceeded',
      message: 'Request limit exceeded.',
      times: 2,
    });
    const r = await cli(sb, ['echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    const described = sb.calls('DescribeInstances');
    expect(described.filter((c) => c.injected)).toHaveLength(2);
    expect(described[2]!.status).toBe(200);
    // The SDK's own retries of one call (its backoff, with full jitter, is unit-tested), not new calls.
    expect(described.slice(0, 3).map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(await instanceState(sb, reportedInstance(r.stderr))).toBe('terminated');
  });

  it('a 503 at the first call of every action two sessions make (a first one that stops, one that restarts) is retried: one instance, the commands run', async () => {
    // What the two sessions call, learned from a pair without faults: the first launches (and
    // creates the security group), then stops; the second starts the stopped instance, then terminates.
    const pair = async (name: string) => {
      const dir = makeProject(sb, name);
      const first = await cli(sb, [...NO_PROFILE, '--stop', 'echo one > one.txt'], { cwd: dir });
      const second = await cli(sb, [...NO_PROFILE, 'echo two > two.txt'], { cwd: dir });
      return { dir, first, second };
    };
    await forgetSecurityGroup();
    sb.clearCalls();
    const learn = await pair('every-action-learn');
    expect(learn.second.exitCode, learn.second.stderr).toBe(0);
    const actions = [...new Set(sb.calls().map((c) => c.action))];
    expect(actions).toEqual(
      expect.arrayContaining([
        'CreateSecurityGroup',
        'RunInstances',
        'DescribeInstances',
        'SendSSHPublicKey',
        'StopInstances',
        'StartInstances',
        'TerminateInstances',
      ]),
    );

    await forgetSecurityGroup();
    sb.clearCalls();
    for (const action of actions)
      sb.inject({
        action,
        status: 503,
        code: 'ServiceUnavailable',
        message: 'The service is unavailable. Please try again shortly.',
      });
    const { dir, first, second } = await pair('every-action-503');
    expect(first.exitCode, first.stderr).toBe(0);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(readFileSync(join(dir, 'one.txt'), 'utf8')).toBe('one\n');
    expect(readFileSync(join(dir, 'two.txt'), 'utf8')).toBe('two\n');
    for (const action of actions) {
      const calls = sb.calls(action);
      const failed = calls.findIndex((c) => c.injected);
      expect(
        calls.filter((c) => c.injected).map((c) => c.status),
        action,
      ).toEqual([503]);
      // The SDK's retry, not a later call of ours (or none: a caught error): the same request, next, answered.
      const retry = calls[failed + 1];
      expect(retry?.params, action).toEqual(calls[failed]!.params);
      expect(retry?.attempt, action).toBe(calls[failed]!.attempt! + 1);
      expect(retry?.status, action).toBe(200);
    }
    expect(launches(sb)).toHaveLength(1);
    const id = reportedInstance(second.stderr);
    expect((await ofProject(dir)).map((i) => i.InstanceId)).toEqual([id]);
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});

describe('capacity fallback', () => {
  it('the sandbox region has a default subnet in several zones', () => {
    expect(subnets.map((s) => s.zone)).toEqual(['eu-central-1a', 'eu-central-1b', 'eu-central-1c']);
  });

  it.each([
    [
      'InsufficientInstanceCapacity',
      500,
      'We currently do not have sufficient g4dn.xlarge capacity in the Availability Zone you requested.',
    ],
    [
      'Unsupported',
      400,
      'Your requested instance type (g4dn.xlarge) is not supported in your requested Availability Zone (eu-central-1a).',
    ],
  ])('%s in the first zone: launched in the next one, and the command runs', async (code, status, message) => {
    const dir = makeProject(sb, `other-zone-${code}`);
    sb.clearCalls();
    sb.inject({
      action: 'RunInstances',
      status,
      code,
      message,
      times: Infinity,
      when: (p) => p.SubnetId === subnets[0]!.id,
    });
    const r = await cli(sb, [...NO_PROFILE, 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(r.stderr).toContain('no capacity for g4dn.xlarge in eu-central-1a; trying eu-central-1b\n');
    const calls = sb.calls('RunInstances');
    // Not retried in place by the SDK; each attempt is its own request with its own token.
    expect(calls.map((c) => c.params.SubnetId)).toEqual([subnets[0]!.id, subnets[1]!.id]);
    expect(new Set(calls.map((c) => c.params.ClientToken)).size).toBe(2);
    const [instance, ...more] = await ofProject(dir);
    expect(more).toEqual([]);
    expect(instance?.Placement?.AvailabilityZone).toBe('eu-central-1b');
    expect(instance?.InstanceId).toBe(reportedInstance(r.stderr));
    expect(await instanceState(sb, instance!.InstanceId!)).toBe('terminated');
  });

  it('a quota skips the other zones of that type; the next type may have another architecture (a GPU type: a GPU-less one with the GPU image is refused, issue #13)', async () => {
    const dir = makeProject(sb, 'quota');
    sb.clearCalls();
    sb.inject({
      action: 'RunInstances',
      status: 400,
      code: 'VcpuLimitExceeded',
      message: 'You have requested more vCPU capacity than your current vCPU limit of 0 allows.',
      times: Infinity,
      when: (p) => p.InstanceType === 'g4dn.xlarge',
    });
    const r = await cli(sb, [...NO_PROFILE, '--instance-type', 'g4dn.xlarge,g5g.xlarge', 'uname -s'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'quota reached (VcpuLimitExceeded) for g4dn.xlarge in eu-central-1; trying g5g.xlarge in eu-central-1a\n',
    );
    expect(sb.calls('RunInstances').map((c) => c.params.InstanceType)).toEqual(['g4dn.xlarge', 'g5g.xlarge']);
    expect(launches(sb)[0]!.params.ImageId).toBe('ami-0d1a00000000b0001'); // the arm64 image
    const launched = await ofProject(dir);
    expect(launched.map((i) => [i.InstanceType, i.State?.Name])).toEqual([['g5g.xlarge', 'terminated']]);
  });

  it('no capacity anywhere: exit 5 naming every type and zone tried, nothing left running', async () => {
    const dir = makeProject(sb, 'no-capacity');
    sb.clearCalls();
    sb.inject({
      action: 'RunInstances',
      code: 'InsufficientInstanceCapacity',
      message: 'Insufficient capacity.',
      times: Infinity,
    });
    const r = await cli(sb, [...NO_PROFILE, '--instance-type', 'g4dn.xlarge,g5.xlarge', 'echo ran'], { cwd: dir });
    expect(r.exitCode).toBe(5);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /error: no capacity for any instance type tried: g4dn\.xlarge in eu-central-1a .*eu-central-1c .*; g5\.xlarge in eu-central-1a .*eu-central-1c/,
    );
    expect(r.stderr).toMatch(/--instance-type/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(sb.calls('RunInstances')).toHaveLength(6);
    expect(await live(dir)).toHaveLength(0);
  });
});
