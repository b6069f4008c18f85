/**
 * --dry-run: what a run would do, resolved as the run resolves it — who and where, the instance it
 * would reuse, start or launch (image, type, price, zones, tags, security group, user data), the
 * ssh and rsync command lines, what would go up and what would be held back, how it would end —
 * with the run's own lookups minus every step that changes something: no mutating API call, no
 * lock, no journal, no cache or probe answer written, no ssh connection. The cache is read (what
 * came from it is said). The words: dry-run-words.ts.
 */
import type { Logger } from '../ui/logger.js';
import { hostname } from 'node:os';
import { pinnedZones, planAttempts } from '../cloud/capacity.js';
import { marketsOf } from '../cloud/spot-market.js';
import type { ImageInfo } from '../cloud/image.js';
import { ownerTag } from '../cloud/identity.js';
import { hourlyPrice } from '../cloud/prices.js';
import { budgetHourly } from './type-check.js';
import type { Cloud, InstanceInfo } from '../cloud/port.js';
import { loginUser, originOf, type Options } from '../options.js';
import { jobCommand, jobStartCommand } from '../remote/on-instance.js';
import { joinCommand, sessionCommand } from '../remote/remote-command.js';
import { dockerOf } from '../remote/docker.js';
import { requireRsync, rsyncSource } from '../remote/rsync-capabilities.js';
import { pushArgv } from '../remote/rsync.js';
import { masterStartArgv, remoteArgv, rsyncSshArgv, wantsTerminal } from '../remote/ssh.js';
import { readOnly } from '../state/cache.js';
import { resolvePaths, type Paths } from '../state/paths.js';
import { previewSyncUp, type SyncPreview } from '../sync/sync-preview.js';
import { targetOf } from './connect.js';
import { localUser } from './context.js';
import { multiplexerOf } from './job.js';
import { instanceProfile, launchSpec, launchUserData, marketOf, maxPriceOf } from './launch.js';
import { accountCache, launchCache, plannedSecurityGroup, readLookups, type GroupPlan } from './launch-lookups.js';
import { launchLimits, resolveLimits, type Limits } from './limits.js';
import { findOwn } from './owner.js';
import { makePlan, type Plan } from './plan.js';
import { pickExisting } from './provision.js';
import { pricesFor, type PriceFacts } from './price-line.js';
import { forwardsOf, pinnedIn, type SessionDeps } from './run-session.js';
import { typesToStart } from './start-stopped.js';
import { loadCloud } from './story.js';

/** Where the instance is not known yet, the command lines name it so. */
export const PLACEHOLDER = {
  id: '<instance-id>',
  host: '<address>',
  key: '<instance-connect-key>',
  session: '<session-id>',
  token: '<token>',
  rsh: '<rsh-wrapper>',
  exclude: '<exclude-file>',
} as const;

export interface FoundInstance {
  kind: 'existing';
  instance: InstanceInfo;
  /** What the run does with it. */
  action: 'reuse' | 'start' | 'wait, then start';
  /** A stopped instance's new type (--instance-type on the command line). */
  newType?: string;
  others: InstanceInfo[];
}

export interface NewInstance {
  kind: 'launch';
  /** Each type of --instance-type, its architecture, price (the launch's line) and image, in the order tried. */
  types: { type: string; architecture?: string; price: PriceFacts; image: ImageInfo }[];
  /** (type, zone) in the order the capacity fallback tries them. */
  attempts: { type: string; zone?: string; subnet?: string; market?: 'spot' }[];
  group: GroupPlan;
  tags: Record<string, string>;
  iamProfile?: string;
  keyName?: string;
  userData: { parts: string[]; bytes: number };
  volumeSizeGiB: number;
}

export interface DryRun {
  identity: { account: string; arn: string; owner: string };
  region: string;
  plan: Pick<Plan, 'projectDir' | 'name' | 'remoteDir'>;
  instance: FoundInstance | NewInstance | { kind: 'none'; why: string };
  user: string;
  key: string;
  limits: Limits;
  commands: { ssh: string[]; session: string[]; rsync?: string[]; rsyncSsh?: string[] };
  /** What runs there, and how: plain ssh, or a tmux/screen job. */
  runs: { command?: string; mux: 'tmux' | 'screen' | 'none'; tty: boolean };
  sync?: SyncPreview;
  /** Whether only ids of the known instance fill the command lines, or placeholders. */
  placeholders: boolean;
  finish: { state: Options['finalState']; source?: string; detached: boolean; attach: boolean };
  /** Cache keys a value came from. */
  fromCache: string[];
}

