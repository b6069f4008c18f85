/**
 * The live table of a batch (README: Following a batch): gathered again every few seconds through
 * the instances' ssh masters (kept between looks), redrawn in place on a terminal, and elsewhere one
 * timestamped line per change of a job's state. Ctrl-C stops following only: everything goes on
 * running, and the way back is said. Once every job has ended: the final table, the collect, and
 * the batch's exit status (0, or 12 when a job failed after its retries).
 *
 * Called outside a story (runStory): nothing here holds an instance the finish would have to end,
 * and a Ctrl-C here is no interrupt of anything.
 */
import type { Cloud } from '../cloud/ec2.js';
import type { BatchCloud } from '../cloud/batch-port.js';
import type { CommandContext } from '../commands/types.js';
import { ExitCode } from '../errors.js';
import type { BatchReport } from '../remote/batch-worker.js';
import { localContext } from '../session/context.js';
import { loadCloud } from '../session/story.js';
import { backoff } from '../time.js';
import { clock } from '../ui/status-line.js';
import type { BatchState, InstanceView, JobView } from './batch-state.js';
import { loadBatchCloud } from './clouds.js';
import { collectBatch, collectTrapped } from './collect.js';
import { finished, type Sighting } from './job-views.js';
import { sshAsker } from './reach.js';
import type { BatchRecord } from './record.js';
import { gatherBatch, type GatherOptions } from './state.js';
import { changes, renderTable } from './table.js';

/** Between two looks: each look asks every running instance once over its master. */
const POLL_MS = 3000;

export interface FollowOptions {
  pollMs?: number;
  /** For tests: the clouds already loaded, and what the instances say. */
  cloud?: Cloud;
  batchCloud?: BatchCloud;
  report?: GatherOptions['report'];
  collect?: (state: BatchState, signal: AbortSignal) => Promise<number>;
}

