/**
 * `--sync-every D` (issue #13): the results brought home while the command (or the job attached
 * to) runs, so that hours of work are not all at the instance's mercy until the end. Each pull is
 * the sync back itself (sync-back.ts: the three-way rules, never deleting, never reverting a local
 * edit, its base saved as it goes), over the same master connection, made gentle: the instance's
 * rsync at the lowest CPU and best-effort I/O priority where it has `nice`/`ionice`, its bandwidth
 * bounded (`--bwlimit`). One pull at a time: a pull still running when the next is due is skipped,
 * and the end waits for the one in progress, so the final sync back never runs beside one.
 */
import { nameList } from './three-way.js';
import { syncBack, type SyncBackResult } from './sync-back.js';
import type { SyncParams } from './sync-up.js';
import type { Gentle } from '../remote/rsync.js';
import type { Logger } from '../ui/logger.js';
import { UsageError } from '../errors.js';
import type { Options } from '../options.js';
import { originOf } from '../options/origins.js';

/**
 * The pulls' bandwidth bound, KiB/s (rsync --bwlimit): 4 MiB/s, a third of a common home link, so
 * the command's own downloads and the user's connection keep the rest. The final sync back has none.
 */
export const SYNC_EVERY_BWLIMIT = 4096;

/** The priorities asked of the instance: each only if it runs there (an image without ionice, a container refusing it). */
const GENTLE_PROBE =
  `nice -n 19 true 2>/dev/null && printf 'nice -n 19 '; ` +
  `ionice -c 2 -n 7 true 2>/dev/null && printf 'ionice -c 2 -n 7 '; :`;
const GENTLE_ANSWER = /^(nice -n 19 )?(ionice -c 2 -n 7 )?$/;

/** A repeating timer (a test's is driven by hand): calls `tick` every `ms` until the returned function is called. */
export interface Ticker {
  every(ms: number, tick: () => void): () => void;
}

export const realTicker: Ticker = {
  every(ms, tick) {
    // unref: a pending tick never keeps ssh-ec2 alive.
    const timer = setInterval(tick, ms).unref();
    return () => clearInterval(timer);
  },
};

/**
 * Runs `pull` every `everyMs`. A tick while a pull runs is skipped (`onSkip`); `stop` ends the ticks
 * and resolves once no pull runs any more. A pull's rejection is the pull's to say: swallowed here.
 */
export function schedule(o: { everyMs: number; pull: () => Promise<void>; ticker?: Ticker; onSkip?: () => void }): {
  stop(): Promise<void>;
} {
  let running: Promise<void> | undefined;
  let stopped = false;
  const cancel = (o.ticker ?? realTicker).every(o.everyMs, () => {
    if (stopped) return;
    if (running) return o.onSkip?.();
    running = o
      .pull()
      .catch(() => undefined)
      .finally(() => {
        running = undefined;
      });
  });
  return {
    async stop() {
      stopped = true;
      cancel();
      await running;
    },
  };
}

export interface SyncEveryParams {
  everyMs: number;
  /** The sync back's parameters (its logger included): each pull is one. */
  sync: SyncParams;
  /**
   * The remote command has this terminal (a tty session): nothing is written on it while the
   * command runs (a full-screen program would be torn); what the pulls had to say comes after.
   */
  terminal: boolean;
  ticker?: Ticker;
  /** The sync back (a test's stand-in). */
  pull?: typeof syncBack;
  bwlimit?: number;
}

/** --sync-every's pulls while the command runs: none without the sync, nor for --detach (nothing runs here). */
export function syncEveryOf(
  o: Pick<Options, 'syncEvery' | 'rsync' | 'detach'>,
  sync: SyncParams,
  terminal: boolean,
): SyncEveryParams | undefined {
  if (!o.syncEvery || !o.rsync || o.detach) return undefined;
  return { everyMs: o.syncEvery, sync, terminal };
}

/**
 * --sync-every with --detach, before anything is launched: the pulls run while this laptop waits,
 * and --detach does not wait. Typed on this command line, the user believes results are coming:
 * refused. From a config file, a preset or the environment it is a default for every run here: a
 * note (the --attach that follows the job pulls by it), or a project's default would break every --detach.
 */
