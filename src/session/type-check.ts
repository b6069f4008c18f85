/**
 * Instance type sanity and the hourly cost limit, before anything is launched or made (issue #13):
 * a type EC2 does not offer in the region (a typo: `g5.xlarg`), one offered in none of the
 * launch's zones (a pinned subnet's), a GPU-less type with a GPU image, and a type above
 * --max-hourly-cost (or whose price is unknown under it or --budget) each get one line with close alternatives.
 *
 * Costs: a type the table knows (cloud/instance-types.ts) is no typo and its GPUs are known by its
 * family; the others are described in ONE DescribeInstanceTypes (their architecture was asked
 * anyway). Where each type is offered is ONE DescribeInstanceTypeOfferings, asked in parallel with
 * the network (so no round trip is added) and cached like the image. Alternatives cost a call or
 * two, on the refusal's path only.
 *
 * In a fallback list (`a,b,c`), a mistake of the user's — an unknown name, a GPU-less type with a
 * GPU image — refuses the whole list: a typo must not be skipped silently. A type not offered
 * where the launch may go, or above the cost limit, is skipped saying why while others remain.
 */
import { DLAMI_FAMILIES, familyOf, isAccelerated } from '../cloud/dlami.js';
import { knownArchitecture } from '../cloud/instance-types.js';
import type { Cloud, InstanceTypeDetails, InstanceTypeInfo } from '../cloud/port.js';
import { hourlyPrice } from '../cloud/prices.js';
import { CloudError, CostGuardError } from '../errors.js';
import { originOf, type Options } from '../options.js';
import { IMAGE_TTL_MS, type Cache } from '../state/cache.js';
import type { Logger } from '../ui/logger.js';
import type { Network } from './launch-lookups.js';
import { pinnedZones, type Zone } from '../cloud/capacity.js';
import { spotMaxPrice } from '../cloud/spot-market.js';
import { money, nearestNames, problemLine, sameFamily, similarGpuTypes, type TypeProblem } from './type-check-words.js';

type Ctx = { options: Options; cloud: Cloud; log?: Logger };

/** The market a launch's price is read for: spot (its zone's price, or --max-price) or on demand. */
export interface Market {
  spot: boolean;
  maxPrice?: number;
}

/**
 * The zones the types must be offered in, and why only those (none: every zone of the network, or
 * the region's when it has none): a start's instance's zone, a pinned --availability-zone.
 */
export interface Place {
  zones: string[];
  why?: string;
}

/** The image a launch uses is a GPU image: the default Deep Learning AMI, or a name that says GPU. */
export function gpuImage(o: { imageId?: string; imageName?: string }): string | undefined {
  if (o.imageId) return undefined;
  if (o.imageName === undefined) return 'the Deep Learning OSS Nvidia Driver AMI';
  return /gpu|nvidia|cuda/i.test(o.imageName) ? o.imageName : undefined;
}

/**
 * The types of --instance-type that may be launched here, in order, each with its architectures;
 * throws the refusal with its alternatives: exit 4, as for a type or image EC2 does not know (what
 * the region offers does not fit the settings: not a usage error, which is found before any AWS
 * call, nor the environment's, exit 3); exit 11 when the cost limit left none.
 */
