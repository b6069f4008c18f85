/**
 * Connect: the readiness probe (ssh), the host key check on first contact (host-key.ts), and the
 * instance's preparation (the agent, the job wrapper, the limits). Also the reconnect after a drop.
 */
import { localTime } from '../ui/words.js';
import { REASON_IDLE, REASON_JOB_FINISHED, REASON_MAX_TIME } from '../remote/instance-contract.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, ExitCode, lastLine, SubprocessError, UserError } from '../errors.js';
import type { InstanceInfo } from '../cloud/ec2.js';
import type { Options } from '../options.js';
import { Connection, type KeySource } from '../remote/connection.js';
import { parsePrepared, prepareScript } from '../remote/on-instance.js';
import { notifyConf, notifyKnown } from './notify.js';
import type { SshTarget } from '../remote/ssh.js';
import { sshLog } from '../state/leftovers.js';
import { privateDir, type Paths } from '../state/paths.js';
import type { Run } from './context.js';
import { checkHostKey, notChecked, watchConsole } from './host-key.js';
import { tellInterruptionFound } from './interruption-record.js';
import { instanceConnectKey, pemKey } from './keys.js';
import { agentSettings, changedTags, formatDuration, limitTags, type Limits } from './limits.js';
import { booting, letCallerIn, type Provisioned } from './provision.js';
import { resultsUpload } from './results.js';
import { mountDataVolume, type AttachedVolume } from './data-volume.js';

/** How long ssh may take to come up on a new instance (boot, cloud-init). */
const SSH_READY_TIMEOUT_MS = 10 * 60_000;

/**
 * Connects (the readiness probe) with the user's key or a fresh Instance Connect key. For an
 * instance this run did not launch, the caller's address is let in meanwhile (`letIn`; ls only
 * looks, and does not), without waiting for it once ssh works. On first contact the host key is
 * checked against the instance's console before this returns, so before anything is sent; the
 * console is watched while ssh is being tried, and waited for at most `hostKeyWaitMs` after.
 */
export async function connect(
  run: Run,
  got: Provisioned,
  signal?: AbortSignal,
  {
    timeoutMs = SSH_READY_TIMEOUT_MS,
    letIn = true,
    hostKeyWaitMs = run.options.hostKeyTimeout,
  }: { timeoutMs?: number; letIn?: boolean; hostKeyWaitMs?: number } = {},
): Promise<Connection> {
  const { options, paths, log, cloud } = run;
  const keys: KeySource = options.identity
    ? pemKey(options.identity)
    : await instanceConnectKey({ runtimeDir: paths.runtime, cloud, instance: got.instance, user: got.user });
  const conn = new Connection(
    sshTarget(got.instance.id, got.instance.publicIp ?? got.instance.privateIp!, got.user, keys, options, paths),
    keys,
    log,
    sshLog(paths, got.instance.id),
  );
  run.conn = conn;
  const firstContact = !existsSync(conn.target.knownHostsFile);
  if (letIn && !got.launched) run.lettingIn = letCallerIn(options, cloud, got.instance, log);
  const hostKeys = firstContact ? watchConsole(cloud, got.instance.id, log, signal) : undefined;
  try {
    const waiting = got.launched || got.started ? booting(got.instance.id) : `connecting to ${got.instance.id}`;
    await log.phase('ssh', () =>
      log.progress(waiting, () => conn.open({ timeoutMs, signal, onSlowTry: hostKeys && (() => hostKeys.nudge()) })),
    );
    if (firstContact && !existsSync(conn.target.knownHostsFile)) {
      // A master of an earlier run answered (its key file since removed): nothing was learnt
      // about the key now. A connection of our own (the master may carry another run's session:
      // it is left alone) writes the key the check then reads.
      log.detail(`no pinned host key for ${got.instance.id} under a reused connection: connecting once without it`);
      await conn.learnHostKey();
    }
  } catch (err) {
    hostKeys?.cancel();
    if (firstContact && signal?.aborted) {
      // Interrupted on first contact before the check (ssh answering, or the key being learnt
      // under a reused connection): as for an interrupt during the check itself.
      await notChecked(conn, got.instance.id, log);
      run.facts.hostKeyUntrusted = true;
    }
    throw err;
  }
  if (hostKeys) {
    await log
      .phase('host key', () =>
        log.progress(`checking the host key of ${got.instance.id} against its console`, () =>
          checkHostKey(hostKeys, conn, { id: got.instance.id, waitMs: hostKeyWaitMs, log, signal }),
        ),
      )
      .catch((err: unknown) => {
        // Refused or not checked (interrupted): checkHostKey unpinned it, and the finish sends nothing.
        run.facts.hostKeyUntrusted = !existsSync(conn.target.knownHostsFile);
        throw err;
      });
  }
  run.facts.connected = true;
  return conn;
}

