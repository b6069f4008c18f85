/**
 * Find or launch: the instance belonging to this directory is found by its tags; a running one
 * is used, a stopped one started, and only when there is none is one launched — under a local
 * lock, so two runs started together in one directory end up on one instance.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { CloudError, ConfigError, ExitCode, UserError } from '../errors.js';
import type { Cloud, InstanceInfo } from '../cloud/ec2.js';
import { SECURITY_GROUP_NAME } from '../cloud/ssh-rules.js';
import { DEFAULT_IMAGE_PATTERNS } from '../cloud/dlami.js';
import { architectureFor } from '../cloud/image.js';
import { errorCode } from '../cloud/errors.js';
import { launchWithFallback, planAttempts, type Attempt } from '../cloud/capacity.js';
import type { ImageInfo } from '../cloud/image.js';
import type { InstanceTypeInfo } from '../cloud/ec2.js';
import type { Logger } from '../ui/logger.js';
import { LEGACY_IAM_PROFILE, LOGIN_TAG, loginUser, MIN_VOLUME_GIB, type Options } from '../options.js';
import { waitFor } from '../time.js';
import { acquireLock } from './lock.js';
import { findOwn, launchTags } from './owner.js';
import { startStopped, typesToStart, type StartOptions } from './start-stopped.js';
import { TAG, type Plan } from './plan.js';

export interface ProvisionContext {
  options: Options;
  plan: Plan;
  cloud: Cloud;
  log: Logger;
  lockPath: string;
  signal?: AbortSignal;
  /** Called as soon as an instance id is known, before any wait (so an interrupt can clean it up). */
  onInstance?: (i: InstanceInfo, launched: boolean) => void;
  /** False for --attach and the verbs: an existing instance or nothing (NoInstanceError). */
  mayLaunch?: boolean;
  /** ssh-ec2 here has connected to the instance before (see owner.ts: the migration). */
  pinned(id: string): boolean;
}

/** There is no instance for this directory, and none may be launched. */
export class NoInstanceError extends UserError {
  constructor(what: string, dir: string) {
    super(
      `no ssh-ec2 instance for ${dir}: ${what}`,
      ExitCode.nothingThere,
      'Nothing was launched. Run ssh-ec2 (or ssh-ec2 --detach CMD) there to start one.',
    );
  }
}

export interface Provisioned {
  instance: InstanceInfo;
  /** Launched by this run (nothing of the user's can be on it yet). */
  launched: boolean;
  /** Found stopped and started by this run. */
  started: boolean;
  /** Login user on the instance. */
  user: string;
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
      // A stopped instance EC2 refused to start is left as found: the finish has nothing to do with
      // it. One whose start failed otherwise may be starting: the finish is handed it (onStarted).
      const instance = await bringUp({ ...ctx, onStarted: () => ctx.onInstance?.(existing, false) }, existing);
      return {
        instance,
        launched: false,
        started: existing.state !== 'running' && existing.state !== 'pending',
        user: loginUser(ctx.options, existing.tags),
      };
    }
    if (ctx.mayLaunch === false) throw new NoInstanceError('nothing to attach to', ctx.plan.projectDir);
    return await launch(ctx, owner);
  } finally {
    lock.release();
  }
}

const PREFERENCE = ['running', 'pending', 'stopping', 'stopped'];

function pickExisting(found: InstanceInfo[], log: Logger): InstanceInfo | undefined {
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
  ctx: Pick<ProvisionContext, 'cloud' | 'log' | 'signal'> & { options?: StartOptions; onStarted?: () => void },
  instance: InstanceInfo,
): Promise<InstanceInfo> {
  const { cloud, log, signal } = ctx;
  if (instance.state === 'stopping') {
    log.info(`instance ${instance.id} is stopping; waiting to restart it`);
    await waitFor(async () => ((await cloud.describeInstance(instance.id))?.state === 'stopped' ? true : undefined), {
      timeoutMs: 10 * 60_000,
      what: `${instance.id} to stop`,
      hint: STUCK_HINT,
      signal,
    });
  }
  if (instance.state === 'stopping' || instance.state === 'stopped') {
    await startStopped({ ...ctx, onMaybeStarted: ctx.onStarted }, instance);
  } else {
    log.info(`using instance ${instance.id} (${instance.type}, ${instance.state})`);
    const asked = typesToStart(ctx.options, instance);
    if (!asked.includes(instance.type))
      log.info(
        `--instance-type ${asked.join(',')} not applied: ${instance.id} is ${instance.state}, and a type can only be changed while it is stopped`,
      );
  }
  ctx.onStarted?.();
  return waitRunning(ctx, instance.id);
}

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

