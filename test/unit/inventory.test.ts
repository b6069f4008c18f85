// ls --all-regions, ls --json and down --orphans through main() (test/fakes/cli.ts) against
// in-memory clouds, one per region: README's "Everything you made, everywhere" and
// "Machine-readable output". The end-to-end tier (e2e/ls-all-regions.test.ts) does it against moto.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../src/cloud/port.js';
import { ExitCode } from '../../src/errors.js';
import { localTime } from '../../src/commands/down/describe.js';
import { verdict, type Judge } from '../../src/commands/down/orphans.js';
import { launchTags } from '../../src/session/owner.js';
import { TAG } from '../../src/session/plan.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';

const OWNER = 'alice'; // FakeCloud's default identity
const DAY = 86_400_000;

let m: Machine;
beforeEach(() => {
  m = machine();
});
afterEach(() => m.cleanup());

function instance(cloud: FakeCloud, more: Partial<InstanceInfo> & { dir?: string; host?: string; name?: string } = {}) {
  const { dir, host, name, ...rest } = more;
  const tags = launchTags(m.plan(dir ?? m.project), OWNER);
  if (host) tags[TAG.host] = host;
  if (name) tags.Name = name;
  return cloud.add({ ...rest, tags: { ...tags, ...rest.tags } });
}

/** Two regions with something in each, and a third that refuses. */
function world() {
  const home = new FakeCloud();
  home.enabledRegionNames = ['eu-central-1', 'us-east-1', 'ap-south-1'];
  const east = new FakeCloud();
  east.region = 'us-east-1';
  const south = new FakeCloud();
  south.region = 'ap-south-1';
  south.fail('findInstances', { code: 'UnauthorizedOperation', times: Infinity });
  return { home, east, south, clouds: { 'us-east-1': east, 'ap-south-1': south } };
}

describe('ls --all-regions', () => {
  it('lists the instances and tagged resources of every enabled region, with their directory and machine; a refusing region is one warning', async () => {
    const { home, east, clouds } = world();
    const a = instance(home, { name: 'here-a' });
    const b = instance(east, { name: 'east-b', dir: '/home/al/elsewhere', host: 'other-laptop', state: 'stopped' });
    east.resources.push({
      kind: 'volume',
      id: 'vol-1',
      state: 'available',
      sizeGiB: 100,
      tags: { 'ssh-ec2': 'x', [TAG.user]: OWNER, [TAG.dir]: '/home/al/elsewhere', [TAG.host]: 'other-laptop' },
    });
    east.resources.push({ kind: 'volume', id: 'vol-theirs', tags: { 'ssh-ec2': 'x', [TAG.user]: 'bob' } });
    east.resources.push({ kind: 'key-pair', id: 'key-1', name: 'k', tags: { 'ssh-ec2': 'shared' } });
    const r = await cli(m, home, ['ls', '--all-regions'], { clouds });
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.ok);
    const rows = r.stdout.trim().split('\n');
    expect(rows[0]!.split(/\s+/)).toEqual(['REGION', 'KIND', 'ID', 'NAME', 'STATE', 'AGE', 'COST', 'JOB', 'DIRECTORY']);
    const row = (word: string) => rows.find((l) => l.split(/\s+/).includes(word))?.split(/\s+/);
    expect(row('here-a')?.slice(0, 5)).toEqual(['eu-central-1', 'instance', a.id, 'here-a', 'running']);
    expect(row('here-a')?.at(-1)).toBe(m.project);
    expect(row('east-b')?.slice(0, 5)).toEqual(['us-east-1', 'instance', b.id, 'east-b', 'stopped']);
    expect(row('east-b')?.at(-1)).toBe('other-laptop:/home/al/elsewhere');
    expect(row('vol-1')?.slice(0, 2)).toEqual(['us-east-1', 'volume']);
    expect(row('key-1')?.slice(0, 2)).toEqual(['us-east-1', 'key-pair']);
    expect(row('vol-theirs')).toBeUndefined(); // another owner's
    expect(r.lines.filter((l) => l.includes('ap-south-1'))).toHaveLength(1);
    expect(r.lines.find((l) => l.includes('ap-south-1'))).toMatch(/ap-south-1: not listed/);
  });

  it('--json: one document, stable field names, every key present', async () => {
    const { home, east, clouds } = world();
    const a = instance(home, { name: 'here-a', launchTime: new Date(Date.now() - 2 * 3_600_000) });
    instance(east, { name: 'east-b' });
    const r = await cli(m, home, ['status', '--all-regions', '--json'], { clouds });
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.ok);
    const doc = JSON.parse(r.stdout) as {
      regions: string[];
      warnings: string[];
      instances: Record<string, unknown>[];
      resources: Record<string, unknown>[];
    };
    expect(doc.regions).toEqual(['eu-central-1', 'us-east-1']);
    expect(doc.warnings).toHaveLength(1);
    const rec = doc.instances.find((i) => i.instanceId === a.id)!;
    expect(Object.keys(rec)).toEqual([
      'kind',
      'instanceId',
      'name',
      'region',
      'state',
      'type',
      'launchedAt',
      'ageSeconds',
      'stoppedAt',
      'costPerHour',
      'costSoFar',
      'directory',
      'host',
      'user',
      'remoteDir',
      'job',
      'limits',
    ]);
    expect(rec).toMatchObject({ name: 'here-a', region: 'eu-central-1', state: 'running', directory: m.project });
    expect(rec.host).toBe(hostname());
    expect(rec.user).toBe(OWNER);
    expect(rec.ageSeconds).toBeGreaterThanOrEqual(7200);
    expect(rec.costSoFar as number).toBeCloseTo((rec.costPerHour as number) * 2, 2);
    expect(doc.instances.map((i) => i.region).sort()).toEqual(['eu-central-1', 'us-east-1']);
  });

  it('without --all-regions: one region asked, no DescribeRegions', async () => {
    const { home, clouds } = world();
    instance(home);
    const r = await cli(m, home, ['ls', '--json'], { clouds });
    expect(r.status).toBe(ExitCode.ok);
    expect(JSON.parse(r.stdout).regions).toEqual(['eu-central-1']);
    expect(home.callsOf('enabledRegions')).toHaveLength(0);
  });
});

