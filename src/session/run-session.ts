/**
 * The story of one run: provision → connect → sync up → run → sync back → finish.
 * The finish (finish.ts) is written once and reached from success, failure and signals alike.
 */
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Cloud } from '../cloud/ec2.js';
import type { Options } from '../options.js';
import { Connection, type KeySource } from '../remote/connection.js';
import { joinCommand, sessionCommand } from '../remote/remote-command.js';
import type { SshTarget } from '../remote/ssh.js';
import { privateDir, resolvePaths, shortHash, type Paths } from '../state/paths.js';
import { syncUp } from '../sync/sync-up.js';
import type { Logger } from '../ui/logger.js';
import { finish, type SessionState } from './finish.js';
import { instanceConnectKey, pemKey } from './keys.js';
import { makePlan, type Plan } from './plan.js';
import { provision } from './provision.js';
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
  const { options, log } = deps;
  if (options.identity) pemKey(options.identity); // a missing key file is reported before any AWS call
  const plan = makePlan(options, { cwd: deps.cwd, localUser: deps.env.USER || userInfo().username, localHost: hostname() });
  const paths = resolvePaths(deps.env);
  privateDir(paths.runtime);

  const abort = new AbortController();
  const state: SessionState = { options, plan, paths, log, launched: false, connected: false, ran: false };
  const trap = trapSignals(
    log,
    (signal) => {
      abort.abort(new Interrupted(signal));
      state.kill?.(signal === 'SIGINT' ? 'SIGINT' : 'SIGHUP');
    },
    () => state.finishing,
  );
  try {
    const loadCloud = deps.loadCloud ?? (async (region) => (await import('../cloud/ec2.js')).createCloud({ region }));
    state.cloud = await loadCloud(options.region);
    await work(state, deps, abort.signal);
  } catch (err) {
    if (!(err instanceof Interrupted) && !abort.signal.aborted) state.error = err;
  } finally {
    await finish(state);
    trap.dispose();
  }
  if (state.error) throw state.error;
  return trap.exitStatus() ?? state.exitCode ?? 0;
}

async function work(state: SessionState, deps: SessionDeps, signal: AbortSignal): Promise<void> {
  const { options, log, plan, paths } = state;
  const cloud = state.cloud!;
  const got = await log.phase('instance', () =>
    provision({
      options,
      plan,
      cloud,
      log,
      lockPath: paths.lock(plan.projectId),
      signal,
      onInstance: (instance, launched) => {
        state.instance = instance;
        state.launched = launched;
      },
    }),
  );
  state.instance = got.instance;
  const keys: KeySource = options.identity
    ? pemKey(options.identity)
    : await instanceConnectKey({ runtimeDir: paths.runtime, cloud, instance: got.instance, user: got.user });
  const conn = new Connection(sshTarget(got.instance.id, got.instance.publicIp ?? got.instance.privateIp!, got.user, keys, options, paths), keys, log, join(paths.runtime, `${shortHash(got.instance.id)}.ssh.log`));
  state.conn = conn;
  await log.phase('ssh', () => conn.open({ timeoutMs: SSH_READY_TIMEOUT_MS, signal }));
  state.connected = true;

  if (options.rsync) {
    const up = await log.phase('sync up', () => syncUp(syncParams(state, conn)));
    log.detail(`sync up: ${up.files} file(s) sent`);
  }
  signal.throwIfAborted();
  state.ran = true;
  const command = joinCommand(options.command);
  const session = conn.attach(sessionCommand(plan.remoteDir, command), {
    tty: deps.stdinIsTTY,
    forwards: { local: options.localForwards, remote: options.remoteForwards, dynamic: options.dynamicForwards },
  });
  state.kill = session.kill;
  const result = await log.phase('run', () => session.done);
  state.kill = undefined;
  state.exitCode = result.exitCode;
}

export function syncParams(state: Pick<SessionState, 'plan' | 'paths' | 'log'>, conn: Connection) {
  return { conn, localDir: state.plan.projectDir, remoteDir: state.plan.remoteDir, scratchDir: state.paths.runtime, log: state.log };
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