/** Resolves the run's plan; reads only. */
export async function resolveDryRun(deps: SessionDeps): Promise<DryRun> {
  const { options: o, log } = deps;
  const plan = makePlan(o, { cwd: deps.cwd, localUser: localUser(deps.env), localHost: hostname() });
  const paths = resolvePaths(deps.env);
  const cloud = await loadCloud(deps);
  const ctx = { options: o, cloud, cacheDir: paths.cache, log };
  const [caller, { owner, instances }] = await Promise.all([
    cloud.caller(),
    findOwn({ cloud, plan, log, pinned: pinnedIn(paths), lookOnly: true }),
  ]);
  const found = instances.length > 0 ? pickExisting(instances, log) : undefined;
  const fromCache: string[] = [];
  let instance: DryRun['instance'];
  let user: string;
  let limits: Limits;
  if (found) {
    instance = existing(o, found, instances);
    user = loginUser(o, found.tags);
    limits = resolveLimits(o, found, instance.action !== 'reuse', undefined, hourlyPrice(ctx.cloud.region, found.type));
  } else if (o.attach) {
    instance = { kind: 'none', why: 'no instance of this directory: --attach would stop there' };
    user = o.user ?? '<user>';
    limits = launchLimits(o);
  } else {
    limits = launchLimits(o, undefined, budgetHourly(o, ctx.cloud.region));
    const launch = await newInstance(ctx, plan, owner, limits, fromCache);
    instance = launch.instance;
    user = launch.user;
  }
  const known = found && (found.publicIp ?? found.privateIp);
  const commands = await commandLines(deps, paths, plan, {
    id: found?.id ?? PLACEHOLDER.id,
    host: (found?.state === 'running' && known) || PLACEHOLDER.host,
    user,
  });
  return {
    identity: { account: caller.account, arn: caller.arn, owner: ownerTag(caller) },
    region: cloud.region,
    plan,
    instance,
    user,
    key: o.identity ? `-i ${o.identity} (key pair ${plan.keyName})` : 'a fresh key pushed with EC2 Instance Connect',
    limits,
    commands,
    runs: { command: joinCommand(o.command), mux: multiplexerOf(o), tty: wantsTerminal(o.tty, deps) },
    sync: o.rsync && !o.attach ? previewSyncUp(plan.projectDir) : undefined,
    placeholders: !(found?.state === 'running' && known),
    finish: { state: o.finalState, source: finalStateSource(o), detached: o.detach, attach: o.attach },
    fromCache,
  };
}

/** --stop, -t, -l all set the final state: a flag is named by the state it asks for. */
function finalStateSource(o: Options): string | undefined {
  const source = originOf(o, 'finalState');
  return source?.startsWith('-') ? `--${o.finalState}` : source;
}

function existing(o: Options, found: InstanceInfo, all: InstanceInfo[]): FoundInstance {
  const stopped = found.state === 'stopped' || found.state === 'stopping';
  const types = typesToStart(o, found);
  return {
    kind: 'existing',
    instance: found,
    action: found.state === 'stopping' ? 'wait, then start' : stopped ? 'start' : 'reuse',
    newType: stopped && !types.includes(found.type) ? types[0] : undefined,
    others: all.filter((i) => i !== found),
  };
}

