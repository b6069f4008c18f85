/**
 * Starting a stopped instance. It is tied to its availability zone, so when EC2 has no capacity
 * there for its type (common for GPUs: the agent stops idle instances daily), no other zone can
 * help: only time, or another type. The start is retried with backoff for --capacity-timeout; an
 * --instance-type given on the command line is the type to start it as (its type is changed
 * first), and a list `--instance-type a,b` is tried in order on each round. Nothing is lost when
 * it gives up: the instance stays stopped with its disk.
 */
import type { Cloud, InstanceInfo } from '../cloud/ec2.js';
import { CapacityError, type UserError } from '../errors.js';
import type { Options } from '../options.js';
import { formatDuration } from './limits.js';
import { sleep } from '../time.js';
import type { Logger } from '../ui/logger.js';

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30_000;

export type StartOptions = Pick<Options, 'instanceTypes' | 'capacityTimeout' | 'flagged'>;

/** The types to start a stopped instance as, in order: those named on the command line, else its own. */
export function typesToStart(o: StartOptions | undefined, instance: InstanceInfo): string[] {
  return o?.flagged?.has('instanceTypes') ? [...new Set(o.instanceTypes)] : [instance.type];
}

/** Starts a stopped instance, as described above. Returns its type now. */
export async function startStopped(ctx: { cloud: Cloud; log: Logger; signal?: AbortSignal; options?: StartOptions }, instance: InstanceInfo): Promise<string> {
  const { cloud, log, signal } = ctx;
  const types = typesToStart(ctx.options, instance);
  const timeoutMs = ctx.options?.capacityTimeout ?? 0;
  const deadline = Date.now() + timeoutMs;
  const where = instance.az ?? cloud.region;
  let current = instance.type;
  let delay = FIRST_DELAY_MS;
  let lastError: UserError | undefined;
  for (let round = 1; ; round++) {
    for (const type of types) {
      signal?.throwIfAborted();
      if (type !== current) {
        log.info(`changing the type of stopped instance ${instance.id} from ${current} to ${type}`);
        await cloud.setInstanceType(instance.id, type);
        current = type;
      }
      if (round === 1) log.info(`starting stopped instance ${instance.id} (${current})`);
      try {
        await cloud.start(instance.id);
        if (round > 1) log.info(`started ${instance.id} (${current}) on try ${round}`);
        return current;
      } catch (err) {
        if (!(err instanceof CapacityError)) throw err;
        lastError = err;
      }
    }
    const left = deadline - Date.now();
    const what = types.join(' or ');
    if (left <= 0) break;
    const wait = Math.min(delay, left);
    log.info(`no capacity for ${what} in ${where} yet (${instance.id} can only start there); trying again in ${Math.ceil(wait / 1000)}s (for up to ${formatDuration(timeoutMs)} in all)`);
    await sleep(wait, signal);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
  throw new CapacityError(
    `no capacity to start ${instance.id} as ${types.join(' or ')} in ${where}${timeoutMs > 0 ? ` (tried for ${formatDuration(timeoutMs)})` : ''}: it is still stopped, with its disk; nothing is lost`,
    `A stopped instance can only start in its own zone: run again later (--capacity-timeout waits longer), or start it as another type: ssh-ec2 --instance-type TYPE[,TYPE...] (e.g. a larger ${current.split('.')[0]} size).`,
    { cause: lastError },
  );
}
