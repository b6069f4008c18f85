/**
 * What this laptop knows of a batch it started: `.ssh-ec2/batches/<id>.json` in the project
 * directory (beside the sync's base, out of every sync). A cache only: everything in it can be found
 * again from the batch's tags, queues and S3 (state.ts), which is how another laptop follows it.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One job as the jobs file gave it (jobs-file.ts), with the lane it was put in. */
export interface ManifestJob {
  name: string;
  command: string;
  /** The types it may run on, in order (the row's, else --instance-type's). */
  instanceTypes: string[];
  spot: boolean;
  /** 1-based: the lane's index. */
  lane: number;
}

/** What the instances are told, and what a laptop reaching any of them reads (manifest.json). */
export interface Manifest {
  batch: string;
  /** ISO time the batch was started. */
  created: string;
  jobs: ManifestJob[];
}

export interface LaneRecord {
  index: number;
  instanceTypes: string[];
  market: 'spot' | 'on-demand';
  /** Instances asked for. */
  count: number;
  queueUrl: string;
  fleetIds: string[];
  instanceIds: string[];
  /** Why its jobs cannot run (no capacity, no instance could be prepared): they are failed, its queue deleted. */
  failed?: string;
}

export interface BatchRecord extends Manifest {
  region: string;
  projectId: string;
  templateId?: string;
  /** s3://bucket/prefix/<batch>/ with --results. */
  resultsUrl?: string;
  lanes: LaneRecord[];
  /** Jobs whose files are home (collect.ts). */
  collected: string[];
  /** Set once the batch's resources are gone (collected whole, or cancelled). */
  ended?: 'collected' | 'cancelled';
}

export const batchesDir = (projectDir: string): string => join(projectDir, '.ssh-ec2', 'batches');

/** Written whole (a temporary, then renamed): a reader never sees half of it. */
export function writeRecord(projectDir: string, rec: BatchRecord): void {
  const dir = batchesDir(projectDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${rec.batch}.json`);
  writeFileSync(`${file}.${process.pid}.tmp`, `${JSON.stringify(rec, null, 2)}\n`);
  renameSync(`${file}.${process.pid}.tmp`, file);
}

/** Undefined: this laptop did not start it (or its record was removed). */
export function readRecord(projectDir: string, batch: string): BatchRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(batchesDir(projectDir), `${batch}.json`), 'utf8')) as BatchRecord;
  } catch {
    return undefined;
  }
}

/** This directory's batches started here, newest first. */
export function listRecords(projectDir: string): BatchRecord[] {
  let names: string[];
  try {
    names = readdirSync(batchesDir(projectDir)).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names
    .map((n) => readRecord(projectDir, n.slice(0, -'.json'.length)))
    .filter((r): r is BatchRecord => r !== undefined)
    .sort((a, b) => b.created.localeCompare(a.created));
}
