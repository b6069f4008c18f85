/**
 * The story of one run: provision → connect → sync up → run → sync back → finish.
 * The finish (finish.ts) is written once and reached from success, failure and signals alike.
 */
import { hostname, userInfo } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Cloud } from '../cloud/ec2.js';
import type { Options } from '../options.js';
import { Connection, type KeySource } from '../remote/connection.js';
import { joinCommand, sessionCommand } from '../remote/remote-command.js';
import type { SshTarget } from '../remote/ssh.js';
import { privateDir, resolvePaths, shortHash, type Paths } from '../state/paths.js';
import { syncUp } from '../sync/sync-up.js';
import { requireRsync, rsyncSource } from '../remote/rsync-capabilities.js';
import type { Logger } from '../ui/logger.js';
import { onSpawn, requirePrograms } from '../remote/exec.js';
import { prepareScript } from '../remote/on-instance.js';
import { endSessions, finish, type SessionState } from './finish.js';
import { checkDefaultImageSupports } from '../cloud/dlami.js';
import { checkSessionOptions, multiplexerOf, runJob } from './job.js';
import { checkHostKey, watchConsole } from './host-key.js';
import { instanceConnectKey, pemKey } from './keys.js';
import { Journal, newSessionId, ownChildren, pendingFinalState, takeDeadJournals, type Pending } from './journal.js';
import { agentSettings, changedTags, formatDuration, limitTags, resolveLimits, type Limits } from './limits.js';
import { makePlan, type Plan } from './plan.js';
import { letCallerIn, provision, type Provisioned } from './provision.js';
import { trapSignals } from './signals.js';

export interface SessionDeps {
  options: Options;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  log: Logger;
  stdinIsTTY: boolean;
  loadCloud?: (region: string | undefined) => Promise<Cloud>;
}

/** How long ssh may take to come up on a new instance (boot, cloud-init). */
const SSH_READY_TIMEOUT_MS = 10 * 60_000;

export async function runSession(deps: SessionDeps): Promise<number> {
  const { options } = deps;
  if (options.identity) pemKey(options.identity); // a missing key file is reported before any AWS call
  await checkSessionOptions(options);
  if (!options.attach) checkDefaultImageSupports(options); // --attach never launches
  await requirePrograms(localPrograms(options)); // also before any AWS call: nothing launched for nothing
  const state = newState(deps);
  // An rsync that cannot do the sync is said before anything is launched (a Mac's own, say).
  if (options.rsync) await requireRsync(rsyncSource(state), options.attach ? ['back'] : ['up', 'back']);
  return runStory(deps, state, (state, signal) => work(state, deps, signal));
}

export function newState(deps: SessionDeps, cwd = deps.cwd): SessionState {
  const plan = makePlan(deps.options, { cwd, localUser: localUser(deps.env), localHost: hostname() });
  const paths = resolvePaths(deps.env);
  privateDir(paths.runtime);
  return { options: deps.options, plan, paths, log: deps.log, launched: false, connected: false, ran: false };
}

/** The local programs a run needs: ssh (and ssh-keygen, for keys and host key checks), rsync unless --no-rsync. */
export function localPrograms(options: Pick<Options, 'rsync' | 'rsyncProgram'>): string[] {
  // An rsync named by SSH_EC2_RSYNC is looked for where it is named (rsync-capabilities.ts).
  return ['ssh', 'ssh-keygen', ...(options.rsync && !options.rsyncProgram ? ['rsync'] : [])];
}

export const localUser = (env: SessionDeps['env']): string => env.USER || userInfo().username;

/** Whether ssh-ec2 here has connected to an instance: its host key is pinned in our state (owner.ts). */
export const pinnedIn =
  (paths: Paths) =>
  (instanceId: string): boolean =>
    existsSync(paths.knownHosts(instanceId));

/**
 * Runs `work` on a session state with the finish guaranteed: signals interrupt the work, never
 * the finish (sync back, final state). Returns the exit status.
 */
export async function runStory(
  deps: SessionDeps,
  state: SessionState,
  work: (state: SessionState, signal: AbortSignal) => Promise<void>,
): Promise<number> {
  const { log } = deps;
  const abort = new AbortController();
  const trap = trapSignals(
    log,
    (signal) => {
      abort.abort(new Interrupted(signal));
      state.kill?.(signal === 'SIGINT' ? 'SIGINT' : 'SIGHUP');
    },
    () => state.finishing,
  );
  // A run killed with SIGKILL leaves its programs (a sync back's rsync) behind: the run that
  // finishes its work ends them first, from the journal.
  onSpawn(() => state.journal?.note({ children: ownChildren() }));
  try {
    state.cloud ??= await loadCloud(deps);
    await work(state, abort.signal);
  } catch (err) {
    if (!(err instanceof Interrupted) && !abort.signal.aborted) state.error = err;
  } finally {
    await finish(state);
    trap.dispose();
    onSpawn(undefined);
  }
  if (state.error) throw state.error;
  return trap.exitStatus() ?? state.exitCode ?? 0;
}

