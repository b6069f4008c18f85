/**
 * One run at a time finds-or-launches the instance of a project directory, so two runs started
 * together end up on one instance. The lock is a file created exclusively, holding our pid; a
 * lock whose process is gone is stale and taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { processAlive } from '../state/process.js';
import { backoff, WaitTimeout } from '../time.js';

export interface Lock {
  release(): void;
}

export async function acquireLock(
  path: string,
  opts: { onWait?: (pid: number) => void; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Lock> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + (opts.timeoutMs ?? 15 * 60_000);
  let holder: number | undefined;
  let told = false;
  for await (const _ of backoff({ firstDelayMs: 50, maxDelayMs: 500, deadline, signal: opts.signal })) {
    const taken = take(path);
    if (typeof taken === 'object') return taken;
    holder = taken;
    if (!told && holder !== undefined) {
      opts.onWait?.(holder);
      told = true;
    }
  }
  throw new WaitTimeout(
    `timed out waiting for another ssh-ec2 here (pid ${holder ?? '?'}) to find or launch this directory's instance`,
    `If that run is stuck, end it (kill ${holder ?? 'it'}) and run again; its lock is ${path}.`,
  );
}

/** The lock, or the pid holding it (undefined: a lock file being written right now). A stale lock is taken over. */
function take(path: string): Lock | number | undefined {
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return held(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readHolder(path);
    // An empty lock file is one being written right now, unless it has been empty for a while.
    const stale = holder === undefined ? ageMs(path) > 2000 : !processAlive(holder);
    if (!stale) return holder;
    try {
      unlinkSync(path);
    } catch {
      // someone else removed it first
    }
  }
}

function held(path: string): Lock {
  let holding = true;
  const release = () => {
    if (!holding) return;
    holding = false;
    process.off('exit', release);
    try {
      if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
    } catch {
      // already gone
    }
  };
  process.on('exit', release);
  return { release };
}

function readHolder(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}
