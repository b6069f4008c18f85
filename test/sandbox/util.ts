// Small helpers shared by the sandbox's daemons (moto, sshd).
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, connect } from 'node:net';

/** A port that was free a moment ago on 127.0.0.1. Callers retry on the rare race. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Polls `ready` with a short backoff until it says yes, the child exits (the error then
 * carries the tail of its log), or the deadline passes. The deadline is a net against a hang, not
 * a measure: moto's start (~1 s of Python imports idle) is several times slower on a loaded CI machine.
 */
export async function waitUntil(
  what: string,
  child: ChildProcess,
  logFile: string,
  ready: () => Promise<boolean>,
  deadlineMs = 90_000,
): Promise<void> {
  const start = Date.now();
  let delay = 20;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail(logFile)}`);
    }
    if (await ready()) return;
    if (Date.now() - start > deadlineMs) throw new Error(`${what} not ready after ${deadlineMs} ms:\n${tail(logFile)}`);
    await sleep(delay);
    delay = Math.min(delay * 1.5, 250);
  }
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** SIGKILL a detached child's whole process group; quiet if it is already gone. */
export function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Resolves when the child has exited (immediately if it already has), or after `ms`. */
export function exited(child: ChildProcess, ms = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * SIGKILLs every live process running as `uid` (tmux/screen servers outlive the ssh sessions
 * that started them) and returns how many there were. Zombies are skipped rather than waited
 * for: they are dead already, and a container's PID 1 may never reap them (pkill would keep
 * "finding" them).
 */
export function killUserProcesses(uid: number): number {
  if (!Number.isInteger(uid) || uid <= 0) throw new Error(`refusing to kill the processes of uid ${uid}`);
  let live = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const [real, effective] = (/^Uid:\s+(\d+)\s+(\d+)/m.exec(status) ?? []).slice(1).map(Number);
      if ((real !== uid && effective !== uid) || /^State:\s+Z/m.test(status)) continue;
      live++;
      process.kill(Number(entry), 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  return live;
}

/**
 * The uid owning the client end of a TCP connection to 127.0.0.1:serverPort from clientPort, read
 * from /proc/net/tcp: how the proxy tells which "instance" (unix user) is asking it. The sandbox
 * may read /proc; the product never does.
 */
export function socketOwner(clientPort: number, serverPort: number): number | undefined {
  const hexPort = (p: number): string => p.toString(16).toUpperCase().padStart(4, '0');
  const local = `0100007F:${hexPort(clientPort)}`;
  const remote = `0100007F:${hexPort(serverPort)}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote) return Number(f[7]);
  }
  return undefined;
}

/** The mount namespace of a process (`mnt:[4026…]`), or undefined once it is gone. */
export function mountNamespace(pid: number | string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

/**
 * SIGKILLs every process in mount namespace `ns` (an instance's sshd and all it started, root's
 * per-connection monitors too) but `spare`, and returns how many there were. Never this process's
 * own namespace. A namespace is known by its number only, which the kernel gives to a new one as
 * soon as it is freed (another instance's, in another test file): keep it pinned by a live
 * process of its own (`spare`) for as long as it is named here.
 */
export function killMountNamespace(ns: string, spare?: number): number {
  if (ns === mountNamespace(process.pid)) throw new Error('refusing to kill the processes of the host mount namespace');
  let live = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === spare || mountNamespace(entry) !== ns) continue;
    try {
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${entry}/status`, 'utf8'))) continue;
      live++;
      process.kill(Number(entry), 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  return live;
}