/**
 * Opens the connection again after a drop, trying for --reconnect-timeout. The drop may be the
 * laptop changing networks: its new address is let into the security group meanwhile.
 */
export async function reconnect(run: Run, conn: Connection, signal?: AbortSignal): Promise<void> {
  const { instance } = run.facts;
  const letIn = instance ? letCallerIn(run.options, run.cloud, instance, run.log, true) : undefined;
  await conn.open({ timeoutMs: run.options.reconnectTimeout, signal });
  await letIn;
}

/**
 * Installs the agent and job wrapper, gives the agent its limits, and records them as tags. With
 * `job`, the same exchange says that job's state and whether its multiplexer is there. Then the
 * data volume (--volume), if one was attached, is mounted.
 */
export async function prepareInstance(
  run: Run,
  conn: Connection,
  instance: InstanceInfo,
  limits: Limits,
  job?: { id: string; mux: 'tmux' | 'screen' },
  volume?: AttachedVolume,
): Promise<ReturnType<typeof parsePrepared>> {
  const { options, log } = run;
  const tags = changedTags(instance, limitTags(limits));
  const [r] = await Promise.all([
    conn
      .exec('sh -s', {
        input: prepareScript(
          {
            ...agentSettings(options, instance.id, limits, run.plan.remoteDir),
            results: options.attach && !options.results ? 'keep' : resultsUpload(options, run.plan, run.cloud.region),
            // A job keeps the copy it started with: an --attach has nothing to change there.
            notify: options.attach
              ? 'keep'
              : notifyConf(options.notify, notifyKnown(options, run.plan, instance.id, run.cloud.region)),
          },
          job,
        ),
      })
      .catch((err: unknown) => {
        throw notPrepared(err, instance.id);
      }),
    Object.keys(tags).length > 0 ? run.cloud.tag(instance.id, tags) : undefined,
  ]);
  const prepared = parsePrepared(r.stdout);
  if (volume) await mountDataVolume(conn, volume, { ...options, remoteDir: run.plan.remoteDir, log });
  tellInterruptionFound(log, instance, prepared.interruption, run.facts.lastInterruption);
  const { poweroff } = prepared;
  if (poweroff)
    log.info(
      `the agent had stopped ${instance.id} at ${localTime(new Date(poweroff.at * 1000))} (${POWEROFF_REASONS[poweroff.reason] ?? poweroff.reason})`,
    );
  log.detail(
    `agent: idle timeout ${formatDuration(limits.idleTimeoutMs)}, max time ${formatDuration(limits.maxTimeMs)}${limits.budgetMs ? `, --budget's ${formatDuration(limits.budgetMs)} from now` : ''}${limits.deadline ? ` (until ${localTime(limits.deadline)})` : ''}, after a detached job ${formatDuration(limits.jobGraceMs)}`,
  );
  return prepared;
}

/**
 * The agent could not be installed (a full disk, a home not writable): one line with what the
 * instance said; the command is not started, and the finish applies the final state as after any
 * failure. A lost connection stays one (255).
 */
function notPrepared(err: unknown, id: string): unknown {
  if (!(err instanceof SubprocessError) || err.exitCode === ExitCode.connectionLost) return err;
  const said = lastLine(err.stderr);
  return new UserError(
    `could not install ssh-ec2's agent on ${id}${said ? `: ${said}` : ` (exit status ${err.exitCode})`}`,
    ExitCode.syncUp,
    `Look at the instance's disk space and its home directory (ssh-ec2 -- df -h ~), then run again.`,
    { cause: err },
  );
}

const POWEROFF_REASONS: Record<string, string> = {
  [REASON_IDLE]: 'no job and no ssh session for the idle timeout',
  [REASON_JOB_FINISHED]: 'the detached job had ended and nobody attached',
  [REASON_MAX_TIME]: 'the --max-time limit was reached',
};

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
  return targetOf(instanceId, host, user, keys, options, paths);
}

/** The same target, making nothing (a dry run shows its command lines). */
export function targetOf(
  instanceId: string,
  host: string,
  user: string,
  keys: Pick<KeySource, 'identityFile'>,
  options: Options,
  paths: Paths,
): SshTarget {
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
