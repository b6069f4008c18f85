/**
 * ssh-ec2 batch logs BATCH JOB: the job's log (every attempt's, with a header line each) from the
 * instance that ran its latest attempt, else from S3 (--results: ssh-ec2-job.log). Nothing is
 * started for it: a stopped instance's log comes home with batch collect.
 */
import { batchClouds } from '../../batch/clouds.js';
import { sshAsker } from '../../batch/reach.js';
import { gatherBatch } from '../../batch/state.js';
import { s3Location } from '../../cloud/s3-location.js';
import { ExitCode, UsageError, UserError } from '../../errors.js';
import { batchLogCommand } from '../../remote/batch-worker.js';
import { localContext } from '../../session/context.js';
import type { CommandContext } from '../types.js';

export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const [batch, job, ...more] = args;
  if (!batch || !job || more.length > 0) throw new UsageError('usage: ssh-ec2 batch logs BATCH JOB');
  const { ctx: here, cloud, batchCloud } = await batchClouds(ctx, batch);
  const asker = sshAsker(localContext(here, here.cwd), cloud);
  try {
    const state = await gatherBatch(here, cloud, batchCloud, batch, { asker });
    const view = state.jobs.find((j) => j.name === job);
    if (!view)
      throw new UserError(
        `no job ${job} in batch ${batch}`,
        ExitCode.nothingThere,
        `ssh-ec2 batch status ${batch} lists its jobs.`,
      );
    const instance = view.instanceId ? await cloud.describeInstance(view.instanceId) : undefined;
    if (instance?.state === 'running') {
      const log = await asker.ask(instance, batchLogCommand(batch, job));
      if (log !== undefined) {
        ctx.stdout.write(log);
        return ExitCode.ok;
      }
    }
    if (state.resultsUrl) {
      const { createResultsStore } = await import('../../cloud/s3.js');
      const store = await createResultsStore({ region: here.options.region, endpoint: ctx.options.resultsEndpoint });
      const log = await store.read(s3Location(state.resultsUrl), `${job}/ssh-ec2-job.log`);
      if (log !== undefined) {
        ctx.stdout.write(log);
        return ExitCode.ok;
      }
    }
    throw new UserError(
      view.instanceId
        ? `the log of ${job} is on ${view.instanceId} (${instance?.state ?? 'gone'}), which cannot be asked now`
        : `${job} has not started yet (${view.state}): no log`,
      ExitCode.nothingThere,
      view.instanceId ? `ssh-ec2 batch collect ${batch} brings it home with the job's files.` : undefined,
    );
  } finally {
    await asker.close();
  }
}
