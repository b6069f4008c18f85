/**
 * --sync-every (issue #13): the schedule (one pull at a time, a due pull skipped while one runs,
 * the end waiting for the one in progress), what a pull says and when, its gentle rsync, the
 * setting's limits, and the base a pull leaves when a file grew during its transfer. No sleeps:
 * the ticker and the pull are driven by hand.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode, UsageError } from '../../src/errors.js';
import { SYNC_OPTIONS } from '../../src/options/session-options.js';
import { pullArgv, serverPullArgv } from '../../src/remote/rsync.js';
import type { RsyncCapabilities } from '../../src/remote/rsync-capabilities.js';
import { localSig } from '../../src/sync/base.js';
import type { SyncBackResult } from '../../src/sync/sync-back.js';
import { resolveOptions, type Sources } from '../../src/options.js';
import {
  checkDetachedSyncEvery,
  schedule,
  startSyncEvery,
  syncEveryOf,
  SYNC_EVERY_BWLIMIT,
  type SyncEveryParams,
  type Ticker,
} from '../../src/sync/sync-every.js';
import type { SyncParams } from '../../src/sync/sync-up.js';
import { nextBase, planBack } from '../../src/sync/three-way.js';
import type { Logger } from '../../src/ui/logger.js';
import { EVERY_CAPABILITY } from '../fixtures/rsync-capabilities.js';

/** A ticker the test advances: `tick()` is one period gone by. */
function handTicker(): Ticker & { tick(): void; cancelled: boolean; ms?: number } {
  let fn: (() => void) | undefined;
  const t = {
    cancelled: false,
    ms: undefined as number | undefined,
    every(ms: number, tick: () => void) {
      t.ms = ms;
      fn = tick;
      return () => {
        t.cancelled = true;
      };
    },
    tick: () => fn?.(),
  };
  return t;
}

/** A promise settled by hand. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

function recordingLogger(verbose = false): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    verbose,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
    detail: (m) => {
      if (verbose) lines.push(`detail ${m}`);
    },
    phase: (_n, fn) => fn(),
    progress: (_t, fn) => fn(() => undefined),
    outcome: () => undefined,
    timings: () => [],
    summary: () => undefined,
  };
}

describe('the schedule of the pulls', () => {
  it('pulls every period; a pull still running when the next is due is skipped, not doubled', async () => {
    const ticker = handTicker();
    const pulls: ReturnType<typeof deferred<void>>[] = [];
    let skipped = 0;
    const s = schedule({
      everyMs: 60_000,
      ticker,
      pull: () => {
        const d = deferred();
        pulls.push(d);
        return d.promise;
      },
      onSkip: () => skipped++,
    });
    expect(ticker.ms).toBe(60_000);
    expect(pulls).toHaveLength(0); // the first comes after one period, not at once
    ticker.tick();
    expect(pulls).toHaveLength(1);
    ticker.tick();
    ticker.tick();
    expect(pulls).toHaveLength(1);
    expect(skipped).toBe(2);
    pulls[0]!.resolve();
    await flush();
    ticker.tick();
    expect(pulls).toHaveLength(2);
    // A failed pull is the pull's to say: the schedule goes on.
    pulls[1]!.reject(new Error('connection lost'));
    await flush();
    ticker.tick();
    expect(pulls).toHaveLength(3);
    pulls[2]!.resolve();
    await s.stop();
  });

  it('stop waits for the pull in progress (the final sync back never runs beside one), then no more', async () => {
    const ticker = handTicker();
    const d = deferred();
    let started = 0;
    const s = schedule({
      everyMs: 5000,
      ticker,
      pull: () => {
        started++;
        return d.promise;
      },
    });
    ticker.tick();
    let stopped = false;
    const stopping = s.stop().then(() => {
      stopped = true;
    });
    await flush();
    expect(stopped).toBe(false);
    expect(ticker.cancelled).toBe(true);
    d.resolve();
    await stopping;
    expect(stopped).toBe(true);
    ticker.tick(); // a tick already on its way when the timer was cleared
    expect(started).toBe(1);
  });

  it('stop with no pull running returns at once', async () => {
    const ticker = handTicker();
    await schedule({ everyMs: 5000, ticker, pull: () => Promise.resolve() }).stop();
    expect(ticker.cancelled).toBe(true);
  });
});

/** The pulls over a stand-in connection (it answers the nice/ionice probe) and a stand-in sync back. */
function pulling(o: { terminal: boolean; results: (SyncBackResult | Error)[]; answer?: string; verbose?: boolean }) {
  const log = recordingLogger(o.verbose);
  const ticker = handTicker();
  const asked: Parameters<NonNullable<SyncEveryParams['pull']>>[0][] = [];
  const conn = { exec: () => Promise.resolve({ stdout: o.answer ?? 'nice -n 19 ionice -c 2 -n 7 ', stderr: '' }) };
  const sync = { conn, log, localDir: '/p', remoteDir: 'p', instanceId: 'i-1' } as unknown as SyncParams;
  const pulls = startSyncEvery({
    everyMs: 5000,
    sync,
    terminal: o.terminal,
    ticker,
    pull: (p) => {
      asked.push(p);
      const r = o.results.shift()!;
      return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
    },
  });
  const pullOnce = async () => {
    ticker.tick();
    await flush();
    await flush();
  };
  return { log, pulls, pullOnce, asked };
}

