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

/** The command's measure (usage.sh), read once it has ended: the closing line's, and --notify's. */
export async function noteSessionEnd(run: Run, conn: Connection, sessionId: string): Promise<void> {
  if (run.options.command.length === 0) {
    run.facts.commandEnded = { from: 'session' };
    return;
  }
  const r = await conn.exec(readSessionUsage(sessionId)).catch(() => undefined);
  const [peak, wall] = (r?.stdout ?? '').trim().split(/\s+/);
  const usage = parseUsage(peak, wall);
  run.facts.commandEnded = { from: 'session', ...(usage && { usage }) };
  if (usage) run.log.outcome(usageWords(usage));
}