async function launch(ctx: ProvisionContext, owner: string): Promise<Provisioned> {
  const { options: o, plan, cloud, log } = ctx;
  // --subnet-id: its VPC, and its zone only (the capacity fallback has no other zone to try).
  const network = o.subnetId
    ? cloud.subnet(o.subnetId).then(({ vpcId, zone }) => ({ vpcId, zones: [zone] }))
    : cloud.defaultVpc().then(async (vpcId) => ({ vpcId, zones: await cloud.defaultSubnets(vpcId) }));
  // A group the user names is used as it is: no address lookup, no rule added (see letCallerIn).
  const securityGroup = (vpcId: string): Promise<string> =>
    o.securityGroup
      ? cloud.givenSecurityGroup(o.securityGroup, vpcId)
      : sshCidr(o).then((cidr) => cloud.ensureSecurityGroup(vpcId, cidr, { Name: 'ssh-ec2', [TAG.project]: 'shared' }));
  // Every type is checked before anything is launched: a typo in the last one of
  // --instance-type a,b,c is reported now, not after the others found no capacity.
  const [types, securityGroupId, zones] = await Promise.all([
    Promise.all(o.instanceTypes.map((t) => cloud.describeInstanceType(t))),
    network.then(({ vpcId }) => securityGroup(vpcId)),
    network.then((n) => n.zones),
  ]);
  // One image per architecture: a fallback type of another architecture gets its own.
  const images = new Map<string, Promise<ImageInfo>>();
  const imageFor = (t: InstanceTypeInfo): Promise<ImageInfo> => {
    const architecture = o.imageId ? undefined : architectureFor(t.architectures);
    let image = images.get(architecture ?? '');
    if (!image) {
      image = cloud.resolveImage({
        imageId: o.imageId,
        namePatterns: o.imageName ? [o.imageName] : DEFAULT_IMAGE_PATTERNS,
        owners: o.imageOwners,
        architecture,
        region: cloud.region,
      });
      images.set(architecture ?? '', image);
    }
    return image;
  };
  const userData = readUserData(o.userData);
  let iamProfile = o.iamProfile;
  let announced: string | undefined;
  let launchSent = false;

  const launchOne = async ({ instanceType, zone }: Attempt): Promise<{ instance: InstanceInfo; user: string }> => {
    const image = await imageFor(types.find((t) => t.type === instanceType)!);
    if (o.volumeSize !== undefined && o.volumeSize < image.rootSizeGiB) {
      throw new ConfigError(
        `--volume-size ${o.volumeSize} is smaller than the image's ${image.rootSizeGiB} GiB`,
        `Use at least ${image.rootSizeGiB}.`,
      );
    }
    const user = o.user ?? image.defaultUser;
    if (announced !== instanceType)
      log.info(`launching ${instanceType} from ${image.name} (${image.id}) in ${zone?.name ?? cloud.region}`);
    announced = instanceType;
    const spec = {
      imageId: image.id,
      instanceType,
      subnetId: zone?.subnetId,
      keyName: o.identity || o.keyName ? plan.keyName : undefined,
      securityGroupIds: [securityGroupId],
      iamProfile,
      userData,
      rootDevice: image.rootDevice,
      volumeSizeGiB: o.volumeSize ?? Math.max(image.rootSizeGiB, MIN_VOLUME_GIB),
      // A poweroff from inside (the user's, or the agent's when a job is done or a limit is hit)
      // must never delete results that were not brought back: it stops. Only ssh-ec2 terminates.
      shutdownBehavior: 'stop' as const,
      tags: { ...launchTags(plan, owner), [LOGIN_TAG]: user },
      // A new attempt is a new request; the SDK's retries of this one reuse its token.
      clientToken: randomUUID(),
    };
    launchSent = true;
    try {
      return { instance: await cloud.launch(spec), user };
    } catch (err) {
      // The original's default instance profile is used only where it exists.
      const cause = (err as { cause?: unknown }).cause ?? err;
      if (
        iamProfile !== LEGACY_IAM_PROFILE ||
        !/iamInstanceProfile|instance profile/i.test(String((cause as Error).message)) ||
        errorCode(cause) === 'UnauthorizedOperation'
      )
        throw err;
      log.detail(`instance profile ${LEGACY_IAM_PROFILE} not usable here; launching without one`);
      iamProfile = undefined;
      return { instance: await cloud.launch({ ...spec, iamProfile, clientToken: randomUUID() }), user };
    }
  };
  let got: { instance: InstanceInfo; user: string };
  try {
    got = await launchWithFallback(
      planAttempts(
        types.map((t) => t.type),
        zones,
      ),
      launchOne,
      { log, region: cloud.region, signal: ctx.signal },
    );
  } catch (err) {
    const anyway = launchSent && mayHaveLaunched(err) ? await launchedAnyway(ctx) : undefined;
    if (!anyway) throw err;
    log.warn(`${(err as Error).message}; but EC2 launched ${anyway.id} all the same: using it`);
    cloud.noteNew(anyway.id);
    got = { instance: anyway, user: loginUser(o, anyway.tags) };
  }
  const { instance: launched, user } = got;
  ctx.onInstance?.(launched, true);
  log.info(`launched ${launched.id}`);
  return { instance: await waitRunning(ctx, launched.id, true), launched: true, started: false, user };
}

