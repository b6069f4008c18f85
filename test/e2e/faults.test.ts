/**
 * Faults injected into a running ssh-ec2: SIGKILL (the next run finishes the killed run's work),
 * and SIGINT, SIGTERM, SIGHUP in every phase (nothing is ever left running, nothing is terminated
 * while a result it holds is missing locally).
 */
import { execa, type ResultPromise } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/index.js';
import { BIN, cli, instanceState, launches, makeProject, remotePath, reportedInstance, useSandbox } from './helpers.js';

const sandbox = useSandbox();
let sb: Sandbox;

beforeAll(() => {
  sb = sandbox();
});

const STATUS = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
type Sig = keyof typeof STATUS;

interface Running {
  child: ResultPromise;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** The CLI started in the background, its error output collected as it comes. */
function start(dir: string, args: string[]): Running {
  const child = execa('node', [BIN, ...args], { cwd: dir, env: sb.env(), extendEnv: false, reject: false, stdin: 'ignore', encoding: 'utf8' });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += String(d)));
  // The exit of the CLI itself, not of the streams it shared with its children.
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The instance's state once it has settled (not pending, stopping or shutting down). */
async function settledState(id: string): Promise<string | undefined> {
  let state: string | undefined;
  await until(async () => {
    state = await instanceState(sb, id);
    return !['pending', 'stopping', 'shutting-down'].includes(state ?? '');
  }, `${id} to settle`, 20_000, 100);
  return state;
}

const digest = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/**
 * The guarantee: never left running; terminated only when every result the command produced
 * (those of `results` that exist on the instance) is here, identical.
 */
async function expectGuarantee(id: string, dir: string, name: string, results: string[]): Promise<string | undefined> {
  const state = await settledState(id);
  expect(state).not.toBe('running');
  if (state === 'terminated') {
    for (const f of results) {
      const remote = join(remotePath(sb, name), f);
      if (existsSync(remote)) expect(existsSync(join(dir, f)) && digest(join(dir, f)), `${f} brought back`).toBe(digest(remote));
    }
  } else {
    expect(state).toBe('stopped');
  }
  return state;
}

describe('SIGKILL', () => {
  it('a run killed while its command runs leaves the instance running; the next run here syncs back and terminates it, launching nothing', async () => {
    const name = 'killed';
    const dir = makeProject(sb, name, { 'in.txt': 'in\n' });
    const remote = remotePath(sb, name);
    sb.clearCalls();
    const run = start(dir, ['echo result > result.txt; i=0; while [ ! -e go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done']);
    await until(() => existsSync(join(remote, 'result.txt')), 'the command to write its result');
    const id = reportedInstance(run.stderr());
    const journals = join(sb.dir, 'local-home', '.local', 'state', 'ssh-ec2', 'journals');
    run.child.kill('SIGKILL');
    await run.exited;

    expect(await instanceState(sb, id)).toBe('running');
    expect(existsSync(join(dir, 'result.txt'))).toBe(false);
    const left = readdirSync(journals).filter((n) => n.endsWith(`.${run.child.pid}.json`));
    expect(left).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(journals, left[0]!), 'utf8'))).toMatchObject({ step: 'the command', instanceId: id, ran: true, finalState: 'terminate' });

    const next = await cli(sb, ['true'], { cwd: dir });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr).toContain(`a previous ssh-ec2 here (pid ${run.child.pid}) was killed during the command; finishing its work: sync back, then terminate`);
    expect(next.stderr).toContain(`using instance ${id}`);
    expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('result\n');
    expect(await instanceState(sb, id), next.stderr).toBe('terminated');
    expect(launches(sb)).toHaveLength(1);
    expect(readdirSync(journals)).toEqual([]);
    await run.child; // its ssh, orphaned by the kill, was ended by the recovery
  });

  it('the sync back owed by a killed --stop run happens even under --no-rsync; a run that itself asks --leave is obeyed', async () => {
    const name = 'killed-stop';
    const dir = makeProject(sb, name);
    const run = start(dir, ['--stop', 'echo owed > owed.txt; sleep 60']);
    await until(() => existsSync(join(remotePath(sb, name), 'owed.txt')), 'the command to write its result');
    const id = reportedInstance(run.stderr());
    run.child.kill('SIGKILL');
    await run.exited;

    const next = await cli(sb, ['--no-rsync', '--leave', 'true'], { cwd: dir });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/was killed during the command; finishing its work: sync back, then stop/);
    expect(readFileSync(join(dir, 'owed.txt'), 'utf8')).toBe('owed\n');
    expect(await instanceState(sb, id)).toBe('running');
    await run.child;
    const end = await cli(sb, ['true'], { cwd: dir });
    expect(end.stderr).not.toMatch(/a previous ssh-ec2/);
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});