export async function checkedTypes(
  ctx: Ctx,
  cache: Cache,
  network: Promise<Pick<Network, 'zones'>>,
  market: Market = { spot: false },
  place?: Place | Promise<Place>,
): Promise<InstanceTypeInfo[]> {
  const { options: o, cloud } = ctx;
  const names = o.instanceTypes;
  const unlisted = names.filter((t) => !knownArchitecture(t));
  const [details, offers, net, placed] = await Promise.all([
    describedTypes(cloud, cache, unlisted),
    zonesOffering(cloud, cache, names),
    network,
    place,
  ]);

  const unknown = unlisted.filter((t) => !details.has(t));
  if (unknown.length > 0) {
    const region = (await cloud.typeOfferings('region')).map((r) => r.type);
    const problems = unknown.map((type): TypeProblem => ({
      kind: 'unknown',
      type,
      nearest: nearestNames(type, region),
    }));
    throw refusal(o, cloud.region, problems, 'Check the name: ssh-ec2 prices lists the types offered here.');
  }

  const image = gpuImage(o);
  const gpuless = image ? names.filter((t) => (knownArchitecture(t) ? !isAccelerated(t) : !details.get(t)!.gpus)) : [];
  if (gpuless.length > 0) {
    const candidates = await gpuCandidates(cloud, o);
    const all = new Map(candidates.all.map((t) => [t.type, t]));
    const problems = gpuless.map((type): TypeProblem => ({
      kind: 'no gpu',
      type,
      image: image!,
      similar: similarGpuTypes(all.get(type) ?? { vcpus: 4, memoryMiB: 16384 }, candidates.gpu),
    }));
    throw refusal(
      o,
      cloud.region,
      problems,
      'Choose a GPU type, or a CPU image (--image-name PATTERN or --image-id AMI).',
    );
  }

  const { zones: launchZones, why } = placed ?? launchPlace(o, net.zones, cloud.region);
  const where = why ? `${launchZones.join(', ')} (${why})` : cloud.region;
  const problems: TypeProblem[] = [];
  const usable: string[] = [];
  for (const type of names) {
    const zones = offers.get(type) ?? [];
    if (!zones.some((z) => launchZones.includes(z))) {
      problems.push({ kind: 'not offered', type, where, offeredIn: why ? zones : [], family: [] });
      continue;
    }
    const cost = await costProblem(
      ctx,
      type,
      zones.filter((z) => launchZones.includes(z)),
      market,
    );
    if (cost) problems.push(cost);
    else usable.push(type);
  }
  if (usable.length === 0) {
    // Refused: the offered types of the same family are worth a call now.
    const offered = problems.some((p) => p.kind === 'not offered')
      ? (await cloud.typeOfferings('region')).map((r) => r.type)
      : [];
    for (const p of problems) if (p.kind === 'not offered') p.family = sameFamily(p.type, offered);
    const overCost = problems.some((p) => p.kind === 'over cost' || p.kind === 'price unknown');
    throw refusal(o, cloud.region, problems, overCost ? COST_HINT : 'Choose a type offered there.', overCost);
  }
  for (const p of problems) ctx.log?.warn(`skipping ${problemLine(p, cloud.region)}`);
  return usable.map((type) => {
    const known = knownArchitecture(type);
    return { type, architectures: known ? [known] : details.get(type)!.architectures };
  });
}

/**
 * The zones a launch may use: --availability-zone's (refused, exit 2, if none of the network's),
 * then a data volume's (`volumeZone`: an instance elsewhere could not attach it; a zone the
 * network lacks is launch.ts's to report), else the network's.
 */
export function launchPlace(
  o: Pick<Options, 'availabilityZone' | 'subnetId' | 'volume'>,
  zones: readonly Zone[],
  region: string,
  volumeZone?: string,
): Place {
  const names = pinnedZones(zones, o.availabilityZone, region).map((z) => z.name);
  if (volumeZone && names.includes(volumeZone))
    return { zones: [volumeZone], why: `the zone of data volume ${o.volume?.name ?? volumeZone}` };
  if (o.availabilityZone) return { zones: names, why: '--availability-zone' };
  return { zones: names, why: o.subnetId ? `the zone of --subnet-id ${o.subnetId}` : undefined };
}

/** The highest table price of `types` (on demand), for a budget's time limit: the shortest it can be. */
export function dearest(region: string, types: readonly string[]): number | undefined {
  const known = types.map((t) => hourlyPrice(region, t)).filter((p): p is number => p !== undefined);
  return known.length > 0 ? Math.max(...known) : undefined;
}

/**
 * The hourly price a launch's --budget time limit is counted at (the boot-time limit's, before any
 * price is looked up): spot only with a MaxPrice (--max-price, or --max-hourly-cost), that — nothing
 * above it is paid; else the dearest table price (AWS never charges spot above on demand).
 */
export function budgetHourly(
  o: Pick<Options, 'spot' | 'spotFallback' | 'maxPrice' | 'maxHourlyCost' | 'instanceTypes'>,
  region: string,
): number | undefined {
  const max = o.spot && !o.spotFallback ? spotMaxPrice(o) : undefined;
  return max !== undefined ? Number(max) : dearest(region, o.instanceTypes);
}

