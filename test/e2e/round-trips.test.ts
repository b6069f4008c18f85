/**
 * Issue #11, "fewer round trips": the API calls of a cold cycle (`ssh-ec2 true`, from nothing to
 * terminated), counted by action, the very first time in a region and with the security group
 * there: what a launch looked up before (network, security group, image) comes from the cache, an
 * instance type's architecture from a table, the group is created without a lookup where this
 * machine never saw it; a cached id EC2 no longer knows is looked up again — the run never fails
 * for it, and the cache is corrected.
 */
import {
  DeleteSecurityGroupCommand,
  DescribeInstanceTypesCommand,
  DeleteSubnetCommand,
  DeregisterImageCommand,
  DescribeSubnetsCommand,
} from '@aws-sdk/client-ec2';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KNOWN_FAMILIES, knownArchitecture } from '../../src/cloud/instance-types.js';
import { LEGACY_IAM_PROFILE } from '../../src/options.js';
import type { ApiCall } from '../sandbox/index.js';
import { cli, ec2Client, launches, makeProject, sshSecurityGroups, useSandbox } from './helpers.js';

const sb = useSandbox();

/** Regions no test here launched in before (their first launch, each). */
const FRESH_REGION = 'eu-west-3';
const SECOND_FRESH_REGION = 'eu-north-1';

/** A cache directory of its own for each test (the state, the project's instance, are the sandbox's). */
const cacheDir = (name: string) => join(sb.dir, 'caches', name);

/** The calls EC2 answered, by action, in order of action name (parallel ones come in any order). */
const answered = (calls: ApiCall[]) =>
  calls
    .filter((c) => c.status === 200)
    .map((c) => c.action)
    .sort();

/**
 * The calls refused. Each is a round trip all the same, so the honest count includes them; but
 * those played by the sandbox's AWS behaviours (`behaviour`) are AWS's own lag, not ours to remove:
 * a new resource unknown to the first call naming it (EC2's documented eventual consistency after
 * RunInstances and CreateSecurityGroup), Instance Connect refusing the first key of a fresh boot.
 */
const refused = (calls: ApiCall[]) => calls.filter((c) => c.status !== 200 && !c.behaviour);
const awsLag = (calls: ApiCall[]) =>
  calls
    .filter((c) => c.status !== 200 && c.behaviour)
    .map((c) => c.action)
    .sort();

/** The one cache file of a directory for the sandbox's region, parsed (the account's, for every region, apart). */
function cacheOf(dir: string): Record<string, { value: unknown }> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'callers.json')
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, { value: unknown }>)
    .filter((c) => !(`unusable-profile:${LEGACY_IAM_PROFILE}` in c));
  expect(files).toHaveLength(1);
  return files[0]!;
}

async function coldCycle(name: string, cache: string, args: string[] = [], env: Record<string, string> = {}) {
  sb.clearCalls();
  const r = await cli(sb, ['-v', ...args, 'true'], {
    cwd: makeProject(sb, name),
    env: { SSH_EC2_CACHE_DIR: cache, ...env },
  });
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/terminated i-/);
  return { r, calls: sb.calls() };
}

/** What every cold cycle asks from the launch on: the launch, running with its address, the host key, the key, the end. */
const FROM_LAUNCH = ['RunInstances', 'DescribeInstances', 'GetConsoleOutput', 'SendSSHPublicKey', 'TerminateInstances'];
/** The new instance unknown to the first DescribeInstances; Instance Connect not up on its first push. */
const INSTANCE_LAG = ['DescribeInstances', 'SendSSHPublicKey'].sort();

beforeAll(async () => {
  // A quick boot, as the benchmark's: the console shows the fingerprints when sshd answers.
  sb.aws.setLateConsole(false);
  // The security group is there before the counted runs (made by a run with a cache of its own).
  await coldCycle('group-maker', cacheDir('group-maker'));
});

