/**
 * A command's measure, as the instance took it (src/agent/usage.sh): the peak memory of its
 * largest process and its wall time. Read from a job's status line or a plain session's usage
 * file; said in the summary line of its end (session/usage-words.ts) and sent with --notify.
 */
import { STATE_DIR } from './instance-contract.js';

export interface Usage {
  /** Bytes; undefined when the instance could not measure it (no python3, no GNU time). */
  peakBytes?: number;
  wallSeconds: number;
}

/** "PEAK_KIB WALL_SECONDS" (PEAK_KIB "-" when unknown) → Usage; undefined for anything else. */
export function parseUsage(peakKib: string | undefined, wall: string | undefined): Usage | undefined {
  if (wall === undefined || !/^\d+$/.test(wall)) return undefined;
  const peak = peakKib !== undefined && /^\d+$/.test(peakKib) ? Number(peakKib) * 1024 : undefined;
  return { ...(peak !== undefined && { peakBytes: peak }), wallSeconds: Number(wall) };
}

/** Where a plain session's command leaves its measure (one file per session, read and removed after it). */
export const sessionUsageFile = (sessionId: string): string => `"$HOME"/${STATE_DIR}/sessions/${sessionId}.usage`;

/** The words a plain session's command is measured by: `sh usage.sh FILE` before the shell that runs it. */
export const measureWords = (sessionId: string): string => `sh ~/${STATE_DIR}/usage.sh ${sessionUsageFile(sessionId)}`;

/** Prints the session's measure and forgets it (one round trip, after the command). */
export const readSessionUsage = (sessionId: string): string =>
  `f=${sessionUsageFile(sessionId)}; cat "$f" 2>/dev/null; rm -f "$f"`;
