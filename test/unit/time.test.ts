// The one wait loop (backoff) and what is built on it: attempts, delays, deadline, abort.
import { describe, expect, it, vi } from 'vitest';
import { backoff, waitFor, WaitTimeout } from '../../src/time.js';

async function run(
  o: Parameters<typeof backoff>[0],
  stopAt = Infinity,
): Promise<{ attempts: number[]; gaps: number[] }> {
  const attempts: number[] = [];
  const times: number[] = [];
  for await (const attempt of backoff(o)) {
    attempts.push(attempt);
    times.push(Date.now());
    if (attempt >= stopAt) break;
  }
  return { attempts, gaps: times.slice(1).map((t, i) => t - times[i]!) };
}

describe('backoff', () => {
  it('runs the body at once, then after each delay, doubling up to the cap, until the caller breaks', async () => {
    const { attempts, gaps } = await run({ firstDelayMs: 10, maxDelayMs: 25 }, 5);
    expect(attempts).toEqual([1, 2, 3, 4, 5]);
    // Timers never fire early; a busy machine only makes them later.
    expect(gaps.map((g, i) => g >= [10, 20, 25, 25][i]! - 1)).toEqual([true, true, true, true]);
  });

  it('ends after maxAttempts without a last sleep', async () => {
    // Told of no wait, and a last sleep of an hour would outlast the test: no clock read here,
    // which a loaded machine could slow past any bound.
    const waits: number[] = [];
    const { attempts } = await run({ firstDelayMs: 3_600_000, maxAttempts: 1, onWait: (ms) => waits.push(ms) });
    expect(attempts).toEqual([1]);
    expect(waits).toEqual([]);
  });

  it('ends instead of sleeping past the deadline', async () => {
    const { attempts } = await run({ firstDelayMs: 60_000, deadline: Date.now() + 1_000 });
    expect(attempts).toEqual([1]);
  });

  it('lastAtDeadline: the last wait is cut to the deadline and one last attempt made there; onWait hears each wait', async () => {
    // A faked clock: on the real one, a loaded machine could pass a near deadline before the
    // first wait is worked out (no wait, one attempt), and a far one makes the test slow.
    vi.useFakeTimers();
    try {
      const waits: number[] = [];
      const deadline = Date.now() + 300;
      const loop = run({ firstDelayMs: 60_000, deadline, lastAtDeadline: true, onWait: (ms) => waits.push(ms) });
      await vi.advanceTimersByTimeAsync(300);
      const { attempts } = await loop;
      expect(attempts).toEqual([1, 2]);
      expect(waits).toEqual([300]);
      expect(Date.now()).toBe(deadline);
    } finally {
      vi.useRealTimers();
    }
  });

  it('lastAtDeadline with the deadline already past: no wait, no second attempt', async () => {
    const waits: number[] = [];
    const { attempts } = await run({ deadline: Date.now() - 1, lastAtDeadline: true, onWait: (ms) => waits.push(ms) });
    expect(attempts).toEqual([1]);
    expect(waits).toEqual([]);
  });

  it('an abort rejects at once, even during a long sleep', async () => {
    const ac = new AbortController();
    const loop = run({ firstDelayMs: 60_000, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stopped')), 10);
    await expect(loop).rejects.toThrow('stopped');
  });
});

describe('waitFor', () => {
  it('returns the first value the probe gives', async () => {
    let n = 0;
    await expect(
      waitFor(async () => (++n === 3 ? 'ready' : undefined), { timeoutMs: 10_000, firstDelayMs: 1, what: 'x' }),
    ).resolves.toBe('ready');
    expect(n).toBe(3);
  });

  it('times out with one line naming what it waited for (a UserError, exit 4)', async () => {
    const err = await waitFor(async () => undefined, {
      timeoutMs: 30,
      firstDelayMs: 10,
      what: 'the instance to stop',
      hint: 'h',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeout);
    expect((err as WaitTimeout).message).toBe('timed out after 0s waiting for the instance to stop');
    expect((err as WaitTimeout).exitCode).toBe(4);
  });
});
