/**
 * Questions about local processes, asked of `ps` (POSIX; the same options on Linux and macOS)
 * rather than /proc, which a Mac does not have.
 */
import { uptime } from 'node:os';
import { runSync } from '../remote/exec.js';

/** Is a local process alive? A zombie is not: it only waits for its parent to read its status. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !psField(pid, 'stat').startsWith('Z');
}

/**
 * Is `pid` still the program we started (`argv0`) and saw running at `seenAt` (epoch ms)? A pid
 * can be recycled once that program has ended; the new process then started after `seenAt`.
 * `ps` gives the elapsed time in whole seconds, so a process started within 2 s after `seenAt`
 * is still taken for ours: recycling a pid that fast means going through the whole pid space.
 */
export function stillOurs(p: { pid: number; seenAt: number; argv0: string }): boolean {
  // The clock read before ps, not after: a ps slowed by a loaded machine would otherwise push the
  // start it implies past `seenAt` + 2 s, and our own child would pass for a stranger.
  const now = Date.now();
  return isProgramSeen(psLine(p.pid, 'etime=,comm='), p, now, uptime());
}

/** stillOurs' rule on ps's line (`etime comm`), at `now` (epoch ms), the machine up `uptimeS` seconds. */
export function isProgramSeen(
  line: string,
  p: { seenAt: number; argv0: string },
  now: number,
  uptimeS: number,
): boolean {
  const m = /^\s*(\S+)\s+(.*)$/.exec(line);
  const elapsed = m ? parseElapsed(m[1]!) : undefined;
  if (!m || elapsed === undefined) return false;
  // A process started within the second ps runs can be given a wrapped-around time (procps:
  // "441077234-00:18:40", about 1 in 8 on a busy machine) — older than the machine itself, so it
  // would pass for the program seen long ago. A time the machine has not been up cannot be ours.
  if (elapsed > uptimeS + 1) return false;
  return sameProgram(m[2]!.trim(), p.argv0) && now - elapsed * 1000 <= p.seenAt + 2000;
}

/** `ps -o etime`: [[dd-]hh:]mm:ss → seconds. */
export function parseElapsed(text: string): number | undefined {
  const m = /^(?:(?:(\d+)-)?(\d+):)?(\d+):(\d+)$/.exec(text.trim());
  if (!m) return undefined;
  const [, d = '0', h = '0', min, s] = m;
  return ((Number(d) * 24 + Number(h)) * 60 + Number(min)) * 60 + Number(s);
}

/** `comm` is the program's name (Linux, at most 15 characters) or its path (macOS). */
function sameProgram(comm: string, argv0: string): boolean {
  const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
  return base(comm) === base(argv0).slice(0, 15) || base(comm) === base(argv0);
}

function psField(pid: number, field: string): string {
  return psLine(pid, `${field}=`).trim();
}

function psLine(pid: number, format: string): string {
  try {
    return runSync(['ps', '-o', format, '-p', String(pid)]).stdout.split('\n')[0] ?? '';
  } catch {
    return '';
  }
}