/**
 * A launch that failed without EC2 saying no (a 5xx or throttling after the SDK's retries, the
 * network): EC2 may have launched the instance all the same, tagged as this directory's.
 */
function mayHaveLaunched(err: unknown): boolean {
  if (!(err instanceof CloudError)) return false;
  const cause = err.cause as { $metadata?: { httpStatusCode?: number } } | undefined;
  const status = cause?.$metadata?.httpStatusCode;
  return status === undefined || status >= 500 || /Throttl|RequestLimitExceeded/.test(errorCode(cause));
}

/**
 * The instance such a launch may have left, looked for by this directory's tags (the lock keeps
 * any other run here from launching meanwhile). DescribeInstances may lag a launch by a moment.
 */
async function launchedAnyway(ctx: ProvisionContext): Promise<InstanceInfo | undefined> {
  for (let i = 0; i < 3; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 1000));
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

function readUserData(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return existsSync(value) ? readFileSync(value, 'utf8') : value;
}

const allowed = new Map<string, Promise<void>>();

/**
 * A reused instance may be reached from another address than the one it was launched from (the
 * laptop moved), and so may any instance after a dropped connection: the caller's address is let
 * into the ssh-ec2 group of the instance's VPC while ssh connects. Once per VPC and run, unless
 * `fresh` (after a drop: the address may have changed). It never fails the run: the address may
 * already be let in some other way. An instance that is not in ssh-ec2's group (launched with
 * --security-group, an administrator's) is left alone: that group's rules are not ours to change.
 */
export function letCallerIn(
  o: Options,
  cloud: Cloud,
  instance: InstanceInfo,
  log: Logger,
  fresh = false,
): Promise<void> {
  const vpcId = instance.vpcId;
  if (!vpcId || !inSshEc2Group(instance)) return Promise.resolve();
  let done = fresh ? undefined : allowed.get(vpcId);
  if (!done) {
    done = sshCidr(o)
      .then((cidr) => cloud.allowSsh(vpcId, cidr))
      .then(
        () => undefined,
        (err: unknown) =>
          log.detail(
            `could not let your address into the ssh-ec2 security group of ${vpcId}: ${(err as Error).message}`,
          ),
      );
    allowed.set(vpcId, done);
  }
  return done;
}

/** Whether the instance is in a group named as ssh-ec2's (allowSsh then checks it is ssh-ec2's). Unknown groups: assumed so, as before. */
export function inSshEc2Group(instance: InstanceInfo): boolean {
  return !instance.securityGroups || instance.securityGroups.some((g) => g.name === SECURITY_GROUP_NAME);
}

/** Who may reach port 22: the given CIDR, else this machine's public address as a /32. */
async function sshCidr(o: Options): Promise<string> {
  if (o.sshCidr) return o.sshCidr;
  try {
    const r = await fetch(o.ipUrl, { signal: AbortSignal.timeout(5000) });
    const ip = (await r.text()).trim();
    if (!r.ok || !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new Error(`unexpected answer "${ip.slice(0, 40)}"`);
    return `${ip}/32`;
  } catch (err) {
    throw new ConfigError(
      `could not find your public address from ${o.ipUrl} (${(err as Error).message})`,
      'Pass --ssh-cidr with the address ssh comes from, e.g. --ssh-cidr 203.0.113.7/32.',
    );
  }
}
