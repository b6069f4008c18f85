/**
 * Launching this directory's instance, and its fallbacks: another zone or type when EC2 has no
 * capacity (cloud/capacity.ts), no instance profile where the original's default one does not
 * exist, and the instance EC2 may have launched all the same when the launch's answer was lost.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { kindOf, unanswered } from '../cloud/aws-codes.js';
import { attemptsInZone, launchWithFallback, pinnedZones, planAttempts, type Attempt } from '../cloud/capacity.js';
import { launchedMarket, MARKET_TAG, marketsOf, spotMaxPrice, stopRefused } from '../cloud/spot-market.js';
import { errorCode } from '../cloud/errors.js';
import type { InstanceInfo, LaunchSpec } from '../cloud/port.js';
import type { ImageInfo } from '../cloud/image.js';
import { CloudError, ConfigError } from '../errors.js';
import { LEGACY_IAM_PROFILE, LOGIN_TAG, loginUser, MIN_VOLUME_GIB, originOf, type Options } from '../options.js';
import type { Plan } from './plan.js';
import { backoff } from '../time.js';
import { findOwn, launchTags } from './owner.js';
import type { ProvisionContext } from './provision.js';
import { profileCannotWrite } from './results.js';
import { accountCache, launchCache, launchLookups } from './launch-lookups.js';
import { NETWORK_TTL_MS, type Cache } from '../state/cache.js';
import { bootLimitSettings, launchLimits, limitTags, type Limits } from './limits.js';
import { BOOT_LIMIT_PART, bootLimitScript } from '../remote/on-instance.js';
import { mergeUserData } from '../cloud/user-data.js';
import { VOLUME_TAG } from './volume-tag.js';
import { priceLine, pricesFor, tagZonePrice, type Market } from './price-line.js';
import { SPOT_PRICE_TAG } from './volume-tag.js';
import { budgetHourly } from './type-check.js';
import { dataVolumeZone } from './data-volume.js';

/** The account cache's note that the original's default instance profile does not exist in this account. */
const UNUSABLE_PROFILE = `unusable-profile:${LEGACY_IAM_PROFILE}`;

/**
 * Launches an instance for this directory and returns it as soon as EC2 has it (not yet running):
 * every type of --instance-type checked first, then each (type, zone) tried in turn
 * (cloud/capacity.ts).
 */
export async function launch(ctx: ProvisionContext, owner: string): Promise<{ instance: InstanceInfo; user: string }> {
  const cache = await launchCache(ctx);
  try {
    return await launchWith(ctx, owner, cache);
  } catch (err) {
    // RunInstances never fails for a stale cache: EC2 refusing what a cached id named (a group,
    // subnet or image deleted since, another account's) — it said no, so nothing was launched —
    // is answered by asking EC2 again, once.
    if (cache.used.size === 0 || !refusedAsInvalid(err)) throw err;
    ctx.log.detail(`launch refused with ids from the cache (${(err as Error).message}): looking them up again`);
    for (const key of [...cache.used]) cache.forget(key);
    return launchWith(ctx, owner, cache);
  }
}

