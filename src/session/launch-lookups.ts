/**
 * What a launch must know before RunInstances — the network, the security group, each type's
 * architectures and that it fits the region and the image (type-check.ts), the image — asked of EC2 in parallel, or taken from the cache of an earlier
 * launch in this account and region (state/cache.ts). A cached value is only ever a guess: a
 * launch EC2 refuses after using one forgets it and asks again (launch.ts), so a stale cache costs
 * a round trip, never a run.
 */
import { DEFAULT_IMAGE_PATTERNS } from '../cloud/dlami.js';
import type { Zone } from '../cloud/capacity.js';
import { architectureFor, type ImageInfo } from '../cloud/image.js';
import type { InstanceTypeInfo } from '../cloud/port.js';
import { rethrowFrom } from '../options.js';
import type { Logger } from '../ui/logger.js';
import { checkedTypes, launchPlace } from './type-check.js';
import { cacheFile, IMAGE_TTL_MS, NETWORK_TTL_MS, noCache, openCache, type Cache } from '../state/cache.js';
import type { ProvisionContext } from './provision.js';
import { sshCidr } from './ssh-access.js';
import { TAG } from './plan.js';

export interface Network {
  vpcId: string;
  zones: Zone[];
}

/** The cached rule: the group let `cidr` in on `day` (UTC, as the rule's description says). */
interface CachedGroup {
  groupId: string;
  cidr: string;
  day: string;
}

/**
 * How long "ssh-ec2's group exists in this VPC" is remembered: only which call comes first depends
 * on it (a group deleted since is created after a lookup finds none, as without it).
 */
const GROUP_SEEN_TTL_MS = 30 * 24 * 60 * 60_000;

const today = () => new Date().toISOString().slice(0, 10);

/** This account's and region's cache (the account from the identity every run asks for anyway). */
export async function launchCache(ctx: Pick<ProvisionContext, 'options' | 'cloud' | 'cacheDir'>): Promise<Cache> {
  if (!ctx.options.cache || !ctx.cacheDir) return noCache();
  const { account } = await ctx.cloud.caller();
  return openCache(cacheFile(ctx.cacheDir, { account, region: ctx.cloud.region, endpoint: ctx.cloud.endpoint }));
}

/**
 * This account's cache for every region: what IAM, which is global, says (the original's instance
 * profile missing), learnt by a launch in one region and true in all of them.
 */
export async function accountCache(ctx: Pick<ProvisionContext, 'options' | 'cloud' | 'cacheDir'>): Promise<Cache> {
  if (!ctx.options.cache || !ctx.cacheDir) return noCache();
  const { account } = await ctx.cloud.caller();
  return openCache(cacheFile(ctx.cacheDir, { account, region: '*', endpoint: ctx.cloud.endpoint }));
}

/** A cached value, or `look()`'s (then kept for `ttlMs`). */
async function cached<T>(cache: Cache, key: string, ttlMs: number, look: () => Promise<T>): Promise<T> {
  const hit = cache.get<T>(key);
  if (hit !== undefined) return hit;
  const value = await look();
  cache.set(key, value, ttlMs);
  return value;
}

/** The lookups of one launch; each asked once (an image per architecture). */
export function launchLookups(ctx: ProvisionContext, cache: Cache, volumeZone?: Promise<string | undefined>) {
  const reads = readLookups(ctx, cache, volumeZone);
  // Nothing is made before the types are checked: a refused type leaves no group behind.
  const securityGroup = Promise.all([reads.network, reads.types]).then(([{ vpcId }]) =>
    securityGroupFor(ctx, cache, vpcId),
  );
  return { ...reads, securityGroup };
}

/** What ssh-ec2's security group would be for a launch, found without creating or changing anything. */
export type GroupPlan =
  | { kind: 'given'; groupId: string }
  | { kind: 'found'; groupId: string; cidr: string; letsIn: boolean; cached: boolean }
  | { kind: 'create'; cidr: string };

/** The security group a launch would use, only looked up (a dry run: `cache` read-only). */
export async function plannedSecurityGroup(
  ctx: Pick<ProvisionContext, 'options' | 'cloud'>,
  cache: Cache,
  vpcId: string,
): Promise<GroupPlan> {
  const { options: o, cloud } = ctx;
  if (o.securityGroup) return { kind: 'given', groupId: await givenGroup(ctx, cache, vpcId) };
  const cidr = await sshCidr(o);
  const hit = cache.get<CachedGroup>(`group:${vpcId}`);
  if (hit && hit.cidr === cidr && hit.day === today())
    return { kind: 'found', groupId: hit.groupId, cidr, letsIn: true, cached: true };
  const found = await cloud.findSshSecurityGroup(vpcId);
  if (!found) return { kind: 'create', cidr };
  return { kind: 'found', groupId: found.groupId, cidr, letsIn: found.cidrs.includes(cidr), cached: false };
}