describe('down --orphans', () => {
  it("ends this machine's instance whose directory is gone; leaves a claimed one and another machine's", async () => {
    const { home, east, clouds } = world();
    const orphan = instance(home, { name: 'gone', dir: join(m.project, 'deleted-dir') });
    const claimed = instance(home, { name: 'claimed' });
    const theirs = instance(east, { name: 'theirs', dir: '/home/al/x', host: 'other-laptop' });
    for (const i of [orphan, claimed, theirs]) m.pin(i.id); // connected to from here: the evidence it is ours
    const r = await cli(m, home, ['down', '--orphans', '--all-regions', '--yes'], { clouds });
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.ok);
    expect(home.instances.get(orphan.id)!.state).toBe('terminated');
    expect(home.instances.get(claimed.id)!.state).toBe('running');
    expect(east.instances.get(theirs.id)!.state).toBe('running');
    const text = r.lines.join('\n');
    expect(text).toMatch(/its directory is gone from this machine: terminated as it is/);
    expect(text).toMatch(new RegExp(`${theirs.id}.*not ours \\(made on other-laptop\\), left alone`));
    expect(text).not.toMatch(new RegExp(`${claimed.id}`));
  });

  it('one of this machine stopped longer than --stopped-for is ended; a shorter stop is not', async () => {
    const home = new FakeCloud();
    const old = instance(home, { name: 'old', state: 'stopped', stoppedAt: new Date(Date.now() - 3 * DAY) });
    const recent = instance(home, {
      name: 'recent',
      dir: join(m.project, '..'),
      state: 'stopped',
      stoppedAt: new Date(Date.now() - DAY),
    });
    m.pin(old.id);
    m.pin(recent.id);
    const r = await cli(m, home, ['down', '--orphans', '--stopped-for', '2d', '--no-pull', '--yes']);
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.ok);
    expect(home.instances.get(old.id)!.state).toBe('terminated');
    expect(home.instances.get(recent.id)!.state).toBe('stopped');
    expect(r.lines.join('\n')).toMatch(/stopped since .* \(over 2d\): terminated as it is/);
  });

  it('asks: without a terminal it needs --yes (exit 2), nothing ended; a bad --stopped-for is exit 2', async () => {
    const home = new FakeCloud();
    const orphan = instance(home, { dir: join(m.project, 'gone') });
    m.pin(orphan.id);
    expect((await cli(m, home, ['down', '--orphans'])).status).toBe(ExitCode.usage);
    expect(home.instances.get(orphan.id)!.state).toBe('running');
    expect((await cli(m, home, ['down', '--orphans', '--stopped-for', 'soon'])).status).toBe(ExitCode.usage);
    expect((await cli(m, home, ['down', '--stopped-for', '1d'])).status).toBe(ExitCode.usage);
  });
});

describe('what down --orphans does with one instance', () => {
  const now = new Date('2026-11-30T12:00:00Z');
  const tags = (host: string, dir: string) => ({ [TAG.host]: host, [TAG.dir]: dir });
  const base = { id: 'i-1', type: 't3.large', state: 'running' };
  const o: Judge = {
    host: 'me',
    pinned: (id) => id !== 'i-new',
    directory: (p) =>
      p === '/here' ? { state: 'here' } : p === '/denied' ? { state: 'unchecked', why: 'EACCES' } : { state: 'gone' },
    now,
    stoppedForMs: 7 * DAY,
  };
  it.each([
    ['another machine', { ...base, tags: tags('them', '/gone') }, { end: false, why: 'not ours' }],
    [
      'a machine of the same name (no pinned host key here)',
      { ...base, id: 'i-new', tags: tags('me', '/gone') },
      { end: false, why: 'not pinned here' },
    ],
    ['directory gone', { ...base, tags: tags('me', '/gone') }, { end: true, why: 'orphan' }],
    ['directory here', { ...base, tags: tags('me', '/here') }, { end: false, why: 'claimed' }],
    [
      'a directory that cannot be checked',
      { ...base, tags: tags('me', '/denied') },
      { end: false, why: 'unchecked path', detail: 'EACCES' },
    ],
    [
      'a cut-short path',
      { ...base, tags: tags('me', '…abc/x') },
      { end: false, why: 'unchecked path', detail: 'its directory tag is cut short' },
    ],
    [
      'stopped 8 days',
      { ...base, state: 'stopped', stoppedAt: new Date(now.getTime() - 8 * DAY), tags: tags('me', '/here') },
      { end: true, why: 'stopped too long' },
    ],
    [
      'stopped 6 days',
      { ...base, state: 'stopped', stoppedAt: new Date(now.getTime() - 6 * DAY), tags: tags('me', '/here') },
      { end: false, why: 'claimed' },
    ],
  ])('%s', (_, i, expected) => {
    expect(verdict(i as InstanceInfo, o)).toEqual(expected);
  });
});

describe("down's clock time of a job's start", () => {
  it('the time alone today; with its day when it was another (a job started before midnight)', () => {
    const now = new Date(2026, 11, 1, 0, 2);
    expect(localTime(new Date(2026, 11, 1, 0, 1), now)).toBe('00:01');
    expect(localTime(new Date(2026, 10, 30, 23, 59), now)).toBe('2026-11-30 23:59');
  });
});
