/**
 * `ssh-ec2 batch cancel`: the batch stopped where it is. Its queues purged (no instance takes
 * another job), each reachable worker stopped (its running command SIGTERMed, its attempt not sent
 * back: batch-worker.ts's batchCancelCommand), every instance of the batch terminated (down's
 * ending loop: a spot request cancelled first), then its queues, fleets and template deleted.
 * What a job left on its instance and not in S3 is lost: asked first, unless --yes.
 */
import { mapBounded } from '../bounded.js';
import type { BatchCloud } from '../cloud/batch-port.js';
import type { Cloud, InstanceInfo } from '../cloud/port.js';
import { confirm } from '../commands/down/confirm.js';
import { endInstances } from '../commands/down/end.js';
import { connectFound } from '../commands/existing-instance.js';
import type { CommandContext } from '../commands/types.js';
import { ExitCode } from '../errors.js';
import { batchCancelCommand } from '../remote/batch-worker.js';
import { localContext } from '../session/context.js';
import { runStory } from '../session/story.js';
import type { BatchState } from './batch-state.js';
import { endBatchResources } from './end.js';
import { BATCH_TAG } from './tags.js';
import { writeRecord } from './record.js';

/** Workers stopped at once, and how long each connection may take before its instance is terminated anyway. */
const STOPS_AT_ONCE = 8;
const STOP_CONNECT_MS = 10_000;

const RUNNING = new Set(['running', 'setting up']);
const FINISHED = new Set(['done', 'failed']);

/** The question cancel asks: what stops, and what is lost with it. */
export function cancelQuestion(state: BatchState, instances: number): string {
  const running = state.jobs.filter((j) => RUNNING.has(j.state)).length;
  const waiting = state.jobs.filter((j) => !RUNNING.has(j.state) && !FINISHED.has(j.state)).length;
  const uncollected = state.jobs.filter((j) => FINISHED.has(j.state) && !j.collected).length;
  const lost = state.resultsUrl
    ? `what the running jobs have not uploaded to ${state.resultsUrl} is lost`
    : `their results on the instances are lost${uncollected ? `, and the files of ${uncollected} finished job(s) not collected yet (\`ssh-ec2 batch collect ${state.batch}\` first)` : ''}`;
  return (
    `Cancel ${state.batch}: ${running} job(s) running and ${waiting} queued are stopped, ` +
    `${instances} instance(s) terminated; ${lost}. `
  );
}

/** `yes`: asked already (--yes). Returns the exit status: 0, or the worst of the ending. */
export async function cancelBatch(
  ctx: CommandContext,
  cloud: Cloud,
  batchCloud: BatchCloud,
  state: BatchState,
  yes: boolean,
): Promise<number> {
  const { log } = ctx;
  const { batch } = state;
  const live = await cloud.findInstances({ [BATCH_TAG]: batch });
  if (!yes && !(await confirm(ctx, cancelQuestion(state, live.length), 'ssh-ec2 batch cancel'))) {
    log.info('nothing cancelled');
    return ExitCode.ok;
  }
  for (const lane of state.lanes)
    await batchCloud.purgeQueue(lane.queueUrl).catch((err: unknown) => {
      log.detail(`${lane.queueUrl}: not purged (${(err as Error).message}): deleted below`);
    });
  // A worker stopped first takes no further job and sends nothing back; one not reachable ends
  // with its instance all the same. Several at once, each connect short: an unreachable one must
  // not hold the terminate back (the queues are purged already).
  await mapBounded(
    live.filter((x) => x.state === 'running'),
    STOPS_AT_ONCE,
    (i) => stopWorker(ctx, cloud, i, batch),
  );
  let status: number = live.length > 0 ? await endInstances(ctx, cloud, live, false) : ExitCode.ok;
  const gone = await endBatchResources(batchCloud, cloud, batch, state.lanes, state);
  if (gone.liveInstances.length > 0) {
    log.error(
      `${batch}: still live: ${gone.liveInstances.join(', ')}`,
      `ssh-ec2 batch cancel ${batch} again ends them.`,
    );
    status = status === ExitCode.ok ? ExitCode.cloud : status;
  }
  if (state.record) writeRecord(ctx.cwd, { ...state.record, ended: 'cancelled' });
  log.info(`${batch}: cancelled: ${live.length} instance(s) terminated, its queues, fleets and template deleted`);
  return status;
}

/** The worker on `instance` stopped, over ssh; a failure is said with -v and left to the terminate. */
async function stopWorker(ctx: CommandContext, cloud: Cloud, instance: InstanceInfo, batch: string): Promise<void> {
  const options = { ...ctx.options, rsync: false };
  await runStory(
    { ...ctx, options },
    localContext({ ...ctx, options }, ctx.cwd),
    async (run, signal) => {
      const conn = await connectFound(run, instance, signal, { timeoutMs: STOP_CONNECT_MS });
      await conn.exec(batchCancelCommand(batch));
    },
    { cloud, endJobs: true, facts: { instance, finalState: 'leave' } },
  ).catch((err: unknown) => {
    ctx.log.detail(`${instance.id}: its worker not stopped (${(err as Error).message}): terminated all the same`);
  });
}
