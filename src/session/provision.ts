/**
 * Find or launch: the instance belonging to this directory is found by its tags; a running one
 * is used, a stopped one started, and only when there is none is one launched — under a local
 * lock, so two runs started together in one directory end up on one instance.
 */
import { CloudError, ConfigError } from '../errors.js';
import { NoInstanceError, type NoInstanceVerb } from './no-instance.js';
import type { Cloud, InstanceInfo } from '../cloud/port.js';
import type { Logger } from '../ui/logger.js';
import { loginUser, type Options } from '../options.js';
import { waitFor } from '../time.js';
import { launch } from './launch.js';
import { acquireLock } from './lock.js';
import { findOwn } from './owner.js';
import { startStopped, typesToStart } from './start-stopped.js';
import { checkedStartTypes, spotNotApplied } from './start-check.js';
import type { Plan } from './plan.js';
import { attachDataVolume, checkAttachable, type AttachedVolume } from './data-volume.js';

// Its callers' names: letCallerIn is ssh-access.ts's, NoInstanceError no-instance.ts's.
export { letCallerIn } from './ssh-access.js';
export { NoInstanceError } from './no-instance.js';

export interface ProvisionContext {
  options: Options;
  plan: Plan;
  cloud: Cloud;
  log: Logger;
  lockPath: string;
  /** Where launches keep what they looked up (state/cache.ts); none: no cache. */
  cacheDir?: string;
  signal?: AbortSignal;
  /** Called as soon as an instance id is known, before any wait (so an interrupt can clean it up). */
  onInstance?: (i: InstanceInfo, launched: boolean) => void;
  /** False for --attach and the verbs: an existing instance or nothing (NoInstanceError). */
  mayLaunch?: boolean;
  /** Who says there is none, when none may be launched (NoInstanceError's words); --attach by default. */
  noInstance?: NoInstanceVerb;
  /** ssh-ec2 here has connected to the instance before (see owner.ts: the migration). */
  pinned(id: string): boolean;
}

export interface Provisioned {
  instance: InstanceInfo;
  /** Launched by this run (nothing of the user's can be on it yet). */
  launched: boolean;
  /** Found stopped and started by this run. */
  started: boolean;
  /** Login user on the instance. */
  user: string;
  /** Known from an earlier run and verified over its open connection, without AWS (warm.ts). */
  warm?: boolean;
  /** The data volume (--volume) attached to it, to be mounted once connected (data-volume.ts). */
  volume?: AttachedVolume;
}

export async function provision(ctx: ProvisionContext): Promise<Provisioned> {
  const lock = await acquireLock(ctx.lockPath, {
    signal: ctx.signal,
    onWait: (pid) => ctx.log.info(`waiting for another ssh-ec2 in this directory (pid ${pid}) to get its instance`),
  });
  try {
    const { owner, instances } = await findOwn(ctx);
    const existing = pickExisting(instances, ctx.log);
    if (existing) {
      if (existing.state !== 'running' && existing.state !== 'pending') await checkAttachable(ctx, existing, owner);
      // A stopped instance EC2 refused to start is left as found: the finish has nothing to do with
      // it. One whose start failed otherwise may be starting: the finish is handed it (onStarted).
      const instance = await bringUp({ ...ctx, onStarted: () => ctx.onInstance?.(existing, false) }, existing);
      return {
        instance,
        launched: false,
        started: existing.state !== 'running' && existing.state !== 'pending',
        user: loginUser(ctx.options, existing.tags),
        volume: await attachDataVolume(ctx, instance, owner),
      };
    }
    if (ctx.mayLaunch === false)
      throw new NoInstanceError(ctx.noInstance ?? 'attach', ctx.plan.projectDir, ctx.cloud.region);
    const { instance, user } = await launch(ctx, owner);
    ctx.onInstance?.(instance, true);
    ctx.log.info(`launched ${instance.id}`);
    const running = await ctx.log.progress(booting(instance.id), () => waitRunning(ctx, instance.id, true));
    const volume = await attachDataVolume(ctx, running, owner);
    return { instance: running, launched: true, started: false, user, volume };
  } finally {
    lock.release();
  }
}

const PREFERENCE = ['running', 'pending', 'stopping', 'stopped'];