async function launchWith(
  ctx: ProvisionContext,
  owner: string,
  cache: Cache,
): Promise<{ instance: InstanceInfo; user: string }> {
  const { options: o, plan, cloud, log } = ctx;
  // Armed at launch, so that an instance whose run dies before the agent is installed stops too.
  // Under --budget the agent's time limit is the budget's (budget.ts), at the most an hour may cost.
  const limits = launchLimits(o, undefined, budgetHourly(o, cloud.region));
  const userData = launchUserData(o, limits);
  // Too big for EC2 with the boot-time limit: refused before anything is made (the login user's
  // name, known per image, changes its size by a few bytes only).
  userData(o.user ?? 'ec2-user');
  const volumeZoneOf = dataVolumeZone(ctx, owner);
  const { network, securityGroup, types: typesInfo, imageFor } = launchLookups(ctx, cache, volumeZoneOf);
  // The image of the first type is looked up meanwhile (a failure is the attempt's to report).
  typesInfo.then((t) => imageFor(t[0]!)).catch(() => undefined);
  const [types, securityGroupId, { zones }, volumeZone] = await Promise.all([
    typesInfo,
    securityGroup,
    network,
    volumeZoneOf,
  ]);
  // The original's default instance profile, found missing in this account by an earlier launch
  // (in any region: instance profiles are IAM's, global).
  const account = await accountCache(ctx);
  let iamProfile = instanceProfile(o, account);
  const cannotWrite = profileCannotWrite(o, iamProfile);
  if (cannotWrite) log.warn(cannotWrite);
  let announced: string | undefined;
  let launchSent = false;

  const launchOne = async (attempt: Attempt): Promise<{ instance: InstanceInfo; user: string }> => {
    const { instanceType, zone, market } = attempt;
    const image = await imageFor(types.find((t) => t.type === instanceType)!);
    const made = launchSpec({ o, plan, owner, limits, userData, image, attempt });
    const user = made.user;
    // A spot price is the zone's: asked for each spot attempt (on demand: the table, no call).
    const prices =
      market === 'spot' || announced !== `${instanceType} ${market}`
        ? await pricesFor(cloud, instanceType, zone?.name, market)
        : undefined;
    if (prices && announced !== `${instanceType} ${market}`) {
      const facts = { region: cloud.region, type: instanceType, zone: zone?.name, market, prices };
      log.info(priceLine({ ...facts, maxPrice: maxPriceOf(o), image: `${image.name} (${image.id})` }));
    }
    announced = `${instanceType} ${market}`;
    // The spot price it launched at, for the closing cost and ls (no call to ask it again): its
    // zone's only — with no zone the price asked is the region's lowest, so it is tagged once EC2 chose.
    const known = prices?.spot !== undefined && zone !== undefined;
    const spotTag: Record<string, string> = known ? { [SPOT_PRICE_TAG]: String(prices.spot) } : {};
    // A new attempt is a new request; the SDK's retries of this one reuse its token.
    const spec = {
      ...made.spec,
      tags: { ...made.spec.tags, ...spotTag },
      securityGroupIds: [securityGroupId],
      iamProfile,
      clientToken: randomUUID(),
    };
    launchSent = true;
    try {
      const instance = await cloud.launch(spec);
      return { instance: market === 'spot' && !zone ? await tagZonePrice(cloud, instance) : instance, user };
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause ?? err;
      const message = String((cause as Error).message);
      // A type that cannot stop when interrupted: a one-time request, which only terminates (spot-market.ts).
      if (spec.spot && !spec.spot.oneTime && stopRefused(errorCode(cause), message)) {
        log.info(`${instanceType} cannot be a spot instance that stops (${message}); launching it as one-time spot`);
        const spot = { ...spec.spot, oneTime: true };
        const tags = { ...spec.tags, [MARKET_TAG]: launchedMarket(spot) };
        // EC2 cannot stop it: an OS poweroff (the agent's limits) ends it, and says so in the request.
        const again = { ...spec, spot, tags, shutdownBehavior: 'terminate' as const, clientToken: randomUUID() };
        const instance = await cloud.launch(again);
        return { instance: zone ? instance : await tagZonePrice(cloud, instance), user };
      }
      // The original's default instance profile is used only where it exists.
      if (iamProfile !== LEGACY_IAM_PROFILE || !profileMissing(message, errorCode(cause))) throw err;
      log.detail(`instance profile ${LEGACY_IAM_PROFILE} not usable here; launching without one`);
      iamProfile = undefined;
      account.set(UNUSABLE_PROFILE, true, NETWORK_TTL_MS);
      return { instance: await cloud.launch({ ...spec, iamProfile, clientToken: randomUUID() }), user };
    }
  };
  const planned = planAttempts(
    types.map((t) => t.type),
    pinnedZones(zones, o.availabilityZone, cloud.region),
    marketsOf(o),
  );
  // A data volume can only be attached in its zone: the fallback stays there.
  const attempts = attemptsInZone(planned, volumeZone);
  if (volumeZone && zones.length > 0) {
    if (attempts.length === 0)
      throw new ConfigError(
        `data volume ${o.volume!.name} is in ${volumeZone}, where no subnet of this launch is (${zones.map((z) => z.name).join(', ')})`,
        `Launch in ${volumeZone} (another --subnet-id), or use another volume name (--volume).`,
      );
    log.info(`data volume ${o.volume!.name} is in ${volumeZone}: launching there only`);
  }
  let got: { instance: InstanceInfo; user: string };
  try {
    got = await launchWithFallback(zones.length > 0 ? attempts : planned, launchOne, {
      log,
      region: cloud.region,
      signal: ctx.signal,
    });
  } catch (err) {
    const anyway = launchSent && mayHaveLaunched(err) ? await launchedAnyway(ctx) : undefined;
    if (!anyway) throw err;
    log.warn(`${(err as Error).message}; but EC2 launched ${anyway.id} all the same: using it`);
    cloud.noteNew(anyway.id);
    got = { instance: anyway, user: loginUser(o, anyway.tags) };
  }
  return got;
}

/**
 * The market of an attempt: spot where the attempt says so (helper "spot"'s `market` on Attempt),
 * on demand otherwise. Read structurally so the price line follows the spot launch as it lands.
 */
export function marketOf(attempt: Attempt): Market {
  return attempt.market;
}

/** The MaxPrice a spot launch sends, where there is one (a number of USD per hour): spot-market.ts. */
export function maxPriceOf(o: Options): number | undefined {
  const max = spotMaxPrice(o);
  return max === undefined ? undefined : Number(max);
}

