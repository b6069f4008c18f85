/**
 * A command's measure (remote/usage.ts): read after a plain session's command, and in words for
 * the closing line ("peak memory 3.2 GiB, 41m12s"). A job's comes with its status (job.ts settle).
 */
import type { Connection } from '../remote/connection.js';
import { parseUsage, readSessionUsage, type Usage } from '../remote/usage.js';
import type { Run } from './context.js';
import { formatDuration } from './limits.js';

/** "peak memory 3.2 GiB, 41m12s" (the peak left out when unknown; "0s" for a command under a second). */
export function usageWords(u: Usage): string {
  const wall = u.wallSeconds > 0 ? formatDuration(u.wallSeconds * 1000) : '0s';
  return u.peakBytes === undefined ? wall : `peak memory ${formatBytes(u.peakBytes)}, ${wall}`;
}

/** 3435973836 → "3.2 GiB"; binary units, one decimal under 10 of a unit. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 10 ? 0 : 1;
  return `${v.toFixed(digits)} ${units[i]}`;
}

/**
 * A plain session's command has ended: its measure (usage.sh) is asked for beside the finish's
 * sync back (one more exchange over the master, off the critical path), and taken by `usageAtEnd`.
 */
export function noteSessionEnd(run: Run, conn: Connection, sessionId: string): void {
  run.facts.commandEnded = { from: 'session' };
  if (run.options.command.length === 0) return; // an interactive shell is not measured
  run.usageRead = conn.exec(readSessionUsage(sessionId)).then(
    (r) => {
      const [peak, wall] = r.stdout.trim().split(/\s+/);
      return parseUsage(peak, wall);
    },
    () => undefined,
  );
}

/** The command's measure, once read (a session's) or known (a job's): a fact, and a part of the closing line. */
export async function usageAtEnd(run: Run): Promise<void> {
  const ended = run.facts.commandEnded;
  if (!ended) return;
  const usage = ended.usage ?? (await run.usageRead);
  if (!usage) return;
  ended.usage = usage;
  run.log.outcome(usageWords(usage));
}
