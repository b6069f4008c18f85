/**
 * Capacity fallback: when EC2 has no room for an instance type in one availability zone, the
 * other zones of the region are tried, then the next type of `--instance-type a,b,c`. A quota
 * (vCPU or instance limit) is regional, so it skips straight to the next type, and so does a
 * type with no image for its architecture (another type may be of another architecture). Every
 * attempt is a new request with its own ClientToken; only the SDK's retries of one attempt reuse
 * its token. With --subnet-id there is one zone: that subnet's, and --availability-zone pins one.
 *
 * With --spot-fallback the market is the outermost loop: spot in every type and zone first, then
 * on-demand in every type and zone. Whoever asks for it wants the spot price (about a third) and
 * would rather take a later type or another zone at spot than the first type at on-demand. The
 * account's spot quota (MaxSpotInstanceCountExceeded) skips every spot attempt left; --max-price
 * below a zone's spot price (SpotMaxPriceTooLow) moves to the next zone, whose price may be lower.
 */
import { CapacityError, CloudError, UsageError } from '../errors.js';
import type { Logger } from '../ui/logger.js';
import { kindOf } from './aws-codes.js';
import { errorCode } from './errors.js';
import { NO_IMAGE } from './image.js';
import { checkZoneRegion, type Market } from './spot-market.js';

/** A subnet (a default one, or --subnet-id's): launching into it places the instance in its zone. */
export interface Zone {
  name: string;
  subnetId: string;
}

export interface Attempt {
  instanceType: string;
  /** Undefined when the region has no default subnets: EC2 picks the zone. */
  zone?: Zone;
  market: Market;
}

/** Whether waiting may fix it: a zone short of capacity for now (a stopped instance can only wait, or change type). */
export const isShortage = (code: string): boolean => kindOf(code) === 'shortage';
export const isQuota = (code: string): boolean => kindOf(code) === 'quota';

export type NextStep = 'next-zone' | 'next-type' | 'next-market' | 'give-up';

/** What a failed attempt's error code means for the attempts that follow. */
export function nextStep(code: string): NextStep {
  const kind = kindOf(code);
  if (kind === 'shortage' || kind === 'not-offered' || kind === 'price') return 'next-zone';
  if (kind === 'quota' || code === NO_IMAGE) return 'next-type';
  if (kind === 'spot-quota') return 'next-market';
  return 'give-up';
}

/** The code of a failed attempt: ours (no image) or the AWS error's. */
export function codeOf(err: unknown): string {
  if (err instanceof CloudError && err.code === NO_IMAGE) return NO_IMAGE;
  return errorCode((err as { cause?: unknown }).cause ?? err);
}

/**
 * Every type in every zone in every market: markets in the order given (spot before on-demand),
 * then types in the order given, then zones in the order given.
 */
export function planAttempts(
  types: readonly string[],
  zones: readonly Zone[],
  markets: readonly Market[] = ['on-demand'],
): Attempt[] {
  return markets.flatMap((market) =>
    types.flatMap((instanceType) =>
      zones.length === 0 ? [{ instanceType, market }] : zones.map((zone) => ({ instanceType, zone, market })),
    ),
  );
}

/**
 * The zones a launch may use: --availability-zone pins one, which must be among the region's
 * (or be --subnet-id's subnet's zone).
 */
export function pinnedZones(zones: readonly Zone[], pinned: string | undefined, region: string): Zone[] {
  if (pinned === undefined) return [...zones];
  checkZoneRegion(pinned, region);
  const zone = zones.find((z) => z.name === pinned);
  if (zone) return [zone];
  const usable = zones.map((z) => z.name).join(', ');
  throw new UsageError(
    `--availability-zone ${pinned} is not a zone this launch can use in ${region}${usable ? ` (${usable})` : ''}`,
    usable ? `Choose one of ${usable} (with --subnet-id: its subnet's zone), or another --region.` : undefined,
  );
}