export async function loadCloud(deps: SessionDeps): Promise<Cloud> {
  const load = deps.loadCloud ?? (async (region) => (await import('../cloud/ec2.js')).createCloud({ region }));
  return load(deps.options.region);
}

async function work(state: SessionState, deps: SessionDeps, signal: AbortSignal): Promise<void> {
  const { options, log, plan, paths } = state;
  const cloud = state.cloud!;
  const ownFinalState = state.finalState;
  const pending = recoverKilledRun(state);
  const got = await log.phase('instance', () =>
    provision({
      options,
      plan,
      cloud,
      log,
      lockPath: paths.lock(plan.projectId),
      signal,
      mayLaunch: !options.attach,
      pinned: pinnedIn(paths),
      onInstance: (instance, launched) => {
        state.instance = instance;
        state.launched = launched;
        if (pending?.instanceId && pending.instanceId !== instance.id) {
          // Its instance was ended meanwhile (ssh-ec2 down, the console): what it owed went with
          // it, and its final state is not this instance's. Dropped in the same journal write
          // that names the new instance, so a kill now cannot hand the debts on to it.
          log.info(`the killed run's instance ${pending.instanceId} is gone: nothing of it is left to finish`);
          state.finalState = ownFinalState;
          state.mustSyncBack = false;
          pending.sessionIds = [];
          state.journal?.note({
            step: 'connecting',
            instanceId: instance.id,
            launched,
            ran: false,
            inheritedSessions: [],
            finalState: ownFinalState ?? options.finalState,
          });
          return;
        }
        state.journal?.note({ step: 'connecting', instanceId: instance.id, launched });
      },
    }),
  );
  state.instance = got.instance;
  state.started = got.started;
  const conn = await connect(state, got, signal);
  // Interrupted while the connection was made: nothing is sent (no agent, no sync up).
  signal.throwIfAborted();
  state.journal?.note({ step: 'the sync up', connected: true });
  if (pending?.sessionIds.length && (await endSessions(conn, pending.sessionIds)))
    state.journal?.note({ inheritedSessions: [] });

  const limits = resolveLimits(options, got.instance, got.launched || got.started);
  state.limits = limits;
  const prepared = log.phase('agent', () => prepareInstance(state, conn, limits));
  if (options.rsync && !options.attach) {
    const [up] = await Promise.all([
      log.phase('sync up', () => syncUp({ ...syncParams(state, conn), signal })),
      prepared,
    ]);
    log.detail(`sync up: ${up.files ?? 'an unknown number of'} file(s) sent`);
  } else {
    await prepared;
  }
  signal.throwIfAborted();

  const sessionId = newSessionId();
  state.sessionId = sessionId;
  state.journal?.note({ step: 'the command', ran: true, sessionId });
  const mux = multiplexerOf(options);
  if (mux === 'none') {
    state.ran = true;
    // The id marks the command's processes, so an interrupt (or the run after a SIGKILL) can end them.
    const session = conn.attach(
      `export SSH_EC2_SESSION=${sessionId}; ${sessionCommand(plan.remoteDir, joinCommand(options.command))}`,
      { tty: deps.stdinIsTTY, forwards: forwardsOf(options) },
    );
    state.journal?.note({ children: ownChildren() });
    state.kill = session.kill;
    const result = await log.phase('run', () => session.done);
    state.kill = undefined;
    if (signal.aborted) await endSessions(conn, [sessionId]);
    state.exitCode = result.exitCode;
    return;
  }
  await runJob(state, conn, { mux, tty: deps.stdinIsTTY, forwards: forwardsOf(options), signal });
}

/**
 * Starts this run's journal, then takes over the work of a run here that was killed (its journal
 * outlived it): the same instance (provision finds it by its tags), the sync back it owed even
 * under --no-rsync, and its final state by the rule of `pendingFinalState`. Inherited work is
 * written to this run's journal first, so a second kill loses nothing either.
 */
function recoverKilledRun(state: SessionState): Pending | undefined {
  const { options, plan, paths, log } = state;
  state.journal = new Journal(paths.journal(plan.projectId), {
    projectDir: plan.projectDir,
    step: 'provisioning',
    finalState: state.finalState ?? options.finalState,
  });
  const pending = takeDeadJournals(paths, plan.projectId, log);
  if (!pending) return undefined;
  state.mustSyncBack = pending.syncBack;
  state.finalState = pendingFinalState(state.finalState ?? options.finalState, pending.finalState);
  // With the killed run's instance: its debts are that instance's only, even if this run is killed in turn.
  state.journal.note({
    ran: pending.syncBack,
    finalState: state.finalState,
    inheritedSessions: pending.sessionIds,
    instanceId: pending.instanceId,
  });
  return pending;
}

/**
 * Connects (the readiness probe) with the user's key or a fresh Instance Connect key. For an
 * instance this run did not launch, the caller's address is let in meanwhile (`letIn`; ls only
 * looks, and does not), without waiting for it once ssh works. On first contact the host key is
 * checked against the instance's console before this returns, so before anything is sent; the
 * console is watched while ssh is being tried, and waited for at most `hostKeyWaitMs` after.
 */
