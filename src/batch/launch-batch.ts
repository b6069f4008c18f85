/**
 * A batch's resources, in the order they are made: everything checked first as a session checks it
 * (credentials, the types: type-check.ts, the image, the group), then one SQS queue per lane with
 * its jobs, the launch template (what a session's RunInstances says: launch.ts's pieces), the
 * manifest in S3 (--results), and one CreateFleet per lane (a second, on demand, with
 * --spot-fallback). The local record is written as soon as anything exists, so an interrupted
 * launch leaves a record to clean up from; a failure that leaves nothing running deletes again
 * what was made.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchCloud, FleetResult } from '../cloud/batch-port.js';
import { pinnedZones } from '../cloud/capacity.js';
import { s3Location, s3Url } from '../cloud/s3-location.js';
import { launchedMarket, MARKET_TAG, spotMaxPrice } from '../cloud/spot-market.js';
import { CapacityError, CloudError } from '../errors.js';
import type { Options } from '../options.js';
import type { Run } from '../session/context.js';
import { instanceProfile, launchSpec, launchUserData } from '../session/launch.js';
import { accountCache, launchCache, launchLookups } from '../session/launch-lookups.js';
import { launchLimits, type Limits } from '../session/limits.js';
import { launchTags, ownerOf } from '../session/owner.js';
import { profileCannotWrite } from '../session/results.js';
import { pinnedIn } from '../session/run-session.js';
import { budgetHourly } from '../session/type-check.js';
import { laneFailed } from './failed-lanes.js';
import { batchesDir, writeRecord, type BatchRecord, type LaneRecord, type Manifest } from './record.js';
import type { Lane } from './lanes.js';
import { BATCH_TAG, CREATED_TAG, JOBS_TAG, LANE_TAG, RESULTS_TAG } from './tags.js';

/** How long a job taken from a queue stays invisible to the others (the worker's heartbeat extends it). */
export const VISIBILITY_SECONDS = 300;

export interface Launched {
  rec: BatchRecord;
  /** The login user of the batch's image. */
  user: string;
  limits: Limits;
}

/** The message of one job (docs/BATCH.md: The SQS message): the attempt count travels in it. */
export const jobBody = (job: { name: string; command: string }): string =>
  JSON.stringify({ job: job.name, cmd: Buffer.from(job.command).toString('base64'), failures: 0, attempt: 1 });

/** manifest.json as the instances (and S3) hold it. */
export function manifestJson(m: Manifest): string {
  const jobs = m.jobs.map((j) => ({
    name: j.name,
    command: j.command,
    instance_type: j.instanceTypes.join(','),
    spot: j.spot,
    lane: j.lane,
  }));
  return `${JSON.stringify({ batch: m.batch, created: m.created, jobs }, null, 2)}\n`;
}

/** `s3://bucket/prefix/<batch>/` with --results. */
export const batchResultsUrl = (results: string, batch: string): string => {
  const base = s3Location(results);
  return s3Url({ ...base, prefix: `${base.prefix}${batch}/` });
};