describe('SIGINT, SIGTERM and SIGHUP in every phase', () => {
  it('while launching (SIGINT): exit 130, the new instance is terminated', async () => {
    const dir = makeProject(sb, 'sig-launch');
    const run = start(dir, ['touch ran.txt']);
    await until(() => /launched i-/.test(run.stderr()), '"launched"');
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(STATUS.SIGINT);
    expect(await settledState(reportedInstance(run.stderr()))).toBe('terminated');
    expect(existsSync(join(remotePath(sb, 'sig-launch'), 'ran.txt'))).toBe(false);
  });

  it('during the sync up (SIGTERM): exit 143, nothing runs, the instance is terminated', async () => {
    const name = 'sig-sync-up';
    const dir = makeProject(sb, name);
    writeFileSync(join(dir, 'big.bin'), randomBytes(50 * 1024 * 1024));
    const run = start(dir, ['-v', 'touch ran.txt']);
    await until(() => /ssh ready/.test(run.stderr()), '"ssh ready"');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(STATUS.SIGTERM);
    expect(await settledState(reportedInstance(run.stderr()))).toBe('terminated');
    expect(existsSync(join(remotePath(sb, name), 'ran.txt'))).toBe(false);
  });

  it('while the command runs (SIGHUP): exit 129, its result comes back, the instance is terminated', async () => {
    const name = 'sig-run';
    const dir = makeProject(sb, name);
    const run = start(dir, ['echo partial > p.txt; sleep 30']);
    await until(() => existsSync(join(remotePath(sb, name), 'p.txt')), 'the command to start');
    run.child.kill('SIGHUP');
    expect(await run.exited).toBe(STATUS.SIGHUP);
    const state = await expectGuarantee(reportedInstance(run.stderr()), dir, name, ['p.txt']);
    expect(state).toBe('terminated');
    expect(readFileSync(join(dir, 'p.txt'), 'utf8')).toBe('partial\n');
  });

  for (const [what, signals] of [
    ['during the sync back (SIGTERM): exit 143', ['SIGTERM']],
    ['a second SIGINT during the sync back does not skip the finish: exit 130', ['SIGINT', 'SIGINT']],
  ] as [string, Sig[]][]) {
    it(`${what}; never left running, never terminated without the results`, async () => {
      const name = `sig-back-${signals.length}`;
      const dir = makeProject(sb, name);
      const run = start(dir, ['head -c 50000000 /dev/urandom > big.bin; echo done > done.txt']);
      // rsync writes into a temporary ".big.bin.XXXXXX" next to the file it brings back.
      await until(() => readdirSync(dir).some((n) => n.startsWith('.big.bin.')) || run.child.exitCode !== null, 'the sync back to start', 60_000, 5);
      expect(run.child.exitCode, 'the CLI was still syncing back').toBeNull();
      for (const [i, sig] of signals.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        run.child.kill(sig);
      }
      expect(await run.exited).toBe(STATUS[signals[0]!]);
      if (signals.length > 1) expect(run.stderr()).toMatch(/SIGINT received again: still finishing/);
      const state = await expectGuarantee(reportedInstance(run.stderr()), dir, name, ['big.bin', 'done.txt']);
      if (signals.length > 1) expect(run.stderr()).toMatch(state === 'terminated' ? /terminated i-/ : /stopped i-/);
    });
  }
});
