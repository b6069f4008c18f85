// down --orphans ends only on evidence (issue #12 review): a host name shared by two machines is
// not "made here" without this machine's pinned host key; a directory that cannot be looked at is
// not "gone"; a policy older than the resource listings still lists the instances. Through main()
// against the in-memory cloud, as inventory.test.ts.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EC2Client } from '@aws-sdk/client-ec2';
import { inventory } from '../../src/cloud/inventory.js';
import type { InstanceInfo } from '../../src/cloud/port.js';
import { ExitCode } from '../../src/errors.js';
import { launchTags } from '../../src/session/owner.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';

// Tests run as root, for whom no permission is refused: a path holding DENIED answers as macOS
// privacy controls do (EPERM), the rest of the file system is the real one.
const DENIED = 'privacy-protected';
vi.mock('node:fs', async (real) => {
  const fs = await real<typeof import('node:fs')>();
  const refuse = (p: fs.PathLike) => {
    if (String(p).includes(DENIED)) throw Object.assign(new Error(`EPERM: ${String(p)}`), { code: 'EPERM' });
  };
  return {
    ...fs,
    lstatSync: ((p: fs.PathLike, o?: fs.StatSyncOptions) => (refuse(p), fs.lstatSync(p, o))) as typeof fs.lstatSync,
    statSync: ((p: fs.PathLike, o?: fs.StatSyncOptions) => (refuse(p), fs.statSync(p, o))) as typeof fs.statSync,
  };
});

let m: Machine;
beforeEach(() => {
  m = machine();
});
afterEach(() => m.cleanup());

function instance(cloud: FakeCloud, dir: string, more: Partial<InstanceInfo> = {}) {
  return cloud.add({ ...more, tags: { ...launchTags(m.plan(dir), 'alice'), Name: 'x' } });
}

describe('down --orphans: evidence before ending', () => {
  it('same host name, no pinned host key here (another machine named alike): listed, left alone', async () => {
    const cloud = new FakeCloud();
    const other = instance(cloud, join(m.project, 'not-on-this-machine'));
    const r = await cli(m, cloud, ['down', '--orphans', '--yes']);
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.ok);
    expect(cloud.instances.get(other.id)!.state).toBe('running');
    expect(cloud.callsOf('terminate')).toEqual([]);
    expect(r.lines.join('\n')).toMatch(new RegExp(`${other.id}.*never connected to it \\(no pinned host key\\)`));
  });

  it('a directory this machine may not look at (EPERM) is unchecked: listed, left alone', async () => {
    const cloud = new FakeCloud();
    fs.mkdirSync(join(m.project, DENIED));
    const hidden = instance(cloud, join(m.project, DENIED, 'work'));
    const unmounted = instance(cloud, join(m.project, 'not-mounted', 'work')); // its parent is gone too
    m.pin(hidden.id);
    m.pin(unmounted.id);
    const r = await cli(m, cloud, ['down', '--orphans', '--yes']);
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.ok);
    expect(cloud.instances.get(hidden.id)!.state).toBe('running');
    expect(cloud.instances.get(unmounted.id)!.state).toBe('running');
    const text = r.lines.join('\n');
    expect(text).toMatch(new RegExp(`${hidden.id}.*cannot be checked \\(.*${DENIED}/work: EPERM\\): left alone`));
    expect(text).toMatch(new RegExp(`${unmounted.id}.*cannot be checked \\(.*not-mounted: ENOENT\\): left alone`));
  });

  it('the list before asking says what runs there', async () => {
    const cloud = new FakeCloud();
    const orphan = instance(cloud, join(m.project, 'deleted'));
    m.pin(orphan.id);
    const r = await cli(m, cloud, ['down', '--orphans', '--yes']);
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.ok);
    expect(cloud.instances.get(orphan.id)!.state).toBe('terminated');
    // Pinned, it is asked over ssh; the stand-in ssh fails, so what runs there is unknown and said so.
    const text = r.lines.join('\n');
    expect(text).toMatch(
      new RegExp(`${orphan.id} .*\\n.*what runs there is unknown .*will be killed\\n.*directory is gone`),
    );
  });
});

describe('a policy older than the resource listings', () => {
  it('ls --json: one warning naming the permission and the policy file, the instances listed', async () => {
    const cloud = new FakeCloud();
    const i = instance(cloud, m.project);
    cloud.refusedListings = ['ec2:DescribeVolumes', 'ec2:DescribeKeyPairs', 'ec2:DescribeLaunchTemplates'];
    cloud.resources.push({ kind: 'volume', id: 'vol-1', tags: { 'ssh-ec2': 'x' } });
    const r = await cli(m, cloud, ['ls', '--json']);
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.ok);
    const doc = JSON.parse(r.stdout) as {
      instances: { instanceId: string }[];
      resources: unknown[];
      warnings: string[];
    };
    expect(doc.instances.map((x) => x.instanceId)).toEqual([i.id]);
    expect(doc.resources).toEqual([]);
    expect(doc.warnings).toHaveLength(1);
    expect(doc.warnings[0]).toMatch(
      /ec2:DescribeKeyPairs, ec2:DescribeLaunchTemplates, ec2:DescribeVolumes.*policy\/ssh-ec2-iam-policy\.json/,
    );
    expect(r.lines.filter((l) => l.includes('ec2:DescribeVolumes'))).toHaveLength(1); // said once on stderr too
  });

  it('down --orphans in one region: the warning, and the orphan still ended', async () => {
    const cloud = new FakeCloud();
    const orphan = instance(cloud, join(m.project, 'deleted'));
    m.pin(orphan.id);
    cloud.refusedListings = ['ec2:DescribeVolumes'];
    const r = await cli(m, cloud, ['down', '--orphans', '--yes']);
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.ok);
    expect(r.lines.join('\n')).toMatch(/not allowed to ec2:DescribeVolumes.*policy\/ssh-ec2-iam-policy\.json/);
    expect(cloud.instances.get(orphan.id)!.state).toBe('terminated');
  });
});

describe('the real listing (cloud/inventory.ts) against a policy without DescribeVolumes', () => {
  it('names the refused action and lists the rest; any other error still fails', async () => {
    // A client whose send answers here: nothing leaves this process.
    const refusing = (code: string) =>
      Object.assign(new EC2Client({ region: 'eu-central-1' }), {
        send: (cmd: { constructor: { name: string } }) => {
          const name = cmd.constructor.name;
          if (name === 'DescribeVolumesCommand')
            return Promise.reject(Object.assign(new Error(`${code} (test)`), { name: code }));
          if (name === 'DescribeSecurityGroupsCommand')
            return Promise.resolve({
              SecurityGroups: [{ GroupId: 'sg-1', Tags: [{ Key: 'ssh-ec2', Value: 'shared' }] }],
            });
          return Promise.resolve({});
        },
      });
    const found = await inventory(refusing('UnauthorizedOperation')).taggedResources();
    expect(found.refused).toEqual(['ec2:DescribeVolumes']);
    expect(found.resources.map((r) => r.id)).toEqual(['sg-1']);
    await expect(inventory(refusing('InternalError')).taggedResources()).rejects.toThrow();
  });
});
