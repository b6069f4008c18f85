// provision() against the in-memory cloud (test/fakes/cloud.ts): which instance a run gets, what
// it launches or starts, and what it hands to the finish (onInstance) when a launch or a start
// half-fails — the README's Safety and "Faults tested" rows about provisioning, without moto.
import { VOLUME_TAG } from '../../src/session/volume-tag.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceInfo, LaunchSpec } from '../../src/cloud/port.js';
import { CapacityError, CloudError, ConfigError, ExitCode, UserError } from '../../src/errors.js';
import type { FlagValues } from '../../src/options.js';
import { launchTags } from '../../src/session/owner.js';
import { TAG } from '../../src/session/plan.js';
import { NoInstanceError, type ProvisionContext } from '../../src/session/provision.js';
import { LOGIN_TAG } from '../../src/options.js';
import { FakeCloud } from '../fakes/cloud.js';
import { provisionRun } from '../fakes/provision-run.js';
import { volumeKeyTags } from '../../src/cloud/volume-rules.js';

const OWNER = 'alice'; // FakeCloud's default identity: arn:…:user/alice

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'provision-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A run in `dir` against `cloud`, with `flags` on its command line; what it logs and hands over. */
const run = (cloud: FakeCloud, flags: FlagValues = {}, extra: Partial<ProvisionContext> = {}) =>
  provisionRun(dir, cloud, flags, extra);

/** An instance of this directory and owner, as an earlier run here left it. */
function mine(cloud: FakeCloud, state: string, more: Partial<InstanceInfo> = {}): InstanceInfo {
  const { plan } = run(cloud);
  return cloud.add({ state, tags: { ...launchTags(plan, OWNER), [LOGIN_TAG]: 'ec2-user' }, ...more });
}

const live = (cloud: FakeCloud) =>
  [...cloud.instances.values()].filter((i) => !['terminated', 'shutting-down'].includes(i.state));

describe('an instance of this directory exists', () => {
  it('running: used as it is, nothing launched or started; its login user from its tag', async () => {
    const cloud = new FakeCloud();
    const i = mine(cloud, 'running');
    const r = await run(cloud).go();
    expect(r).toMatchObject({ launched: false, started: false, user: 'ec2-user' });
    expect(r.instance.id).toBe(i.id);
    expect(cloud.launches).toEqual([]);
    expect(cloud.callsOf('start')).toEqual([]);
  });

  it('stopped: started (handed to the finish once EC2 accepted the start), then waited for until it runs', async () => {
    const cloud = new FakeCloud();
    cloud.bootDescribes = 1;
    const i = mine(cloud, 'stopped');
    const { go, handed, lines } = run(cloud);
    const r = await go();
    expect(r).toMatchObject({ launched: false, started: true });
    expect(r.instance).toMatchObject({ id: i.id, state: 'running' });
    expect(cloud.callsOf('start')).toEqual([[i.id]]);
    expect(handed).toEqual([{ id: i.id, launched: false }]);
    expect(lines).toContain(`ssh-ec2: starting stopped instance ${i.id} (g4dn.xlarge)`);
    expect(cloud.launches).toEqual([]);
  });

  it('several: the running one is used, the others named', async () => {
    const cloud = new FakeCloud();
    const stopped = mine(cloud, 'stopped');
    const running = mine(cloud, 'running');
    const { go, lines } = run(cloud);
    expect((await go()).instance.id).toBe(running.id);
    expect(lines.some((l) => l.includes(`using ${running.id} (running). Others: ${stopped.id} (stopped)`))).toBe(true);
  });

  it("another owner's instance with this directory's tags is never taken: a new one is launched", async () => {
    const cloud = new FakeCloud();
    const { plan } = run(cloud);
    const planted = cloud.add({ tags: { ...launchTags(plan, 'mallory') } });
    const r = await run(cloud).go();
    expect(r.launched).toBe(true);
    expect(r.instance.id).not.toBe(planted.id);
  });

  it('a stopped one EC2 has no capacity to start (no --capacity-timeout): exit 5, still stopped, not handed over', async () => {
    const cloud = new FakeCloud();
    const i = mine(cloud, 'stopped');
    cloud.fail('start', 'InsufficientInstanceCapacity');
    const { go, handed } = run(cloud, { capacityTimeout: 'off' });
    const err = await go().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapacityError);
    expect((err as UserError).exitCode).toBe(ExitCode.capacity);
    expect(cloud.get(i.id)!.state).toBe('stopped');
    expect(handed).toEqual([]);
    expect(cloud.launches).toEqual([]);
  });

  it('a start EC2 carried out but whose answer was lost (500): handed to the finish all the same', async () => {
    const cloud = new FakeCloud();
    const i = mine(cloud, 'stopped');
    cloud.fail('start', { code: 'InternalError', status: 500, tookEffect: true });
    const { go, handed, lines } = run(cloud);
    await expect(go()).rejects.toBeInstanceOf(CloudError);
    expect(handed).toEqual([{ id: i.id, launched: false }]);
    expect(lines.some((l) => l.includes(`EC2 did not answer the start of ${i.id}`))).toBe(true);
  });

  it('none and none may be launched (--attach, the verbs): NoInstanceError, nothing launched', async () => {
    const cloud = new FakeCloud();
    await expect(run(cloud, {}, { mayLaunch: false }).go()).rejects.toBeInstanceOf(NoInstanceError);
    expect(cloud.launches).toEqual([]);
  });
});

