/**
 * Issue #11, "fewer round trips": the API calls of a cold cycle (`ssh-ec2 true`, from nothing to
 * terminated, the security group already there), counted by action: what a launch looked up
 * before (network, security group, instance type, image) comes from the cache, and a cached id
 * EC2 no longer knows is looked up again — the run never fails for it, and the cache is corrected.
 */
import {
  DeleteSecurityGroupCommand,
  DeleteSubnetCommand,
  DeregisterImageCommand,
  DescribeSubnetsCommand,
} from '@aws-sdk/client-ec2';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiCall } from '../sandbox/index.js';
import { cli, ec2Client, launches, makeProject, sshSecurityGroups, useSandbox } from './helpers.js';

const sb = useSandbox();

/** A cache directory of its own for each test (the state, the project's instance, are the sandbox's). */
const cacheDir = (name: string) => join(sb.dir, 'caches', name);

/**
 * The calls EC2 answered, by action, in order of action name (parallel ones come in any order).
 * A refusal that is AWS's doing and retried (a new resource not yet known, Instance Connect
 * before its agent is up: the sandbox's AWS behaviours) is not the tool's round trip.
 */
const answered = (calls: ApiCall[]) =>
  calls
    .filter((c) => c.status === 200)
    .map((c) => c.action)
    .sort();

const refused = (calls: ApiCall[]) => calls.filter((c) => c.status !== 200 && !c.behaviour);

/** The one cache file of a directory (one account, region and endpoint), parsed. */
function cacheOf(dir: string): Record<string, { value: unknown }> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  expect(files).toHaveLength(1);
  return JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as Record<string, { value: unknown }>;
}

async function coldCycle(name: string, cache: string, args: string[] = []) {
  sb.clearCalls();
  const r = await cli(sb, ['-v', ...args, 'true'], { cwd: makeProject(sb, name), env: { SSH_EC2_CACHE_DIR: cache } });
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/terminated i-/);
  return { r, calls: sb.calls() };
}

beforeAll(async () => {
  // A quick boot, as the benchmark's: the console shows the fingerprints when sshd answers.
  sb.aws.setLateConsole(false);
  // The security group is there before the counted runs (made by a run with a cache of its own).
  await coldCycle('group-maker', cacheDir('group-maker'));
});

describe('the cold cycle', () => {
  it('the very first time in a region (nothing cached): 11 calls, the image looked up beside the network', async () => {
    const { calls } = await coldCycle('first', cacheDir('first'));
    expect(answered(calls)).toEqual(
      [
        'DescribeInstances', // this directory's instance? (none)
        'GetCallerIdentity', // the owner tag; the cache's account
        'DescribeSubnets', // the default subnets, and so the default VPC
        'DescribeInstanceTypes', // the type's architecture (the image's)
        'DescribeSecurityGroups', // ssh-ec2's group, with its rule for this address
        'DescribeImages',
        'RunInstances',
        'DescribeInstances', // running, and its address
        'GetConsoleOutput', // the host key fingerprints
        'SendSSHPublicKey',
        'TerminateInstances',
      ].sort(),
    );
    // The original's instance profile, missing here: one launch refused (remembered, below).
    expect(refused(calls).map((c) => c.action)).toEqual(['RunInstances']);
  });

  it('with the cache warm: 7 calls, nothing asked that an earlier launch learnt', async () => {
    const cache = cacheDir('warm');
    await coldCycle('warm-1', cache);
    const { calls } = await coldCycle('warm-2', cache);
    expect(answered(calls)).toEqual(
      [
        'DescribeInstances',
        'GetCallerIdentity',
        'RunInstances',
        'DescribeInstances',
        'GetConsoleOutput',
        'SendSSHPublicKey',
        'TerminateInstances',
      ].sort(),
    );
    expect(refused(calls)).toEqual([]);
    // --no-cache asks EC2 again.
    const { calls: uncached } = await coldCycle('warm-3', cache, ['--no-cache']);
    expect(answered(uncached)).toEqual(
      expect.arrayContaining(['DescribeSubnets', 'DescribeSecurityGroups', 'DescribeImages']),
    );
  });
});

describe('a stale cache', () => {
  it('a cached security group deleted since: the launch is refused once, the group made again, the run goes on', async () => {
    const cache = cacheDir('stale-group');
    await coldCycle('stale-group-1', cache);
    const [old] = await sshSecurityGroups(sb);
    await ec2Client(sb).send(new DeleteSecurityGroupCommand({ GroupId: old!.GroupId }));
    const { calls } = await coldCycle('stale-group-2', cache);
    const runs = calls.filter((c) => c.action === 'RunInstances' && !c.behaviour);
    expect(runs.map((c) => [c.status, c.params['SecurityGroupId.1']])).toEqual([
      [400, old!.GroupId],
      [200, expect.not.stringMatching(old!.GroupId!)],
    ]);
    const [group] = await sshSecurityGroups(sb);
    expect(runs[1]!.params['SecurityGroupId.1']).toBe(group!.GroupId);
    const entry = Object.entries(cacheOf(cache)).find(([k]) => k.startsWith('group:'));
    expect((entry![1].value as { groupId: string }).groupId).toBe(group!.GroupId);
  });

  it('a cached image deregistered since: another image is looked up, the run goes on', async () => {
    const { cache, old, now } = await afterDeleting('stale-image', 'ImageId', (ImageId) =>
      ec2Client(sb).send(new DeregisterImageCommand({ ImageId })),
    );
    const images = Object.entries(cacheOf(cache)).filter(([k]) => k.startsWith('image:'));
    expect(images.map(([, e]) => (e.value as { id: string }).id)).toEqual([now]);
    expect(now).not.toBe(old);
  });

  it('a cached subnet deleted since: the default subnets are listed again, the run goes on', async () => {
    const { cache, old, now } = await afterDeleting('stale-subnet', 'SubnetId', (SubnetId) =>
      ec2Client(sb).send(new DeleteSubnetCommand({ SubnetId })),
    );
    const left = (
      await ec2Client(sb).send(new DescribeSubnetsCommand({ Filters: [{ Name: 'default-for-az', Values: ['true'] }] }))
    ).Subnets!.map((s) => s.SubnetId);
    expect(left).toContain(now);
    const network = cacheOf(cache).network!.value as { zones: { subnetId: string }[] };
    expect(network.zones.map((z) => z.subnetId)).not.toContain(old);
  });
});

/**
 * Two cold cycles with one cache, `remove` deleting through the API, between them, what the first
 * launched with (its `param`): the second's launch is refused once for it, then launched with `now`.
 */
async function afterDeleting(name: string, param: 'ImageId' | 'SubnetId', remove: (id: string) => Promise<unknown>) {
  const cache = cacheDir(name);
  await coldCycle(`${name}-1`, cache);
  const old = launches(sb)[0]!.params[param]!;
  await remove(old);
  const { calls } = await coldCycle(`${name}-2`, cache);
  const runs = calls.filter((c) => c.action === 'RunInstances' && !c.behaviour).map((c) => [c.status, c.params[param]]);
  expect(runs[0]).toEqual([400, old]);
  expect(runs.at(-1)![0]).toBe(200);
  return { cache, old, now: runs.at(-1)![1] };
}