describe('the cold cycle', () => {
  it("the very first time in a region (no group, nothing cached): 12 answered, no lookup of the group, nor of the type's details", async () => {
    const { calls } = await coldCycle('first', cacheDir('first'), [], { AWS_REGION: FRESH_REGION });
    expect(answered(calls)).toEqual(
      [
        'DescribeInstances', // this directory's instance? (none)
        'GetCallerIdentity', // the owner tag; the cache's account
        'DescribeSubnets', // the default subnets, and so the default VPC
        'CreateSecurityGroup', // made without looking for it: this machine never saw one here
        'AuthorizeSecurityGroupIngress', // its rule for this address
        'DescribeImages', // for the type's architecture, known from its name (no DescribeInstanceTypes)
        'DescribeInstanceTypeOfferings', // where the type is offered (issue #13), beside the subnets; then cached
        ...FROM_LAUNCH,
      ].sort(),
    );
    // The original's instance profile, missing in this account: one launch refused, the only
    // refusal of ours (remembered for every region: below).
    expect(refused(calls).map((c) => c.action)).toEqual(['RunInstances']);
    // AWS's lag: the group just made unknown to its first rule; the instance's two.
    expect(awsLag(calls)).toEqual(['AuthorizeSecurityGroupIngress', ...INSTANCE_LAG].sort());
  });

  it('the first time in a region for an account known from another: nothing refused of ours, who we are not asked again', async () => {
    const cache = cacheDir('other-region');
    await coldCycle('other-region-1', cache);
    const { calls } = await coldCycle('other-region-2', cache, [], { AWS_REGION: SECOND_FRESH_REGION });
    expect(answered(calls)).toEqual(
      [
        'DescribeInstances',
        'DescribeSubnets',
        'CreateSecurityGroup',
        'AuthorizeSecurityGroupIngress',
        'DescribeImages',
        'DescribeInstanceTypeOfferings',
        ...FROM_LAUNCH,
      ].sort(),
    );
    expect(refused(calls)).toEqual([]);
  });

  it('the group there, nothing cached (another machine made it): created first, refused as a duplicate, then found', async () => {
    const { calls } = await coldCycle('new-machine', cacheDir('new-machine'));
    expect(answered(calls)).toEqual(
      [
        'DescribeInstances',
        'GetCallerIdentity',
        'DescribeSubnets',
        'DescribeSecurityGroups', // the group, with its rule for this address: nothing to add
        'DescribeImages',
        'DescribeInstanceTypeOfferings',
        ...FROM_LAUNCH,
      ].sort(),
    );
    // Ours: the creation (the group is there) and the original's instance profile (missing).
    expect(refused(calls).map((c) => c.action)).toEqual(['CreateSecurityGroup', 'RunInstances']);
    expect(calls.find((c) => c.action === 'CreateSecurityGroup')?.status).toBe(400);
    expect(awsLag(calls)).toEqual(INSTANCE_LAG);
  });

  it('with the cache warm: 6 calls, nothing asked that an earlier run learnt (who these credentials are, too)', async () => {
    const cache = cacheDir('warm');
    await coldCycle('warm-1', cache);
    const { calls } = await coldCycle('warm-2', cache);
    expect(answered(calls)).toEqual(['DescribeInstances', ...FROM_LAUNCH].sort());
    expect(refused(calls)).toEqual([]);
    expect(awsLag(calls)).toEqual(INSTANCE_LAG);
    // Other credentials (another access key) are asked who they are.
    const other = { AWS_ACCESS_KEY_ID: 'AKIAOTHERKEY', AWS_SECRET_ACCESS_KEY: 'other' };
    const { calls: otherKey } = await coldCycle('warm-other-key', cache, [], other);
    expect(answered(otherKey)).toContain('GetCallerIdentity');
    // --no-cache asks EC2 again, the group looked up first (it is usually there), and STS.
    const { calls: uncached } = await coldCycle('warm-3', cache, ['--no-cache']);
    expect(answered(uncached)).toEqual(
      expect.arrayContaining(['DescribeSubnets', 'DescribeSecurityGroups', 'DescribeImages', 'GetCallerIdentity']),
    );
    expect(uncached.map((c) => c.action)).not.toContain('CreateSecurityGroup');
  });

  it('a type the table does not know is asked of EC2 (its architecture, GPUs, and that it exists)', async () => {
    // A GPU type (a GPU-less one with the GPU image is refused: issue #13) of a family the table
    // leaves out; the user's own image pattern, so the default image's driver list does not refuse it.
    const own = ['--image-name', 'Deep Learning OSS Nvidia Driver AMI GPU PyTorch * (Ubuntu *'];
    const { calls } = await coldCycle('unknown-family', cacheDir('unknown-family'), [
      ...own,
      '--instance-type',
      'g4ad.xlarge',
    ]);
    expect(calls.filter((c) => c.action === 'DescribeInstanceTypes').map((c) => c.status)).toEqual([200]);
  });
});

describe('the table of known instance types (src/cloud/instance-types.ts)', () => {
  it('says what EC2 says of each type: it exists, and its architecture', async () => {
    const ec2 = ec2Client(sb);
    for (const [family, { architecture, sizes }] of Object.entries(KNOWN_FAMILIES)) {
      const types = sizes.map((s) => `${family}.${s}`);
      const r = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: types as never }));
      const described = (r.InstanceTypes ?? []).map((t) => [t.InstanceType, t.ProcessorInfo?.SupportedArchitectures]);
      expect(described.map(([t]) => t).sort(), family).toEqual([...types].sort());
      for (const [t, archs] of described) expect(archs, t as string).toContain(architecture);
      expect(knownArchitecture(types[0]!)).toBe(architecture);
    }
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