describe('a launch', () => {
  it('--user-data too big for EC2 beside the boot-time limit: exit 3 before anything is made', async () => {
    const cloud = new FakeCloud();
    const err = await run(cloud, { userData: `#!/bin/sh\n${'x'.repeat(16_000)}\n` })
      .go()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as UserError).message).toMatch(/over EC2's 16384: --user-data is 16011 bytes/);
    expect(cloud.launches).toEqual([]);
    expect(cloud.groups.size).toBe(0);
  });

  it("tagged as this directory's and owner's, in ssh-ec2's group letting only the caller in; handed over before the wait", async () => {
    const cloud = new FakeCloud();
    cloud.bootDescribes = 1;
    const handed: string[] = [];
    const { go, plan } = run(cloud, {}, { onInstance: (i) => handed.push(`${i.id} ${cloud.get(i.id)!.state}`) });
    const r = await go();
    expect(r).toMatchObject({ launched: true, started: false, user: 'ubuntu' });
    expect(handed).toEqual([`${r.instance.id} pending`]);
    expect(cloud.launches).toHaveLength(1);
    const spec = cloud.launches[0]!;
    // The limits from the launch on (issue #10): the boot-time limit in the user data keeps them;
    // and the disk's size, for ls to price a stopped instance.
    expect(spec.tags).toEqual({
      ...launchTags(plan, OWNER),
      [LOGIN_TAG]: 'ubuntu',
      'ssh-ec2:idle-timeout': '1h',
      'ssh-ec2:max-time': 'off',
      'ssh-ec2:job-grace': '10m',
      'ssh-ec2:deadline': 'none',
      [VOLUME_TAG]: '100',
      // Issue #13: its market, so that later runs, ls and down know it without a call.
      'ssh-ec2:market': 'on-demand',
    });
    expect(spec.userData).toMatch(/^Content-Type: multipart\/mixed; boundary=/);
    expect(spec.userData).toContain('Content-Type: text/cloud-boothook');
    expect(spec.tags[TAG.user]).toBe(OWNER);
    // Only ssh-ec2 terminates: a poweroff from inside stops. The disk: at least 100 GiB.
    expect(spec).toMatchObject({ shutdownBehavior: 'stop', volumeSizeGiB: 100, subnetId: 'subnet-a' });
    const [group] = [...cloud.groups.values()];
    expect(spec.securityGroupIds).toEqual([group!.id]);
    expect([...group!.cidrs]).toEqual(['198.51.100.7/32']);
    expect(r.instance.state).toBe('running');
  });

  it('no capacity in the first zone: the next zone, each attempt a new request', async () => {
    const cloud = new FakeCloud();
    cloud.fail('launch', 'InsufficientInstanceCapacity');
    const { go, lines } = run(cloud);
    const r = await go();
    expect(cloud.launches.map((s: LaunchSpec) => s.subnetId)).toEqual(['subnet-a', 'subnet-b']);
    expect(new Set(cloud.launches.map((s) => s.clientToken)).size).toBe(2);
    expect(lines).toContain('ssh-ec2: no capacity for g4dn.xlarge in eu-central-1a; trying eu-central-1b');
    expect(live(cloud).map((i) => i.id)).toEqual([r.instance.id]);
  });

  it('a quota for the first type: the next type of --instance-type, its other zones skipped', async () => {
    const cloud = new FakeCloud();
    cloud.fail('launch', { code: 'VcpuLimitExceeded', when: (s) => (s as LaunchSpec).instanceType === 'g5.xlarge' });
    const r = await run(cloud, { instanceTypes: 'g5.xlarge,g4dn.xlarge' }).go();
    expect(cloud.launches.map((s) => `${s.instanceType}@${s.subnetId}`)).toEqual([
      'g5.xlarge@subnet-a',
      'g4dn.xlarge@subnet-a',
    ]);
    expect(r.instance.type).toBe('g4dn.xlarge');
  });

  it('no capacity anywhere: exit 5 naming every type and zone, nothing running, nothing handed over', async () => {
    const cloud = new FakeCloud();
    cloud.fail('launch', { code: 'InsufficientInstanceCapacity', times: Infinity });
    const { go, handed } = run(cloud, { instanceTypes: 'g4dn.xlarge,g5.xlarge' });
    const err = (await go().catch((e: unknown) => e)) as UserError;
    expect(err).toBeInstanceOf(CapacityError);
    expect(err.message).toBe(
      'no capacity for any instance type tried: g4dn.xlarge in eu-central-1a (InsufficientInstanceCapacity), eu-central-1b (InsufficientInstanceCapacity); g5.xlarge in eu-central-1a (InsufficientInstanceCapacity), eu-central-1b (InsufficientInstanceCapacity)',
    );
    expect(live(cloud)).toEqual([]);
    expect(handed).toEqual([]);
  });

  it('an unknown type anywhere in the list is reported before anything is launched', async () => {
    const cloud = new FakeCloud();
    const err = await run(cloud, { instanceTypes: 'g4dn.xlarge,g9.nonsense' })
      .go()
      .catch((e: unknown) => e);
    // Issue #13: one line naming the type and where; nothing made (no group either).
    expect((err as Error).message).toMatch(/g9\.nonsense is not an instance type EC2 offers in eu-central-1/);
    expect(cloud.launches).toEqual([]);
    expect(cloud.callsOf('ensureSecurityGroup')).toEqual([]);
  });

  it("answered 500 after EC2 launched it (the SDK's retries spent): found by its tags, used, handed to the finish", async () => {
    const cloud = new FakeCloud();
    cloud.fail('launch', { code: 'InternalError', status: 500, tookEffect: true, times: Infinity });
    const { go, handed, lines } = run(cloud, { instanceTypes: 'g4dn.xlarge' });
    const r = await go();
    const only = live(cloud);
    expect(only).toHaveLength(1);
    expect(r.instance.id).toBe(only[0]!.id);
    expect(handed).toEqual([{ id: only[0]!.id, launched: true }]);
    expect(cloud.noted.has(only[0]!.id)).toBe(true);
    expect(lines.some((l) => l.includes(`but EC2 launched ${only[0]!.id} all the same: using it`))).toBe(true);
  });

  it('answered 500 and the lookup failing too: the error, and how to find and end what EC2 may have launched', async () => {
    const cloud = new FakeCloud();
    cloud.fail('launch', { code: 'InternalError', status: 500, times: Infinity });
    const { go, handed, lines } = run(cloud, { instanceTypes: 'g4dn.xlarge' });
    // The first lookup (finding this directory's instance) answers; those after the launch fail.
    cloud.fail('findInstances', { code: 'InternalError', status: 500, when: () => cloud.launches.length > 0 });
    await expect(go()).rejects.toBeInstanceOf(CloudError);
    expect(handed).toEqual([]);
    expect(lines.some((l) => l.includes('`ssh-ec2 ls` lists it') && l.includes('`ssh-ec2 down` ends it'))).toBe(true);
  });

  it('refused (400): EC2 launched nothing, nothing looked for', async () => {
    const cloud = new FakeCloud();
    cloud.fail('launch', 'UnauthorizedOperation');
    const { go } = run(cloud);
    await expect(go()).rejects.toThrow(/not allowed to launch the instance/);
    expect(cloud.callsOf('findInstances')).toHaveLength(1);
    expect(cloud.instances.size).toBe(0);
  });

  it('ended by EC2 while pending: exit 4 with its reason; it was handed to the finish first', async () => {
    const cloud = new FakeCloud();
    cloud.endWhilePending = 'Client.InternalError: Client error on launch';
    const { go, handed } = run(cloud);
    const err = (await go().catch((e: unknown) => e)) as UserError;
    expect(err).toBeInstanceOf(CloudError);
    expect(err.exitCode).toBe(ExitCode.cloud);
    expect(err.message).toMatch(/was terminated by EC2 while starting: Client\.InternalError: Client error on launch$/);
    expect(handed).toHaveLength(1);
    expect(live(cloud)).toEqual([]);
  });

  it("the original's default instance profile, where it does not exist: launched without one", async () => {
    const cloud = new FakeCloud();
    cloud.fail('launch', {
      code: 'InvalidParameterValue',
      message: 'Value (EC2ReadOnlyAccessToS3) for parameter iamInstanceProfile.name is invalid',
    });
    const r = await run(cloud).go();
    expect(cloud.launches.map((s) => s.iamProfile)).toEqual(['EC2ReadOnlyAccessToS3', undefined]);
    expect(r.launched).toBe(true);
  });

  it('an interrupt during an attempt: no further attempt, nothing left running', async () => {
    const cloud = new FakeCloud();
    const abort = new AbortController();
    cloud.fail('launch', {
      code: 'InsufficientInstanceCapacity',
      when: () => (abort.abort(new Error('SIGINT')), true),
    });
    const err = await run(cloud, {}, { signal: abort.signal })
      .go()
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe('SIGINT');
    expect(cloud.launches).toHaveLength(1);
    expect(live(cloud)).toEqual([]);
  });
});