/** What a failure rules out of the attempts left: nothing, this type in this market, or the market. */
function ruledOut(step: NextStep, a: Attempt, code: string): ((b: Attempt) => boolean) | undefined {
  // No image for the type's architecture: in no market either.
  if (code === NO_IMAGE) return (b) => b.instanceType === a.instanceType;
  if (step === 'next-type') return (b) => b.market === a.market && b.instanceType === a.instanceType;
  if (step === 'next-market') return (b) => b.market === a.market;
  return undefined;
}

/** The attempts in one zone only (a data volume's: an instance elsewhere could not attach it). */
export function attemptsInZone(attempts: readonly Attempt[], zone: string | undefined): Attempt[] {
  return zone === undefined ? [...attempts] : attempts.filter((a) => a.zone?.name === zone);
}

export interface Failure {
  attempt: Attempt;
  code: string;
  /** For NO_IMAGE: the lookup's message (which architecture, which names, which owners). */
  detail?: string;
}

function where(a: Attempt, region: string): string {
  return a.zone?.name ?? region;
}

/** "spot g4dn.xlarge", "g4dn.xlarge" (on-demand needs no word until a spot attempt was made). */
const what = (a: Attempt, markets: boolean): string => (markets ? `${a.market} ${a.instanceType}` : a.instanceType);

/** "no capacity for g4dn.xlarge in eu-central-1a; trying eu-central-1b" */
export function fallbackMessage(failed: Failure, next: Attempt, region: string): string {
  const markets = failed.attempt.market === 'spot' || next.market === 'spot';
  const type = what(failed.attempt, markets);
  const kind = kindOf(failed.code);
  // A quota is the region's, whatever zone the attempt named.
  const why =
    failed.code === NO_IMAGE
      ? `${failed.attempt.instanceType}: ${failed.detail}`
      : kind === 'quota' || kind === 'spot-quota'
        ? `quota reached (${failed.code}) for ${type} in ${region}`
        : kind === 'price'
          ? `${type}'s spot price in ${where(failed.attempt, region)} is above --max-price`
          : `no capacity for ${type} in ${where(failed.attempt, region)}`;
  const to =
    next.instanceType === failed.attempt.instanceType && next.market === failed.attempt.market
      ? where(next, region)
      : `${what(next, markets)}${next.zone ? ` in ${next.zone.name}` : ''}`;
  return `${why}; trying ${to}`;
}

/** The line saying which market a --spot-fallback launch got, and why: undefined when it got its first choice. */
export function marketWords(got: Attempt, failures: readonly Failure[]): string | undefined {
  if (got.market !== 'on-demand' || !failures.some((f) => f.attempt.market === 'spot')) return undefined;
  const spot = failures.filter((f) => f.attempt.market === 'spot');
  const why = spot.some((f) => kindOf(f.code) === 'spot-quota')
    ? 'the spot quota is reached'
    : spot.every((f) => kindOf(f.code) === 'price')
      ? 'the spot price is above --max-price in every zone'
      : `spot capacity short in every ${spot.some((f) => f.attempt.zone) ? 'zone' : 'attempt'}`;
  return `${why}: launched on-demand`;
}

/**
 * The one error when every attempt failed: every (type, zone) tried, grouped by type. Types that
 * all lacked an image are an image problem (exit 4, as for one type); otherwise capacity (exit 5).
 */
