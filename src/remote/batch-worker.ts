// Placeholder for helper "worker"'s file (issue #14), taken whole when h14-worker is merged.
export interface BatchConf {
  batch: string;
  lane: number;
  queueUrl: string;
  queueEndpoint?: string;
  region: string;
  projectDir: string;
  retries: number;
  setup?: string;
  resultsUrl?: string;
  resultsEndpoint?: string;
  notifyUrl?: string;
  notifyFields?: string;
  visibilitySeconds?: number;
  pollSeconds?: number;
}
export const workerJobId = (batch: string): string => `batch-${batch}`;
export function startWorkerScript(_conf: BatchConf, _manifestJson: string): string {
  throw new Error('the batch worker is not built yet');
}
