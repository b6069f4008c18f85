/**
 * --sync-every (issue #13): results come home while the command still runs. The command writes a
 * result, then waits on the instance for a release file; the test sees the result arrive here
 * (a bounded poll), then writes the release file into the instance's home directly (the sandbox's
 * instance home is a local directory) and the command ends: its last results come with the final
 * sync back. The shortest period allowed (5s) keeps it short; nothing here is timed.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, localState, makeProject, REPO, remotePath, until, useSandbox, type CliResult } from './helpers.js';

const sb = useSandbox();
const TOOLS = join(REPO, '..', 'shared', 'tools');
const EVERY = ['--sync-every', '5s'];

/** The command waits so on the instance until the test writes `name` there. */
const waitFor = (name: string) => `while [ ! -f ${name} ]; do sleep 0.1; done`;
const release = (project: string, name: string) => writeFileSync(join(remotePath(sb, project), name), '');

/** The run, and whether it has ended yet (it must not have, while its results come home). */
function started(args: string[], cwd: string, env?: Record<string, string>) {
  const state = { ended: false };
  const done = cli(sb, args, { cwd, env, timeoutMs: 240_000 }).then((r: CliResult) => {
    state.ended = true;
    return r;
  });
  return { state, done };
}

const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');

/** `name` comes home while the run still runs (a bounded poll: the run must not have ended first). */
async function arrives(dir: string, name: string, run: { state: { ended: boolean } }): Promise<void> {
  await until(() => existsSync(join(dir, name)) || run.state.ended, `${name} to come home`, 150_000);
  expect(run.state.ended).toBe(false);
}

async function resultArrivesWhileRunning(name: string, env?: Record<string, string>): Promise<CliResult> {
  const dir = makeProject(sb, name, { 'train.sh': 'echo first > result.txt\n' });
  const run = started(
    [...EVERY, '-v', `sh train.sh; ${waitFor('release')}; echo last > final.txt; echo done`],
    dir,
    env,
  );
  await until(() => existsSync(join(dir, 'result.txt')) || run.state.ended, 'result.txt to come home', 150_000);
  const early = await Promise.race([run.done, Promise.resolve(undefined)]);
  expect(early?.stderr, 'the run ended before its result came home').toBeUndefined();
  expect(run.state.ended).toBe(false);
  expect(read(dir, 'result.txt')).toBe('first\n');
  expect(existsSync(join(dir, 'final.txt'))).toBe(false);
  release(name, 'release');
  const r = await run.done;
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stdout).toBe('done\n');
  expect(r.stderr).toMatch(/results so far, brought back: .*result\.txt/);
  // The instance's rsync ran behind both priorities (the sandbox's machine runs them), under the bound.
  expect(r.stderr).toContain('pulls during the run: nice -n 19 ionice -c 2 -n 7 (at most 4096 KiB/s)');
  // The final sync back still comes, and brings what the command made after the pulls.
  expect(read(dir, 'final.txt')).toBe('last\n');
  expect(read(dir, 'result.txt')).toBe('first\n');
  return r;
}

describe('--sync-every: results home while the command runs', () => {
  it('a result arrives here while the command still runs; the final sync back brings the rest', async () => {
    await resultArrivesWhileRunning('every-plain');
  });

  it('in tmux: a result edited here between two pulls is not reverted, by the pulls nor by the final sync back', async () => {
    const name = 'every-edit';
    const dir = makeProject(sb, name);
    const command = [
      'echo v1 > result.txt',
      waitFor('release1'),
      'echo second > second.txt',
      waitFor('release2'),
      'echo last > final.txt',
    ].join('; ');
    const run = started([...EVERY, '--multi', 'tmux', command], dir);
    await arrives(dir, 'result.txt', run);
    writeFileSync(join(dir, 'result.txt'), 'mine\n');
    release(name, 'release1');
    // second.txt exists only after the edit: the pull that brings it has seen the edit.
    await arrives(dir, 'second.txt', run);
    expect(read(dir, 'result.txt')).toBe('mine\n');
    release(name, 'release2');
    const r = await run.done;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(read(dir, 'result.txt')).toBe('mine\n');
    expect(read(dir, 'final.txt')).toBe('last\n');
    // The instance never changed it again: nothing to put beside it.
    expect(readdirSync(dir).filter((n) => n.startsWith('result.ec2-'))).toEqual([]);
  });

  it("with a Mac's openrsync first on PATH (it receives as a server: the instance's rsync sends)", async () => {
    const bin = join(TOOLS, 'openrsync', 'bin');
    expect(existsSync(join(bin, 'rsync')), `${bin}/rsync is needed (see ../shared/tools/README.md)`).toBe(true);
    await resultArrivesWhileRunning('every-openrsync', { PATH: `${bin}:${process.env.PATH}` });
    // The rsync that did the pulls was openrsync (ssh-ec2 probed it: its answers are cached by path).
    const probed = readdirSync(localState(sb, 'rsync')).map(
      (f) => JSON.parse(readFileSync(join(localState(sb, 'rsync'), f), 'utf8')) as { path: string },
    );
    expect(probed.map((p) => p.path)).toContain(join(bin, 'rsync'));
  });

  it('--detach with --sync-every on the command line is refused (exit 2), before anything is launched', async () => {
    const dir = makeProject(sb, 'every-detach-flag');
    const before = sb.calls('RunInstances').length;
    const r = await cli(sb, [...EVERY, '--detach', 'make', 'train'], { cwd: dir });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--sync-every pulls while this laptop waits, and --detach does not wait/);
    expect(r.stderr).toMatch(/ssh-ec2 --attach/);
    expect(sb.calls('RunInstances').length).toBe(before);
  });

  it('from the project file: --detach goes on with a note, and the --attach that follows the job pulls by it', async () => {
    const name = 'every-detach-file';
    const dir = makeProject(sb, name, { '.ssh-ec2.toml': 'sync-every = "5s"\n' });
    const detached = await cli(
      sb,
      ['--detach', `echo first > result.txt; ${waitFor('release')}; echo last > final.txt`],
      {
        cwd: dir,
      },
    );
    expect(detached.exitCode, detached.stderr).toBe(0);
    expect(detached.stderr).toContain('.ssh-ec2.toml:1: sync-every applies when you ssh-ec2 --attach');
    expect(existsSync(join(dir, 'result.txt'))).toBe(false);
    // Without a terminal, --attach follows the log: the job's result comes home while it follows.
    const run = started(['--attach'], dir);
    await arrives(dir, 'result.txt', run);
    expect(read(dir, 'result.txt')).toBe('first\n');
    release(name, 'release');
    const r = await run.done;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/results so far, brought back: .*result\.txt/);
    expect(read(dir, 'final.txt')).toBe('last\n');
  });

  it('a period below the minimum is a usage error, before anything is launched', async () => {
    const dir = makeProject(sb, 'every-short');
    const before = sb.calls('RunInstances').length;
    const r = await cli(sb, ['--sync-every', '1s', 'true'], { cwd: dir });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--sync-every: at least 5s between pulls/);
    expect(sb.calls('RunInstances').length).toBe(before);
  });
});
