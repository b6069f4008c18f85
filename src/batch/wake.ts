/**
 * A stopped instance of a batch that no look could ask (README: `unknown`): collect starts it, as
 * `down --pull` does, reads its report, brings home the finished jobs it holds, then stops it again
 * — or terminates it when its worker is done and all it ran is home. Until its report is read,
 * nothing of the batch ends it: the jobs it ran are known only from there.
 */
import type { Cloud, InstanceInfo } from '../cloud/port.js';
import { connectFound } from '../commands/existing-instance.js';
import type { CommandContext } from '../commands/types.js';
import { ExitCode, UserError } from '../errors.js';
import { batchReportCommand, parseBatchReport, type BatchReport } from '../remote/batch-worker.js';
import { rsyncSource } from '../remote/rsync-capabilities.js';
import { localContext } from '../session/context.js';
import { bringUp } from '../session/provision.js';
import { runStory } from '../session/story.js';
import type { BatchState, InstanceView } from './batch-state.js';
import type { CollectIo } from './collect.js';
import { fromInstance } from './collect-files.js';
import { isJobName } from './job-name.js';
import { newestSightings, viewOf, type Sighting } from './job-views.js';
import { LANE_TAG } from './state.js';

/**
 * Each stopped instance of the batch whose report no look read, while some job of its lane is not
 * home and not known to be elsewhere: woken (io.wake), and what it said merged into the state —
 * its worker's word, and its jobs (an `unknown` job becomes what it is, with this instance).
 */
export async function wakeUnread(
  ctx: CommandContext,
  cloud: Cloud,
  state: BatchState,
  live: ReadonlyMap<string, InstanceInfo>,
  io: CollectIo,
  isHome: (job: string) => boolean,
  onJob: (job: string) => void,
  signal?: AbortSignal,
): Promise<BatchState> {
  const unread = [...live.values()].filter((i) => {
    if (i.state !== 'stopped' || state.instances.find((v) => v.id === i.id)?.worker) return false;
    const lane = Number(i.tags[LANE_TAG]) || 0;
    return state.jobs.some(
      (j) => !isHome(j.name) && (j.instanceId === i.id || (!j.instanceId && (lane === 0 || j.lane === lane))),
    );
  });
  let jobs = state.jobs;
  let instances = state.instances;
  for (const i of unread) {
    if (signal?.aborted) break;
    const report = await io.wake(ctx, cloud, i, state.batch, isHome, onJob).catch((err: unknown) => {
      ctx.log.error(`${i.id}: not started to read what it ran: ${(err as Error).message}`);
      return undefined;
    });
    if (!report) continue;
    const view: InstanceView = {
      id: i.id,
      lane: Number(i.tags[LANE_TAG]) || 0,
      state: i.state,
      type: i.type,
      worker: report.worker,
      reachable: true,
    };
    instances = [...instances.filter((v) => v.id !== i.id), view];
    const sightings = report.jobs
      .filter((r) => isJobName(r.name))
      .map((r): Sighting => ({ report: r, instanceId: i.id, from: 'instance' }));
    const newest = newestSightings(sightings);
    jobs = jobs.map((j) => {
      const seen = newest.get(j.name);
      const better = seen && (j.attempt === undefined || seen.report.attempt >= j.attempt);
      return better ? { ...j, ...viewOf(seen) } : j;
    });
  }
  return { ...state, jobs, instances };
}

/** CollectIo.wake, over ssh: one story (started, asked, its jobs pulled; stopped again or terminated). */
export async function wakeInstance(
  ctx: CommandContext,
  cloud: Cloud,
  instance: InstanceInfo,
  batch: string,
  isHome: (job: string) => boolean,
  onJob: (job: string) => void,
): Promise<BatchReport> {
  const options = { ...ctx.options, rsync: false };
  let report: BatchReport | undefined;
  const status = await runStory(
    { ...ctx, options },
    localContext({ ...ctx, options }, ctx.cwd),
    async (run, signal) => {
      const up = await bringUp({ cloud: run.cloud, log: run.log, signal }, instance);
      run.facts.instance = up;
      const conn = await connectFound(run, up, signal);
      report = parseBatchReport((await conn.exec(batchReportCommand(batch))).stdout);
      const newest = newestSightings(report.jobs.map((r): Sighting => ({ report: r, from: 'instance' })));
      const due = [...newest.values()]
        .map((s) => s.report)
        .filter((r) => (r.state === 'done' || r.state === 'failed') && isJobName(r.name) && !isHome(r.name));
      const p = { conn, instanceId: up.id, projectDir: ctx.cwd, scratchDir: run.paths.runtime, log: run.log };
      if (due.length > 0) await fromInstance({ ...p, rsync: rsyncSource(run) }, batch, due, onJob);
      const workerDone = report.worker !== undefined && report.worker.state !== 'running';
      if (workerDone && [...newest.keys()].every(isHome))
        Object.assign(run.facts, { finalState: 'terminate', leftAsItIs: undefined });
    },
    // Stopped again unless all it held is home: as it was found.
    { cloud, endJobs: true, facts: { instance, finalState: 'stop' } },
  );
  if (status !== ExitCode.ok || !report)
    throw new UserError(`starting ${instance.id} to collect ended with status ${status}`, status);
  return report;
}