const got = (brought: string[], beside: string[] = []): SyncBackResult => ({ files: brought.length, brought, beside });

describe('what the pulls say', () => {
  it('without a terminal there: one line per pull that brought something, nothing for one that did not', async () => {
    const { log, pulls, pullOnce, asked } = pulling({
      terminal: false,
      results: [got(['out/a.csv', 'log.txt']), got([]), got(['log.txt'])],
    });
    await pullOnce();
    await pullOnce();
    await pullOnce();
    await pulls.stop();
    expect(log.lines).toEqual([
      'info results so far, brought back: out/a.csv, log.txt',
      'info results so far, brought back: log.txt',
    ]);
    // Each pull is the sync back itself, told it runs mid-run, with its rsync made gentle.
    expect(asked[0]).toMatchObject({
      midRun: true,
      instanceId: 'i-1',
      gentle: { prefix: 'nice -n 19 ionice -c 2 -n 7 ', bwlimit: SYNC_EVERY_BWLIMIT },
    });
    // Its own "brought back" line and status line are not said: the pull's logger drops them.
    asked[0]!.log.info('brought back: x');
    await asked[0]!.log.progress('syncing back', () => Promise.resolve());
    expect(log.lines).toHaveLength(2);
  });

  it('a failing pull is one warning, not one per period; the next success ends the spell', async () => {
    const { log, pulls, pullOnce } = pulling({
      terminal: false,
      results: [new Error('connection lost'), new Error('connection lost'), got(['a']), new Error('again')],
    });
    for (let i = 0; i < 4; i++) await pullOnce();
    await pulls.stop();
    expect(log.lines.filter((l) => l.startsWith('warn'))).toEqual([
      'warn a pull of the results failed (the command goes on; the final sync back still comes): connection lost',
      'warn a pull of the results failed (the command goes on; the final sync back still comes): again',
    ]);
  });

  it('with a terminal there: nothing while the command runs, then its warnings and one line of what came', async () => {
    const { log, pulls, pullOnce, asked } = pulling({
      terminal: true,
      results: [got(['a.txt']), new Error('connection lost'), got(['b.txt', 'a.txt'])],
    });
    await pullOnce();
    await pullOnce();
    await pullOnce();
    asked[0]!.log.warn('changed both here and on the instance: …');
    expect(log.lines).toEqual([]);
    await pulls.stop();
    expect(log.lines).toEqual([
      'warn a pull of the results failed (the command goes on; the final sync back still comes): connection lost',
      'warn changed both here and on the instance: …',
      'info brought back during the run: a.txt, b.txt',
    ]);
  });

  it('nice and ionice only where the instance runs them; an odd answer is not put into a command line', async () => {
    for (const [answer, prefix] of [
      ['nice -n 19 ', 'nice -n 19 '],
      ['', ''],
      ['rm -rf ~; ', ''],
    ]) {
      const { pulls, pullOnce, asked } = pulling({ terminal: false, results: [got([])], answer });
      await pullOnce();
      await pulls.stop();
      expect(asked[0]!.gentle!.prefix).toBe(prefix);
    }
  });
});

