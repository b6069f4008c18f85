/**
 * The finish, written once: sync back (reconnecting if the connection was lost), then the final
 * state. Results are never thrown away: if they could not be brought back, the instance is
 * stopped instead of terminated, and the user is told how to get them.
 */
import { rmSync } from 'node:fs';
import type { Cloud, InstanceInfo } from '../cloud/ec2.js';
import { describePrice } from '../cloud/prices.js';
import { ExitCode, UserError } from '../errors.js';
import type { FinalState, Options } from '../options.js';
import type { Connection } from '../remote/connection.js';
import type { Paths } from '../state/paths.js';
import { syncBack } from '../sync/sync-back.js';
import { rsyncSource } from '../remote/rsync-capabilities.js';
import type { Logger } from '../ui/logger.js';
import { jobCommand, OTHER_SESSIONS, parseJobStatus } from '../remote/on-instance.js';
import { endSessionsCommand, type Journal } from './journal.js';
import { formatDuration, type Limits } from './limits.js';
import { isExpiredCredentials } from '../cloud/errors.js';
import type { Plan } from './plan.js';
import { letCallerIn } from './provision.js';

export interface SessionState {
  options: Options;
  plan: Plan;
  paths: Paths;
  log: Logger;
  cloud?: Cloud;
  instance?: InstanceInfo;
  /** Launched by this run: until something ran on it, it holds nothing of the user's. */
  launched: boolean;
  conn?: Connection;
  connected: boolean;
  /** Its host key was not trusted (interrupted before the console showed it, or matching none): nothing may go over ssh. */
  untrustedKey?: boolean;
  ran: boolean;
  exitCode?: number;
  error?: unknown;
  /** Ends the running session (signals). */
  kill?: (signal?: NodeJS.Signals) => void;
  /** What the finish is doing now, for messages. */
  finishing?: string;
  /** Found stopped and started by this run. */
  started?: boolean;
  /** Set when the instance must be left as it is: a detached or still-running job (why). */
  keepRunning?: string;
  /** The agent's limits for this instance. */
  limits?: Limits;
  /** ssh-ec2 down: end the instance even under a running job. */
  endJobs?: boolean;
  /** Overrides the final state asked for (e.g. an instance started only to find no job: stopped again). */
  finalState?: FinalState;
  /** The id of this run's remote command (SSH_EC2_SESSION), once it was started. */
  sessionId?: string;
  /** This run's journal (sessions only): what it has done, for a run that finds it killed. */
  journal?: Journal;
  /** A killed run here owed a sync back: done even under --no-rsync. */
  mustSyncBack?: boolean;
  /** The caller's address being let into the security group (see letCallerIn): settled before exit. */
  lettingIn?: Promise<void>;
}

export async function finish(s: SessionState): Promise<void> {
  await finishWork(s);
  s.journal?.remove();
  await s.lettingIn;
}