/** What a batch is made of, for the caller's cleanup of a failure or an interrupt. */
export async function launchBatch(
  run: Run,
  batchCloud: BatchCloud,
  b: {
    batch: string;
    created: Date;
    lanes: Lane[];
    signal: AbortSignal;
    /** Where manifest.json goes with --results (tests: anywhere but S3). */
    putManifest?: (url: string, body: string) => Promise<void>;
  },
): Promise<Launched> {
  const { options: o, plan, cloud, log } = run;
  const { batch, lanes, signal } = b;
  // Credentials first: who owns what is made (and a missing key is said before anything else).
  const owner = await ownerOf(cloud, log);
  const allTypes = [...new Set(lanes.flatMap((l) => l.instanceTypes))];
  const allSpot = lanes.every((l) => l.market === 'spot');
  const lookOptions: Options = {
    ...o,
    instanceTypes: allTypes,
    spot: allSpot,
    spotFallback: allSpot && o.spotFallback,
  };
  const lookCtx = {
    options: lookOptions,
    plan,
    cloud,
    log,
    lockPath: run.paths.lock(plan.projectId),
    cacheDir: run.paths.cache,
    signal,
    pinned: pinnedIn(run.paths),
  };
  const cache = await launchCache(lookCtx);
  const { network, securityGroup, types: checking, imageFor } = launchLookups(lookCtx, cache);
  const [types, securityGroupId, { zones }] = await Promise.all([checking, securityGroup, network]);
  const laneTypes = lanes.map((l) => {
    const usable = l.instanceTypes.filter((t) => types.some((u) => u.type === t));
    if (usable.length === 0)
      throw new CloudError(`lane ${l.index} (${l.instanceTypes.join(',')}): none of its types can be launched here`);
    return usable;
  });
  // One template, one image: the fleet's overrides change the type only.
  const images = await Promise.all(types.map((t) => imageFor(t)));
  const imageIds = [...new Set(images.map((i) => i.id))];
  if (imageIds.length > 1)
    throw new CloudError(
      `a batch launches one image, and its types need ${imageIds.length} (${types.map((t) => `${t.type}: ${t.architectures.join('/')}`).join(', ')})`,
      'Give the types of one architecture, or run the others as a batch of their own.',
    );
  const image = images[0]!;
  const account = await accountCache(lookCtx);
  const iamProfile = instanceProfile(o, account);
  const cannotWrite = profileCannotWrite(o, iamProfile);
  if (cannotWrite) log.warn(cannotWrite);
  const limits = launchLimits(o, undefined, budgetHourly(o, cloud.region));
  const attempt = { instanceType: types[0]!.type, market: 'on-demand' as const };
  const made = launchSpec({ o, plan, owner, limits, userData: launchUserData(o, limits), image, attempt });
  signal.throwIfAborted();

  const created = b.created.toISOString();
  const tags = { ...launchTags(plan, owner), Name: `${plan.name}-${batch}`, [BATCH_TAG]: batch };
  const resultsUrl = o.results ? batchResultsUrl(o.results, batch) : undefined;
  const rec: BatchRecord = {
    batch,
    created,
    jobs: lanes.flatMap((l) => l.jobs),
    region: cloud.region,
    projectId: plan.projectId,
    ...(resultsUrl && { resultsUrl }),
    lanes: [],
    collected: [],
  };
  const save = () => writeRecord(plan.projectDir, rec);
  try {
    for (const l of lanes) {
      const laneTags = { ...tags, [LANE_TAG]: String(l.index) };
      const queueUrl = await batchCloud.createQueue(`ssh-ec2-${batch}-${l.index}`, laneTags, VISIBILITY_SECONDS);
      const { index, instanceTypes, market, count } = l;
      rec.lanes.push({ index, instanceTypes, market, count, queueUrl, fleetIds: [], instanceIds: [] });
      save();
      await batchCloud.sendJobs(queueUrl, l.jobs.map(jobBody));
      signal.throwIfAborted();
    }
    const template = await batchCloud.createLaunchTemplate({
      name: `ssh-ec2-${batch}`,
      imageId: made.spec.imageId,
      securityGroupIds: [securityGroupId],
      iamProfile,
      userData: made.spec.userData,
      rootDevice: made.spec.rootDevice,
      volumeSizeGiB: made.spec.volumeSizeGiB,
      // With its files in S3, a finished instance may end itself (the agent's poweroff); else it
      // stops, and collect brings them home before it is terminated.
      shutdownBehavior: resultsUrl ? 'terminate' : 'stop',
      keyName: made.spec.keyName,
      instanceTags: { ...made.spec.tags, ...tags },
      tags: {
        ...tags,
        [JOBS_TAG]: String(rec.jobs.length),
        ...(resultsUrl && { [RESULTS_TAG]: resultsUrl }),
        [CREATED_TAG]: created,
      },
    });
    rec.templateId = template.id;
    save();
    if (resultsUrl) {
      const put = b.putManifest ?? ((url, body) => putManifest(o, cloud.region, url, body));
      await put(resultsUrl, manifestJson(rec));
      log.detail(`manifest written to ${resultsUrl}manifest.json`);
    }
    signal.throwIfAborted();
    const subnets = o.subnetId || o.availabilityZone ? pinnedZones(zones, o.availabilityZone, cloud.region) : [];
    for (const [i, l] of lanes.entries()) {
      const lane = rec.lanes[i]!;
      const overrides = laneTypes[i]!.flatMap((instanceType) =>
        subnets.length > 0 ? subnets.map((z) => ({ instanceType, subnetId: z.subnetId })) : [{ instanceType }],
      );
      const fleet = (market: 'spot' | 'on-demand', count: number) =>
        launchFleet(run, batchCloud, lane, {
          templateId: template.id,
          overrides,
          count,
          market,
          ...(market === 'spot' && spotMaxPrice(o) && { maxPrice: spotMaxPrice(o) }),
          tags: { ...tags, [LANE_TAG]: String(l.index), [MARKET_TAG]: launchedMarket(spotOf(market)) },
        }).finally(save);
      await fleet(l.market, l.count);
      const short = l.count - lane.instanceIds.length;
      if (short > 0 && l.market === 'spot' && o.spotFallback) {
        log.info(`lane ${l.index}: ${short} spot instance(s) short; asking for them on demand (--spot-fallback)`);
        await fleet('on-demand', short);
      }
      signal.throwIfAborted();
    }
  } catch (err) {
    await undoLaunch(run, batchCloud, rec);
    throw err;
  }
  if (rec.lanes.every((l) => l.instanceIds.length === 0)) {
    await undoLaunch(run, batchCloud, rec);
    throw new CapacityError(
      `no instance could be launched for batch ${batch}: nothing is left running`,
      'Try other types (--instance-type a,b,c), --spot-fallback, or another region.',
    );
  }
  for (const lane of rec.lanes.filter((l) => l.instanceIds.length === 0))
    await laneFailed(run, batchCloud, rec, lane, 'no capacity');
  save();
  return { rec, user: made.user, limits };
}

