/**
 * A batch's resources that EC2's listing does not hold (ls --all-regions, down --orphans): its
 * queues (SQS, through the batch port: SSH_EC2_QUEUE_ENDPOINT as a batch's own calls), and where
 * its results are, the S3 prefix its launch template's `ssh-ec2:batch-results` tag names (listed,
 * never deleted: they are the results). Names and tags are docs/BATCH.md's.
 */
import type { TaggedResource } from '../../cloud/port.js';
import { loadBatchCloud } from '../../batch/clouds.js';
import { BATCH_TAG, RESULTS_TAG } from '../../batch/tags.js';
import { CloudError } from '../../errors.js';
import { kindOf } from '../../cloud/aws-codes.js';
import type { CommandContext } from '../types.js';

/** Every queue ssh-ec2 makes is named so (ssh-ec2-<batch>-<lane>): the policies allow no other. */
export const QUEUE_PREFIX = 'ssh-ec2-';

/**
 * This region's queues carrying the tag key ssh-ec2, and one `results` row per batch whose
 * template names a results URL. A policy refusing SQS (attached before batches came) is named in
 * `refused`, as EC2's listings are: the rest is still listed.
 */
export async function batchExtras(
  ctx: CommandContext,
  region: string,
  resources: readonly TaggedResource[],
): Promise<{ resources: TaggedResource[]; refused: string[] }> {
  const results = resources.flatMap((x): TaggedResource[] => {
    const url = x.kind === 'launch-template' ? x.tags[RESULTS_TAG] : undefined;
    return url
      ? [
          {
            kind: 'results',
            id: url,
            name: x.tags[BATCH_TAG],
            state: 'never deleted',
            createdAt: x.createdAt,
            tags: x.tags,
          },
        ]
      : [];
  });
  try {
    const batch = await loadBatchCloud({ ...ctx, options: { ...ctx.options, region } });
    const queues = (await batch.findQueues(QUEUE_PREFIX))
      .filter((q) => Object.hasOwn(q.tags, 'ssh-ec2'))
      .map((q): TaggedResource => ({
        kind: 'queue',
        id: q.url,
        name: q.name,
        state: `${q.visible} queued, ${q.inFlight} taken`,
        createdAt: q.createdAt,
        waiting: q.visible + q.inFlight,
        tags: q.tags,
      }));
    return { resources: [...queues, ...results], refused: [] };
  } catch (err) {
    if (!(err instanceof CloudError && kindOf(err.code ?? '') === 'denied')) throw err;
    return { resources: results, refused: ['sqs:ListQueues'] };
  }
}
