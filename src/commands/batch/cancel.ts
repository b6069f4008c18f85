/**
 * ssh-ec2 batch cancel BATCH [--yes]: the batch stopped and ended whole (src/batch/cancel.ts).
 * The id is required: cancelling is not done to "the newest" by default.
 */
import { cancelBatch } from '../../batch/cancel.js';
import { batchClouds } from '../../batch/clouds.js';
import { gatherBatch } from '../../batch/state.js';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../types.js';

export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  if (args.length !== 1)
    throw new UsageError('batch cancel needs the batch id: ssh-ec2 batch cancel BATCH', 'ssh-ec2 batch ls lists them.');
  const { ctx: here, cloud, batchCloud, batch } = await batchClouds(ctx, args[0]);
  const state = await gatherBatch(here, cloud, batchCloud, batch);
  return cancelBatch(here, cloud, batchCloud, state, ctx.flags.yes === true);
}
