/**
 * Lanes: the jobs grouped by (instance types, market), one queue and one fleet each (docs/BATCH.md: Names).
 * Default mode: one instance per job; with --instances N, one lane of N instances that every job
 * may run on.
 */
import { UsageError } from '../errors.js';
import type { ManifestJob } from './record.js';
import type { JobRow } from './jobs-file.js';

export interface Lane {
  /** 1-based. */
  index: number;
  instanceTypes: string[];
  market: 'spot' | 'on-demand';
  /** Instances asked for. */
  count: number;
  jobs: ManifestJob[];
}

export const INSTANCES_RULE =
  "with --instances, every job runs on any of the batch's instances: leave instance_type empty and give the types with --instance-type";

/**
 * The lanes of a batch. `defaults`: --instance-type's list and --spot (or --spot-fallback), for the
 * rows that leave them empty; `instances`: --instances.
 */
export function makeLanes(
  rows: readonly JobRow[],
  defaults: { instanceTypes: readonly string[]; spot: boolean },
  instances?: number,
): Lane[] {
  const lanes = new Map<string, Lane>();
  for (const r of rows) {
    const instanceTypes = r.instanceType ? [r.instanceType] : [...defaults.instanceTypes];
    const market = (r.spot ?? defaults.spot) ? 'spot' : 'on-demand';
    const key = JSON.stringify([instanceTypes, market]);
    let lane = lanes.get(key);
    if (!lane) {
      if (instances !== undefined && lanes.size > 0) throw new UsageError(INSTANCES_RULE);
      lane = { index: lanes.size + 1, instanceTypes, market, count: 0, jobs: [] };
      lanes.set(key, lane);
    }
    lane.jobs.push({ name: r.name, command: r.command, instanceTypes, spot: market === 'spot', lane: lane.index });
  }
  return [...lanes.values()].map((l) => ({
    ...l,
    count: instances === undefined ? l.jobs.length : Math.min(instances, l.jobs.length),
  }));
}