/**
 * EC2's refusal of a launch naming an instance profile that does not exist (InvalidParameterValue
 * "…iamInstanceProfile.name is invalid"), not one the caller may not pass (denied: iam:PassRole).
 */
export function profileMissing(message: string, code: string): boolean {
  return /iamInstanceProfile|instance profile/i.test(message) && kindOf(code) !== 'denied';
}

/** The instance profile a launch asks for: none where an earlier launch found the original's default missing. */
export function instanceProfile(o: Pick<Options, 'iamProfile'>, account: Cache): string | undefined {
  return o.iamProfile === LEGACY_IAM_PROFILE && account.get(UNUSABLE_PROFILE) ? undefined : o.iamProfile;
}

/** The user data for a login user: ssh-ec2's boot-time limit, then the user's own (--user-data). */
export function launchUserData(o: Options, limits: Limits): (user: string) => string {
  const own = readUserData(o.userData);
  return (user) =>
    mergeUserData(
      [
        {
          type: 'text/cloud-boothook',
          filename: BOOT_LIMIT_PART,
          content: bootLimitScript(bootLimitSettings(o, user, limits)),
        },
      ],
      own,
    );
}

/**
 * RunInstances' request for one attempt, but for the security group, the instance profile and the
 * token (the launch's own, found as it goes); the login user. A dry run prints it.
 */
export function launchSpec(a: {
  o: Options;
  plan: Plan;
  owner: string;
  limits: Limits;
  userData: (user: string) => string;
  image: ImageInfo;
  attempt: Attempt;
}): { spec: Omit<LaunchSpec, 'securityGroupIds' | 'iamProfile' | 'clientToken'>; user: string } {
  const { o, plan, image, attempt } = a;
  if (o.volumeSize !== undefined && o.volumeSize < image.rootSizeGiB) {
    throw new ConfigError(
      `${originOf(o, 'volumeSize')}: ${o.volumeSize} GiB is smaller than the image's ${image.rootSizeGiB} GiB`,
      `Use at least ${image.rootSizeGiB}.`,
    );
  }
  const user = o.user ?? image.defaultUser;
  const volumeSizeGiB = o.volumeSize ?? Math.max(image.rootSizeGiB, MIN_VOLUME_GIB);
  const spot = attempt.market === 'spot' ? { oneTime: false, maxPrice: spotMaxPrice(o) } : undefined;
  const spec = {
    imageId: image.id,
    instanceType: attempt.instanceType,
    subnetId: attempt.zone?.subnetId,
    keyName: o.identity || o.keyName ? plan.keyName : undefined,
    userData: a.userData(user),
    rootDevice: image.rootDevice,
    volumeSizeGiB,
    // A poweroff from inside (the user's, or the agent's when a job is done or a limit is hit)
    // must never delete results that were not brought back: it stops. Only ssh-ec2 terminates.
    shutdownBehavior: 'stop' as const,
    spot,
    tags: {
      // The Name tag first, as EC2's console and the tests read it.
      ...launchTags(plan, a.owner),
      [MARKET_TAG]: launchedMarket(spot),
      [LOGIN_TAG]: user,
      ...limitTags(a.limits),
      [VOLUME_TAG]: String(volumeSizeGiB),
    },
  };
  return { spec, user };
}

/**
 * A launch that failed without EC2 saying no (a 5xx or throttling after the SDK's retries, the
 * network): EC2 may have launched the instance all the same, tagged as this directory's.
 */
function mayHaveLaunched(err: unknown): boolean {
  return err instanceof CloudError && unanswered(err.cause, errorCode(err.cause));
}

/**
 * The instance such a launch may have left, looked for by this directory's tags (the lock keeps
 * any other run here from launching meanwhile). DescribeInstances may lag a launch by a moment.
 */
async function launchedAnyway(ctx: ProvisionContext): Promise<InstanceInfo | undefined> {
  for await (const _ of backoff({ firstDelayMs: 1000, maxDelayMs: 1000, maxAttempts: 3 })) {
    const found = await findOwn(ctx).then(
      (f) => f.instances,
      () => undefined,
    );
    if (!found) break;
    const live = found.find((f) => f.state === 'pending' || f.state === 'running');
    if (live) return live;
  }
  ctx.log.warn(
    `if EC2 launched an instance all the same, \`ssh-ec2 ls\` lists it; the next ssh-ec2 here uses it, \`ssh-ec2 down\` ends it`,
  );
  return undefined;
}

/** EC2 said no to something named in the request (Invalid…: a group, an image, a subnet it does not know). */
function refusedAsInvalid(err: unknown): boolean {
  const cause = (err as { cause?: unknown }).cause ?? err;
  const code = errorCode(cause);
  return /^Invalid/.test(code) && kindOf(code) !== 'rejected' && !unanswered(cause, code);
}

function readUserData(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return existsSync(value) ? readFileSync(value, 'utf8') : value;
}
