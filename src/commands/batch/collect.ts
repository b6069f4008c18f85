/**
 * ssh-ec2 batch collect [BATCH]: what everything says of the batch (state.ts), then each finished
 * job's files home and what is done ended (src/batch/collect.ts). BATCH: this directory's newest.
 */
import { collectBatch, collectTrapped } from '../../batch/collect.js';
import { batchClouds } from '../../batch/clouds.js';
import { gatherBatch } from '../../batch/state.js';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../types.js';

export async function run(ctx: CommandContext, args: readonly string[]): Promise<number> {
  if (args.length > 1) throw new UsageError(`batch collect takes one batch id at most, got: ${args.join(' ')}`);
  const { ctx: here, cloud, batchCloud, batch } = await batchClouds(ctx, args[0]);
  const state = await gatherBatch(here, cloud, batchCloud, batch);
  // A Ctrl-C finishes the step under way and begins no other (without the trap, each one only
  // skipped an instance); 130 then, what is left said.
  const { collected, interrupted } = await collectTrapped(here.log, (signal) =>
    collectBatch(here, cloud, batchCloud, state, undefined, signal),
  );
  return interrupted ?? collected;
}