describe('the setting', () => {
  const parse = (raw: string) => SYNC_OPTIONS.syncEvery.parse(raw, '--sync-every');
  it('takes a duration, or off', () => {
    expect(parse('10m')).toBe(600_000);
    expect(parse('5s')).toBe(5000);
    expect(parse('off')).toBe(0);
    expect(parse('24d')).toBe(24 * 86_400_000);
  });
  // Above 2^31 - 1 ms Node's timers fire after 1 ms: a pull without pause.
  it.each(['4s', '1s', 'soon', '10 minutes', '25d', '30d'])('refuses %s: a usage error (exit 2)', (raw) => {
    let err: unknown;
    try {
      parse(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(ExitCode.usage);
  });
  it('pulls only with the sync, and not for --detach (nothing runs here to pull for)', () => {
    const sync = {} as SyncParams;
    expect(syncEveryOf({ syncEvery: 5000, rsync: true, detach: false }, sync, false)).toMatchObject({ everyMs: 5000 });
    expect(syncEveryOf({ syncEvery: 0, rsync: true, detach: false }, sync, false)).toBeUndefined();
    expect(syncEveryOf({ syncEvery: 5000, rsync: false, detach: false }, sync, false)).toBeUndefined();
    expect(syncEveryOf({ syncEvery: 5000, rsync: true, detach: true }, sync, false)).toBeUndefined();
  });
});

describe('--sync-every with --detach (the laptop does not wait: nothing would pull)', () => {
  const project: NonNullable<Sources['files']> = {
    project: {
      kind: 'project',
      file: '.ssh-ec2.toml',
      values: { syncEvery: { value: 600_000, line: 3, key: 'sync-every' } },
    },
    presets: new Map(),
  };
  const options = (flags: Sources['flags'], files?: Sources['files'], env: Sources['env'] = {}) =>
    resolveOptions({ flags, env, dotenv: {}, files, command: ['make', 'train'] });
  const said = (o: ReturnType<typeof options>) => {
    const lines: string[] = [];
    checkDetachedSyncEvery(o, { info: (m) => lines.push(m) });
    return lines;
  };
  it('given on the command line: refused (exit 2), saying what to do instead', () => {
    let err: unknown;
    try {
      said(options({ syncEvery: '5m', detach: true }, project));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(ExitCode.usage);
    expect((err as UsageError).message).toMatch(/--detach does not wait/);
    expect((err as UsageError).hint).toMatch(/ssh-ec2 --attach.*ssh-ec2 pull.*--results s3:/);
  });
  it('from the project file, a preset or the environment: one note that it applies at --attach, and the run goes on', () => {
    expect(said(options({ detach: true }, project))).toEqual([
      '.ssh-ec2.toml:3: sync-every applies when you ssh-ec2 --attach: nothing pulls while the job runs detached',
    ]);
    // A preset named here is a bundle of defaults too: --preset gpu --detach must still work.
    const gpu = { ...project.project!, kind: 'preset' as const, preset: 'gpu' };
    expect(said(options({ preset: 'gpu', detach: true }, { presets: new Map([['gpu', gpu]]) }))).toEqual([
      '.ssh-ec2.toml:3 (preset gpu): sync-every applies when you ssh-ec2 --attach: nothing pulls while the job runs detached',
    ]);
    expect(said(options({ detach: true }, undefined, { SSH_EC2_SYNC_EVERY: '5m' }))).toEqual([
      'SSH_EC2_SYNC_EVERY applies when you ssh-ec2 --attach: nothing pulls while the job runs detached',
    ]);
  });
  it('says nothing without --detach, when off on the command line, or for --attach (which pulls)', () => {
    expect(said(options({ syncEvery: '5m' }))).toEqual([]);
    expect(said(options({ syncEvery: 'off', detach: true }, project))).toEqual([]);
    expect(said(options({ attach: true }, project))).toEqual([]);
  });
});

describe("a pull's rsync", () => {
  const caps: RsyncCapabilities = { path: '/usr/bin/rsync', version: 'rsync 3', ...EVERY_CAPABILITY };
  const common = { rsh: '/run/rsh.sh', remote: 'u@h', remoteDir: 'p', excludeFile: '/run/x' };
  const gentle = { prefix: 'nice -n 19 ', bwlimit: 4096 };
  it("runs the instance's rsync behind the priorities, under the bound; the sync back has neither", () => {
    const argv = pullArgv({ ...common, localDir: '/l', gentle }, caps);
    expect(argv).toContain('--bwlimit=4096');
    expect(argv.find((a) => a.startsWith('--rsync-path='))).toMatch(/&& nice -n 19 rsync$/);
    const plain = pullArgv({ ...common, localDir: '/l' }, caps);
    expect(plain.some((a) => a.startsWith('--bwlimit'))).toBe(false);
    expect(plain.find((a) => a.startsWith('--rsync-path='))).toMatch(/&& rsync$/);
  });
  it('through a local rsync server (openrsync): the sending rsync there is the gentle one', () => {
    const o = { remoteDir: 'p', remoteExcludeFile: '.ssh-ec2/x', localDir: '/l', gentle };
    expect(serverPullArgv(o, caps).remote).toContain('&& nice -n 19 rsync --bwlimit=4096 --recursive');
  });
});

describe('a file the command was writing while a pull brought it', () => {
  it('is brought again by the next sync, not taken for a change made here (a log that grows)', () => {
    const root = mkdtempSync(join(tmpdir(), 'grown-'));
    writeFileSync(join(root, 'train.log'), 'epoch 1\nepoch 2\n'); // what rsync brought: more than was listed
    const l = localSig(root, 'train.log')!;
    const listed = { s: 8, m: '1796000000.250000000' };
    const sides = {
      root,
      local: new Map([['train.log', l]]),
      remote: new Map([['train.log', listed]]),
      base: new Map(),
    };
    const base = nextBase(sides, { brought: new Set(['train.log']) });
    // The next sync: the instance's log has grown again; nothing was edited here.
    const later = { s: 24, m: '1796000009.750000000' };
    const plan = planBack({ ...sides, remote: new Map([['train.log', later]]), base });
    expect(plan.bring).toEqual(['train.log']);
    expect(plan.conflicts).toEqual([]);
  });
});
