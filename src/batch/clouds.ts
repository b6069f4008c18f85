/**
 * The batch port, loaded at its first use (the SQS SDK only for the batch verbs): AWS's, with the
 * queue endpoint SSH_EC2_QUEUE_ENDPOINT when set, or the one a test gives (StoryDeps.loadBatchCloud).
 * And batchClouds: both clouds of a batch verb, in the region the batch lives in.
 */
import type { BatchCloud } from '../cloud/batch-port.js';
import type { Cloud } from '../cloud/ec2.js';
import type { CommandContext } from '../commands/types.js';
import { UsageError } from '../errors.js';
import { localContext } from '../session/context.js';
import { loadCloud, type StoryDeps } from '../session/story.js';
import { listRecords, readRecord, type BatchRecord } from './record.js';
import { whichBatch } from './which.js';

export async function loadBatchCloud(deps: StoryDeps & { options: { queueEndpoint?: string } }): Promise<BatchCloud> {
  if (deps.loadBatchCloud) return deps.loadBatchCloud(deps.options.region);
  const { createBatchCloud } = await import('../cloud/batch-aws.js');
  return createBatchCloud({ region: deps.options.region, queueEndpoint: deps.options.queueEndpoint });
}

export interface BatchClouds {
  /** The verb's context with the batch's region: what state, collect and the S3 store are given. */
  ctx: CommandContext;
  cloud: Cloud;
  batchCloud: BatchCloud;
  batch: string;
  /** This directory's record of it, when it was started here. */
  rec?: BatchRecord;
}

/**
 * The batch a verb is about (named, else this directory's newest) and both clouds in its region.
 * A batch started here lives in its record's region, whatever the shell's default is now: without
 * that, `batch cancel` from another region's shell finds nothing, calls the batch ended, and its
 * instances keep running. An explicit --region that says otherwise is a mistake, refused. Without
 * a record (another laptop) the region is the settings' (README: give --region as it was started).
 */
export async function batchClouds(ctx: CommandContext, named: string | undefined): Promise<BatchClouds> {
  const local = localContext(ctx, ctx.cwd);
  const rec = named ? readRecord(local.plan.projectDir, named) : listRecords(local.plan.projectDir)[0];
  let here = ctx;
  if (rec) {
    const asked = ctx.options.region;
    if (ctx.options.flagged?.has('region') && asked !== undefined && asked !== rec.region)
      throw new UsageError(
        `batch ${rec.batch} was started in ${rec.region}, not --region ${asked}`,
        `Leave --region out (its record here says ${rec.region}), or give --region ${rec.region}.`,
      );
    here = { ...ctx, options: { ...ctx.options, region: rec.region } };
  }
  const [cloud, batchCloud] = await Promise.all([loadCloud(here), loadBatchCloud(here)]);
  const batch = rec?.batch ?? (await whichBatch(local, cloud, batchCloud, named));
  return { ctx: here, cloud, batchCloud, batch, ...(rec && { rec }) };
}
