/**
 * A batch as it is now, from everything that knows (README: Following a batch): this laptop's
 * record if it started the batch, else the tags (its instances, its launch template, its queues by
 * name); each running instance asked once for its report, all at once; with --results, S3's
 * ssh-ec2-job.json for the jobs no instance could tell. So another laptop sees what this one does.
 */
import { LIVE_STATES, type Cloud, type InstanceInfo } from '../cloud/ec2.js';
import type { BatchCloud, QueueInfo } from '../cloud/batch-port.js';
import { s3Location } from '../cloud/s3-location.js';
import type { ResultsReader } from '../cloud/s3.js';
import { ExitCode, UserError } from '../errors.js';
import { batchReportCommand, parseBatchReport, type BatchReport } from '../remote/batch-worker.js';
import { BATCH_DIR, BATCH_MANIFEST, STATE_DIR } from '../remote/instance-contract.js';
import { shQuote } from '../remote/remote-command.js';
import { localContext } from '../session/context.js';
import type { CommandContext } from '../commands/types.js';
import type { BatchState, InstanceView } from './batch-state.js';
import { FAILED_LANES_TAG, parseFailedLanes } from './failed-lanes.js';
import { isJobName } from './job-name.js';
import { jobViews, type LaneFacts, type Sighting } from './job-views.js';
import { sshAsker, type InstanceAsker } from './reach.js';
import { readRecord, type BatchRecord, type Manifest } from './record.js';
import { queuePrefix } from './end.js';
import { BATCH_TAG, CREATED_TAG, LANE_TAG, RESULTS_TAG } from './tags.js';
import { lazyStore, parseManifest, s3Manifest, s3Sightings } from './s3-state.js';

/** Every state EC2 shows an instance in for a while: a terminated one still says which lane it was. */
const ALL_STATES = [...LIVE_STATES, 'shutting-down', 'terminated'];

export interface GatherOptions {
  /** The instances, reached over ssh (follow.ts keeps one across its looks; closed by the caller). */
  asker?: InstanceAsker;
  /** The S3 reader for --results (loaded at its first use by default). */
  store?: () => Promise<ResultsReader>;
  /** What one running instance says (by default asked through `asker`; tests give canned reports). */
  report?: (instance: InstanceInfo, batch: string, withManifest: boolean) => Promise<Asked | undefined>;
  /** The reports of the earlier looks (follow.ts): an instance not reachable now keeps its last. */
  lastReports?: Map<string, BatchReport>;
  /** S3's final word on jobs (their ssh-ec2-job.json), kept across looks: read once each. */
  s3Final?: Map<string, Sighting>;
}

export async function gatherBatch(
  ctx: CommandContext,
  cloud: Cloud,
  batchCloud: BatchCloud,
  batchId: string,
  opts: GatherOptions = {},
): Promise<BatchState> {
  const local = localContext(ctx, ctx.cwd);
  const record = readRecord(local.plan.projectDir, batchId);
  const tags = { [BATCH_TAG]: batchId };
  const [instances, templates, fleets, queues] = await Promise.all([
    cloud.findInstances(tags, ALL_STATES),
    record ? [] : batchCloud.findLaunchTemplates(tags),
    record ? [] : batchCloud.findFleets(tags),
    record ? recordQueues(batchCloud, record) : batchCloud.findQueues(queuePrefix(batchId)),
  ]);
  const template = templates[0];
  if (!record && instances.length === 0 && !template && queues.length === 0)
    throw new UserError(
      `no batch ${batchId} in ${cloud.region}`,
      ExitCode.nothingThere,
      "ssh-ec2 batch ls lists this directory's batches (--region: another region's).",
    );
  const asker = opts.asker ?? sshAsker(local, cloud);
  const report = opts.report ?? ((i, b, m) => askOne(asker, i, b, m));
  const asked = await askAll(report, instances, batchId, !record).finally(async () => {
    if (!opts.asker) await asker.close();
  });
  const reports = opts.lastReports ?? new Map<string, BatchReport>();
  for (const [id, a] of asked) if (a.report) reports.set(id, a.report);
  const resultsUrl = record?.resultsUrl ?? template?.tags[RESULTS_TAG];
  const store = resultsUrl ? lazyStore(ctx, opts.store) : undefined;
  const manifest =
    record ??
    [...asked.values()].find((a) => a.manifest)?.manifest ??
    (store && (await s3Manifest(await store(), s3Location(resultsUrl!)))) ??
    emptyManifest(batchId, template?.tags[CREATED_TAG]);
  const views = instanceViews(instances, asked, reports);
  const sightings = instanceSightings(instances, reports);
  if (store) sightings.push(...(await s3Sightings(await store(), resultsUrl!, manifest, sightings, opts.s3Final)));
  const lanes = laneFacts(views, queues, manifest, failedLanes(record, template?.tags[FAILED_LANES_TAG]));
  const jobs = jobViews(manifest, sightings, lanes, record?.collected ?? []);
  if (resultsUrl) for (const j of jobs) j.where ??= j.state === 'done' || j.state === 'failed' ? 's3' : undefined;
  return {
    batch: batchId,
    region: record?.region ?? cloud.region,
    manifest: { batch: manifest.batch, created: manifest.created, jobs: manifest.jobs },
    record,
    resultsUrl,
    templateId: record?.templateId ?? template?.id,
    fleetIds: record ? record.lanes.flatMap((l) => l.fleetIds) : fleets.map((f) => f.id),
    lanes: laneList(record, queues),
    instances: views,
    jobs,
  };
}

