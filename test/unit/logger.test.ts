/** The logger's progress (issue #12): a live line on a terminal, plain timestamped lines elsewhere, --silent. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/ui/logger.js';

function stream(isTTY: boolean) {
  const out: string[] = [];
  return { out, s: { isTTY, columns: 40, write: (d: string) => out.push(d) > 0 } as never };
}

describe('progress', () => {
  afterEach(() => vi.useRealTimers());

  it('on a terminal: one line redrawn in place, erased before any other line and at its end', async () => {
    vi.useFakeTimers();
    let t = 0;
    const { out, s } = stream(true);
    const log = createLogger({ stream: s, env: { TERM: 'xterm', NO_COLOR: '1' }, now: () => t });
    await log.progress('waiting for i-0abc to boot', async () => {
      t = 34_000;
      vi.advanceTimersByTime(100);
      log.warn('something');
      vi.advanceTimersByTime(100);
    });
    const text = out.join('');
    expect(text).toMatch(/\r\x1b\[2K\S waiting for i-0abc to boot · 34s/);
    // The warning starts on an erased line, at the start of it.
    expect(text).toContain('\r\x1b[2Kssh-ec2: warning: something\n');
    expect(text.endsWith('\r\x1b[2K')).toBe(true);
    // Not redrawn more than once a frame: the first draw, two frames.
    expect(out.filter((w) => w.includes('waiting for'))).toHaveLength(3);
  });

  it('two waits overlapping, the first ending first (the agent beside the sync up): the line shows the one still open, and none once both end', async () => {
    vi.useFakeTimers();
    const { out, s } = stream(true);
    const log = createLogger({ stream: s, env: { TERM: 'xterm', NO_COLOR: '1' }, now: () => 0 });
    let endFirst!: () => void;
    const first = log.progress('syncing up to i-1', () => new Promise<void>((r) => (endFirst = r)));
    let endSecond!: () => void;
    const second = log.progress('terminating i-1', () => new Promise<void>((r) => (endSecond = r)));
    endFirst();
    await first;
    out.length = 0;
    vi.advanceTimersByTime(100);
    expect(out.join('')).toMatch(/terminating i-1/);
    expect(out.join('')).not.toMatch(/syncing up/);
    endSecond();
    await second;
    out.length = 0;
    vi.advanceTimersByTime(500);
    expect(out.join('')).toBe('');
  });

  it('never wider than the terminal (a wrapped line cannot be taken back)', async () => {
    const { out, s } = stream(true);
    const log = createLogger({ stream: s, env: { TERM: 'xterm', NO_COLOR: '1' } });
    await log.progress(`syncing up to ${'x'.repeat(100)}`, async () => undefined);
    const drawn = out.find((w) => w.includes('syncing'))!.replace('\r\x1b[2K', '');
    expect([...drawn].length).toBeLessThan(40);
  });

  it.each([
    ['a pipe', false, 'xterm'],
    ['TERM=dumb', true, 'dumb'],
  ])('%s: one timestamped line a wait, said once, no control character', async (_name, isTTY, TERM) => {
    const { out, s } = stream(isTTY);
    const log = createLogger({ stream: s, env: { TERM } });
    await log.progress('waiting for i-0abc to boot', async (update) => update('3 files'));
    await log.progress('waiting for i-0abc to boot', async () => undefined);
    const text = out.join('');
    expect(text).toMatch(/^\d\d:\d\d:\d\d ssh-ec2: waiting for i-0abc to boot\n$/);
  });

  it('--silent: errors and warnings only (a warning is one to act on); the closing line carries the outcomes otherwise', async () => {
    const quiet = stream(false);
    const silent = createLogger({ stream: quiet.s, env: {}, silent: true, verbose: true });
    await silent.phase('run', () => silent.progress('connecting to i-0abc', async () => undefined));
    silent.info('info');
    silent.warn('warn');
    silent.detail('detail');
    silent.summary('done');
    silent.error('it failed');
    expect(quiet.out.join('')).toBe('ssh-ec2: warning: warn\nssh-ec2: error: it failed\n');

    const loud = stream(false);
    const log = createLogger({ stream: loud.s, env: {}, now: () => 0 });
    await log.phase('run', async () => undefined);
    log.outcome('nothing changed on the instance');
    log.outcome('under $0.01 for 8s of g4dn.xlarge');
    log.summary('done');
    expect(loud.out.join('')).toBe(
      'ssh-ec2: done in 0.0s (run 0.0s); nothing changed on the instance; under $0.01 for 8s of g4dn.xlarge\n',
    );
  });
});
