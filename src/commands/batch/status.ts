/**
 * ssh-ec2 batch status [BATCH]: one look at the batch (state.ts) and its table, or with --json the
 * whole BatchState. Exit 0 while it runs and when every job is done; 12 once it has finished with a
 * job failed after its retries.
 */
import { batchClouds } from '../../batch/clouds.js';
import { exitStatus } from '../../batch/follow.js';
import { finished } from '../../batch/job-views.js';
import { gatherBatch } from '../../batch/state.js';
import { renderTable } from '../../batch/table.js';
import { ExitCode, UsageError } from '../../errors.js';
import type { CommandContext } from '../types.js';

export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  if (args.length > 1) throw new UsageError(`ssh-ec2 batch status takes one batch at most (got "${args.join(' ')}")`);
  const { ctx: here, cloud, batchCloud, batch } = await batchClouds(ctx, args[0]);
  const state = await gatherBatch(here, cloud, batchCloud, batch);
  if (ctx.flags.json) ctx.stdout.write(`${JSON.stringify(state, null, 2)}\n`);
  else ctx.stdout.write(`batch ${state.batch} (${state.region})\n${renderTable(state, Math.floor(Date.now() / 1000))}`);
  return finished(state.jobs) ? exitStatus(state) : ExitCode.ok;
}