const spotOf = (market: 'spot' | 'on-demand') => (market === 'spot' ? { oneTime: true } : undefined);

/** One CreateFleet: its instances noted at once (in the record, and as the port's own launches). */
async function launchFleet(
  run: Run,
  batchCloud: BatchCloud,
  lane: LaneRecord,
  f: Parameters<BatchCloud['createFleet']>[0],
): Promise<FleetResult> {
  const { cloud, log } = run;
  const got = await batchCloud.createFleet(f);
  lane.fleetIds.push(got.fleetId);
  lane.instanceIds.push(...got.instanceIds);
  for (const id of got.instanceIds) cloud.noteNew(id);
  const said = [...new Set(got.errors.map((e) => `${e.instanceType ? `${e.instanceType}: ` : ''}${e.code}`))];
  const what = `lane ${lane.index} (${f.market}, ${lane.instanceTypes.join(',')})`;
  log.info(
    `${what}: ${got.instanceIds.length} of ${f.count} instance(s)${got.instanceIds.length > 0 ? ` (${got.instanceIds.join(', ')})` : ''}${said.length > 0 ? `; EC2 said ${said.join(', ')}` : ''}`,
  );
  // The lane and market tags are the fleet's, not the shared template's: put on its instances too.
  const own = { [LANE_TAG]: f.tags[LANE_TAG]!, [MARKET_TAG]: f.tags[MARKET_TAG]! };
  await Promise.all(got.instanceIds.map((id) => cloud.tag(id, own).catch(() => undefined)));
  return got;
}

/**
 * Deletes what a launch made, its instances terminated: for a launch that failed or was
 * interrupted before any worker started. The record stays only if something could not be deleted.
 */
export async function undoLaunch(run: Pick<Run, 'cloud' | 'log' | 'plan'>, batchCloud: BatchCloud, rec: BatchRecord) {
  const { cloud, log } = run;
  const instances = rec.lanes.flatMap((l) => l.instanceIds);
  const steps: Promise<unknown>[] = [
    ...instances.map((id) => cloud.terminate(id)),
    ...rec.lanes.map((l) => batchCloud.deleteQueue(l.queueUrl)),
  ];
  const fleets = rec.lanes.flatMap((l) => l.fleetIds);
  if (fleets.length > 0) steps.push(batchCloud.deleteFleets(fleets));
  const failed = (await Promise.allSettled(steps)).filter((s) => s.status === 'rejected');
  const template = rec.templateId
    ? await batchCloud.deleteLaunchTemplate(rec.templateId).then(
        () => true,
        () => false,
      )
    : true;
  if (failed.length === 0 && template) {
    rmSync(join(batchesDir(run.plan.projectDir), `${rec.batch}.json`), { force: true });
    if (instances.length > 0)
      log.info(`batch ${rec.batch}: ${instances.join(', ')} terminated, its queues and template deleted`);
    return;
  }
  rec.ended = 'cancelled';
  writeRecord(run.plan.projectDir, rec);
  log.warn(
    `batch ${rec.batch}: ${failed.length + (template ? 0 : 1)} of its resources could not be deleted (${failed.map((f) => String((f as PromiseRejectedResult).reason)).join('; ')}); ssh-ec2 batch cancel ${rec.batch} tries again`,
  );
}

/** manifest.json at `<prefix>/<batch>/`, so a laptop with only S3 knows the batch. */
async function putManifest(o: Options, region: string, url: string, body: string) {
  const { createResultsStore } = await import('../cloud/s3.js');
  const store = await createResultsStore({ region, endpoint: o.resultsEndpoint });
  await store.put(s3Location(url), 'manifest.json', body);
}