export async function connect(
  state: SessionState,
  got: Provisioned,
  signal?: AbortSignal,
  {
    timeoutMs = SSH_READY_TIMEOUT_MS,
    letIn = true,
    hostKeyWaitMs = state.options.hostKeyTimeout,
  }: { timeoutMs?: number; letIn?: boolean; hostKeyWaitMs?: number } = {},
): Promise<Connection> {
  const { options, paths, log } = state;
  const cloud = state.cloud!;
  const keys: KeySource = options.identity
    ? pemKey(options.identity)
    : await instanceConnectKey({ runtimeDir: paths.runtime, cloud, instance: got.instance, user: got.user });
  const conn = new Connection(
    sshTarget(got.instance.id, got.instance.publicIp ?? got.instance.privateIp!, got.user, keys, options, paths),
    keys,
    log,
    join(paths.runtime, `${shortHash(got.instance.id)}.ssh.log`),
  );
  state.conn = conn;
  const firstContact = !existsSync(conn.target.knownHostsFile);
  if (letIn && !got.launched) state.lettingIn = letCallerIn(options, cloud, got.instance, log);
  const hostKeys = firstContact ? watchConsole(cloud, got.instance.id, log, signal) : undefined;
  try {
    await log.phase('ssh', () => conn.open({ timeoutMs, signal }));
    if (firstContact && !existsSync(conn.target.knownHostsFile)) {
      // A master of an earlier run answered (its key file since removed): nothing was learnt
      // about the key now. A connection of our own (the master may carry another run's session:
      // it is left alone) writes the key the check then reads.
      log.detail(`no pinned host key for ${got.instance.id} under a reused connection: connecting once without it`);
      await conn.learnHostKey();
    }
  } catch (err) {
    hostKeys?.cancel();
    throw err;
  }
  if (hostKeys) {
    await log
      .phase('host key', () =>
        checkHostKey(hostKeys, conn, { id: got.instance.id, waitMs: hostKeyWaitMs, log, signal }),
      )
      .catch((err: unknown) => {
        // Refused or not checked (interrupted): checkHostKey unpinned it, and the finish sends nothing.
        state.untrustedKey = !existsSync(conn.target.knownHostsFile);
        throw err;
      });
  }
  state.connected = true;
  return conn;
}

/** Installs the agent and job wrapper, gives the agent its limits, and records them as tags. */
async function prepareInstance(state: SessionState, conn: Connection, limits: Limits): Promise<void> {
  const { options, log } = state;
  const instance = state.instance!;
  const tags = changedTags(instance, limitTags(limits));
  const [r] = await Promise.all([
    conn.exec('sh -s', { input: prepareScript(agentSettings(options, instance.id, limits)) }),
    Object.keys(tags).length > 0 ? state.cloud!.tag(instance.id, tags) : undefined,
  ]);
  const poweroff = /^poweroff (\S+) (\d+)/m.exec(r.stdout);
  if (poweroff)
    log.info(
      `the agent had stopped ${instance.id} at ${new Date(Number(poweroff[2]) * 1000).toISOString()} (${POWEROFF_REASONS[poweroff[1]!] ?? poweroff[1]})`,
    );
  log.detail(
    `agent: idle timeout ${formatDuration(limits.idleTimeoutMs)}, max time ${formatDuration(limits.maxTimeMs)}${limits.deadline ? ` (until ${limits.deadline.toISOString()})` : ''}, after a detached job ${formatDuration(limits.jobGraceMs)}`,
  );
}

const POWEROFF_REASONS: Record<string, string> = {
  idle: 'no job and no ssh session for the idle timeout',
  'job-finished': 'the detached job had ended and nobody attached',
  'max-time': 'the --max-time limit was reached',
};

export function forwardsOf(o: Options) {
  return { local: o.localForwards, remote: o.remoteForwards, dynamic: o.dynamicForwards };
}

export function syncParams(state: Pick<SessionState, 'plan' | 'paths' | 'log' | 'options'>, conn: Connection) {
  return {
    conn,
    localDir: state.plan.projectDir,
    remoteDir: state.plan.remoteDir,
    scratchDir: state.paths.runtime,
    rsync: rsyncSource(state),
    log: state.log,
  };
}

export function sshTarget(
  instanceId: string,
  host: string,
  user: string,
  keys: KeySource,
  options: Options,
  paths: Paths,
): SshTarget {
  if (!host) throw new ConfigError(`instance ${instanceId} has no IP address`);
  privateDir(join(paths.state, 'known_hosts'));
  return {
    host,
    user,
    hostKeyAlias: instanceId,
    knownHostsFile: paths.knownHosts(instanceId),
    controlPath: paths.controlPath(instanceId),
    configFile: options.sshConfig,
    identityFile: keys.identityFile,
    verbose: options.verbose,
  };
}

export class Interrupted extends Error {
  constructor(readonly signal: string) {
    super(`interrupted by ${signal}`);
  }
}

export type { Plan };
