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

/** How a loop waits between its attempts: the first delay, doubled each time up to a cap. */
export interface BackoffOptions {
  /** Delay before the second attempt (default 250 ms). */
  firstDelayMs?: number;
  /** Cap of the doubling delay (default 2 s). */
  maxDelayMs?: number;
  /** Epoch ms: no attempt starts after it (the loop ends instead of sleeping past it). */
  deadline?: number;
  /** At most this many attempts. */
  maxAttempts?: number;
  /**
   * With a deadline: when the next delay would pass it, wait only until the deadline and make one
   * last attempt there (a wait "for up to N" uses all of N), instead of ending.
   */
  lastAtDeadline?: boolean;
  /** Told each wait before it starts (ms), e.g. to say when the next attempt comes. */
  onWait?: (delayMs: number, attempt: number) => void;
  signal?: AbortSignal;
}

/**
 * The one wait loop of the code base: `for await (const attempt of backoff(o)) { …; if (done) break; }`.
 * The body runs at once (attempt 1), then again after each delay, until the caller breaks, the
 * next delay would pass the deadline (see `lastAtDeadline`), or `maxAttempts` is reached; the loop
 * then simply ends (the caller says what it waited for). An abort rejects at once, sleeping or not.
 */
export async function* backoff(o: BackoffOptions = {}): AsyncGenerator<number, void, undefined> {
  let delay = o.firstDelayMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    o.signal?.throwIfAborted();
    yield attempt;
    if (o.maxAttempts !== undefined && attempt >= o.maxAttempts) return;
    let wait = delay;
    if (o.deadline !== undefined && Date.now() + delay > o.deadline) {
      const left = o.deadline - Date.now();
      if (!o.lastAtDeadline || left <= 0) return;
      wait = left;
    }
    o.onWait?.(wait, attempt);
    await sleep(wait, o.signal);
    delay = Math.min(delay * 2, o.maxDelayMs ?? 2000);
  }
}

/** Calls `probe` until it returns a value other than undefined. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, o: WaitOptions): Promise<T> {
  for await (const _ of backoff({ ...o, deadline: Date.now() + o.timeoutMs })) {
    const value = await probe();
    if (value !== undefined) return value;
  }
  throw new WaitTimeout(`timed out after ${Math.round(o.timeoutMs / 1000)}s waiting for ${o.what}`, o.hint);
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
