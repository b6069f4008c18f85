/**
 * Waiting, in one place: exponential backoff with a low cap and a deadline. Nothing sleeps a
 * fixed 15 s.
 */
import { ExitCode, UserError } from './errors.js';

export interface WaitOptions {
  /** Give up after this long. */
  timeoutMs: number;
  firstDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  /** What we are waiting for, for the timeout message. */
  what: string;
  /** What the user can do when it never comes (the timeout's hint). */
  hint?: string;
}

/**
 * Everything waited for is AWS doing something (an instance reaching a state): when it never
 * does, that is AWS's side, not a bug of ours: one line, exit 4 (as AWS refusing).
 */
export class WaitTimeout extends UserError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.cloud, hint);
  }
}

/** Calls `probe` until it returns a value other than undefined. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, o: WaitOptions): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  let delay = o.firstDelayMs ?? 250;
  for (;;) {
    o.signal?.throwIfAborted();
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() + delay > deadline)
      throw new WaitTimeout(`timed out after ${Math.round(o.timeoutMs / 1000)}s waiting for ${o.what}`, o.hint);
    await sleep(delay, o.signal);
    delay = Math.min(delay * 2, o.maxDelayMs ?? 2000);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** "90s", "15m", "2h" (also "1h30m") → milliseconds. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (!/^(\d+[smhd])+$/.test(t)) return undefined;
  let ms = 0;
  for (const [, n, unit] of t.matchAll(/(\d+)([smhd])/g)) {
    ms += Number(n) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as 's' | 'm' | 'h' | 'd'];
  }
  return ms > 0 ? ms : undefined;
}