describe('with a data volume (--volume)', () => {
  const volume = (cloud: FakeCloud, zone: string, attachedTo?: string) =>
    cloud.volumes.set('vol-9', {
      id: 'vol-9',
      name: 'data',
      sizeGiB: 20,
      zone,
      state: attachedTo ? 'in-use' : 'available',
      ...(attachedTo && { attachedTo, attachState: 'attached' }),
      tags: { ...volumeKeyTags(OWNER, 'data'), Name: 'data' },
    });
  const withVolume = { volume: 'data:20' };

  it('a started instance that lacks it gets it, and its last use is tagged', async () => {
    const cloud = new FakeCloud();
    const i = mine(cloud, 'stopped');
    volume(cloud, 'eu-central-1a');
    const got = await run(cloud, withVolume).go();
    expect(got).toMatchObject({ started: true, volume: { id: 'vol-9', name: 'data', device: '/dev/sdf' } });
    expect(cloud.volumes.get('vol-9')).toMatchObject({ attachedTo: i.id });
    expect(cloud.volumes.get('vol-9')!.tags['ssh-ec2:last-use']).toMatch(/^\d{4}-/);
  });

  it('held by another instance: one line naming it (exit 3), nothing attached', async () => {
    const cloud = new FakeCloud();
    mine(cloud, 'running');
    volume(cloud, 'eu-central-1a', 'i-elsewhere');
    await expect(run(cloud, withVolume).go()).rejects.toMatchObject({
      exitCode: ExitCode.config,
      message: 'data volume data (vol-9) is attached to i-elsewhere: a volume is held by one instance at a time',
    });
    expect(cloud.calls.filter((c) => c.op === 'attachVolume')).toEqual([]);
  });

  it("a reused instance in another zone: refused, saying the next launch goes to the volume's zone", async () => {
    const cloud = new FakeCloud();
    mine(cloud, 'running', { az: 'eu-central-1a' });
    volume(cloud, 'eu-central-1b');
    await expect(run(cloud, withVolume).go()).rejects.toThrow(
      /is in eu-central-1b, and i-\w+ in eu-central-1a: it cannot be attached there/,
    );
  });

  it('made by another directory at the same moment: the older is used by both, the newer deleted', async () => {
    const cloud = new FakeCloud();
    const i = mine(cloud, 'running', { az: 'eu-central-1a' });
    const create = cloud.createVolume.bind(cloud);
    cloud.createVolume = async (spec) => {
      volume(cloud, 'eu-central-1a'); // the other run's, made a moment before ours
      cloud.volumes.get('vol-9')!.createdAt = new Date(Date.now() - 1000);
      return create(spec);
    };
    const got = await run(cloud, withVolume).go();
    expect(got.volume?.id).toBe('vol-9');
    expect([...cloud.volumes.keys()]).toEqual(['vol-9']);
    expect(cloud.volumes.get('vol-9')).toMatchObject({ attachedTo: i.id });
  });

  it('a stopped instance in another zone: refused before it is started', async () => {
    const cloud = new FakeCloud();
    mine(cloud, 'stopped', { az: 'eu-central-1a' });
    volume(cloud, 'eu-central-1b');
    await expect(run(cloud, withVolume).go()).rejects.toThrow(/is in eu-central-1b, and i-\w+ in eu-central-1a/);
    expect(cloud.calls.filter((c) => c.op === 'start')).toEqual([]);
    expect(cloud.instances.get([...cloud.instances.keys()][0]!)?.state).toBe('stopped');
  });

  it("a launch goes to the volume's zone only, and says so; none yet: made where the instance landed", async () => {
    const cloud = new FakeCloud();
    volume(cloud, 'eu-central-1b');
    const r = run(cloud, withVolume);
    const got = await r.go();
    expect(got.instance.az).toBe('eu-central-1b');
    expect(r.lines.join('\n')).toContain('data volume data is in eu-central-1b: launching there only');

    const fresh = new FakeCloud();
    const made = await run(fresh, withVolume).go();
    expect([...fresh.volumes.values()]).toMatchObject([
      { zone: made.instance.az, sizeGiB: 20, attachedTo: made.instance.id },
    ]);
  });
});