const givenGroup = ({ options: o, cloud }: Pick<ProvisionContext, 'options' | 'cloud'>, cache: Cache, vpcId: string) =>
  cached(cache, `given-group:${vpcId}:${o.securityGroup}`, NETWORK_TTL_MS, () =>
    cloud.givenSecurityGroup(o.securityGroup!, vpcId).catch(rethrowFrom(o, 'securityGroup', o.securityGroup)),
  );

/**
 * The group a launch uses, letting the caller in: a group the user names is used as it is (no
 * address lookup, no rule added: see letCallerIn); ssh-ec2's own is created if missing.
 */
async function securityGroupFor(ctx: ProvisionContext, cache: Cache, vpcId: string): Promise<string> {
  const { options: o, cloud } = ctx;
  if (o.securityGroup) return givenGroup(ctx, cache, vpcId);
  const cidr = await sshCidr(o);
  const key = `group:${vpcId}`;
  // Its rule for this address, dated today, is there: nothing to add or re-date.
  const hit = cache.get<CachedGroup>(key);
  if (hit && hit.cidr === cidr && hit.day === today()) return hit.groupId;
  const day = today();
  // Where this machine never saw ssh-ec2's group (the first launch in a region), it is created
  // without looking for it first: one call, and only an `InvalidGroup.Duplicate` (another
  // machine made it) costs the lookup. Where it was seen, or with no cache to say, it is looked up.
  const seen = `group-seen:${vpcId}`;
  const createFirst = o.cache && ctx.cacheDir !== undefined && !cache.get(seen);
  const tags = { Name: 'ssh-ec2', [TAG.project]: 'shared' };
  const groupId = await cloud.ensureSecurityGroup(vpcId, cidr, tags, { createFirst });
  cache.set(key, { groupId, cidr, day } satisfies CachedGroup, NETWORK_TTL_MS);
  cache.set(seen, true, GROUP_SEEN_TTL_MS);
  return groupId;
}

/**
 * The lookups that only read (the network, the checked types with their architectures, the image
 * per architecture): a launch's, and a dry run's with a read-only cache.
 */
export function readLookups(
  ctx: Pick<ProvisionContext, 'options' | 'cloud'> & { log?: Logger },
  cache: Cache,
  /** A data volume's zone, where the launch must go (none: no volume, or a dry run's). */
  volumeZone?: Promise<string | undefined>,
) {
  const { options: o, cloud } = ctx;
  // --subnet-id: its VPC, and its zone only (the capacity fallback has no other zone to try).
  const network: Promise<Network> = o.subnetId
    ? cached(cache, `subnet:${o.subnetId}`, NETWORK_TTL_MS, () =>
        cloud
          .subnet(o.subnetId!)
          .then(({ vpcId, zone }) => ({ vpcId, zones: [zone] }), rethrowFrom(o, 'subnetId', o.subnetId)),
      )
    : cached(cache, 'network', NETWORK_TTL_MS, () => cloud.defaultNetwork());

  // Every type is checked before anything is launched or made: a typo in the last one of
  // --instance-type a,b,c is reported now, not after the others found no capacity (type-check.ts).
  // A cost guard checks the market the launch may end in: with --spot-fallback, on demand.
  const spotOnly = o.spot && !o.spotFallback;
  const market = { spot: spotOnly, ...(spotOnly && o.maxPrice !== undefined && { maxPrice: Number(o.maxPrice) }) };
  // Checked where the launch will go: a pinned zone, a data volume's (their spot prices too).
  const place = Promise.all([network, volumeZone]).then(([{ zones }, vz]) => launchPlace(o, zones, cloud.region, vz));
  const types: Promise<InstanceTypeInfo[]> = checkedTypes(ctx, cache, network, market, place);

  // One image per architecture: a fallback type of another architecture gets its own.
  const images = new Map<string, Promise<ImageInfo>>();
  const imageFor = (t: InstanceTypeInfo): Promise<ImageInfo> => {
    const architecture = o.imageId ? undefined : architectureFor(t.architectures);
    let image = images.get(architecture ?? '');
    if (!image) {
      const query = {
        imageId: o.imageId,
        namePatterns: o.imageName ? [o.imageName] : DEFAULT_IMAGE_PATTERNS,
        owners: o.imageOwners,
        architecture,
        region: cloud.region,
      };
      const key = `image:${JSON.stringify([query.imageId, query.namePatterns, query.owners, architecture])}`;
      image = cached(cache, key, IMAGE_TTL_MS, () =>
        cloud
          .resolveImage(query)
          .catch(o.imageId ? rethrowFrom(o, 'imageId', o.imageId) : rethrowFrom(o, 'imageName', o.imageName)),
      );
      images.set(architecture ?? '', image);
    }
    return image;
  };

  return { network, types, imageFor };
}
