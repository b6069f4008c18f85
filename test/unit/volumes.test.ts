/** Data volumes' pure parts (issue #13): the setting, the tags, the zone filter, push's paths and filter, the table. */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { attemptsInZone, planAttempts } from '../../src/cloud/capacity.js';
import { parseVolume, volumeKeyTags, volumeTags } from '../../src/cloud/volume-rules.js';
import { projectPaths, pushFilter } from '../../src/commands/push/index.js';
import { dataVolumeLine, volumeTable } from '../../src/commands/volumes/table.js';
import { UsageError } from '../../src/errors.js';
import { IgnoreRules } from '../../src/sync/ignore-rules.js';
import { LOGIN_TAG, resolveOptions } from '../../src/options.js';
import { launchTags } from '../../src/session/owner.js';
import { makePlan } from '../../src/session/plan.js';
import { provision } from '../../src/session/provision.js';
import { createLogger } from '../../src/ui/logger.js';
import { FakeCloud } from '../fakes/cloud.js';

describe('--volume NAME[:SIZE]', () => {
  it.each([
    ['data', { name: 'data', sizeGiB: 100 }],
    ['data:500', { name: 'data', sizeGiB: 500 }],
    ['imagenet-2012.v2:1', { name: 'imagenet-2012.v2', sizeGiB: 1 }],
  ])('%s', (raw, want) => expect(parseVolume(raw, '--volume')).toEqual(want));

  it('empty: none', () => expect(parseVolume('', 'SSH_EC2_VOLUME')).toBeUndefined());

  it.each(['da ta', 'data:', 'data:0', 'data:16385', 'data:1.5', '-x', 'a/b', 'x'.repeat(65)])(
    '%j is a usage error naming where it came from',
    (raw) => {
      expect(() => parseVolume(raw, 'SSH_EC2_VOLUME')).toThrow(UsageError);
      expect(() => parseVolume(raw, 'SSH_EC2_VOLUME')).toThrow(/^SSH_EC2_VOLUME: expected NAME or NAME:SIZE/);
    },
  );

  it("is found by its owner and name: two owners' `data` are two volumes", () => {
    expect(volumeKeyTags('alice', 'data')).not.toEqual(volumeKeyTags('bob', 'data'));
    expect(volumeTags('alice', 'data', new Date(0))).toEqual({
      ...volumeKeyTags('alice', 'data'),
      Name: 'data',
      'ssh-ec2:last-use': '1970-01-01T00:00:00.000Z',
    });
    // The IAM policies let a caller create and touch only what carries ssh-ec2 and its own ssh-ec2:user.
    expect(volumeKeyTags('alice', 'data')).toMatchObject({ 'ssh-ec2': 'data-volume', 'ssh-ec2:user': 'alice' });
  });
});

describe("a launch with a data volume stays in the volume's zone", () => {
  const zones = [
    { name: 'z-a', subnetId: 's-a' },
    { name: 'z-b', subnetId: 's-b' },
  ];
  it('every type, that zone only, in order', () => {
    expect(attemptsInZone(planAttempts(['t1', 't2'], zones), 'z-b')).toEqual([
      { instanceType: 't1', zone: zones[1] },
      { instanceType: 't2', zone: zones[1] },
    ]);
  });
  it('no volume yet: every zone', () => {
    expect(attemptsInZone(planAttempts(['t1'], zones), undefined)).toHaveLength(2);
  });
});

describe('push PATH...', () => {
  const project = () => {
    const root = mkdtempSync(join(tmpdir(), 'push-'));
    mkdirSync(join(root, 'data', 'sub'), { recursive: true });
    writeFileSync(join(root, 'data', 'sub', 'a.txt'), 'a');
    writeFileSync(join(root, 'b.txt'), 'b');
    symlinkSync(tmpdir(), join(root, 'out'));
    return root;
  };

  it('takes paths inside the project, relative to where it runs', () => {
    const root = project();
    expect(projectPaths(root, join(root, 'data'), ['sub/a.txt', '../b.txt', '.'])).toEqual([
      { path: 'data/sub/a.txt', type: 'file' },
      { path: 'b.txt', type: 'file' },
      { path: 'data', type: 'dir' },
    ]);
  });

  it.each([['/etc'], ['..'], ['.'], ['out'], ['missing'], []])('refuses %s (exit 2)', (...args) => {
    const root = project();
    expect(() => projectPaths(root, root, args)).toThrow(UsageError);
  });

  it('sends each path, its parents, and all below a directory; nothing else', () => {
    const filter = pushFilter([
      { path: 'data/sub', type: 'dir' },
      { path: 'b[1].txt', type: 'file' },
    ]).split('\0');
    expect(filter).toEqual(['- /.ssh-ec2/', '+ /data/', '+ /data/sub/', '+ /b\\[1].txt', '+ /data/sub/**', '- *', '']);
  });
});

describe('the mount point and the syncs', () => {
  it('is left out both ways, whatever .rsyncignore says', () => {
    const root = mkdtempSync(join(tmpdir(), 'mounts-'));
    writeFileSync(join(root, '.rsyncignore'), '!data/\n');
    const rules = new IgnoreRules(root, { mounts: ['data'] });
    expect(rules.ignored('data', 'dir')).toBe(true);
    expect(rules.ignored('data/x.bin', 'file')).toBe(true);
    expect(rules.ignored('database.txt', 'file')).toBe(false);
    expect(new IgnoreRules(root).ignored('data', 'dir')).toBe(false);
  });
});

