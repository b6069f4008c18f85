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
import { batchReportCommand, parseBatchReport, type BatchReport, type JobReport } from '../remote/batch-worker.js';
import type { Connection } from '../remote/connection.js';
import { rsyncSource } from '../remote/rsync-capabilities.js';
import { localContext, type Run } from '../session/context.js';
import { bringUp } from '../session/provision.js';
import { runStory } from '../session/story.js';
import type { BatchState, InstanceView } from './batch-state.js';
import type { CollectIo } from './collect.js';
import { fromInstance } from './collect-files.js';
import { isJobName } from './job-name.js';
import { newer, newestSightings, viewOf, type Sighting } from './job-views.js';
import { LANE_TAG } from './tags.js';

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
): Promise<{ state: BatchState; failure?: number }> {
  const unread = [...live.values()].filter((i) => {
    if (i.state !== 'stopped' || state.instances.find((v) => v.id === i.id)?.worker) return false;
    const lane = Number(i.tags[LANE_TAG]) || 0;
    return state.jobs.some(
      (j) => !isHome(j.name) && (j.instanceId === i.id || (!j.instanceId && (lane === 0 || j.lane === lane))),
    );
  });
  let jobs = state.jobs;
  let instances = state.instances;
  let failure: number | undefined;
  for (const i of unread) {
    if (signal?.aborted) break;
    const report = await io.wake(ctx, cloud, i, state.batch, isHome, onJob).catch((err: unknown) => {
      // Its jobs stay `unknown` (not "running or queued"): the status says it, and what to do.
      ctx.log.error(
        `${i.id}: could not be started to read what it ran: ${(err as Error).message}`,
        `the jobs it ran stay unknown and it is left stopped: \`ssh-ec2 batch collect ${state.batch}\` again once ` +
          `the cause is fixed; \`ssh-ec2 batch cancel ${state.batch}\` ends it with what it holds`,
      );
      failure ??= err instanceof UserError ? err.exitCode : ExitCode.cloud;
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
      if (!seen) return j;
      if (j.attempt === undefined) return { ...j, ...viewOf(seen) };
      // As every sighting is weighed (newer): an ended attempt (S3's `done 1`) beats the same one
      // still `running` on the woken instance.
      const had: Sighting = {
        report: { ...j, state: j.state as JobReport['state'], attempt: j.attempt },
        instanceId: j.instanceId,
        from: j.where === 's3' ? 's3' : 'instance',
      };
      return newer(had, seen) === seen ? { ...j, ...viewOf(seen) } : j;
    });
  }
  return { state: { ...state, jobs, instances }, failure };
}

/**
 * One story on a batch's instance: started if stopped (as `down --pull`), connected, `work` done;
 * rsync off (the finish brings nothing back itself). `facts`: its final state unless `work` says
 * otherwise (`run.facts`). Its exit status.
 */
export function storyOn(
  ctx: CommandContext,
  cloud: Cloud,
  instance: InstanceInfo,
  facts: Partial<Run['facts']>,
  work: (run: Run, conn: Connection, p: Parameters<typeof fromInstance>[0]) => Promise<void>,
): Promise<number> {
  const options = { ...ctx.options, rsync: false };
  return runStory(
    { ...ctx, options },
    localContext({ ...ctx, options }, ctx.cwd),
    async (run, signal) => {
      const up = await bringUpFor({ cloud: run.cloud, log: run.log, signal }, run.facts, instance);
      run.facts.instance = up;
      const conn = await connectFound(run, up, signal);
      const paths = { projectDir: ctx.cwd, scratchDir: run.paths.runtime, rsync: rsyncSource(run), log: run.log };
      await work(run, conn, { conn, instanceId: up.id, ...paths });
    },
    { cloud, endJobs: true, facts: { instance, ...facts } },
  );
}

/**
 * bringUp, the finish told as soon as it may have started the instance (as reachExisting): started
 * by this run, so stopped again — also when its host key cannot be trusted (first contact from
 * another machine, a Ctrl-C then), which the finish leaves running for an instance merely found.
 */
export function bringUpFor(
  ctx: Parameters<typeof bringUp>[0],
  facts: Run['facts'],
  instance: InstanceInfo,
): Promise<InstanceInfo> {
  const onStarted = () => {
    facts.origin = 'started';
    facts.finalState ??= 'stop';
  };
  return bringUp({ ...ctx, onStarted }, instance);
}

/** CollectIo.wake, over ssh: one story (started, asked, its jobs pulled; stopped again or terminated). */
export const wakeInstance: CollectIo['wake'] = async (ctx, cloud, instance, batch, isHome, onJob) => {
  let report: BatchReport | undefined;
  // Stopped again unless all it held is home: as it was found.
  const status = await storyOn(ctx, cloud, instance, { finalState: 'stop' }, async (run, conn, p) => {
    report = parseBatchReport((await conn.exec(batchReportCommand(batch))).stdout);
    const newest = newestSightings(report.jobs.map((r): Sighting => ({ report: r, from: 'instance' })));
    const due = [...newest.values()]
      .map((s) => s.report)
      .filter((r) => (r.state === 'done' || r.state === 'failed') && isJobName(r.name) && !isHome(r.name));
    if (due.length > 0) await fromInstance(p, batch, due, onJob);
    const workerDone = report.worker !== undefined && report.worker.state !== 'running';
    if (workerDone && [...newest.keys()].every(isHome))
      Object.assign(run.facts, { finalState: 'terminate', leftAsItIs: undefined });
  });
  if (status !== ExitCode.ok || !report)
    throw new UserError(`starting ${instance.id} to collect ended with status ${status}`, status);
  return report;
};
