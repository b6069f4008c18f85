// The verbs through their real entry, main() (test/fakes/cli.ts), against the in-memory cloud: what
// `ls` lists (whose instances, which columns), what `down` ends and how it asks, and `pull`/`logs`
// with nothing there — README's "Long jobs" and "Exit status" lines for the verbs, in the cases
// that reach no instance over ssh (those are the end-to-end tier's: ls.test.ts, jobs.test.ts…).
import { localTime } from '../../src/ui/words.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../src/cloud/port.js';
import { SECURITY_GROUP_NAME } from '../../src/cloud/ssh-rules.js';
import { ExitCode } from '../../src/errors.js';
import { LIMIT_TAGS } from '../../src/session/limits.js';
import { launchTags } from '../../src/session/owner.js';
import { TAG } from '../../src/session/plan.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, LOCAL_USER, machine, type CliResult, type Machine } from '../fakes/cli.js';

const OWNER = 'alice'; // FakeCloud's default identity

let m: Machine;
beforeEach(() => {
  m = machine();
});
afterEach(() => m.cleanup());

const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000);

/** An instance of `owner` for a directory: this machine's project, or one elsewhere. */
function instance(
  cloud: FakeCloud,
  more: Partial<InstanceInfo> & { dir?: string; host?: string; owner?: string; name?: string } = {},
): InstanceInfo {
  const { dir, host, owner = OWNER, name, ...rest } = more;
  const tags = launchTags(m.plan(dir ?? m.project), owner);
  if (host) tags[TAG.host] = host;
  if (name) tags.Name = name;
  return cloud.add({ ...rest, tags: { ...tags, ...rest.tags } });
}

/** An instance of mine whose directory is on another machine (nothing to bring back here). */
const elsewhere = (cloud: FakeCloud, name: string, more: Partial<InstanceInfo> = {}) =>
  instance(cloud, { dir: `/home/al/${name}`, host: 'other-laptop', name, ...more });

/** The exit status and every line ssh-ec2 said. */
function expectSaid(r: CliResult, status: number, lines: string[]): void {
  expect({ status: r.status, lines: r.lines }).toEqual({ status, lines });
}

const states = (cloud: FakeCloud) => Object.fromEntries([...cloud.instances.values()].map((i) => [i.id, i.state]));