describe('volumes', () => {
  const v = {
    id: 'vol-1',
    name: 'data',
    sizeGiB: 10,
    zone: 'eu-central-1a',
    state: 'in-use',
    attachedTo: 'i-1',
    tags: { 'ssh-ec2:last-use': '2026-01-01T10:00:00Z' },
  };
  it('lists size, zone, instance, monthly cost and last use', () => {
    expect(volumeTable('eu-central-1', [v], new Date('2026-01-01T12:30:00Z'))).toBe(
      'NAME  ID     SIZE    ZONE           STATE   ATTACHED TO  COST         LAST USE\n' +
        'data  vol-1  10 GiB  eu-central-1a  in-use  i-1          $0.95/month  2h30m ago\n',
    );
  });
  it("down --orphans' line: its cost and the command that deletes it; not a data volume: none", () => {
    const tags = { 'ssh-ec2:data-volume': 'data' };
    expect(dataVolumeLine('eu-central-1', { kind: 'volume', id: 'vol-1', sizeGiB: 10, tags })).toBe(
      '  data volume data vol-1 (eu-central-1, 10 GiB, $0.95/month): kept, never deleted unless named — ssh-ec2 volumes rm data --region eu-central-1',
    );
    expect(dataVolumeLine('eu-central-1', { kind: 'volume', id: 'vol-2', sizeGiB: 10, tags: { 'ssh-ec2': 'p' } })).toBe(
      undefined,
    );
  });
});

describe('provision with --volume (the in-memory cloud)', () => {
  const setup = (cloud: FakeCloud) => {
    const dir = mkdtempSync(join(tmpdir(), 'volume-provision-'));
    const options = resolveOptions({
      flags: { sshCidr: '198.51.100.7/32', volume: 'data:20' },
      env: {},
      dotenv: {},
      command: ['true'],
    });
    const plan = makePlan(options, { cwd: join(dir, 'project'), localUser: 'al', localHost: 'laptop' });
    const lines: string[] = [];
    const log = createLogger({ stream: { write: (s: string) => lines.push(s.trimEnd()) > 0 } as never, env: {} });
    const ctx = { options, plan, cloud, log, lockPath: join(dir, 'lock'), pinned: () => false };
    const existing = (state: string, az = 'eu-central-1a') =>
      cloud.add({ state, az, tags: { ...launchTags(plan, 'alice'), [LOGIN_TAG]: 'ec2-user' } });
    return { ctx, lines, existing };
  };
  const volume = (cloud: FakeCloud, zone: string, attachedTo?: string) =>
    cloud.volumes
      .set('vol-9', {
        id: 'vol-9',
        name: 'data',
        sizeGiB: 20,
        zone,
        state: attachedTo ? 'in-use' : 'available',
        ...(attachedTo && { attachedTo, attachState: 'attached' }),
        tags: { ...volumeKeyTags('alice', 'data'), Name: 'data' },
      })
      .get('vol-9')!;

  it('a started instance that lacks it gets it, and its last use is tagged', async () => {
    const cloud = new FakeCloud();
    const { ctx, existing } = setup(cloud);
    const i = existing('stopped');
    volume(cloud, 'eu-central-1a');
    const got = await provision(ctx);
    expect(got).toMatchObject({ started: true, volume: { id: 'vol-9', name: 'data', device: '/dev/sdf' } });
    expect(cloud.volumes.get('vol-9')).toMatchObject({ attachedTo: i.id });
    expect(cloud.volumes.get('vol-9')!.tags['ssh-ec2:last-use']).toMatch(/^\d{4}-/);
  });

  it('held by another instance: one line naming it (exit 3), nothing attached', async () => {
    const cloud = new FakeCloud();
    const { ctx, existing } = setup(cloud);
    existing('running');
    volume(cloud, 'eu-central-1a', 'i-elsewhere');
    await expect(provision(ctx)).rejects.toMatchObject({
      exitCode: 3,
      message: 'data volume data (vol-9) is attached to i-elsewhere: a volume is held by one instance at a time',
    });
    expect(cloud.calls.filter((c) => c.op === 'attachVolume')).toEqual([]);
  });

  it("a reused instance in another zone: refused, saying the next launch goes to the volume's zone", async () => {
    const cloud = new FakeCloud();
    const { ctx, existing } = setup(cloud);
    existing('running', 'eu-central-1a');
    volume(cloud, 'eu-central-1b');
    await expect(provision(ctx)).rejects.toThrow(
      /is in eu-central-1b, and i-\w+ in eu-central-1a: it cannot be attached there/,
    );
  });

  it("a launch goes to the volume's zone only, and says so; none yet: made where the instance landed", async () => {
    const cloud = new FakeCloud();
    const { ctx, lines } = setup(cloud);
    volume(cloud, 'eu-central-1b');
    const got = await provision(ctx);
    expect(got.instance.az).toBe('eu-central-1b');
    expect(lines.join('\n')).toContain('data volume data is in eu-central-1b: launching there only');

    const fresh = new FakeCloud();
    const made = await provision(setup(fresh).ctx);
    const [v] = fresh.volumes.values();
    expect(v).toMatchObject({ zone: made.instance.az, sizeGiB: 20, attachedTo: made.instance.id });
  });
});
