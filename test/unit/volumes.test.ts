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
import { syncMounts } from '../../src/session/data-volume.js';
import { IgnoreRules } from '../../src/sync/ignore-rules.js';

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
      { instanceType: 't1', zone: zones[1], market: 'on-demand' },
      { instanceType: 't2', zone: zones[1], market: 'on-demand' },
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
  it("is known from the instance too: one with the volume attached, whatever this command's options", () => {
    const held = { devices: ['/dev/xvda', '/dev/sdf'] };
    expect(syncMounts({ volume: undefined }, held)).toEqual(['data']);
    expect(syncMounts({ volume: { name: 'd', sizeGiB: 5 } }, { devices: ['/dev/xvda'] })).toEqual(['data']);
    expect(syncMounts({ volume: undefined }, { devices: ['/dev/xvda'] })).toEqual([]);
    expect(syncMounts({ volume: undefined }, undefined)).toEqual([]);
  });

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