/** What a launch would ask for: the launch's own lookups, its security group only looked for. */
async function newInstance(
  ctx: { options: Options; cloud: Cloud; cacheDir: string; log: Logger },
  plan: Plan,
  owner: string,
  limits: Limits,
  fromCache: string[],
): Promise<{ instance: NewInstance; user: string }> {
  const o = ctx.options;
  const cache = readOnly(await launchCache(ctx));
  const account = readOnly(await accountCache(ctx));
  const { network, types, imageFor } = readLookups(ctx, cache);
  const [net, typeInfos] = await Promise.all([network, types]);
  const [images, group] = await Promise.all([
    Promise.all(typeInfos.map(imageFor)),
    plannedSecurityGroup(ctx, cache, net.vpcId),
  ]);
  const attempts = planAttempts(
    typeInfos.map((t) => t.type),
    pinnedZones(net.zones, o.availabilityZone, ctx.cloud.region),
    marketsOf(o),
  );
  const prices = await Promise.all(
    typeInfos.map(async (t): Promise<PriceFacts> => {
      // Its first attempt: where the launch would try it first, and how.
      const first = attempts.find((a) => a.instanceType === t.type)!;
      const market = marketOf(first);
      const zone = first.zone?.name;
      const region = ctx.cloud.region;
      const known = await pricesFor(ctx.cloud, t.type, zone, market);
      return { region, type: t.type, zone, market, maxPrice: maxPriceOf(o), prices: known };
    }),
  );
  const userData = launchUserData(o, limits);
  const { spec, user } = launchSpec({ o, plan, owner, limits, userData, image: images[0]!, attempt: attempts[0]! });
  const iamProfile = instanceProfile(o, account);
  fromCache.push(...cache.used, ...account.used);
  return {
    user,
    instance: {
      kind: 'launch',
      types: typeInfos.map((t, i) => ({
        type: t.type,
        architecture: t.architectures.join('/'),
        price: { ...prices[i]!, image: `${images[i]!.name} (${images[i]!.id})` },
        image: images[i]!,
      })),
      attempts: attempts.map((a) => ({
        type: a.instanceType,
        zone: a.zone?.name,
        subnet: a.zone?.subnetId,
        ...(a.market === 'spot' && { market: 'spot' as const }),
      })),
      group,
      tags: spec.tags,
      iamProfile,
      keyName: spec.keyName,
      userData: {
        parts: [
          'ssh-ec2-boot-limit.sh (text/cloud-boothook: the boot-time limit)',
          ...(o.userData ? [ownPart(o)] : []),
        ],
        bytes: Buffer.byteLength(userData(user)),
      },
      volumeSizeGiB: spec.volumeSizeGiB,
    },
  };
}

const ownPart = (o: Options) => `yours (${originOf(o, 'userData') ?? '--user-data'})`;

/** The ssh and rsync lines as the run builds them (ssh.ts, rsync.ts), for `to` (maybe placeholders). */
async function commandLines(
  deps: SessionDeps,
  paths: Paths,
  plan: Plan,
  to: { id: string; host: string; user: string },
): Promise<DryRun['commands']> {
  const { options: o } = deps;
  const known = targetOf(to.id, to.host, to.user, { identityFile: o.identity ?? PLACEHOLDER.key }, o, paths);
  // The master's socket is named after the instance id: none yet, none named.
  const t = to.id === PLACEHOLDER.id ? { ...known, controlPath: '<control-socket>' } : known;
  const tty = wantsTerminal(o.tty, deps);
  const mux = multiplexerOf(o);
  const command =
    mux === 'none'
      ? `export SSH_EC2_SESSION=${PLACEHOLDER.session}; ${sessionCommand(plan.remoteDir, joinCommand(o.command), { tty, docker: dockerOf(o) })}`
      : o.attach
        ? jobCommand('attach', plan.projectId)
        : jobStartCommand({
            id: plan.projectId,
            mux,
            dir: plan.remoteDir,
            detached: o.detach,
            command: joinCommand(o.command),
            token: PLACEHOLDER.token,
            docker: dockerOf(o),
          });
  const session = remoteArgv(t, command, { tty, forwards: o.detach ? undefined : forwardsOf(o) });
  if (!o.rsync || o.attach) return { ssh: masterStartArgv(t), session };
  // The local rsync's abilities decide its options; a fresh probe's answer is not kept.
  const caps = await requireRsync({ ...rsyncSource({ options: o, paths }), keep: false }, ['up', 'back']);
  const rsync = pushArgv(
    {
      rsh: PLACEHOLDER.rsh,
      remote: `${to.user}@${to.host}`,
      remoteDir: plan.remoteDir,
      excludeFile: PLACEHOLDER.exclude,
      localDir: plan.projectDir,
    },
    caps,
  );
  return { ssh: masterStartArgv(t), session, rsync, rsyncSsh: rsyncSshArgv(t) };
}