const COST_HINT = 'Choose a cheaper type, or raise --max-hourly-cost.';

/** Over the hourly limit, or a price nobody can vouch for: a guardrail that lets the unknown through is none. */
async function costProblem(ctx: Ctx, type: string, zones: string[], market: Market): Promise<TypeProblem | undefined> {
  const { maxHourlyCost: limit, budget } = ctx.options;
  if (limit === undefined && budget === undefined) return undefined;
  const hourly = await launchHourly(ctx.cloud, type, zones, market);
  const name = market.spot ? 'spot' : 'on demand';
  const guard = limit !== undefined ? `--max-hourly-cost $${money(limit)}` : `--budget $${money(budget!)}`;
  if (hourly === undefined) return { kind: 'price unknown', type, guard, market: name };
  return limit !== undefined && hourly > limit ? { kind: 'over cost', type, hourly, limit, market: name } : undefined;
}

/**
 * What an hour of `type` costs at most where the launch may go: on demand, the dated table
 * (cloud/prices.ts); spot, --max-price when given (nothing above it is paid), else the highest
 * current spot price of the launch's zones.
 */
export async function launchHourly(
  cloud: Pick<Cloud, 'region' | 'spotPrices'>,
  type: string,
  zones: readonly string[],
  market: Market,
): Promise<number | undefined> {
  if (!market.spot) return hourlyPrice(cloud.region, type);
  if (market.maxPrice !== undefined) return market.maxPrice;
  const prices = await cloud.spotPrices([type], zones);
  return prices.length > 0 ? Math.max(...prices.map((p) => p.usd)) : undefined;
}

function refusal(o: Options, region: string, problems: TypeProblem[], hint: string, cost = false): Error {
  const lines = problems.map((p) => problemLine(p, region));
  const origin = originOf(o, 'instanceTypes');
  const message = `${origin ? `${origin}: ` : ''}${lines.join('\n  ')}`;
  return cost ? new CostGuardError(message, hint) : new CloudError(message, hint);
}

/** The details of `types` (those the table does not know): one call for all those not cached. */
async function describedTypes(
  cloud: Cloud,
  cache: Cache,
  types: readonly string[],
): Promise<Map<string, InstanceTypeDetails>> {
  const out = new Map<string, InstanceTypeDetails>();
  const missing: string[] = [];
  for (const t of types) {
    const hit = cache.get<InstanceTypeDetails>(`type-details:${t}`);
    if (hit) out.set(t, hit);
    else missing.push(t);
  }
  if (missing.length > 0)
    for (const d of await cloud.instanceTypeDetails(missing)) {
      out.set(d.type, d);
      cache.set(`type-details:${d.type}`, d, IMAGE_TTL_MS);
    }
  return out;
}

/**
 * The zones of the region offering each type: one call for all those not cached (a type offered
 * nowhere is not cached: asked again).
 */
async function zonesOffering(cloud: Cloud, cache: Cache, types: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const missing: string[] = [];
  for (const t of types) {
    const hit = cache.get<string[]>(`offered:${t}`);
    if (hit) out.set(t, hit);
    else missing.push(t);
  }
  if (missing.length === 0) return out;
  for (const { type, location } of await cloud.typeOfferings('availability-zone', missing))
    out.set(type, [...(out.get(type) ?? []), location].sort());
  for (const t of missing) if (out.has(t)) cache.set(`offered:${t}`, out.get(t), IMAGE_TTL_MS);
  return out;
}

/** Every type of the region (for a GPU-less type's own size) and those with a GPU the image can drive. */
async function gpuCandidates(cloud: Cloud, o: Options) {
  const [all, offered] = await Promise.all([cloud.instanceTypeDetails(), cloud.typeOfferings('region')]);
  const here = new Set(offered.map((r) => r.type));
  const drivable = (t: InstanceTypeDetails) =>
    t.gpus > 0 && here.has(t.type) && (o.imageName !== undefined || DLAMI_FAMILIES.includes(familyOf(t.type)));
  return { all, gpu: all.filter(drivable) };
}
