/**
 * Starting a stopped instance. It is tied to its availability zone, so when EC2 has no capacity
 * there for its type (common for GPUs: the agent stops idle instances daily), no other zone can
 * help: only time, or another type. The start is retried with backoff for --capacity-timeout; an
 * --instance-type given on the command line (or by a preset named there with --preset) is the
 * type to start it as (its type is changed first), and a list `--instance-type a,b` is tried in
 * order on each round. Nothing is lost when it gives up: the instance stays stopped with its disk.
 */
import { type CodeKind, kindOf, unanswered } from '../cloud/aws-codes.js';
import { codeOf, isQuota, isShortage, nextStep } from '../cloud/capacity.js';
import type { Cloud, InstanceInfo } from '../cloud/ec2.js';
import { CapacityError, type UserError } from '../errors.js';
import type { Options } from '../options.js';
import { formatDuration } from './limits.js';
import { backoff } from '../time.js';
import type { Logger } from '../ui/logger.js';

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30_000;

export type StartOptions = Pick<Options, 'instanceTypes' | 'capacityTimeout' | 'flagged'>;

/** The types to start a stopped instance as, in order: those chosen on the command line (flagged), else its own. */
export function typesToStart(o: StartOptions | undefined, instance: InstanceInfo): string[] {
  return o?.flagged?.has('instanceTypes') ? [...new Set(o.instanceTypes)] : [instance.type];
}

type StartContext = {
  cloud: Cloud;
  log: Logger;
  signal?: AbortSignal;
  options?: StartOptions;
  /** Called when EC2 may have started the instance even though the start failed: the finish must see to it. */
  onMaybeStarted?: () => void;
};

/** Kinds of codes (cloud/aws-codes.ts) by which EC2 clearly refused a start: nothing was started. */
const REFUSALS: readonly (CodeKind | undefined)[] = ['wrong-state', 'denied', 'rejected', 'not-found', 'subnet-full'];

/**
 * Whether a failed StartInstances may have started the instance all the same: anything but a
 * clear refusal (a 5xx or throttling after the SDK's retries, the network) may follow an EC2 that
 * accepted the start. The sandbox, like EC2 at times, answers no capacity with a 500: codes first.
 */
export function mayHaveStarted(err: unknown): boolean {
  const code = codeOf(err);
  if (nextStep(code) !== 'give-up' || REFUSALS.includes(kindOf(code)) || /AccessDenied|Unauthorized/.test(code))
    return false;
  return unanswered((err as { cause?: unknown }).cause, code);
}

/**
 * Starts a stopped instance, as described above; returns the type it started as. Given up (or
 * interrupted), the instance is left as it was found, its own type included.
 */
export async function startStopped(ctx: StartContext, instance: InstanceInfo): Promise<string> {
  const { cloud, log } = ctx;
  const now = { type: instance.type };
  try {
    return await startWithRetries(ctx, instance, now);
  } catch (err) {
    if (now.type !== instance.type) {
      await cloud.setInstanceType(instance.id, instance.type).then(
        () => log.info(`${instance.id} set back to ${instance.type}`),
        (e: unknown) =>
          log.warn(
            `could not set ${instance.id} back to ${instance.type} (${(e as Error).message}): it is stopped as ${now.type}`,
          ),
      );
    }
    throw err;
  }
}

/**
 * Each type in turn, round after round with backoff, until one starts or --capacity-timeout is
 * over. `now.type`: the instance's type as it changes.
 */