async function recordQueues(batchCloud: BatchCloud, record: BatchRecord): Promise<QueueInfo[]> {
  const infos = await Promise.all(record.lanes.map((l) => batchCloud.queueInfo(l.queueUrl)));
  return infos.filter((q): q is QueueInfo => q !== undefined);
}

const laneOfQueue = (q: QueueInfo): number => Number(q.tags[LANE_TAG] ?? /-(\d+)$/.exec(q.name)?.[1] ?? 0);

function laneList(record: BatchRecord | undefined, queues: readonly QueueInfo[]): BatchState['lanes'] {
  if (record)
    return record.lanes.map((l) => ({
      index: l.index,
      queueUrl: l.queueUrl,
      queue: queues.find((q) => q.url === l.queueUrl),
    }));
  return queues.map((q) => ({ index: laneOfQueue(q), queueUrl: q.url, queue: q })).sort((a, b) => a.index - b.index);
}

export interface Asked {
  report?: BatchReport;
  manifest?: Manifest;
}

/** Each running instance once, all at once; `withManifest`: its manifest.json too (no record here). */
async function askAll(
  report: NonNullable<GatherOptions['report']>,
  instances: readonly InstanceInfo[],
  batch: string,
  withManifest: boolean,
): Promise<Map<string, Asked>> {
  const running = instances.filter((i) => i.state === 'running');
  const answers = await Promise.all(running.map(async (i) => [i.id, await report(i, batch, withManifest)] as const));
  return new Map(answers.filter((a): a is readonly [string, Asked] => a[1] !== undefined));
}

const MANIFEST_END = '--- ssh-ec2 batch report';

async function askOne(
  asker: InstanceAsker,
  instance: InstanceInfo,
  batch: string,
  withManifest: boolean,
): Promise<Asked | undefined> {
  const manifest = shQuote(`${STATE_DIR}/${BATCH_DIR}/${batch}/${BATCH_MANIFEST}`);
  const command = withManifest
    ? `cat ~/${manifest} 2>/dev/null; echo; echo '${MANIFEST_END}'; ${batchReportCommand(batch)}`
    : batchReportCommand(batch);
  const out = await asker.ask(instance, command);
  if (out === undefined) return undefined;
  if (!withManifest) return { report: parseBatchReport(out) };
  const at = out.indexOf(`${MANIFEST_END}\n`);
  if (at < 0) return { report: parseBatchReport(out) };
  return {
    manifest: parseManifest(out.slice(0, at)),
    report: parseBatchReport(out.slice(at + MANIFEST_END.length + 1)),
  };
}

const emptyManifest = (batch: string, created?: string): Manifest => ({ batch, created: created ?? '', jobs: [] });

const laneOf = (i: InstanceInfo): number => Number(i.tags[LANE_TAG]) || 0;

function instanceViews(
  instances: readonly InstanceInfo[],
  asked: ReadonlyMap<string, Asked>,
  reports: ReadonlyMap<string, BatchReport>,
): InstanceView[] {
  return instances.map((i) => ({
    id: i.id,
    lane: laneOf(i),
    state: i.state,
    type: i.type,
    worker: reports.get(i.id)?.worker,
    reachable: asked.has(i.id),
  }));
}

function instanceSightings(instances: readonly InstanceInfo[], reports: ReadonlyMap<string, BatchReport>): Sighting[] {
  return instances.flatMap((i) =>
    // A name that is no job name (`../x`) is no job of ours: it would name a folder outside results/.
    (reports.get(i.id)?.jobs ?? [])
      .filter((r) => isJobName(r.name))
      .map((report): Sighting => ({
        report,
        instanceId: i.id,
        from: 'instance',
        instanceGone: i.state === 'terminated' || i.state === 'shutting-down',
      })),
  );
}

/** Why each failed lane failed: this laptop's record, else the launch template's tag (another laptop). */
export function failedLanes(record: BatchRecord | undefined, tag: string | undefined): Map<number, string> {
  if (!record) return parseFailedLanes(tag);
  return new Map(record.lanes.flatMap((l) => (l.failed ? [[l.index, l.failed] as const] : [])));
}

function laneFacts(
  views: readonly InstanceView[],
  queues: readonly QueueInfo[],
  manifest: Manifest,
  failed: ReadonlyMap<number, string>,
): Map<number, LaneFacts> {
  const lanes = new Map<number, LaneFacts>();
  for (const index of new Set(manifest.jobs.map((j) => j.lane))) {
    const mine = views.filter((v) => v.lane === index);
    const queue = queues.find((q) => laneOfQueue(q) === index);
    lanes.set(index, {
      preparing: mine.some((v) => v.state === 'pending' || (v.state === 'running' && v.reachable && !v.worker)),
      live: mine.some((v) => v.state === 'pending' || v.state === 'running'),
      // A lane without its queue any more: collected or cancelled, nothing waits in it.
      queued: queue ? queue.visible + queue.inFlight : queues.length > 0 ? 0 : undefined,
      failed: failed.get(index),
    });
  }
  return lanes;
}