describe('ls', () => {
  it('Long jobs: `ssh-ec2 ls` lists your ssh-ec2 instances in the region, any directory: name, id, state, type, uptime, cost so far and hourly, job, limits, directory', async () => {
    const cloud = new FakeCloud();
    const here = instance(cloud, {
      name: 'project-a1',
      launchTime: minutesAgo(65),
      tags: { [LIMIT_TAGS.idleTimeout]: '1h', [LIMIT_TAGS.maxTime]: '6h', [LIMIT_TAGS.deadline]: '2026-12-01T00:00Z' },
    });
    const away = elsewhere(cloud, 'train', { state: 'stopped', type: 'g5.xlarge', launchTime: minutesAgo(300) });
    const r = await cli(m, cloud, ['ls']);
    expect(r.status).toBe(ExitCode.ok);
    // The deadline as the user's clock shows it (issue #10: no raw UTC), to the minute.
    const until = localTime(new Date('2026-12-01T00:00Z')).replace(/(\d\d:\d\d):\d\d/, '$1');
    const limits = `idle 1h, max 6h (until ${until})`;
    expect(r.stdout.split('\n')).toEqual([
      `NAME        ID          STATE    TYPE         UP     COST                    JOB  ${'LIMITS'.padEnd(limits.length)}  DIRECTORY`,
      // Issue #13: so far (65 minutes at eu-central-1's $0.658/h) and by the hour.
      `project-a1  ${here.id}  running  g4dn.xlarge  1h05m  $0.71 so far, $0.658/h  ?    ${limits}  ${m.project}`,
      // Launched before its disk size was tagged: what a stopped one costs is said as far as known.
      `train       ${away.id}  stopped  g5.xlarge    -      stopped: disk only      -    ${'idle -, max -'.padEnd(limits.length)}  other-laptop:/home/al/train`,
      '',
    ]);
    expect(m.sshStarts()).toEqual([]);
  });

  it("Safety: your instance is found by tags that include who you are to AWS: another owner's is never listed", async () => {
    const cloud = new FakeCloud();
    const own = elsewhere(cloud, 'mine', { state: 'stopped' });
    instance(cloud, { owner: 'mallory', name: 'planted', state: 'stopped' });
    cloud.add({ state: 'stopped', tags: { [TAG.user]: OWNER, Name: 'not-ssh-ec2' } }); // no project tag
    const r = await cli(m, cloud, ['ls']);
    expect(
      r.stdout
        .split('\n')
        .slice(1, -1)
        .map((l) => l.split(/\s+/)[1]),
    ).toEqual([own.id]);
  });

  it('owner.ts: tagged by an earlier ssh-ec2 with the local login name: listed once ssh-ec2 here connected to it, else not', async () => {
    const cloud = new FakeCloud();
    const pinned = elsewhere(cloud, 'old', { state: 'stopped', tags: { [TAG.user]: LOCAL_USER } });
    elsewhere(cloud, 'unproven', { state: 'stopped', tags: { [TAG.user]: LOCAL_USER } });
    m.pin(pinned.id);
    const r = await cli(m, cloud, ['ls']);
    expect(r.stdout).toContain(pinned.id);
    expect(r.stdout).not.toContain('unproven');
  });

  it('Long jobs: ls never makes first contact: a running instance whose host key is not pinned here shows `?`, no ssh', async () => {
    const cloud = new FakeCloud();
    elsewhere(cloud, 'busy');
    const r = await cli(m, cloud, ['ls']);
    // The JOB column, after COST (whose cell has spaces).
    expect(r.stdout.split('\n')[1]!.split(/\s{2,}/)[6]).toBe('?');
    expect(m.sshStarts()).toEqual([]);
    expect(cloud.callsOf('consoleOutput')).toEqual([]);
  });

  it('newest first; `status` and `--all` list the same (ls is never only this directory’s)', async () => {
    const cloud = new FakeCloud();
    elsewhere(cloud, 'older', { state: 'stopped', launchTime: minutesAgo(90) });
    elsewhere(cloud, 'newer', { state: 'stopped', launchTime: minutesAgo(10) });
    const names = (out: string) =>
      out
        .split('\n')
        .slice(1, -1)
        .map((l) => l.split(' ')[0]);
    const ls = await cli(m, cloud, ['ls']);
    expect(names(ls.stdout)).toEqual(['newer', 'older']);
    expect((await cli(m, cloud, ['status'])).stdout).toBe(ls.stdout);
    expect((await cli(m, cloud, ['ls', '--all'])).stdout).toBe(ls.stdout);
  });

  it('in the region of --region (or the default), asked once', async () => {
    const cloud = new FakeCloud();
    expect((await cli(m, cloud, ['ls'])).regions).toEqual([undefined]);
    expect((await cli(m, cloud, ['ls', '--region', 'us-east-1'])).regions).toEqual(['us-east-1']);
  });

  it('none: one line, nothing on stdout, exit 0', async () => {
    const cloud = new FakeCloud();
    instance(cloud, { owner: 'mallory' });
    const r = await cli(m, cloud, ['ls']);
    expect(r).toMatchObject({ status: ExitCode.ok, stdout: '' });
    expect(r.lines).toEqual(['ssh-ec2: no ssh-ec2 instances (running or stopped) for you in eu-central-1']);
  });

  it('takes no arguments: exit 2', async () => {
    const r = await cli(m, new FakeCloud(), ['ls', 'x']);
    expect(r.status).toBe(ExitCode.usage);
    expect(r.lines[0]).toBe('ssh-ec2: error: ssh-ec2 ls takes no arguments (got "x")');
  });
});

