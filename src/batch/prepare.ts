/**
 * Each instance of a batch made ready, at most --parallel at once: running, connected (the host key
 * checked as a session's), the agent and its limits installed, the project synced up, then the
 * worker started (src/remote/batch-worker.ts). An instance that cannot be prepared is terminated
 * and said; its lane's jobs stay in the queue for the others, and a lane left with no instance has
 * its jobs failed. An interrupt ends the preparations: instances whose worker has not started are
 * terminated, the others keep going.
 */
import type { BatchCloud } from '../cloud/batch-port.js';
import { mapBounded } from '../bounded.js';
import { startWorkerScript, type BatchConf } from '../remote/batch-worker.js';
import { connect, prepareInstance } from '../session/connect.js';
import { newRun, type Run } from '../session/context.js';
import { resolveLimits } from '../session/limits.js';
import { waitRunning } from '../session/provision.js';
import { syncParams } from '../session/run-session.js';
import { budgetHourly } from '../session/session-cost.js';
import { syncUp } from '../sync/sync-up.js';
import { laneFailed } from './failed-lanes.js';
import { manifestJson, VISIBILITY_SECONDS, type Launched } from './launch-batch.js';
import { writeRecord, type LaneRecord } from './record.js';

export interface Prepared {
  /** Instances whose worker runs. */
  started: string[];
  /** Instances terminated: they could not be prepared, or were not yet when interrupted. */
  terminated: string[];
}

export async function prepareBatch(
  run: Run,
  batchCloud: BatchCloud,
  launched: Launched,
  signal: AbortSignal,
  /** Test hook: the worker's receive wait (BatchConf.pollSeconds). */
  pollSeconds?: number,
): Promise<Prepared> {
  const { rec } = launched;
  const { options: o, log } = run;
  const out: Prepared = { started: [], terminated: [] };
  const manifest = manifestJson(rec);
  const items = rec.lanes.flatMap((lane) => lane.instanceIds.map((id) => ({ id, lane })));
  log.info(
    `preparing ${items.length} instance(s), ${Math.min(o.parallel, items.length)} at a time: connect, agent, sync up, worker`,
  );
  await mapBounded(items, o.parallel, async ({ id, lane }) => {
    try {
      signal.throwIfAborted();
      await prepareOne(run, launched, lane, id, manifest, signal, pollSeconds);
      out.started.push(id);
      log.info(`${id} (lane ${lane.index}): worker started`);
    } catch (err) {
      const why = signal.aborted ? 'interrupted before its worker started' : (err as Error).message;
      await run.cloud.terminate(id).then(
        () => out.terminated.push(id),
        (e: unknown) =>
          log.warn(`${id}: could not be terminated (${(e as Error).message}): ssh-ec2 batch cancel ends it`),
      );
      log.warn(
        `${id} (lane ${lane.index}): ${why}; terminated${signal.aborted ? '' : `, its lane's jobs stay queued for the others`}`,
      );
    }
  });
  // A lane none of whose instances runs a worker: nobody would ever take its jobs.
  const why = signal.aborted ? 'interrupted before any of its instances was ready' : 'no instance could be prepared';
  for (const lane of rec.lanes) {
    if (lane.failed || lane.instanceIds.some((i) => out.started.includes(i))) continue;
    await laneFailed(run, batchCloud, rec, lane, why);
    log.warn(`lane ${lane.index}: ${why}: its ${jobsOf(launched, lane)} job(s) failed`);
  }
  writeRecord(run.plan.projectDir, rec);
  return out;
}

const jobsOf = (l: Launched, lane: LaneRecord) => l.rec.jobs.filter((j) => j.lane === lane.index).length;

async function prepareOne(
  parent: Run,
  { rec, user }: Launched,
  lane: LaneRecord,
  id: string,
  manifest: string,
  signal: AbortSignal,
  pollSeconds?: number,
) {
  // The agent is told of neither --results nor --notify: the worker uploads and notifies per job.
  const options = { ...parent.options, results: undefined, notify: undefined, command: [] };
  const run = newRun({ ...parent, options }, parent.cloud);
  const instance = await waitRunning({ cloud: run.cloud, signal }, id, true);
  const got = { instance, launched: true, started: false, user };
  const conn = await connect(run, got, signal);
  try {
    signal.throwIfAborted();
    const limits = resolveLimits(options, instance, true, undefined, budgetHourly(run.cloud.region, instance));
    const prepared = prepareInstance(run, conn, instance, limits);
    const up = options.rsync
      ? syncUp({ ...syncParams(run, conn, instance), instanceId: id, signal })
      : Promise.resolve(undefined);
    // Both settled before a failure is reported: nothing keeps sending to an instance being terminated.
    const [a, b] = await Promise.allSettled([prepared, up]);
    if (a.status === 'rejected') throw a.reason;
    if (b.status === 'rejected') throw b.reason;
    signal.throwIfAborted();
    const o = parent.options;
    const conf: BatchConf = {
      batch: rec.batch,
      lane: lane.index,
      queueUrl: lane.queueUrl,
      ...(o.queueEndpoint && { queueEndpoint: o.queueEndpoint }),
      region: run.cloud.region,
      projectDir: run.plan.remoteDir,
      retries: o.retries,
      ...(o.setup && { setup: o.setup }),
      ...(rec.resultsUrl && { resultsUrl: rec.resultsUrl }),
      ...(o.resultsEndpoint && { resultsEndpoint: o.resultsEndpoint }),
      ...(o.notify && {
        notifyUrl: o.notify,
        notifyFields: JSON.stringify({ batch: rec.batch, instance: id, region: run.cloud.region }).slice(1, -1),
      }),
      visibilitySeconds: VISIBILITY_SECONDS,
      ...(pollSeconds !== undefined && { pollSeconds }),
    };
    const r = await conn.exec('sh -s', { input: startWorkerScript(conf, manifest) });
    const said = r.stdout.trim().split('\n').pop() ?? '';
    if (said !== 'started' && said !== 'running') throw new Error(`its worker did not start (${said || 'no answer'})`);
  } finally {
    await conn.close();
  }
}
