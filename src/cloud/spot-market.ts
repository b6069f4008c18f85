/**
 * The market an instance is launched in, and what each market allows (pure: no SDK, no call).
 * A spot instance is launched from a persistent request whose interruption stops it, so that a
 * stop (`--stop`, the agent's) keeps its disk as an on-demand one's does. Where EC2 refuses that
 * for a type, the launch falls back to a one-time request, which EC2 can only terminate: such an
 * instance is never stopped by ssh-ec2, and the finish knows it (session/decide-finish.ts). A
 * persistent request is cancelled before its instance is terminated: otherwise EC2 opens it again
 * and launches a new instance for it, a bill nobody sees.
 */
import { UsageError } from '../errors.js';
import type { Options } from '../options.js';
import type { Cloud, InstanceInfo, TaggedResource } from './port.js';

/** What a launch attempt asks for. */
export type Market = 'on-demand' | 'spot';
/** What an instance was launched as: its `ssh-ec2:market` tag. */
export type LaunchedMarket = 'on-demand' | 'spot' | 'spot-one-time';

/** On the instance (and its spot request): later runs, `ls` and `down` know its market without a call. */
export const MARKET_TAG = 'ssh-ec2:market';

/** The markets tried, in order: --spot-fallback is spot everywhere first, then on-demand. */
export function marketsOf(o: Pick<Options, 'spot' | 'spotFallback'>): Market[] {
  if (o.spotFallback) return ['spot', 'on-demand'];
  return o.spot ? ['spot'] : ['on-demand'];
}

/** Combinations that mean nothing: refused before any AWS call (exit 2). */
export function checkSpotOptions(
  o: Pick<Options, 'spot' | 'spotFallback' | 'maxPrice' | 'availabilityZone'> & Partial<Pick<Options, 'region'>>,
): void {
  if (o.maxPrice !== undefined && !o.spot && !o.spotFallback)
    throw new UsageError('--max-price is a spot price: it goes with --spot or --spot-fallback');
  if (o.availabilityZone !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/.test(o.availabilityZone))
    throw new UsageError(
      `--availability-zone: expected a zone name such as eu-central-1a, got "${o.availabilityZone}"`,
    );
  // The region given (--region, AWS_REGION): checked now; the profile's is known with the cloud (capacity.ts).
  if (o.availabilityZone !== undefined && o.region) checkZoneRegion(o.availabilityZone, o.region);
}

/** A zone of another region: exit 2, before any call (a launch there can only fail). */
export function checkZoneRegion(zone: string, region: string): void {
  const its = regionOfZone(zone);
  if (its !== region)
    throw new UsageError(
      `--availability-zone ${zone} is a zone of ${its}, not of ${region}`,
      `Give --region ${its}, or a zone of ${region}.`,
    );
}

/**
 * The MaxPrice sent (USD/hour; none: AWS's cap, the on-demand price): --max-price, and under
 * --max-hourly-cost never above it — a spot price checked at launch may rise later, up to on
 * demand, and the limit must hold for the whole run, not only at today's price.
 */
export function spotMaxPrice(o: Partial<Pick<Options, 'maxPrice' | 'maxHourlyCost'>>): string | undefined {
  const caps = [o.maxPrice, o.maxHourlyCost].filter((c) => c !== undefined).map(Number);
  return caps.length > 0 ? String(Math.min(...caps)) : undefined;
}

/** The zone's region: "eu-central-1a" → "eu-central-1". */
export const regionOfZone = (zone: string): string => zone.replace(/[a-z]$/, '');

/** Whether an instance can be stopped (a one-time spot instance cannot: EC2 refuses it). */
export const stoppable = (tags: Readonly<Record<string, string>>): boolean => tags[MARKET_TAG] !== 'spot-one-time';

/**
 * EC2 refusing a persistent request that stops when interrupted, for this type or image (an
 * instance-store root, a type that cannot stop): "The request with type 'persistent' is not
 * supported when instanceInterruptionBehavior is set to 'stop'" and the like
 * (InvalidParameterCombination, UnsupportedOperation). The attempt is made again as one-time.
 */
export function stopRefused(code: string, message: string): boolean {
  return (
    (code === 'InvalidParameterCombination' || code === 'UnsupportedOperation') &&
    /interruption|persistent|stop/i.test(message)
  );
}

/** RunInstances' InstanceMarketOptions for a spot attempt (none: on-demand). */
export interface SpotRequest {
  oneTime: boolean;
  /** USD per hour; none: AWS caps it at the on-demand price. */
  maxPrice?: string;
}

export function marketOptions(spot: SpotRequest | undefined) {
  if (!spot) return undefined;
  return {
    MarketType: 'spot' as const,
    SpotOptions: {
      SpotInstanceType: spot.oneTime ? ('one-time' as const) : ('persistent' as const),
      InstanceInterruptionBehavior: spot.oneTime ? ('terminate' as const) : ('stop' as const),
      ...(spot.maxPrice !== undefined && { MaxPrice: spot.maxPrice }),
    },
  };
}

/** The market tag of a launch. */
export const launchedMarket = (spot: SpotRequest | undefined): LaunchedMarket =>
  !spot ? 'on-demand' : spot.oneTime ? 'spot-one-time' : 'spot';

/** A request EC2 would fulfil again: open or active, persistent (`name` holds its type). */
export const liveSpotRequest = (r: TaggedResource): boolean =>
  r.kind === 'spot-request' && r.name === 'persistent' && (r.state === 'open' || r.state === 'active');

/** The action a policy must allow for a spot instance to be terminated for good. */
export const CANCEL_ACTION = 'ec2:CancelSpotInstanceRequests';

/** EC2 no longer knows the request (cancelled and gone, or never ours to see): nothing left to relaunch. */
export const requestGone = (err: unknown): boolean =>
  (err as { code?: string })?.code === 'InvalidSpotInstanceRequestID.NotFound';

/**
 * Cancels the instance's persistent spot request, if it has one: before its terminate. Its id is
 * in DescribeInstances' answer; an instance known otherwise (the warm path) is asked once, and
 * only when its market tag says spot. A request EC2 no longer knows counts as cancelled (one
 * already cancelled or closed is cancelled again without complaint); any other failure is thrown:
 * the caller must not terminate (finish.ts stops instead).
 */
export async function cancelSpotRequestOf(cloud: Cloud, instance: InstanceInfo): Promise<string | undefined> {
  const market = instance.tags[MARKET_TAG];
  if (market === 'on-demand' || market === 'spot-one-time') return undefined;
  const id =
    instance.spotRequestId ??
    (market === 'spot' ? (await cloud.describeInstance(instance.id))?.spotRequestId : undefined);
  if (id)
    await cloud.cancelSpotRequests([id]).catch((err: unknown) => {
      if (!requestGone(err)) throw err;
    });
  return id;
}