describe('down', () => {
  it('Long jobs: `down --all --yes` ends all of yours; a directory not on this machine: terminated as it is, no ssh; then the unused security groups go', async () => {
    const cloud = new FakeCloud();
    cloud.groups.set('sg-ssh', {
      id: 'sg-ssh',
      name: SECURITY_GROUP_NAME,
      vpcId: 'vpc-default',
      tags: { [TAG.project]: 'shared' },
      cidrs: new Set(['198.51.100.7/32']),
    });
    const running = elsewhere(cloud, 'one');
    const stopped = elsewhere(cloud, 'two', { state: 'stopped' });
    const theirs = instance(cloud, { owner: 'mallory', securityGroups: [{ id: 'sg-theirs', name: 'x' }] });
    m.pin(running.id);
    const r = await cli(m, cloud, ['down', '--all', '--yes']);
    expect(r.status).toBe(ExitCode.ok);
    expect(states(cloud)).toEqual({ [running.id]: 'terminated', [stopped.id]: 'terminated', [theirs.id]: 'running' });
    expect(cloud.callsOf('start')).toEqual([]);
    expect(r.lines).toContain(`ssh-ec2: terminated ${running.id}`);
    expect(r.lines).toContain(`ssh-ec2: terminated ${stopped.id}`);
    expect(r.lines).toContain('ssh-ec2: removed 1 unused ssh-ec2 security group(s)');
    expect(cloud.groups.has('sg-ssh')).toBe(false);
    expect(existsSync(join(m.state, 'known_hosts', running.id))).toBe(false); // a terminated instance's pin goes
    // Its key pinned here, the running one is asked what runs there (issue #10: the prompt lists
    // the job it will kill); the stand-in ssh programs fail, so that is said to be unknown.
    const listed = r.lines.findIndex((l) => l.includes(running.id));
    expect(r.lines[listed + 1]).toMatch(/^ {4}what runs there is unknown \(.*\): any job there will be killed$/);
    expect(m.sshStarts().every((s) => s.startsWith('ssh-keygen '))).toBe(true);
  });

  it('down NAME: the one named (by Name tag or id), not the others', async () => {
    const cloud = new FakeCloud();
    const a = elsewhere(cloud, 'a');
    const b = elsewhere(cloud, 'b');
    const c = elsewhere(cloud, 'c');
    expect((await cli(m, cloud, ['down', '--yes', 'a'])).status).toBe(ExitCode.ok);
    expect((await cli(m, cloud, ['down', '-y', c.id])).status).toBe(ExitCode.ok);
    expect(states(cloud)).toEqual({ [a.id]: 'terminated', [b.id]: 'running', [c.id]: 'terminated' });
  });

  it("Exit status 7: no instance of yours by that name (another owner's does not count); nothing ended", async () => {
    const cloud = new FakeCloud();
    const theirs = instance(cloud, { owner: 'mallory', name: 'x' });
    const r = await cli(m, cloud, ['down', '--yes', 'x']);
    expectSaid(r, ExitCode.nothingThere, [
      'ssh-ec2: error: no ssh-ec2 instance of yours named x',
      'ssh-ec2: ssh-ec2 ls lists them.',
    ]);
    expect(cloud.get(theirs.id)!.state).toBe('running');
  });

  it('Exit status 7: --all with none of yours', async () => {
    const r = await cli(m, new FakeCloud(), ['down', '--all', '--yes']);
    expect(r.status).toBe(ExitCode.nothingThere);
    expect(r.lines[0]).toBe('ssh-ec2: error: no ssh-ec2 instance of yours to end');
  });

  it('Exit status 7: none for this directory; nothing launched', async () => {
    const cloud = new FakeCloud();
    elsewhere(cloud, 'other');
    const r = await cli(m, cloud, ['down', '--yes']);
    expect(r.status).toBe(ExitCode.nothingThere);
    expect(r.lines[0]).toBe(`ssh-ec2: error: no ssh-ec2 instance for ${m.project} in eu-central-1: nothing to end`);
    expect(cloud.launches).toEqual([]);
  });

  it('Long jobs: it lists what it will do and asks; without a terminal it needs --yes (exit 2), nothing ended', async () => {
    const cloud = new FakeCloud();
    const i = elsewhere(cloud, 'one');
    const r = await cli(m, cloud, ['down', '--all'], { stdinIsTTY: false });
    expectSaid(r, ExitCode.usage, [
      'ssh-ec2: error: ssh-ec2 down asks for confirmation, but stdin is not a terminal',
      'ssh-ec2: Add --yes to terminate without asking.',
    ]);
    expect(cloud.get(i.id)!.state).toBe('running');
  });

  it('`down NAME --yes`: flags in any order (issue #10): the one named is ended', async () => {
    const cloud = new FakeCloud();
    const i = elsewhere(cloud, 'one');
    const other = elsewhere(cloud, 'two');
    const r = await cli(m, cloud, ['down', 'one', '--yes']);
    expect(r.status).toBe(ExitCode.ok);
    expect(states(cloud)).toEqual({ [i.id]: 'terminated', [other.id]: 'running' });
  });

  it('a terminate that fails: said for that instance, the others still ended, its exit status', async () => {
    const cloud = new FakeCloud();
    const bad = elsewhere(cloud, 'bad');
    const good = elsewhere(cloud, 'good');
    cloud.fail('terminate', { code: 'UnauthorizedOperation', when: (id) => id === bad.id });
    const r = await cli(m, cloud, ['down', '--all', '--yes']);
    expect(r.status).toBe(ExitCode.cloud);
    expect(states(cloud)).toEqual({ [bad.id]: 'running', [good.id]: 'terminated' });
    expect(r.lines.some((l) => l.startsWith(`ssh-ec2: error: could not terminate ${bad.id}: `))).toBe(true);
  });
});

