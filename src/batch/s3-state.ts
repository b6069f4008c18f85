/**
 * What S3 says of a batch run with --results (docs/BATCH.md: S3 layout): its manifest.json, and each
 * job's ssh-ec2-job.json, read for the jobs no instance could tell of (theirs gone: a batch with
 * --results terminates its instances once their jobs are safe there).
 */
import { mapBounded } from '../bounded.js';
import { s3Location, type S3Location } from '../cloud/s3-location.js';
import type { ResultsReader } from '../cloud/s3.js';
import type { CommandContext } from '../commands/types.js';
import type { JobReport } from '../remote/batch-worker.js';
import { isJobName } from './job-name.js';
import { newestSightings, type Sighting } from './job-views.js';
import type { Manifest, ManifestJob } from './record.js';

/** manifest.json as the laptop wrote it (record.ts's fields; `instance_type` read too). */
export function parseManifest(text: string): Manifest | undefined {
  try {
    const m = JSON.parse(text) as { batch?: string; created?: string; jobs?: Record<string, unknown>[] };
    if (!m.batch || !Array.isArray(m.jobs)) return undefined;
    // A name is a folder here and on the instance: one the jobs file could not give is dropped.
    const named = m.jobs.filter((j) => typeof j.name === 'string' && isJobName(j.name));
    const jobs = named.map((j): ManifestJob => ({
      name: String(j.name),
      command: String(j.command ?? ''),
      instanceTypes: Array.isArray(j.instanceTypes)
        ? (j.instanceTypes as string[])
        : String(j.instance_type ?? '')
            .split(',')
            .filter(Boolean),
      spot: j.spot === true || j.spot === 'true',
      lane: Number(j.lane) || 1,
    }));
    return { batch: m.batch, created: m.created ?? '', jobs };
  } catch {
    return undefined;
  }
}

export function lazyStore(ctx: CommandContext, given?: () => Promise<ResultsReader>): () => Promise<ResultsReader> {
  let p: Promise<ResultsReader> | undefined;
  const load =
    given ??
    (async () =>
      (await import('../cloud/s3.js')).createResultsStore({
        region: ctx.options.region,
        endpoint: ctx.options.resultsEndpoint,
      }));
  return () => (p ??= load());
}

export async function s3Manifest(store: ResultsReader, folder: S3Location): Promise<Manifest | undefined> {
  const text = await store.read(folder, 'manifest.json').catch(() => undefined);
  return text === undefined ? undefined : parseManifest(text);
}

/**
 * S3's word on the jobs no instance can tell of: not ended where seen, and not running on an
 * instance still there. Only those jobs' ssh-ec2-job.json are read (a few at once), never a listing
 * of the batch's whole prefix; one read is final (a job's last attempt uploads it), so `final`
 * keeps it across follow's looks and it is not read again.
 */
export async function s3Sightings(
  store: ResultsReader,
  resultsUrl: string,
  manifest: Manifest,
  seen: readonly Sighting[],
  final: Map<string, Sighting> = new Map(),
): Promise<Sighting[]> {
  const newest = newestSightings(seen);
  const open = manifest.jobs.filter((j) => {
    const s = newest.get(j.name);
    if (s?.report.state === 'done' || s?.report.state === 'failed') return false;
    return !(s?.report.state === 'running' && s.from === 'instance' && !s.instanceGone);
  });
  const folder = s3Location(resultsUrl);
  const unread = open.filter((j) => !final.has(j.name));
  const read = await mapBounded(unread, S3_READS_AT_ONCE, async (j) =>
    parseJobJson(j.name, await store.read(folder, `${j.name}/${JOB_JSON}`)),
  );
  for (const s of read) if (s) final.set(s.report.name, s);
  return open.flatMap((j) => final.get(j.name) ?? []);
}

const S3_READS_AT_ONCE = 8;

/**
 * A job's word in S3 (`<resultsUrl><job>/`): the instance uploads it last, alone, once the job's
 * files and log are all there (worker.sh's upload_job): without it, the folder is no job's results.
 */
export const JOB_JSON = 'ssh-ec2-job.json';

/** ssh-ec2-job.json (docs/BATCH.md: S3 layout) → the attempt it tells of. */
export function parseJobJson(name: string, text: string | undefined): Sighting | undefined {
  if (text === undefined) return undefined;
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    // Another job's (a folder copied, a file the job wrote itself): not this job's word.
    if (j.job !== name) return undefined;
    const state = j.state === 'done' || j.state === 'failed' ? j.state : undefined;
    if (!state) return undefined;
    const num = (v: unknown) => (typeof v === 'number' ? v : v === undefined || v === '' ? undefined : Number(v));
    const report: JobReport = {
      name,
      state,
      attempt: num(j.attempt) ?? 1,
      status: num(j.status),
      started: num(j.started),
      ended: num(j.ended),
      peakKiB: num(j.peak_kib),
      wallSeconds: num(j.wall_seconds),
    };
    return { report, instanceId: typeof j.instance === 'string' ? j.instance : undefined, from: 's3' };
  } catch {
    return undefined;
  }
}
