/**
 * The story of one run: provision → connect → sync up → run → sync back → finish.
 * The finish (finish.ts) is written once and reached from success, failure and signals alike.
 */
import { hostname, userInfo } from 'node:os';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, ConnectionError } from '../errors.js';
import type { Cloud } from '../cloud/ec2.js';
import type { Options } from '../options.js';
import { Connection, type KeySource } from '../remote/connection.js';
import { joinCommand, sessionCommand } from '../remote/remote-command.js';
import type { SshTarget } from '../remote/ssh.js';
import { privateDir, resolvePaths, shortHash, type Paths } from '../state/paths.js';
import { syncUp } from '../sync/sync-up.js';
import { requireRsync, rsyncSource } from '../remote/rsync-capabilities.js';
import type { Logger } from '../ui/logger.js';
import { onSpawn, run } from '../remote/exec.js';
import { prepareScript } from '../remote/on-instance.js';
import { endSessions, finish, type SessionState } from './finish.js';
import { checkSessionOptions, multiplexerOf, runJob } from './job.js';
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

export const localUser = (env: SessionDeps['env']): string => env.USER || userInfo().username;

/**
 * Runs `work` on a session state with the finish guaranteed: signals interrupt the work, never
 * the finish (sync back, final state). Returns the exit status.
 */
export async function runStory(deps: SessionDeps, state: SessionState, work: (state: SessionState, signal: AbortSignal) => Promise<void>): Promise<number> {
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
          state.journal?.note({ step: 'connecting', instanceId: instance.id, launched, ran: false, inheritedSessions: [], finalState: ownFinalState ?? options.finalState });
          return;
        }
        state.journal?.note({ step: 'connecting', instanceId: instance.id, launched });
      },
    }),
  );
  state.instance = got.instance;
  state.started = got.started;
  const conn = await connect(state, got, signal);
  state.journal?.note({ step: 'the sync up', connected: true });
  if (pending?.sessionIds.length && (await endSessions(conn, pending.sessionIds))) state.journal?.note({ inheritedSessions: [] });

  const limits = resolveLimits(options, got.instance, got.launched || got.started);
  state.limits = limits;
  const prepared = log.phase('agent', () => prepareInstance(state, conn, limits));
  if (options.rsync && !options.attach) {
    const [up] = await Promise.all([log.phase('sync up', () => syncUp({ ...syncParams(state, conn), signal })), prepared]);
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
    const session = conn.attach(`export SSH_EC2_SESSION=${sessionId}; ${sessionCommand(plan.remoteDir, joinCommand(options.command))}`, { tty: deps.stdinIsTTY, forwards: forwardsOf(options) });
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
  state.journal = new Journal(paths.journal(plan.projectId), { projectDir: plan.projectDir, step: 'provisioning', finalState: state.finalState ?? options.finalState });
  const pending = takeDeadJournals(paths, plan.projectId, log);
  if (!pending) return undefined;
  state.mustSyncBack = pending.syncBack;
  state.finalState = pendingFinalState(state.finalState ?? options.finalState, pending.finalState);
  // With the killed run's instance: its debts are that instance's only, even if this run is killed in turn.
  state.journal.note({ ran: pending.syncBack, finalState: state.finalState, inheritedSessions: pending.sessionIds, instanceId: pending.instanceId });
  return pending;
}

/**
 * Connects (the readiness probe) with the user's key or a fresh Instance Connect key. For an
 * instance this run did not launch, the caller's address is let in meanwhile (`letIn`; ls only
 * looks, and does not), without waiting for it once ssh works.
 */
export async function connect(state: SessionState, got: Provisioned, signal?: AbortSignal, timeoutMs = SSH_READY_TIMEOUT_MS, letIn = true): Promise<Connection> {
  const { options, paths, log } = state;
  const cloud = state.cloud!;
  const keys: KeySource = options.identity
    ? pemKey(options.identity)
    : await instanceConnectKey({ runtimeDir: paths.runtime, cloud, instance: got.instance, user: got.user });
  const conn = new Connection(sshTarget(got.instance.id, got.instance.publicIp ?? got.instance.privateIp!, got.user, keys, options, paths), keys, log, join(paths.runtime, `${shortHash(got.instance.id)}.ssh.log`));
  state.conn = conn;
  const firstContact = !existsSync(conn.target.knownHostsFile);
  if (letIn && !got.launched) state.lettingIn = letCallerIn(options, cloud, got.instance, log);
  await log.phase('ssh', () => conn.open({ timeoutMs, signal }));
  if (firstContact) await checkHostKey(state, conn);
  state.connected = true;
  return conn;
}

/**
 * The host key ssh just accepted for a new instance is checked against the fingerprints cloud-init
 * printed on the instance's console, when EC2 has them yet (a few minutes after boot; never
 * waited for): a key that matches none of them means someone else answered, and nothing is sent.
 */
async function checkHostKey(state: SessionState, conn: Connection): Promise<void> {
  const { log } = state;
  const id = state.instance!.id;
  const output = await state.cloud!.consoleOutput(id).catch((err: unknown) => {
    log.detail(`console output of ${id} not readable (${(err as Error).message}): host key trusted on first use`);
    return undefined;
  });
  const expected = consoleFingerprints(output ?? '');
  if (expected.length === 0) {
    log.detail(`no host key fingerprints in the console output of ${id} yet: host key trusted on first use`);
    return;
  }
  const seen = consoleFingerprints((await run(['ssh-keygen', '-l', '-f', conn.target.knownHostsFile])).stdout, false);
  if (seen.some((f) => expected.includes(f))) {
    log.detail(`host key of ${id} matches its console output (${seen.join(', ')})`);
    return;
  }
  await conn.close();
  rmSync(conn.target.knownHostsFile, { force: true });
  throw new ConnectionError(
    `the host key of ${id} (${seen.join(', ')}) matches none of the fingerprints in its console output: refusing to use the connection`,
    'Someone may be between you and the instance. Nothing was sent. Check your network and ssh configuration (ProxyJump, proxies), then run again.',
  );
}

/** SHA256 fingerprints, from cloud-init's block of a console log (or from any text when `block` is false). */
export function consoleFingerprints(text: string, block = true): string[] {
  const m = block ? /-----BEGIN SSH HOST KEY FINGERPRINTS-----([\s\S]*?)-----END SSH HOST KEY FINGERPRINTS-----/.exec(text) : [text, text];
  return [...(m?.[1] ?? '').matchAll(/SHA256:[A-Za-z0-9+/]+/g)].map((x) => x[0]);
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
  if (poweroff) log.info(`the agent had stopped ${instance.id} at ${new Date(Number(poweroff[2]) * 1000).toISOString()} (${POWEROFF_REASONS[poweroff[1]!] ?? poweroff[1]})`);
  log.detail(`agent: idle timeout ${formatDuration(limits.idleTimeoutMs)}, max time ${formatDuration(limits.maxTimeMs)}${limits.deadline ? ` (until ${limits.deadline.toISOString()})` : ''}, after a detached job ${formatDuration(limits.jobGraceMs)}`);
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
  return { conn, localDir: state.plan.projectDir, remoteDir: state.plan.remoteDir, scratchDir: state.paths.runtime, rsync: rsyncSource(state), log: state.log };
}

export function sshTarget(instanceId: string, host: string, user: string, keys: KeySource, options: Options, paths: Paths): SshTarget {
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