async function finishWork(s: SessionState): Promise<void> {
  const { options, log } = s;
  if (!s.instance || !s.cloud) return;
  if (s.keepRunning) {
    await s.conn?.close({ keep: true });
    return;
  }
  let final: FinalState = s.finalState ?? options.finalState;
  if (s.untrustedKey && !s.launched) {
    // Nothing of this run's is on an instance it found and could not trust, and nothing can be
    // asked or brought back over ssh: it is left as it was (one this run started, stopped again).
    final = s.started ? 'stop' : 'leave';
    s.finishing = final === 'leave' ? undefined : `stopping ${s.instance.id}`;
    s.journal?.note({ step: 'the final state', finalState: final });
    await applyFinal(s, final);
    s.finishing = undefined;
    return;
  }
  // Nothing of this run's can be on an instance it launched and ran nothing on; but another run
  // here may have started using it meanwhile (it reuses it once running): that is asked over a
  // live connection only, never waited for.
  const nothingThere = s.launched && !s.ran;
  const mustPull = !nothingThere && (options.rsync || !!s.mustSyncBack);
  const mustAsk = !s.endJobs && final !== 'leave';
  // A dropped connection is opened again first: who else is there is asked on the instance, and
  // the results come back through it.
  const reachable = nothingThere
    ? mustAsk && !!s.conn && s.connected && (await s.conn.alive())
    : (mustPull || mustAsk) && (await reach(s));
  let others = mustAsk && reachable ? await whoElseIsThere(s) : undefined;
  // No answer from an instance nothing ran on: no ssh-ec2 session has set it up (job.sh) yet.
  if (nothingThere && typeof others === 'object') others = undefined;
  const pulled = !mustPull || (reachable && (await bringResultsBack(s)));
  // Unreachable: its results, or a job or session on it, may still be there.
  const unsure = !pulled || (mustAsk && !reachable && !nothingThere);
  if (final === 'terminate' && unsure) final = 'stop';
  if (others) {
    const id = s.instance.id;
    if (others === 'job')
      log.warn(
        `a detached job is still running on ${id}: leaving it running (the agent stops it when the job is done). End it first, or use ssh-ec2 down.`,
      );
    else if (others === 'session')
      log.info(`another session is using ${id}: leaving it running; the last session to leave applies its final state`);
    else
      log.warn(
        `could not tell whether another session or a job is using ${id} (${others.unknown}): leaving it running; its agent stops it once nothing runs (--idle-timeout).`,
      );
    final = 'leave';
  }
  s.finishing = final === 'leave' ? undefined : `${final === 'stop' ? 'stopping' : 'terminating'} ${s.instance.id}`;
  s.journal?.note({ step: 'the final state', finalState: final });
  await applyFinal(s, final);
  if (final === 'stop' && unsure) {
    const id = s.instance.id;
    const why = pulled
      ? `${id} could not be reached to see whether a job or another session uses it`
      : 'the results could not be brought back';
    log.warn(
      `${why}, so ${id} was stopped, not terminated: nothing is lost.\n` +
        `  To ${pulled ? 'end it' : 'get them'}: run ssh-ec2 --terminate true in ${s.plan.projectDir} (it restarts the instance${pulled ? '' : ', syncs back'}, then terminates).`,
    );
  }
  await s.conn?.close({ keep: final === 'leave' });
  s.finishing = undefined;
}

/** Applies the final state; a failure is said (what may be left running) and becomes the exit status. */
async function applyFinal(s: SessionState, final: FinalState): Promise<void> {
  const { log } = s;
  const id = s.instance!.id;
  try {
    await log.phase(final, () => applyFinalState(s, final));
  } catch (err) {
    if (isExpiredCredentials(err))
      log.error(`could not ${final} ${id}: your AWS credentials have expired`, leftBehind(s, final));
    else
      log.error(
        `could not ${final} ${id}: ${(err as Error).message}`,
        `It may still be running and costing money: check with the AWS console or \`aws ec2 describe-instances --instance-ids ${id}\`.`,
      );
    if (!s.error && (s.exitCode ?? 0) === 0)
      s.error = err instanceof UserError ? err : new UserError((err as Error).message, ExitCode.cloud);
  }
}

/**
 * What credentials that expired mid-run leave behind, and how to end it: the instance carries this
 * directory's tags, so the next ssh-ec2 there finds it (nothing is orphaned).
 */
function leftBehind(s: SessionState, final: FinalState): string {
  const id = s.instance!.id;
  const agent = s.limits?.idleTimeoutMs
    ? `its agent stops it after ${formatDuration(s.limits.idleTimeoutMs)} unused`
    : 'nothing on it stops it';
  const end = final === 'stop' ? 'ssh-ec2 --stop true' : 'ssh-ec2 down';
  return `${id} is left as it was (if running, it costs money; ${agent}). Renew your credentials, then run \`${end}\` in ${s.plan.projectDir}: it brings the results back and ${final === 'stop' ? 'stops' : 'terminates'} it.`;
}

