/**
 * The batch port, loaded at its first use (the SQS SDK only for the batch verbs): AWS's, with the
 * queue endpoint SSH_EC2_QUEUE_ENDPOINT when set, or the one a test gives (StoryDeps.loadBatchCloud).
 */
import type { BatchCloud } from '../cloud/batch-port.js';
import type { StoryDeps } from '../session/story.js';

export async function loadBatchCloud(deps: StoryDeps & { options: { queueEndpoint?: string } }): Promise<BatchCloud> {
  if (deps.loadBatchCloud) return deps.loadBatchCloud(deps.options.region);
  const { createBatchCloud } = await import('../cloud/batch-aws.js');
  return createBatchCloud({ region: deps.options.region, queueEndpoint: deps.options.queueEndpoint });
}