export function checkDetachedSyncEvery(
  o: Pick<Options, 'syncEvery' | 'detach' | 'from' | 'origins'>,
  log: Pick<Logger, 'info'>,
): void {
  if (!o.detach || !o.syncEvery) return;
  if (o.from?.syncEvery?.from === 'flag')
    throw new UsageError(
      '--sync-every pulls while this laptop waits, and --detach does not wait: nothing would be pulled',
      'Give --sync-every to ssh-ec2 --attach (it pulls while you follow the job), bring results home now ' +
        'with ssh-ec2 pull, or add --results s3://… to have the instance upload them when the job ends.',
    );
  log.info(
    `${originOf(o, 'syncEvery') ?? '--sync-every'} applies when you ssh-ec2 --attach: nothing pulls while the job runs detached`,
  );
}

/**
 * Pulls every `p.everyMs` while `fn` runs (no pulls without `p`); returns once `fn` has and the
 * pull in progress, if any, has ended.
 */
export async function pullingWhile<T>(
  p: SyncEveryParams | undefined,
  fn: (stopPulls: () => Promise<void>) => Promise<T>,
): Promise<T> {
  if (!p) return fn(async () => undefined);
  const pulls = startSyncEvery(p);
  try {
    // `stopPulls`: for a sync back of the run's own before its end (a spot notice): never two at once.
    return await fn(() => pulls.stop());
  } finally {
    await pulls.stop();
  }
}

export function startSyncEvery(p: SyncEveryParams): { stop(): Promise<void> } {
  const log = p.sync.log;
  const held: (() => void)[] = [];
  const say = (line: () => void) => (p.terminal ? held.push(line) : line());
  const quiet = quietLogger(log, say);
  const brought = new Set<string>();
  let gentle: Promise<Gentle> | undefined;
  let failing = false;
  const pullOnce = async () => {
    try {
      gentle ??= gentleOn(p, quiet);
      const got: SyncBackResult = await (p.pull ?? syncBack)({
        ...p.sync,
        log: quiet,
        onProgress: undefined,
        gentle: await gentle,
        midRun: true,
      });
      failing = false;
      for (const name of got.brought) brought.add(name);
      if (got.brought.length > 0 && !p.terminal) log.info(`results so far, brought back: ${nameList(got.brought)}`);
    } catch (err) {
      gentle = undefined; // asked again: the probe may be what failed
      const why = (err as Error).message;
      // One line per spell of failures (a dropped connection fails every pull until it is back).
      if (failing) quiet.detail(`a pull of the results failed again: ${why}`);
      else
        say(() =>
          log.warn(`a pull of the results failed (the command goes on; the final sync back still comes): ${why}`),
        );
      failing = true;
    }
  };
  const pulls = schedule({
    everyMs: p.everyMs,
    pull: pullOnce,
    ticker: p.ticker,
    onSkip: () => quiet.detail('a pull of the results is still running: this one is skipped'),
  });
  let stopped: Promise<void> | undefined;
  return {
    // Once, whoever asks first (a spot notice's sync back, or the end of the command).
    stop: () =>
      (stopped ??= (async () => {
        await pulls.stop();
        for (const line of held.splice(0)) line();
        if (p.terminal && brought.size > 0) log.info(`brought back during the run: ${nameList([...brought])}`);
      })()),
  };
}

/** The instance's rsync behind whichever of nice and ionice run there, under the bandwidth bound. */
async function gentleOn(p: SyncEveryParams, log: Logger): Promise<Gentle> {
  const answer = (await p.sync.conn.exec(GENTLE_PROBE)).stdout;
  const prefix = GENTLE_ANSWER.test(answer) ? answer : '';
  log.detail(
    `pulls during the run: ${prefix || 'rsync at its usual priority '}(at most ${p.bwlimit ?? SYNC_EVERY_BWLIMIT} KiB/s)`,
  );
  return { prefix, bwlimit: p.bwlimit ?? SYNC_EVERY_BWLIMIT };
}

/**
 * The sync back's logger for a pull: its own "brought back" line and its waits' status line
 * dropped (the pull says one line of its own; the remote command owns the screen), its warnings
 * and details said through `say` (held until the command ends when it has the terminal).
 */
function quietLogger(log: Logger, say: (line: () => void) => void): Logger {
  return {
    verbose: log.verbose,
    info: () => undefined,
    warn: (m) => say(() => log.warn(m)),
    error: (m, hint) => say(() => log.error(m, hint)),
    detail: (m) => {
      if (log.verbose) say(() => log.detail(m));
    },
    phase: (_name, fn) => fn(),
    progress: (_text, fn) => fn(() => undefined),
    outcome: () => undefined,
    timings: () => log.timings(),
    summary: () => undefined,
  };
}