/** Whether the instance can be reached for the finish, reconnecting if the connection was lost. */
async function reach(s: SessionState): Promise<boolean> {
  if (!s.conn || !s.connected) return false;
  if (await s.conn.alive()) return true;
  s.finishing = 'reconnecting';
  s.log.warn('the ssh connection was lost; reconnecting to finish (results, final state)');
  try {
    await reconnect(s, s.conn);
  } catch (err) {
    s.log.error(`could not reconnect: ${(err as Error).message}`);
    return false;
  }
  // This run's command may live on under the old connection's sshd (a network drop, not a closed
  // connection, leaves it there for a long time): it is ended, as after an interrupt, so that it
  // is neither counted as another session nor left running.
  if (s.sessionId) await endSessions(s.conn, [s.sessionId]);
  return true;
}

/** Ends what is left on the instance of interrupted sessions; false (left there) if that failed. */
export async function endSessions(conn: Connection, ids: string[]): Promise<boolean> {
  // exec rejects unless the command exited 0.
  return conn.exec(endSessionsCommand(ids)).then(
    () => true,
    () => false,
  );
}

/**
 * What else is on the instance that its final state must not cut short: a job of this directory,
 * or another ssh session (another terminal's ssh-ec2). Asked in one round trip, on a working
 * connection; if even so there is no answer, nothing is assumed gone.
 */
async function whoElseIsThere(s: SessionState): Promise<'job' | 'session' | { unknown: string } | undefined> {
  try {
    const r = await s.conn!.exec(`${jobCommand('status', s.plan.projectId)}; ${OTHER_SESSIONS}`);
    const [status = '', others = ''] = r.stdout.trim().split('\n');
    if (parseJobStatus(status).state === 'running') return 'job';
    if (!/^\d+$/.test(others))
      return { unknown: r.stderr.trim().split('\n')[0] || `unexpected answer "${r.stdout.trim().slice(0, 60)}"` };
    return Number(others) > 0 ? 'session' : undefined;
  } catch (err) {
    return { unknown: (err as Error).message };
  }
}

/** Brings the results back over a working connection; false if that failed. */
async function bringResultsBack(s: SessionState): Promise<boolean> {
  const { log } = s;
  s.finishing = 'syncing back';
  s.journal?.note({ step: 'the sync back' });
  try {
    const back = await log.phase('sync back', () =>
      syncBack({
        conn: s.conn!,
        localDir: s.plan.projectDir,
        remoteDir: s.plan.remoteDir,
        scratchDir: s.paths.runtime,
        rsync: rsyncSource(s),
        log,
      }),
    );
    log.detail(`sync back: ${back.files ?? 'an unknown number of'} file(s) received`);
    s.journal?.note({ syncedBack: true });
    if (back.kept > 0)
      log.info(`${back.kept} local file(s) were replaced; their previous versions are kept in ${back.backupDir}`);
    return true;
  } catch (err) {
    log.error(`sync back failed: ${(err as Error).message}`, (err as { hint?: string }).hint);
    return false;
  }
}

/**
 * Opens the connection again after a drop, trying for --reconnect-timeout. The drop may be the
 * laptop changing networks: its new address is let into the security group meanwhile.
 */
export async function reconnect(s: SessionState, conn: Connection, signal?: AbortSignal): Promise<void> {
  const letIn = s.cloud && s.instance ? letCallerIn(s.options, s.cloud, s.instance, s.log, true) : undefined;
  await conn.open({ timeoutMs: s.options.reconnectTimeout, signal });
  await letIn;
}

async function applyFinalState(s: SessionState, final: FinalState): Promise<void> {
  const { cloud, instance, log } = s as Required<Pick<SessionState, 'cloud' | 'instance'>> & SessionState;
  switch (final) {
    case 'terminate':
      await cloud.terminate(instance.id);
      rmSync(s.paths.knownHosts(instance.id), { force: true });
      log.info(`terminated ${instance.id}`);
      return;
    case 'stop':
      await cloud.stop(instance.id);
      log.info(`stopped ${instance.id}: its disk is kept (storage is billed); the next ssh-ec2 here restarts it`);
      return;
    case 'leave':
      log.info(
        `left ${instance.id} (${instance.type}) running, ${describePrice(cloud.region, instance.type)}.\n` +
          `  Come back: ssh-ec2 in ${s.plan.projectDir} reuses it. End it: ssh-ec2 --terminate true there.`,
      );
      return;
  }
}
