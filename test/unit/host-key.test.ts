/**
 * The console watch of the host key check, against a fake console that answers by call count:
 * Latest=true refused → the buffered console; asked until the fingerprint block appears, and no
 * more; none within the wait → trusted on first use, with the reason.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import type { Cloud } from '../../src/cloud/ec2.js';
import { consoleFingerprints, watchConsole } from '../../src/session/host-key.js';
import { createLogger } from '../../src/ui/logger.js';

const BLOCK =
  '-----BEGIN SSH HOST KEY FINGERPRINTS-----\n256 SHA256:abc+/def root@x (ED25519)\n-----END SSH HOST KEY FINGERPRINTS-----\n';

/** A console that shows the block from call `from` on (never if undefined); `refuseLatest`: Latest=true is an error. */
function fakeConsole(from: number | undefined, opts: { refuseLatest?: boolean; failPlain?: boolean } = {}) {
  const asked: (boolean | undefined)[] = [];
  const cloud = {
    async consoleOutput(_id: string, latest?: boolean) {
      asked.push(latest);
      if (latest && opts.refuseLatest) throw new Error('UnsupportedOperation');
      if (!latest && opts.failPlain) throw new Error('UnauthorizedOperation');
      return from !== undefined && asked.length >= from ? `boot\n${BLOCK}` : 'boot\n';
    },
  } as unknown as Cloud;
  return { cloud, asked };
}

const log = createLogger({ stream: new PassThrough() });

describe('the console watch', () => {
  it('asks with Latest=true until the block appears, then stops', async () => {
    const { cloud, asked } = fakeConsole(3);
    const found = await watchConsole(cloud, 'i-1', log).fingerprints(60_000);
    expect(found).toEqual(['SHA256:abc+/def']);
    expect(asked).toEqual([true, true, true]);
  });

  it('falls back to the buffered console when Latest=true is refused', async () => {
    const { cloud, asked } = fakeConsole(2, { refuseLatest: true });
    expect(await watchConsole(cloud, 'i-1', log).fingerprints(60_000)).toEqual(['SHA256:abc+/def']);
    expect(asked).toEqual([true, false]);
  });

  it('no block within the wait: none, saying how often it asked', async () => {
    const { cloud } = fakeConsole(undefined);
    const found = await watchConsole(cloud, 'i-1', log).fingerprints(0);
    expect(found).toEqual({
      none: expect.stringMatching(
        /^EC2 showed no host key fingerprints on its console \(asked \d+ times?\)$/,
      ) as unknown,
    });
  });

  it('ssh answering while a look is under way: one more look is owed, even with no wait left', async () => {
    let release!: () => void;
    const asked: number[] = [];
    const cloud = {
      async consoleOutput() {
        asked.push(asked.length + 1);
        // The first look is slow (a loaded machine): ssh answers before it returns.
        if (asked.length === 1) await new Promise<void>((r) => (release = r));
        return asked.length >= 2 ? `boot\n${BLOCK}` : 'boot\n';
      },
    } as unknown as Cloud;
    const watch = watchConsole(cloud, 'i-1', log);
    while (asked.length === 0) await new Promise((r) => setImmediate(r));
    const found = watch.fingerprints(0);
    release();
    expect(await found).toEqual(['SHA256:abc+/def']);
    expect(asked).toEqual([1, 2]);
  });

  it('a nudge (ssh likely answering) looks at once, at most once a second', async () => {
    vi.useFakeTimers();
    try {
      const { cloud, asked } = fakeConsole(4);
      const watch = watchConsole(cloud, 'i-1', log);
      // The backoff looks at 0, 500 ms and 1.5 s, then would wait until 3.5 s.
      await vi.advanceTimersByTimeAsync(1600);
      expect(asked).toHaveLength(3);
      watch.nudge(); // 100 ms after a look: not again yet
      await vi.advanceTimersByTimeAsync(900);
      expect(asked).toHaveLength(3);
      watch.nudge(); // 1 s after it: now, with the fingerprints there, and no more looks
      await vi.advanceTimersByTimeAsync(0);
      expect(asked).toHaveLength(4);
      const found = watch.fingerprints(60_000);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(await found).toEqual(['SHA256:abc+/def']);
      expect(asked).toHaveLength(4);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a console that cannot be read at all: none, with the reason', async () => {
    const { cloud } = fakeConsole(1, { refuseLatest: true, failPlain: true });
    expect(await watchConsole(cloud, 'i-1', log).fingerprints(60_000)).toEqual({
      none: 'its console output could not be read (UnauthorizedOperation)',
    });
  });

  it('an interrupt ends the wait after one last look', async () => {
    const abort = new AbortController();
    const { cloud, asked } = fakeConsole(undefined);
    const watch = watchConsole(cloud, 'i-1', log, abort.signal);
    abort.abort();
    expect(await watch.fingerprints(60_000)).toMatchObject({ none: expect.any(String) as unknown });
    expect(asked).toHaveLength(2);
  });
});

describe('consoleFingerprints', () => {
  it('reads the block only, or any text', () => {
    expect(consoleFingerprints(`SHA256:outside\n${BLOCK}`)).toEqual(['SHA256:abc+/def']);
    expect(consoleFingerprints('no block SHA256:xyz')).toEqual([]);
    expect(consoleFingerprints('256 SHA256:xyz a (ED25519)', false)).toEqual(['SHA256:xyz']);
  });
});
