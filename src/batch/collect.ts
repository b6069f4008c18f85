/**
 * Bringing a batch home (`ssh-ec2 batch collect`, and `ssh-ec2 batch` once every job is finished):
 * each finished job not yet collected into `results/<batch>/<job>/` — from its instance (started
 * first if stopped, as `down --pull` does) or, when the instance is gone, from S3 (--results) —,
 * then each instance with nothing left for it terminated (a spot request cancelled first: down's
 * ending loop), and once every job is home the batch's queues, fleets and template deleted.
 * Jobs still running or queued are left for a later collect, said.
 */
import type { BatchCloud } from '../cloud/batch-port.js';
import type { Cloud, InstanceInfo } from '../cloud/port.js';
import type { ResultsReader } from '../cloud/s3.js';
import { endInstances } from '../commands/down/end.js';
import type { CommandContext } from '../commands/types.js';
import { ExitCode, UserError } from '../errors.js';
import type { BatchReport } from '../remote/batch-worker.js';
import { trapSignals } from '../session/signals.js';
import type { Logger } from '../ui/logger.js';
import type { BatchState, JobView } from './batch-state.js';
import { fromInstance, fromS3 } from './collect-files.js';
import { endBatchResources } from './end.js';
import { BATCH_TAG } from './tags.js';
import { storyOn, wakeInstance, wakeUnread } from './wake.js';
import { writeRecord } from './record.js';

const FINISHED = new Set(['done', 'failed']);
const GONE = new Set(['shutting-down', 'terminated']);

/** What collect reaches beyond the two ports: replaced by unit tests (no ssh, no S3 SDK). */
export interface CollectIo {
  loadStore(cfg: { region?: string; endpoint?: string }): Promise<ResultsReader>;
  /**
   * The jobs' files from their instance; `end()`, asked after the copy (inside the story): whether it
   * is terminated — only once every job of it was marked home (`onJob`): a blocked file keeps it.
   */
  fromInstance(
    ctx: CommandContext,
    cloud: Cloud,
    instance: InstanceInfo,
    batch: string,
    jobs: readonly JobView[],
    onJob: (job: string) => void,
    end: () => boolean,
  ): Promise<void>;
  /**
   * A stopped instance no look could ask (README: `unknown`): started, its report read, the
   * finished jobs it holds that `isHome` says are not home brought home (`onJob` each), then
   * terminated when its worker is done and all it ran is home, else stopped again. Its report.
   */
  wake(
    ctx: CommandContext,
    cloud: Cloud,
    instance: InstanceInfo,
    batch: string,
    isHome: (job: string) => boolean,
    onJob: (job: string) => void,
  ): Promise<BatchReport>;
}

/**
 * 0, or 12 (some job failed); a job that could not be brought home: that failure's status.
 * `signal` (a Ctrl-C): the step under way is finished, no other begun, nothing ended; what is left
 * is said.
 */
