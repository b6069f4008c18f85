// The journals a killed run leaves, as the next run in the directory reads them: only dead runs'
// journals are taken (and removed), their debts combined; a live run's journal is never touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { takeDeadJournals, type JournalEntry } from '../../src/session/journal.js';
import { resolvePaths, type Paths } from '../../src/state/paths.js';
import { isProgramSeen, parseElapsed } from '../../src/state/process.js';
import { createLogger } from '../../src/ui/logger.js';

const PROJECT = 'p0123456789abcde';
let dir: string;
let paths: Paths;
let output: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'journal-test-'));
  paths = resolvePaths({ SSH_EC2_STATE_DIR: dir, HOME: dir });
  output = '';
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function logger() {
  const stream = new PassThrough();
  stream.on('data', (d: Buffer) => (output += String(d)));
  return createLogger({ stream, env: {} });
}

/** A pid that is certainly dead: a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const c = spawn('true');
  await new Promise((r) => c.on('exit', r));
  return c.pid!;
}

/**
 * A running `sleep 60`, once it has really started (its 'spawn' event: exec done, a pid that is
 * sleep's). A fork refused for want of resources (EAGAIN on a busy machine) is tried again: a
 * child that never started would read as "killed" below.
 */
async function sleeper(): Promise<ChildProcess & { pid: number }> {
  for (let attempt = 1; ; attempt++) {
    const c = spawn('sleep', ['60'], { stdio: 'ignore' });
    const error = await new Promise<Error | undefined>((resolve) => {
      c.once('spawn', () => resolve(undefined));
      c.once('error', resolve);
    });
    if (!error && c.pid) {
      children.push(c);
      return c as ChildProcess & { pid: number };
    }
    if (attempt === 10) throw new Error(`could not start sleep: ${error?.message}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function livePid(): Promise<number> {
  return (await sleeper()).pid;
}

function write(pid: number, entry: Partial<JournalEntry>, project = PROJECT): string {
  const path = paths.journal(project, pid);
  mkdirSync(dirname(path), { recursive: true });
  const full: JournalEntry = {
    pid,
    projectDir: '/work/p',
    startedAt: new Date().toISOString(),
    step: 'the command',
    finalState: 'terminate',
    ...entry,
  };
  writeFileSync(path, JSON.stringify(full));
  return path;
}

describe('takeDeadJournals', () => {
  it("takes a dead run's journal: what it owed, its instance, its sessions and the ones it had inherited; the file is removed", async () => {
    const pid = await deadPid();
    const path = write(pid, {
      instanceId: 'i-0abc',
      ran: true,
      finalState: 'stop',
      sessionId: 's1',
      inheritedSessions: ['s0'],
    });
    const pending = await takeDeadJournals(paths, PROJECT, logger());
    expect(pending).toMatchObject({
      syncBack: true,
      finalState: 'stop',
      instanceId: 'i-0abc',
      sessionIds: ['s1', 's0'],
    });
    expect(existsSync(path)).toBe(false);
    expect(output).toContain(
      `a previous ssh-ec2 here (pid ${pid}) was killed during the command; finishing its work: sync back, then stop`,
    );
  });

  it("leaves a live run's journal alone (another terminal's run), and another project's", async () => {
    const live = write(await livePid(), { ran: true });
    const other = write(await deadPid(), { ran: true }, 'pffffffffffffffff');
    expect(await takeDeadJournals(paths, PROJECT, logger())).toBeUndefined();
    expect(existsSync(live)).toBe(true);
    expect(existsSync(other)).toBe(true);
    expect(output).toBe('');
  });

  it('combines several dead runs: the sync back if any owes one, the strictest final state', async () => {
    write(await deadPid(), { ran: true, syncedBack: true, finalState: 'stop' });
    write(await deadPid(), { ran: false, finalState: 'terminate' });
    const pending = await takeDeadJournals(paths, PROJECT, logger());
    expect(pending).toMatchObject({ syncBack: false, finalState: 'terminate' });
    expect(pending?.previous).toHaveLength(2);
  });

  it('never acts on a journal it cannot read (being written, or garbage)', async () => {
    const path = paths.journal(PROJECT, await deadPid());
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, '{"pid": 12');
    expect(await takeDeadJournals(paths, PROJECT, logger())).toBeUndefined();
    expect(existsSync(path)).toBe(true);
  });
});

describe("the killed run's programs (found without /proc, which a Mac does not have)", () => {
  /** A live program standing in for the killed run's rsync; resolves when it has ended. */
  async function orphan(): Promise<{ pid: number; ended: Promise<unknown> }> {
    const c = await sleeper();
    return { pid: c.pid, ended: new Promise((r) => c.on('exit', r)) };
  }

  it('ends a program the dead run listed, still the same program it saw running', async () => {
    const o = await orphan();
    write(await deadPid(), { ran: true, children: [{ pid: o.pid, cmdline: 'sleep\u000060', seenAt: Date.now() }] });
    await takeDeadJournals(paths, PROJECT, logger());
    await o.ended; // killed by the recovery (the test times out otherwise)
  });

  it.each([
    [
      'a pid recycled since (the process there started after the run saw its own)',
      { cmdline: 'sleep\u000060', seenAt: Date.now() - 3_600_000 },
    ],
    ['another program under that pid', { cmdline: 'rsync\u0000-a', seenAt: Date.now() }],
    ['a journal without the time it was seen (an older ssh-ec2)', { cmdline: 'sleep\u000060' }],
  ])('never kills %s', async (_what, child) => {
    const o = await orphan();
    write(await deadPid(), {
      ran: true,
      children: [{ pid: o.pid, ...child } as { pid: number; cmdline: string; seenAt: number }],
    });
    // What the recovery sends, not only whether the stand-in is still alive afterwards: the
    // recovery's own signals are what this test holds. (A loaded CI run found the stand-in gone:
    // ps had given it a wrapped-around elapsed time, and the recovery took it for the program seen
    // an hour before — isProgramSeen's row below.)
    const kill = vi.spyOn(process, 'kill');
    try {
      await takeDeadJournals(paths, PROJECT, logger());
      expect(kill.mock.calls.filter(([pid, sig]) => pid === o.pid && sig !== 0)).toEqual([]);
    } finally {
      kill.mockRestore();
    }
  });
});

describe("isProgramSeen: is the process under a pid still the program the run saw (ps's etime and comm)", () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  const seen = { seenAt: now - 3_600_000, argv0: 'sleep' };
  it.each([
    ['started before the run saw it', '01:00:05 sleep', true],
    ['started within 2 s after (etime has whole seconds)', '59:59 sleep', true],
    ['started since: a recycled pid', '00:03 sleep', false],
    ['another program', '01:00:05 rsync', false],
    // procps gives a process started within the second it runs a wrapped-around time: about 1 in
    // 8 tries on a busy machine, which made the recovery kill a recycled pid (a loaded CI run).
    ['a wrapped-around time, older than the machine', '441077234-00:18:40 sleep', false],
    ['nothing (gone)', '', false],
  ])('%s: %s', (_what, line, ours) => {
    expect(isProgramSeen(line, seen, now, 40_000)).toBe(ours);
  });
});

describe('parseElapsed (ps -o etime, the same on Linux and macOS)', () => {
  it.each([
    ['00:07', 7],
    ['01:02:03', 3723],
    ['2-01:00:00', 2 * 86400 + 3600],
    ['  12:34', 754],
    ['bogus', undefined],
  ])('%j → %j', (text, seconds) => {
    expect(parseElapsed(text)).toBe(seconds);
  });
});
