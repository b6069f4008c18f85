/**
 * ssh-ec2 batch collect [BATCH]: what everything says of the batch (state.ts), then each finished
 * job's files home and what is done ended (src/batch/collect.ts). BATCH: this directory's newest.
 */
import { collectBatch } from '../../batch/collect.js';
import { loadBatchCloud } from '../../batch/clouds.js';
import { gatherBatch } from '../../batch/state.js';
import { whichBatch } from '../../batch/which.js';
import { UsageError } from '../../errors.js';
import { localContext } from '../../session/context.js';
import { loadCloud } from '../../session/story.js';
import type { CommandContext } from '../types.js';

export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  if (args.length > 1) throw new UsageError(`batch collect takes one batch id at most, got: ${args.join(' ')}`);
  const [cloud, batchCloud] = await Promise.all([loadCloud(ctx), loadBatchCloud(ctx)]);
  const batch = await whichBatch(localContext(ctx, ctx.cwd), cloud, batchCloud, args[0]);
  const state = await gatherBatch(ctx, cloud, batchCloud, batch);
  return collectBatch(ctx, cloud, batchCloud, state);
}