export async function collectBatch(
  ctx: CommandContext,
  cloud: Cloud,
  batchCloud: BatchCloud,
  given: BatchState,
  io: CollectIo = realIo,
  signal?: AbortSignal,
): Promise<number> {
  let state = given;
  const { log } = ctx;
  const { batch } = state;
  const collected = new Set([
    ...(state.record?.collected ?? []),
    ...state.jobs.filter((j) => j.collected).map((j) => j.name),
  ]);
  const record = state.record && { ...state.record, collected: [...collected] };
  const home = (job: string) => {
    collected.add(job);
    if (record) writeRecord(ctx.cwd, { ...record, collected: [...collected] });
  };
  let failure: number | undefined;
  const failed = (job: string, err: unknown) => {
    log.error(`${job}: not brought home: ${(err as Error).message}`, (err as { hint?: string }).hint);
    failure ??= err instanceof UserError ? err.exitCode : ExitCode.cloud;
  };

  const live = new Map((await cloud.findInstances({ [BATCH_TAG]: batch })).map((i) => [i.id, i]));
  const woken = await wakeUnread(ctx, cloud, state, live, io, (j) => collected.has(j), home, signal);
  state = woken.state;
  failure = woken.failure;
  const due = state.jobs.filter((j) => FINISHED.has(j.state) && !collected.has(j.name));
  const fromS3Jobs: JobView[] = [];
  const byInstance = new Map<string, JobView[]>();
  for (const job of due) {
    // Never run (its lane failed): nothing of it to bring.
    if (job.reason) {
      home(job.name);
      continue;
    }
    const inst = job.instanceId ? live.get(job.instanceId) : undefined;
    if (state.resultsUrl && (job.where === 's3' || !inst || GONE.has(inst.state))) fromS3Jobs.push(job);
    else if (inst && !GONE.has(inst.state)) byInstance.set(inst.id, [...(byInstance.get(inst.id) ?? []), job]);
    else {
      // Nothing can bring it any more: counted as collected, so that the batch can end.
      log.warn(
        `${job.name}: its instance ${job.instanceId ?? ''} is gone and the batch has no --results: its files are lost`,
      );
      home(job.name);
    }
  }

  const triedS3 = new Set<string>();
  const viaS3 = async (jobs: readonly JobView[]) => {
    if (jobs.length === 0) return;
    const store = await io.loadStore({ region: state.region, endpoint: ctx.options.resultsEndpoint });
    for (const job of jobs) {
      if (signal?.aborted) return;
      triedS3.add(job.name);
      const ok = await fromS3(store, state.resultsUrl!, ctx.cwd, batch, job.name, log).catch((err: unknown) => {
        log.warn(`${job.name}: from S3: ${(err as Error).message}`);
        return false;
      });
      if (ok) home(job.name);
    }
  };
  await viaS3(fromS3Jobs);
  // What S3 did not have, its instance may still hold.
  for (const job of fromS3Jobs) {
    const inst = job.instanceId ? live.get(job.instanceId) : undefined;
    if (!collected.has(job.name) && inst && !GONE.has(inst.state))
      byInstance.set(inst.id, [...(byInstance.get(inst.id) ?? []), job]);
  }
  for (const [id, jobs] of byInstance) {
    if (signal?.aborted) break;
    // Ended by the same story when its worker is done and these were all it still held, or when
    // they are the last of the batch (every instance ends then) — decided after the copy: a job not
    // brought home (a blocked file) keeps the instance, which may hold its only copy.
    const end = () =>
      jobs.every((j) => collected.has(j.name)) &&
      (endsNow(state, live.get(id), collected) || state.jobs.every((j) => collected.has(j.name)));
    await io
      .fromInstance(ctx, cloud, live.get(id)!, batch, jobs, home, end)
      .catch((err: unknown) => log.error(`${id}: ${(err as Error).message}`));
    // What its instance could not give, S3 may have.
    if (state.resultsUrl) await viaS3(jobs.filter((j) => !collected.has(j.name) && !triedS3.has(j.name)));
  }
  if (signal?.aborted) {
    const left = state.jobs.filter((j) => !collected.has(j.name)).length;
    log.warn(
      `${batch}: interrupted: ${left} job(s) not home yet and the batch's instances and resources left as they are: ` +
        `\`ssh-ec2 batch collect ${batch}\` goes on`,
    );
    return 128 + 2; // as for any Ctrl-C (README: exit status 128+n)
  }
  for (const job of due)
    if (!collected.has(job.name)) failed(job.name, new Error('its files could not be had (said above)'));

  // Each instance with nothing left for it; every one once the whole batch is home.
  const allHome = state.jobs.every((j) => collected.has(j.name));
  const now = await cloud.findInstances({ [BATCH_TAG]: batch });
  const ending = now.filter((i) => allHome || endsNow(state, i, collected));
  if (ending.length > 0) {
    const ended = await endInstances(ctx, cloud, ending, false);
    if (ended !== ExitCode.ok) failure ??= ended;
  }
  if (allHome) {
    const gone = await endBatchResources(batchCloud, cloud, batch, state.lanes, state);
    log.detail(`${batch}: ${gone.queues} queue(s), ${gone.fleets} fleet(s), ${gone.templates} template(s) deleted`);
    if (record) writeRecord(ctx.cwd, { ...record, collected: [...collected], ended: 'collected' });
    log.info(`${batch}: every job collected into results/${batch}/; its instances and resources are ended`);
  } else {
    const notHome = state.jobs.filter((j) => !collected.has(j.name) && !FINISHED.has(j.state));
    const unknown = notHome.filter((j) => j.state === 'unknown').length;
    if (unknown > 0)
      log.warn(`${batch}: ${unknown} job(s) unknown: the instance that ran them could not be started (said above)`);
    const left = notHome.length - unknown;
    if (left > 0)
      log.info(
        `${batch}: ${left} job(s) not finished yet (running or queued): \`ssh-ec2 batch collect ${batch}\` again later`,
      );
  }
  if (failure !== undefined) return failure;
  return state.jobs.some((j) => j.state === 'failed') ? ExitCode.batchFailed : ExitCode.ok;
}

/**
 * `collect` under a trap (as any session): a Ctrl-C, SIGTERM or SIGHUP aborts its signal — the step
 * under way finishes, no other begins, what is left is said. Its status; `interrupted`: 128+n.
 */
export async function collectTrapped(
  log: Logger,
  collect: (signal: AbortSignal) => Promise<number>,
): Promise<{ collected: number; interrupted?: number }> {
  const collecting = new AbortController();
  const trap = trapSignals(
    log,
    () => collecting.abort(),
    () => 'bringing the finished jobs home',
  );
  const collected = await collect(collecting.signal).finally(() => trap.dispose());
  return { collected, interrupted: trap.exitStatus() };
}

/**
 * An instance with nothing left for it: its worker said it is done and every job it ran last is
 * home (a setup that failed: none). One whose report was never read is never ended: the jobs it
 * ran are known only from there.
 */
function endsNow(state: BatchState, instance: InstanceInfo | undefined, home: ReadonlySet<string>): boolean {
  if (!instance || GONE.has(instance.state)) return false;
  const worker = state.instances.find((v) => v.id === instance.id)?.worker;
  const workerDone = worker !== undefined && worker.state !== 'running';
  return workerDone && state.jobs.every((j) => j.instanceId !== instance.id || home.has(j.name));
}

const realIo: CollectIo = {
  async loadStore(cfg) {
    const { createResultsStore } = await import('../cloud/s3.js');
    return createResultsStore(cfg);
  },
  wake: wakeInstance,
  async fromInstance(ctx, cloud, instance, batch, jobs, onJob, end) {
    // Its final state is the instance's own (a started one stopped again) unless it is to end; one
    // found running is left to its worker and agent, without a session's "left running" words.
    const found = instance.state === 'running' || instance.state === 'pending';
    const facts: Parameters<typeof storyOn>[3] = found ? { leftAsItIs: 'job still running' } : { finalState: 'stop' };
    const status = await storyOn(ctx, cloud, instance, facts, async (run, _conn, p) => {
      await fromInstance(p, batch, jobs, onJob);
      if (end()) Object.assign(run.facts, { finalState: 'terminate', leftAsItIs: undefined });
    });
    if (status !== ExitCode.ok)
      throw new UserError(`collecting from ${instance.id} ended with status ${status}`, status);
  },
};