describe('pull and logs with nothing there', () => {
  // Each verb says it in its own words, with the region it looked in (issue #10).
  it.each([
    [
      'pull',
      'nothing to pull',
      'Each run brings its results back itself; pull is for an instance left here (--leave, --stop, --detach).',
    ],
    ['logs', 'no job log to show', 'ssh-ec2 --detach CMD here starts a job; ssh-ec2 logs then follows it.'],
  ])('Exit status 7: `%s` with no instance for this directory; nothing launched', async (verb, what, next) => {
    const cloud = new FakeCloud();
    elsewhere(cloud, 'other');
    const r = await cli(m, cloud, [verb]);
    expectSaid(r, ExitCode.nothingThere, [
      `ssh-ec2: error: no ssh-ec2 instance for ${m.project} in eu-central-1: ${what}`,
      `ssh-ec2: Nothing was launched. ${next}`,
    ]);
    expect(cloud.launches).toEqual([]);
    expect(cloud.callsOf('start')).toEqual([]);
  });

  it('Long jobs: `ssh-ec2 logs` on a stopped instance says how to get the log instead of starting the machine (exit 7)', async () => {
    const cloud = new FakeCloud();
    const i = instance(cloud, { state: 'stopped' });
    const r = await cli(m, cloud, ['logs']);
    expectSaid(r, ExitCode.nothingThere, [
      `ssh-ec2: error: ${i.id} is stopped: its job log is on its disk`,
      'ssh-ec2: ssh-ec2 --attach restarts it and brings the results back, the log (ssh-ec2-job.log) included.',
    ]);
    expect(cloud.callsOf('start')).toEqual([]);
    expect(cloud.get(i.id)!.state).toBe('stopped');
    expect(m.sshStarts()).toEqual([]);
  });
});