export async function followBatch(
  ctx: CommandContext,
  rec: BatchRecord | string,
  opts: FollowOptions = {},
): Promise<number> {
  const batch = typeof rec === 'string' ? rec : rec.batch;
  const cloud = opts.cloud ?? (await loadCloud(ctx));
  const batchCloud = opts.batchCloud ?? (await loadBatchCloud(ctx));
  const stop = new AbortController();
  const asker = sshAsker(localContext(ctx, ctx.cwd), cloud, stop.signal);
  const lastReports = new Map<string, BatchReport>();
  const s3Final = new Map<string, Sighting>();
  const out = liveOutput(ctx);
  // The first Ctrl-C stops the look under way (its connections given up); a second one, while
  // that is said, is Node's own: exit at once.
  const onInterrupt = () => {
    if (!stop.signal.aborted) return stop.abort();
    process.off('SIGINT', onInterrupt);
    process.kill(process.pid, 'SIGINT');
  };
  process.on('SIGINT', onInterrupt);
  let state: BatchState | undefined;
  const pollMs = opts.pollMs ?? POLL_MS;
  try {
    for await (const _ of backoff({ firstDelayMs: Math.min(1000, pollMs), maxDelayMs: pollMs, signal: stop.signal })) {
      const look = gatherBatch(ctx, cloud, batchCloud, batch, { asker, lastReports, s3Final, report: opts.report });
      const now = await untilAborted(look, stop.signal);
      if (stop.signal.aborted || !now) break;
      out.show(state, now);
      state = now;
      if (finished(now.jobs) || stalled(now) || stuckLanes(now).length > 0) break;
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  } finally {
    process.off('SIGINT', onInterrupt);
    await asker.close();
  }
  if (stop.signal.aborted || !state) {
    out.end(state);
    ctx.log.info(
      `stopped following; the batch goes on. Follow it again: ssh-ec2 batch status ${batch}; ` +
        `bring the results home: ssh-ec2 batch collect ${batch}`,
    );
    return ExitCode.ok;
  }
  out.end(state);
  if (!finished(state.jobs)) {
    const live = state.instances.some((i) => i.state === 'pending' || i.state === 'running');
    if (!live)
      ctx.log.warn(`no instance of batch ${batch} is running any more: the jobs not done did not run to their end`);
    else
      for (const lane of stalled(state) ? [...new Set(state.instances.map((i) => i.lane))] : stuckLanes(state))
        ctx.log.warn(`lane ${lane}: jobs wait and no worker of the lane runs to take them: stopped following`);
  }
  // As `batch collect`: every finished job's files home, then what has nothing left ended.
  const collect =
    opts.collect ??
    ((s: BatchState, signal: AbortSignal) => collectBatch(ctx, cloud, batchCloud, s, undefined, signal));
  // A Ctrl-C here finishes the step under way (a job's download, an instance's end) and stops.
  const { collected, interrupted } = await collectTrapped(ctx.log, (signal) => collect(state, signal));
  if (interrupted !== undefined) return interrupted;
  // The batch's own status, unless bringing it home failed otherwise (a job's files not had).
  return collected === ExitCode.ok || collected === ExitCode.batchFailed ? exitStatus(state) : collected;
}

/** `p`'s value, or undefined as soon as `signal` aborts (what `p` does after is left to it, unheard). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  p.catch(() => undefined);
  if (signal.aborted) return Promise.resolve(undefined);
  return Promise.race([
    p,
    new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true })),
  ]);
}

/** docs/BATCH.md (Exit status): 0 when every job is done with status 0; 12 when one failed (or could not run). */
export function exitStatus(state: BatchState): number {
  return state.jobs.every((j) => j.state === 'done' && (j.status ?? 0) === 0) ? ExitCode.ok : ExitCode.batchFailed;
}

/**
 * An instance that may still take a job: pending, or running with its worker running (or not
 * heard from yet: being prepared, or not reachable now). One whose worker stalled, failed an
 * upload (kept for collect), or ended takes none.
 */
const working = (i: InstanceView): boolean =>
  i.state === 'pending' || (i.state === 'running' && (!i.worker || i.worker.state === 'running'));

/** Nothing left to take a job: no instance working (all ended, stopped by their agent, or stuck). */
const stalled = (s: BatchState): boolean => s.instances.length > 0 && !s.instances.some(working);

const WAITING = new Set<JobView['state']>(['queued', 'setting up', 'retried', 'interrupted']);

/** The lanes with jobs waiting and instances, none of them working: nothing will take those jobs. */
export function stuckLanes(s: BatchState): number[] {
  const lanes = new Set(s.jobs.filter((j) => WAITING.has(j.state)).map((j) => j.lane));
  return [...lanes].filter((lane) => {
    const mine = s.instances.filter((i) => i.lane === lane);
    return mine.length > 0 && !mine.some(working);
  });
}

interface LiveOutput {
  show(before: BatchState | undefined, now: BatchState): void;
  /** The last table stays on the screen (a terminal), or is printed once (elsewhere). */
  end(last: BatchState | undefined): void;
}

function liveOutput(ctx: CommandContext): LiveOutput {
  const stream = ctx.stdout as NodeJS.WritableStream & { columns?: number };
  const nowS = () => Math.floor(Date.now() / 1000);
  if (!ctx.stdoutIsTTY) {
    return {
      show: (before, now) => {
        for (const line of changes(before, now)) stream.write(`${clock(new Date())} ${line}\n`);
      },
      end: (last) => {
        if (last) stream.write(renderTable(last, nowS()));
      },
    };
  }
  let drawn = 0;
  return {
    show: (_before, now) => {
      // Each line cut to the terminal's width: a wrapped line would not be taken back.
      const width = Math.max(20, (stream.columns ?? 80) - 1);
      const lines = renderTable(now, nowS())
        .trimEnd()
        .split('\n')
        .map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
      // Up to the table's first line, erase to the end of the screen, draw again.
      stream.write(`${drawn > 0 ? `\x1b[${drawn}F\x1b[J` : ''}${lines.join('\n')}\n`);
      drawn = lines.length;
    },
    end: () => undefined,
  };
}
