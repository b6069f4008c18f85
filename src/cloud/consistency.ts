/**
 * EC2 is eventually consistent: for a few seconds after RunInstances or CreateSecurityGroup, a
 * call naming the new resource may answer NotFound (documented for the EC2 API). Such an answer
 * about something this run has just created means "not yet", never "gone": the call is retried,
 * with backoff, for a bounded time. NotFound about anything else keeps its meaning.
 */
import { backoff } from '../time.js';
import { kindOf } from './aws-codes.js';
import { errorCode } from './errors.js';

/** How long EC2 may take to know what it created (its documentation speaks of seconds). */
export const SETTLE_MS = 60_000;

export function isNotFound(err: unknown): boolean {
  return kindOf(errorCode(err)) === 'not-found';
}

/**
 * What bounds a caller's wait besides SETTLE_MS: its signal (Ctrl-C, the run ending) ends the
 * retrying at once, with the signal's reason; its deadline (epoch ms: an ssh connect's, ls's
 * short cap) ends it as SETTLE_MS does, with the last error.
 */
export interface CallBounds {
  signal?: AbortSignal;
  deadline?: number;
}

/**
 * Runs `call` again while `retryable(err)`, with backoff (by default 250 ms doubling, at most
 * 2 s), for up to `timeoutMs` and no later than `deadline`. It is always called once (unless
 * aborted already).
 */
export async function retrying<T>(
  call: () => Promise<T>,
  retryable: (err: unknown) => boolean,
  o: CallBounds & { timeoutMs?: number; firstDelayMs?: number; maxDelayMs?: number } = {},
): Promise<T> {
  const deadline = Math.min(Date.now() + (o.timeoutMs ?? SETTLE_MS), o.deadline ?? Infinity);
  const { firstDelayMs = 250, maxDelayMs = 2000, signal } = o;
  let last: unknown;
  for await (const _ of backoff({ firstDelayMs, maxDelayMs, deadline, signal })) {
    try {
      return await call();
    } catch (err) {
      if (!retryable(err) || o.signal?.aborted) throw o.signal?.aborted ? o.signal.reason : err;
      last = err;
    }
  }
  throw last;
}

/** The ids this run created (or adopted just after EC2 created them): the ones NotFound is "not yet" for. */
export class NewResources {
  private readonly ids = new Set<string>();

  add(id: string): void {
    this.ids.add(id);
  }

  has(id: string | undefined): boolean {
    return id !== undefined && this.ids.has(id);
  }

  /** `call`, which names `ids`, retried while EC2 answers NotFound and one of them is new. */
  settle<T>(ids: (string | undefined)[], call: () => Promise<T>, bounds: CallBounds = {}): Promise<T> {
    return retrying(call, (err) => isNotFound(err) && ids.some((id) => this.has(id)), bounds);
  }
}