async function startWithRetries(ctx: StartContext, instance: InstanceInfo, now: { type: string }): Promise<string> {
  const { cloud, log, signal } = ctx;
  const types = typesToStart(ctx.options, instance);
  const timeoutMs = ctx.options?.capacityTimeout ?? 0;
  const deadline = Date.now() + timeoutMs;
  const where = instance.az ?? cloud.region;
  let lastError: UserError | undefined;
  /** Types no wait can start it as, with EC2's code. */
  const unfixable = new Map<string, string>();
  const rounds = backoff({
    firstDelayMs: FIRST_DELAY_MS,
    maxDelayMs: MAX_DELAY_MS,
    deadline,
    lastAtDeadline: true,
    signal,
    onWait: (wait) => {
      const waiting = types.filter((t) => !unfixable.has(t));
      log.info(
        `no capacity for ${waiting.join(' or ')} in ${where} yet (${instance.id} can only start there); trying again in ${Math.ceil(wait / 1000)}s (for up to ${formatDuration(timeoutMs)} in all)`,
      );
    },
  });
  for await (const round of rounds) {
    for (const type of types) {
      if (unfixable.has(type)) continue;
      signal?.throwIfAborted();
      if (type !== now.type) {
        log.info(`changing the type of stopped instance ${instance.id} from ${now.type} to ${type}`);
        await cloud.setInstanceType(instance.id, type);
        now.type = type;
      }
      if (round === 1) log.info(`starting stopped instance ${instance.id} (${type})`);
      try {
        await cloud.start(instance.id);
        if (round > 1) log.info(`started ${instance.id} (${type}) on try ${round}`);
        return type;
      } catch (err) {
        const code = codeOf(err);
        if (isShortage(code)) {
          lastError = err as UserError;
          continue;
        }
        if (nextStep(code) !== 'give-up') {
          // A quota, or a type its zone does not offer: waiting cannot help, another type may.
          unfixable.set(type, code);
          lastError = err as UserError;
          continue;
        }
        if (mayHaveStarted(err)) {
          log.warn(
            `EC2 did not answer the start of ${instance.id} (${(err as Error).message}): it may be starting all the same, so the finish sees to it (stopped, or said to be left running)`,
          );
          ctx.onMaybeStarted?.();
        }
        throw err;
      }
    }
    if (unfixable.size === types.length) throw unfixableError(instance, unfixable, cloud.region, lastError);
  }
  const tried = types.filter((t) => !unfixable.has(t));
  throw new CapacityError(
    `no capacity to start ${instance.id} as ${tried.join(' or ')} in ${where}${timeoutMs > 0 ? ` (tried for ${formatDuration(timeoutMs)})` : ''}${unfixable.size > 0 ? ` (${reasons(instance, unfixable, cloud.region)})` : ''}: it is still stopped${types.includes(instance.type) ? '' : ` (as ${instance.type})`}, with its disk; nothing is lost`,
    'A stopped instance can only start in its own zone: run again later (--capacity-timeout waits longer), or start it as another type (another size or family): ssh-ec2 --instance-type TYPE[,TYPE...].',
    { cause: lastError },
  );
}

/** Every type refused for a reason no wait fixes: a quota (the region's), or a type the zone does not offer. */
function unfixableError(
  instance: InstanceInfo,
  unfixable: Map<string, string>,
  region: string,
  cause: unknown,
): CapacityError {
  const why = reasons(instance, unfixable, region);
  const quota = [...unfixable.values()].some(isQuota);
  return new CapacityError(
    `cannot start ${instance.id}: ${why}; it is still stopped${unfixable.has(instance.type) ? '' : ` (as ${instance.type})`}, with its disk; nothing is lost`,
    `${quota ? 'Ask AWS for a quota increase (Service Quotas, e.g. "Running On-Demand G and VT instances"), or start' : 'Start'} it as another type (another size or family): ssh-ec2 --instance-type TYPE[,TYPE...].`,
    { cause },
  );
}

/** "g5.xlarge: quota reached in eu-central-1 (VcpuLimitExceeded)" for each type no wait can help. */
function reasons(instance: InstanceInfo, unfixable: Map<string, string>, region: string): string {
  return [...unfixable]
    .map(([type, code]) =>
      isQuota(code)
        ? `${type}: quota reached in ${region} (${code})`
        : `${type}: not offered in ${instance.az ?? region} (${code})`,
    )
    .join('; ');
}
