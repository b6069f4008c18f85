/**
 * What a batch is now, as gathered from everything that knows (state.ts): the local record, the
 * tags, the queues, each reachable instance's batch directory and S3. The table (table.ts), status,
 * collect and cancel read this one shape.
 */
import type { QueueInfo } from '../cloud/batch-port.js';
import type { Manifest, BatchRecord } from './record.js';

export type JobStateWord =
  'queued' | 'setting up' | 'running' | 'done' | 'failed' | 'retried' | 'interrupted' | 'unknown';

export interface JobView {
  name: string;
  lane: number;
  state: JobStateWord;
  /** 1-based: the attempt the state is of. */
  attempt?: number;
  instanceId?: string;
  /** Epoch seconds. */
  started?: number;
  ended?: number;
  status?: number;
  /** 0..100, as the job reported it. */
  progress?: number;
  peakKiB?: number;
  wallSeconds?: number;
  /** Its files are home (results/<batch>/<job>/). */
  collected: boolean;
  /** Why it never ran (its lane failed: no capacity, no instance prepared): it is `failed`. */
  reason?: string;
  /** Where its files are to be had: its instance's files/ folder, or S3 (--results). */
  where?: 'instance' | 's3';
}

export interface InstanceView {
  id: string;
  lane: number;
  /** EC2's state: pending, running, stopped, terminated… */
  state: string;
  type: string;
  /** The worker's own word, when the instance could be asked. */
  worker?: { state: 'running' | 'done' | 'setup-failed' | 'interrupted' | 'stalled' | 'upload-failed'; at: number };
  reachable: boolean;
}

export interface BatchState {
  batch: string;
  region: string;
  manifest: Manifest;
  /** This laptop's record, if it started the batch. */
  record?: BatchRecord;
  resultsUrl?: string;
  templateId?: string;
  fleetIds: string[];
  lanes: { index: number; queueUrl: string; queue?: QueueInfo }[];
  instances: InstanceView[];
  jobs: JobView[];
}
