/**
 * Capacity fallback: when EC2 has no room for an instance type in one availability zone, the
 * other zones of the region are tried, then the next type of `--instance-type a,b,c`. A quota
 * (vCPU or instance limit) is regional, so it skips straight to the next type, and so does a
 * type with no image for its architecture (another type may be of another architecture). Every
 * attempt is a new request with its own ClientToken; only the SDK's retries of one attempt reuse
 * its token. With --subnet-id there is one zone: that subnet's.
 */
import { CapacityError, CloudError } from '../errors.js';
import type { Logger } from '../ui/logger.js';
import { kindOf } from './aws-codes.js';
import { errorCode } from './errors.js';
import { NO_IMAGE } from './image.js';

/** A subnet (a default one, or --subnet-id's): launching into it places the instance in its zone. */
export interface Zone {
  name: string;
  subnetId: string;
}

export interface Attempt {
  instanceType: string;
  /** Undefined when the region has no default subnets: EC2 picks the zone. */
  zone?: Zone;
}

/** Whether waiting may fix it: a zone short of capacity for now (a stopped instance can only wait, or change type). */
export const isShortage = (code: string): boolean => kindOf(code) === 'shortage';
export const isQuota = (code: string): boolean => kindOf(code) === 'quota';

export type NextStep = 'next-zone' | 'next-type' | 'give-up';

/** What a failed attempt's error code means for the attempts that follow. */
export function nextStep(code: string): NextStep {
  const kind = kindOf(code);
  if (kind === 'shortage' || kind === 'not-offered') return 'next-zone';
  if (kind === 'quota' || code === NO_IMAGE) return 'next-type';
  return 'give-up';
}

/** The code of a failed attempt: ours (no image) or the AWS error's. */
export function codeOf(err: unknown): string {
  if (err instanceof CloudError && err.code === NO_IMAGE) return NO_IMAGE;
  return errorCode((err as { cause?: unknown }).cause ?? err);
}

/** Every type in every zone, types in the order given, zones in the order given. */
export function planAttempts(types: readonly string[], zones: readonly Zone[]): Attempt[] {
  return types.flatMap((instanceType) =>
    zones.length === 0 ? [{ instanceType }] : zones.map((zone) => ({ instanceType, zone })),
  );
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

/** "no capacity for g4dn.xlarge in eu-central-1a; trying eu-central-1b" */
export function fallbackMessage(failed: Failure, next: Attempt, region: string): string {
  const quota = isQuota(failed.code);
  const type = failed.attempt.instanceType;
  // A quota is the region's, whatever zone the attempt named.
  const what =
    failed.code === NO_IMAGE
      ? `${type}: ${failed.detail}`
      : quota
        ? `quota reached (${failed.code}) for ${type} in ${region}`
        : `no capacity for ${type} in ${where(failed.attempt, region)}`;
  const to =
    next.instanceType === type
      ? where(next, region)
      : `${next.instanceType}${next.zone ? ` in ${next.zone.name}` : ''}`;
  return `${what}; trying ${to}`;
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
  const byType = new Map<string, string[]>();
  for (const f of failures) {
    const list = byType.get(f.attempt.instanceType) ?? [];
    list.push(f.code === NO_IMAGE ? (f.detail ?? NO_IMAGE) : `${where(f.attempt, region)} (${f.code})`);
    byType.set(f.attempt.instanceType, list);
  }
  const noImage = failures.filter((f) => f.code === NO_IMAGE);
  const tried = [...byType]
    .map(([type, places]) =>
      noImage.some((f) => f.attempt.instanceType === type)
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
  return new CapacityError(
    `${noImage.length > 0 ? 'no instance type tried could be launched' : 'no capacity for any instance type tried'}: ${tried}`,
    'Try other instance types (--instance-type a,b,c), another region (--region), or later; for a quota, ask AWS for an increase (Service Quotas, "Running On-Demand G and VT instances").',
    { cause },
  );
}

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
  /** Types no other zone can help: a quota reached, or no image. */
  const skipped = new Set<string>();
  let lastError: unknown;
  const pending = (from: number) => attempts.slice(from).find((a) => !skipped.has(a.instanceType));
  for (let i = 0; i < attempts.length; i++) {
    const attempt = attempts[i]!;
    if (skipped.has(attempt.instanceType)) continue;
    ctx.signal?.throwIfAborted();
    try {
      return await launchOne(attempt);
    } catch (err) {
      const code = codeOf(err);
      const step = nextStep(code);
      if (step === 'give-up') throw err;
      if (step === 'next-type') skipped.add(attempt.instanceType);
      const failure: Failure = { attempt, code, detail: code === NO_IMAGE ? (err as Error).message : undefined };
      failures.push(failure);
      lastError = err;
      const next = pending(i + 1);
      if (next) ctx.log.info(fallbackMessage(failure, next, ctx.region));
    }
  }
  throw exhaustedError(failures, ctx.region, lastError);
}
