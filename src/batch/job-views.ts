/**
 * Each job's state from everything that was seen of it (pure: state.ts gathers, this decides). A
 * job may have been attempted on several instances (a retry runs wherever a worker takes it): its
 * newest attempt is its state. A job seen nowhere is still in its lane's queue — `setting up` while
 * that lane's instances are preparing — or, once the queue holds nothing and none of the lane's
 * instances runs, `unknown` (it ran on an instance that could not be asked: stopped, or gone
 * without --results).
 */
import type { JobReport } from '../remote/batch-worker.js';
import type { JobView } from './batch-state.js';
import type { Manifest } from './record.js';

/** One sight of one attempt of a job: on an instance (its batch directory), or in S3 (ssh-ec2-job.json). */
export interface Sighting {
  report: JobReport;
  instanceId?: string;
  from: 'instance' | 's3';
  /** The instance is gone (terminated): its files are only where S3 has them. */
  instanceGone?: boolean;
}

/** What a lane's instances and queue say, for the jobs seen nowhere. */
export interface LaneFacts {
  /** Some instance of the lane is pending, or running with its worker not started yet. */
  preparing: boolean;
  /** Some instance of the lane is running (or about to). */
  live: boolean;
  /** The queue's messages (visible + in flight); undefined: not known; 0 with the queue gone. */
  queued?: number;
  /** Why the lane's jobs cannot run (no capacity, no instance prepared): its queue was deleted. */
  failed?: string;
}

/** Newest attempt first; the same attempt seen twice (an instance and S3): the one that ended. */
export function newer(a: Sighting, b: Sighting): Sighting {
  if (a.report.attempt !== b.report.attempt) return a.report.attempt > b.report.attempt ? a : b;
  const ended = (s: Sighting) => (s.report.state === 'running' ? 0 : 1);
  if (ended(a) !== ended(b)) return ended(a) > ended(b) ? a : b;
  return (a.report.ended ?? a.report.started ?? 0) >= (b.report.ended ?? b.report.started ?? 0) ? a : b;
}

export function newestSightings(sightings: readonly Sighting[]): Map<string, Sighting> {
  const newest = new Map<string, Sighting>();
  for (const s of sightings) {
    const had = newest.get(s.report.name);
    newest.set(s.report.name, had ? newer(had, s) : s);
  }
  return newest;
}

export function jobViews(
  manifest: Manifest,
  sightings: readonly Sighting[],
  lanes: ReadonlyMap<number, LaneFacts>,
  collected: readonly string[],
): JobView[] {
  const newest = newestSightings(sightings);
  const views = manifest.jobs.map((j): JobView => {
    const seen = newest.get(j.name);
    const base = { name: j.name, lane: j.lane, collected: collected.includes(j.name) };
    const lane = lanes.get(j.lane);
    if (!seen && lane?.failed) return { ...base, state: 'failed', reason: lane.failed };
    if (!seen) return { ...base, state: unseenState(lane) };
    return { ...base, ...viewOf(seen) };
  });
  // Seen on an instance but not in the manifest known here (none could be read): shown all the same.
  for (const [name, seen] of newest)
    if (!manifest.jobs.some((j) => j.name === name))
      views.push({ name, lane: 0, collected: collected.includes(name), ...viewOf(seen) });
  return views;
}

function unseenState(lane: LaneFacts | undefined): JobView['state'] {
  if (lane?.preparing) return 'setting up';
  if (lane && !lane.live && lane.queued === 0) return 'unknown';
  return 'queued';
}

export function viewOf(s: Sighting): Omit<JobView, 'name' | 'lane' | 'collected'> {
  const r = s.report;
  return {
    state: r.state,
    attempt: r.attempt,
    instanceId: s.instanceId,
    started: r.started,
    ended: r.ended,
    status: r.status,
    progress: r.progress,
    peakKiB: r.peakKiB,
    wallSeconds: r.wallSeconds,
    // A gone instance's files are in S3 if anywhere: state.ts says so when the batch has --results.
    where: s.from === 's3' ? 's3' : s.instanceGone ? undefined : 'instance',
  };
}

/** Every job has ended: done, or failed after its retries (a retried or interrupted one runs again). */
export const finished = (jobs: readonly JobView[]): boolean =>
  jobs.length > 0 && jobs.every((j) => j.state === 'done' || j.state === 'failed');