export function exhaustedError(
  failures: readonly Failure[],
  region: string,
  cause: unknown,
): CapacityError | CloudError {
  const markets = failures.some((f) => f.attempt.market === 'spot');
  const byType = new Map<string, string[]>();
  for (const f of failures) {
    const key = what(f.attempt, markets);
    const list = byType.get(key) ?? [];
    list.push(f.code === NO_IMAGE ? (f.detail ?? NO_IMAGE) : `${where(f.attempt, region)} (${f.code})`);
    byType.set(key, list);
  }
  const noImage = failures.filter((f) => f.code === NO_IMAGE);
  const tried = [...byType]
    .map(([type, places]) =>
      noImage.some((f) => what(f.attempt, markets) === type)
        ? `${type}: ${places.join(', ')}`
        : `${type} in ${places.join(', ')}`,
    )
    .join('; ');
  if (noImage.length === failures.length) {
    if (failures.length === 1 && cause instanceof CloudError) return cause;
    return new CloudError(
      `no image for any instance type tried: ${tried}`,
      (cause as CloudError | undefined)?.hint,
      NO_IMAGE,
      { cause },
    );
  }
  // Every zone said "not offered": not a shortage that waiting cures (a known type is no longer
  // asked of DescribeInstanceTypes first, so this is where a type the region lacks shows).
  if (failures.every((f) => kindOf(f.code) === 'not-offered'))
    return new CapacityError(
      `not offered in ${region}'s zones: ${tried}`,
      `Choose types offered there (aws ec2 describe-instance-type-offerings --location-type availability-zone --region ${region}) with --instance-type, or another region (--region).`,
      { cause },
    );
  // Every spot attempt refused for its price: not a shortage, and no quota to ask for.
  if (failures.every((f) => f.code === SPOT_PRICE_TOO_LOW))
    return new CapacityError(
      `spot price above --max-price for every instance type tried: ${tried}`,
      'Raise --max-price (under --max-hourly-cost, the MaxPrice sent is at most that: raise it too), see the prices now with ssh-ec2 prices, or use --spot-fallback to launch on-demand.',
      { cause },
    );
  const spot = failures.some((f) => f.attempt.market === 'spot');
  const onDemand = failures.some((f) => f.attempt.market !== 'spot');
  const quotas = [
    ...(onDemand ? ['"Running On-Demand G and VT instances"'] : []),
    ...(spot ? ['"All G and VT Spot Instance Requests"'] : []),
  ];
  return new CapacityError(
    `${noImage.length > 0 ? 'no instance type tried could be launched' : 'no capacity for any instance type tried'}: ${tried}`,
    `Try other instance types (--instance-type a,b,c), another region (--region), or later; for a quota, ask AWS for an increase (Service Quotas, e.g. ${quotas.join(' or ')} for G types).`,
    { cause },
  );
}

const SPOT_PRICE_TOO_LOW = 'SpotMaxPriceTooLow';

/**
 * Tries the attempts in order until one launches. `launchOne` makes one attempt (a fresh
 * ClientToken each time); its errors are mapped user errors whose `cause` is the AWS error.
 * An interrupt (`signal`) ends the fallback: no new attempt is started after it.
 */
export async function launchWithFallback<T>(
  attempts: readonly Attempt[],
  launchOne: (a: Attempt) => Promise<T>,
  ctx: { log: Logger; region: string; signal?: AbortSignal },
): Promise<T> {
  const failures: Failure[] = [];
  /** Attempts no other zone can help: a quota reached (of the type, or of spot), or no image. */
  const skipped: ((a: Attempt) => boolean)[] = [];
  let lastError: unknown;
  const open = (a: Attempt) => !skipped.some((out) => out(a));
  for (let i = 0; i < attempts.length; i++) {
    const attempt = attempts[i]!;
    if (!open(attempt)) continue;
    ctx.signal?.throwIfAborted();
    try {
      const got = await launchOne(attempt);
      const said = marketWords(attempt, failures);
      if (said) ctx.log.info(said);
      return got;
    } catch (err) {
      const code = codeOf(err);
      const step = nextStep(code);
      if (step === 'give-up') throw err;
      const out = ruledOut(step, attempt, code);
      if (out) skipped.push(out);
      const failure: Failure = { attempt, code, detail: code === NO_IMAGE ? (err as Error).message : undefined };
      failures.push(failure);
      lastError = err;
      const next = attempts.slice(i + 1).find(open);
      if (next) ctx.log.info(fallbackMessage(failure, next, ctx.region));
    }
  }
  throw exhaustedError(failures, ctx.region, lastError);
}