/** The instance a run uses when several belong to the directory: the most alive (named, with the others). */
export function pickExisting(found: InstanceInfo[], log: Logger): InstanceInfo | undefined {
  const sorted = [...found].sort((a, b) => PREFERENCE.indexOf(a.state) - PREFERENCE.indexOf(b.state));
  if (sorted.length > 1) {
    log.warn(
      `${sorted.length} instances belong to this directory; using ${sorted[0]!.id} (${sorted[0]!.state}). Others: ${sorted
        .slice(1)
        .map((i) => `${i.id} (${i.state})`)
        .join(', ')}`,
    );
  }
  return sorted[0];
}

const STUCK_HINT =
  'Look at the instance in the EC2 console (its state and status checks), then run again; ssh-ec2 down ends it.';

/**
 * A found instance made ready: a stopped one is started (retried while EC2 has no capacity, its
 * type changed to one named on the command line: start-stopped.ts). `onStarted` is called once
 * EC2 has accepted the start, or may have (a start that failed without EC2 refusing it): until
 * then the instance is as the run found it.
 */
export async function bringUp(
  ctx: Pick<ProvisionContext, 'cloud' | 'log' | 'signal'> & { options?: Options; onStarted?: () => void },
  instance: InstanceInfo,
): Promise<InstanceInfo> {
  const { cloud, log, signal } = ctx;
  if (ctx.options) spotNotApplied(ctx.options, instance, log);
  if (instance.state === 'stopping') {
    log.info(`instance ${instance.id} is stopping; waiting to restart it`);
    await log.progress(`waiting for ${instance.id} to stop`, () =>
      waitFor(async () => ((await cloud.describeInstance(instance.id))?.state === 'stopped' ? true : undefined), {
        timeoutMs: 10 * 60_000,
        what: `${instance.id} to stop`,
        hint: STUCK_HINT,
        signal,
      }),
    );
  }
  if (instance.state === 'stopping' || instance.state === 'stopped') {
    // The launch's guardrails first: nothing is changed or started before (start-check.ts).
    const o = ctx.options;
    const options = o && { ...o, instanceTypes: await checkedStartTypes({ ...ctx, options: o }, instance) };
    await log.progress(`starting ${instance.id}`, () =>
      startStopped({ ...ctx, options, onMaybeStarted: ctx.onStarted }, instance),
    );
  } else {
    log.info(`using instance ${instance.id} (${instance.type}, ${instance.state})`);
    const asked = typesToStart(ctx.options, instance);
    if (!asked.includes(instance.type))
      log.info(
        `--instance-type ${asked.join(',')} not applied: ${instance.id} is ${instance.state}, and a type can only be changed while it is stopped`,
      );
  }
  ctx.onStarted?.();
  if (instance.state === 'running') return waitRunning(ctx, instance.id);
  return log.progress(booting(instance.id), () => waitRunning(ctx, instance.id));
}

/** The wait from a launch or a start until sshd answers, said the same in both steps (the logger counts on). */
export const booting = (id: string) => `waiting for ${id} to boot`;

/**
 * Until the instance runs and has an address. One this run launched may be unknown to EC2 for a
 * moment (the port retries that), and may end while pending: then EC2's reason is the message.
 */
export async function waitRunning(
  ctx: Pick<ProvisionContext, 'cloud' | 'signal'>,
  id: string,
  launched = false,
): Promise<InstanceInfo> {
  return waitFor(
    async () => {
      const i = await ctx.cloud.describeInstance(id);
      if (launched && i && ['shutting-down', 'terminated'].includes(i.state)) {
        throw new CloudError(
          `instance ${id} was ${i.state === 'terminated' ? 'terminated' : 'ended'} by EC2 while starting: ${i.stateReason ?? 'EC2 gave no reason'}`,
          'Nothing is left running. A KMS key the launch may not use (Client.InternalError) needs rights on that key or another encryption key; no capacity (Server.InsufficientInstanceCapacity): try again, or another type (--instance-type) or region.',
        );
      }
      if (!i || ['shutting-down', 'terminated'].includes(i.state)) {
        throw new ConfigError(`instance ${id} is ${i?.state ?? 'gone'}`, 'Run again to launch a new one.');
      }
      return i.state === 'running' && (i.publicIp || i.privateIp) ? i : undefined;
    },
    { timeoutMs: 10 * 60_000, what: `${id} to be running`, hint: STUCK_HINT, signal: ctx.signal },
  );
}
