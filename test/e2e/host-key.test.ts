/**
 * The host key check of a new instance against the fingerprints cloud-init prints on its console,
 * with the sandbox's console as late as EC2's: no fingerprint block for the first calls after boot
 * (counted, not timed; see sandbox/console-and-start.ts).
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bootConsole } from '../sandbox/index.js';
import {
  cli,
  instanceState,
  launches,
  localState,
  makeProject,
  pathOnInstance,
  remotePath,
  reportedInstance,
  useSandbox,
} from './helpers.js';

const sb = useSandbox();
afterEach(() => {
  sb.aws.setLateConsole(1);
  sb.setConsoleOutput(undefined);
});

/** Positions of an action's calls among all calls recorded, oldest first. */
function positions(action: string): number[] {
  return sb.calls().flatMap((c, i) => (c.action === action ? [i] : []));
}

describe('host key fingerprints that appear on the console late', () => {
  it('and match: the run waits for them, checks the key, then goes on', async () => {
    sb.aws.setLateConsole(3);
    const dir = makeProject(sb, 'late-match', { 'in.txt': 'x' });
    sb.clearCalls();
    const r = await cli(sb, ['-v', 'cat in.txt; echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('xran\n');
    const id = reportedInstance(r.stderr);
    // Asked until the block appeared (the fourth call after boot), and no more: the check happened.
    expect(sb.calls('GetConsoleOutput').map((c) => [c.params.InstanceId, c.params.Latest])).toEqual(
      Array(4).fill([id, 'true']),
    );
    expect(r.stderr).toContain(`host key fingerprints of ${id} on its console (asked 4 times)`);
    expect(r.stderr).toMatch(new RegExp(`host key of ${id} matches its console output \\(SHA256:`));
    expect(r.stderr).not.toMatch(/trusted on first use/);
    // Before anything was done on the instance (the agent's limits are tagged when it is set up).
    expect(Math.max(...positions('GetConsoleOutput'))).toBeLessThan(Math.min(...positions('CreateTags')));
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('and do not match: nothing is sent (no project, no command), exit 255, the instance terminated', async () => {
    sb.aws.setLateConsole(3);
    sb.setConsoleOutput(bootConsole('256 SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA no (ED25519)'));
    const dir = makeProject(sb, 'late-mismatch', { 'secret-code.py': 'x' });
    sb.clearCalls();
    const r = await cli(sb, [`touch ${pathOnInstance(sb, 'late-mismatch-ran')}`], { cwd: dir });
    expect(r.exitCode).toBe(255);
    const id = reportedInstance(r.stderr);
    expect(r.stderr).toMatch(
      new RegExp(
        `the host key of ${id} \\(SHA256:\\S+\\) matches none of the fingerprints in its console output: refusing to use the connection`,
      ),
    );
    expect(r.stderr).toMatch(/Nothing was sent/);
    expect(sb.calls('GetConsoleOutput')).toHaveLength(4);
    expect(existsSync(remotePath(sb, 'late-mismatch-ran', id))).toBe(false);
    expect(existsSync(remotePath(sb, 'late-mismatch', id))).toBe(false);
    expect(sb.calls('CreateTags')).toEqual([]); // the agent was not set up either
    expect(await instanceState(sb, id)).toBe('terminated');
    expect(launches(sb)).toHaveLength(1);
  });

  it('never: the key is trusted on first use after --host-key-timeout, and the run says so', async () => {
    sb.aws.setLateConsole(Number.POSITIVE_INFINITY);
    const dir = makeProject(sb, 'never');
    sb.clearCalls();
    const r = await cli(sb, ['echo ran'], { cwd: dir, env: { SSH_EC2_HOST_KEY_TIMEOUT: '2s' } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    const id = reportedInstance(r.stderr);
    expect(r.stderr).toMatch(
      new RegExp(
        `host key of ${id} trusted on first use: EC2 showed no host key fingerprints on its console \\(asked \\d+ times\\)`,
      ),
    );
    expect(sb.calls('GetConsoleOutput').length).toBeGreaterThan(1);
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('--host-key-timeout off: no wait; a console without the fingerprints yet is trusted on first use, said', async () => {
    sb.aws.setLateConsole(Number.POSITIVE_INFINITY);
    const r = await cli(sb, ['--host-key-timeout', 'off', 'true'], { cwd: makeProject(sb, 'no-wait') });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/host key of i-\w+ trusted on first use: EC2 showed no host key fingerprints/);
  });
});

describe('instance types without a live console (Xen)', () => {
  it('Latest=true is refused: the buffered console is asked instead, and the key is checked', async () => {
    const dir = makeProject(sb, 'xen');
    sb.clearCalls();
    // A GPU-less Xen type with the default GPU image is refused (issue #13), and the sandbox's
    // region offers no Xen GPU type: an image pattern that does not say GPU (the same images) is
    // the user's choice.
    const own = ['--image-name', 'Deep Learning OSS * (Ubuntu *'];
    const r = await cli(sb, ['-v', '--iam-profile', '', ...own, '--instance-type', 't2.micro', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const asked = sb.calls('GetConsoleOutput');
    expect(asked.map((c) => [c.params.Latest, c.status])).toEqual([
      ['true', 400],
      [undefined, 200],
      [undefined, 200],
    ]);
    expect(r.stderr).toMatch(/host key of i-\w+ matches its console output/);
  });
});

describe('a pinned key removed while an earlier run left its ssh master open', () => {
  it('the next run connects once beside that master to learn the key, checks it, and goes on', async () => {
    const dir = makeProject(sb, 'unpinned-under-master');
    const first = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const id = reportedInstance(first.stderr);
    const pin = localState(sb, 'known_hosts', id);
    expect(existsSync(pin)).toBe(true);
    rmSync(pin);
    const r = await cli(sb, ['-v', 'echo again'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0); // not an internal error
    expect(r.stdout).toBe('again\n');
    expect(r.stderr).toMatch(/reusing the ssh connection already open/);
    expect(r.stderr).toMatch(/connecting once without it/);
    expect(r.stderr).toMatch(new RegExp(`host key of ${id} matches its console output`));
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});

describe('a state directory whose path holds a space, quotes, a backslash and %', () => {
  it('holds the pinned host key, which the next run checks: nothing written at the path first word', async () => {
    // A HOME with a space (or such an XDG_STATE_HOME): ssh split the unquoted UserKnownHostsFile there.
    const parent = join(sb.dir, 'odd-state');
    const state = join(parent, `st "a'b" \\ %h`);
    const env = { XDG_STATE_HOME: state };
    const dir = makeProject(sb, 'odd-state', { 'in.txt': 'x' });
    const first = await cli(sb, ['--leave', 'cat in.txt'], { cwd: dir, env });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toBe('x');
    const id = reportedInstance(first.stderr);
    const pin = join(state, 'ssh-ec2', 'known_hosts', id);
    expect(readFileSync(pin, 'utf8')).toMatch(new RegExp(`^${id} ssh-`, 'm'));
    expect(readdirSync(parent)).toEqual([basename(state)]);
    const next = await cli(sb, ['-v', 'echo again'], { cwd: dir, env });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stdout).toBe('again\n');
    expect(next.stderr).not.toMatch(/trusted on first use|matches its console/); // the pinned key served
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});
