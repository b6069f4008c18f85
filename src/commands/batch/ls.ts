/**
 * ssh-ec2 batch ls: this directory's batches — its records here, then those its tags show in the
 * region — each from a quick look that asks no instance (queues and instance states): jobs waiting
 * in a queue, jobs being run (in flight), instances live, and whether it has finished or ended.
 */
import { loadBatchCloud } from '../../batch/clouds.js';
import { listRecords } from '../../batch/record.js';
import { BATCH_TAG, JOBS_TAG } from '../../batch/tags.js';
import { taggedBatches } from '../../batch/which.js';
import type { QueueInfo } from '../../cloud/batch-port.js';
import { ExitCode, UsageError } from '../../errors.js';
import { localContext } from '../../session/context.js';
import { TAG } from '../../session/plan.js';
import { loadCloud } from '../../session/story.js';
import { table } from '../ls/table.js';
import type { CommandContext } from '../types.js';

export interface BatchLine {
  batch: string;
  created: string;
  /** Unknown without the record or the template's tag. */
  jobs?: number;
  queued: number;
  running: number;
  instances: number;
  state: 'running' | 'finished' | 'collected' | 'cancelled';
  /** Started here (a record) or only seen by its tags. */
  recorded: boolean;
}

export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  if (args.length > 0) throw new UsageError(`ssh-ec2 batch ls takes no arguments (got "${args.join(' ')}")`);
  const local = localContext(ctx, ctx.cwd);
  const [cloud, batchCloud] = await Promise.all([loadCloud(ctx), loadBatchCloud(ctx)]);
  const records = listRecords(local.plan.projectDir);
  const [tagged, instances, queues, templates] = await Promise.all([
    taggedBatches(local, cloud, batchCloud),
    cloud.findInstances({ [TAG.project]: local.plan.projectId }),
    batchCloud.findQueues('ssh-ec2-'),
    batchCloud.findLaunchTemplates({ [TAG.project]: local.plan.projectId }),
  ]);
  const ids = [
    ...records.map((r) => ({ batch: r.batch, created: r.created })),
    ...tagged.filter((t) => !records.some((r) => r.batch === t.batch)),
  ];
  const lines = ids.map(({ batch, created }): BatchLine => {
    const rec = records.find((r) => r.batch === batch);
    const mine = queues.filter((q) => q.tags[BATCH_TAG] === batch);
    const sum = (f: (q: QueueInfo) => number) => mine.reduce((n, q) => n + f(q), 0);
    const jobsTag = templates.find((t) => t.tags[BATCH_TAG] === batch)?.tags[JOBS_TAG];
    const live = instances.filter(
      (i) => i.tags[BATCH_TAG] === batch && (i.state === 'pending' || i.state === 'running'),
    ).length;
    const queued = sum((q) => q.visible);
    const running = sum((q) => q.inFlight);
    return {
      batch,
      created,
      jobs: rec?.jobs.length ?? (jobsTag ? Number(jobsTag) : undefined),
      queued,
      running,
      instances: live,
      state: rec?.ended ?? (queued + running > 0 || live > 0 ? 'running' : 'finished'),
      recorded: rec !== undefined,
    };
  });
  if (ctx.flags.json) {
    ctx.stdout.write(`${JSON.stringify(lines, null, 2)}\n`);
    return ExitCode.ok;
  }
  if (lines.length === 0) {
    ctx.log.info(`no batch of this directory in ${cloud.region}`);
    return ExitCode.ok;
  }
  const rows = lines.map((l) => [
    l.batch,
    l.created ? l.created.replace('T', ' ').slice(0, 16) : '-',
    l.jobs === undefined ? '-' : String(l.jobs),
    String(l.queued),
    String(l.running),
    String(l.instances),
    l.state,
  ]);
  ctx.stdout.write(table([['BATCH', 'CREATED', 'JOBS', 'QUEUED', 'RUNNING', 'INSTANCES', 'STATE'], ...rows]));
  return ExitCode.ok;
}
