// Placeholder while the batch engine is being built (issue #14): replaced by the SDK's, never shipped as is.
import type { BatchCloud } from './batch-port.js';

export function createBatchCloud(_cfg: { region?: string; queueEndpoint?: string }): Promise<BatchCloud> {
  return Promise.reject(new Error('the batch port is not built yet'));
}
