/**
 * Sessions in tmux or screen: the command (or a login shell) runs as a job on the instance that
 * outlives the connection. `--detach` starts it and returns; `--attach` comes back to it; an
 * attached session that ends while the job still runs (detached again, connection lost) leaves
 * everything running. Only a finished job brings the results back and applies the final state.
 */
import { checkSpotOptions } from '../cloud/spot-market.js';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { ExitCode, SubprocessError, UsageError, UserError } from '../errors.js';
import type { Multiplexer, Options } from '../options.js';
import type { Connection } from '../remote/connection.js';
import {
  jobCommand,
  jobInterrupt,
  jobStartCommand,
  JOB_RUNNING_STATUS,
  MUX_MISSING_STATUS,
  parseJobStatus,
  type JobState,
} from '../remote/on-instance.js';
import { JOB_LOG } from '../remote/instance-contract.js';
import { joinCommand } from '../remote/remote-command.js';
import { checkDockerOptions, dockerOf } from '../remote/docker.js';
import type { ForwardSpecs } from '../remote/ssh.js';
import type { InstanceInfo } from '../cloud/ec2.js';
import { reconnect } from './connect.js';
import { statusAfter, watchInterruption } from './interruption.js';
import { announceForwards } from './forwards-announce.js';
import { localTime } from '../ui/words.js';
import type { Run } from './context.js';
import { leftRunningNote } from './limits.js';
import { passingInterrupt } from './pass-interrupt.js';
import { pullingWhile, type SyncEveryParams } from '../sync/sync-every.js';

/** Where a detached job's output goes, in the project directory on the instance (synced back). */

export function multiplexerOf(o: Pick<Options, 'multiplex' | 'detach' | 'attach'>): Multiplexer {
  return o.multiplex ?? (o.detach || o.attach ? 'tmux' : 'none');
}

/** ssh-ec2 batch's own settings, refused on a session's command line. */
const BATCH_ONLY = ['instances', 'retries', 'setup', 'parallel'] as const;

/** Combinations that cannot work, and local ports already taken: before any AWS call. */
export async function checkSessionOptions(o: Options): Promise<void> {
  const batchOnly = BATCH_ONLY.find((k) => o.flagged?.has(k));
  if (batchOnly) throw new UsageError(`--${batchOnly} is for ssh-ec2 batch (README: Batches)`);
  checkSpotOptions(o);
  checkDockerOptions(o);
  if (o.detach && o.attach) throw new UsageError('--detach and --attach exclude each other');
  if (o.detach && o.multiplex === 'none')
    throw new UsageError('--detach needs a multiplexer to keep the job running: --multi tmux or --multi screen');
  if (o.detach && o.command.length === 0)
    throw new UsageError('--detach needs a command to run, e.g. ssh-ec2 --detach make train');
  if (o.attach && o.command.length > 0)
    throw new UsageError(`--attach takes no command (got "${o.command.join(' ')}")`);
  const forwards = [...o.localForwards, ...o.remoteForwards, ...o.dynamicForwards];
  if (o.detach && forwards.length > 0)
    throw new UsageError('port forwards need an attached session: give -L/-R/-D to ssh-ec2 --attach instead');
  for (const spec of [...o.localForwards, ...o.dynamicForwards]) {
    const local = localEnd(spec);
    if (local && !(await portFree(local.port, local.host))) {
      throw new UsageError(
        `local port ${local.port} is already in use (-L/-D ${spec})`,
        `Stop what listens there, or forward another local port, e.g. ${spec.replace(String(local.port), String(local.port + 1))}.`,
      );
    }
  }
}

/** The local end of an ssh -L or -D spec ([bind:]port[:host:hostport]); undefined for unix sockets. */
export function localEnd(spec: string): { host: string; port: number } | undefined {
  const parts = spec
    .replace(/\[([^\]]*)\]/g, (_m, ip: string) => ip.replaceAll(':', '\u0000'))
    .split(':')
    .map((p) => p.replaceAll('\u0000', ':'));
  const hasBind = parts.length === 2 || parts.length === 4;
  const port = Number(parts[hasBind ? 1 : 0]);
  if (!Number.isInteger(port) || port <= 0) return undefined;
  const bind = hasBind ? parts[0]! : '';
  return { host: bind === '' || bind === 'localhost' || bind === '*' ? '127.0.0.1' : bind, port };
}

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code !== 'EADDRINUSE'));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

export async function jobStatus(conn: Connection, id: string): Promise<JobState> {
  return parseJobStatus((await conn.exec(jobCommand('status', id))).stdout);
}

/**
 * The refusals of a job's start that need the instance (a job already running, no tmux/screen
 * there), asked in the agent's exchange (prepareInstance) before the sync up: a refused start changes nothing there
 * (the sync up would copy this tree over the running job's code). The start checks again.
 */
export function checkJobCanStart(
  run: Run,
  found: { job?: JobState; muxMissing: boolean },
  mux: 'tmux' | 'screen',
): void {
  if (found.job?.state === 'running') throw jobRunningError(run);
  if (found.muxMissing) throw muxMissingError(mux);
}

export async function runJob(
  run: Run,
  conn: Connection,
  instance: InstanceInfo,
  o: { mux: 'tmux' | 'screen'; tty: boolean; forwards: ForwardSpecs; signal: AbortSignal; pulls?: SyncEveryParams },
): Promise<void> {
  const { options, plan, log, facts } = run;
  const id = plan.projectId;
  const token = randomBytes(6).toString('hex');
  const start = jobStartCommand({
    id,
    mux: o.mux,
    dir: plan.remoteDir,
    detached: options.detach,
    command: joinCommand(options.command),
    token,
    docker: dockerOf(options),
  });
  const followOrAttach = jobCommand(o.tty ? 'attach' : 'follow', id);

  if (options.detach) {
    facts.ran = true;
    await startJob(run, conn, start, o.mux);
    facts.leftAsItIs = 'job detached';
    facts.exitStatus = ExitCode.ok;
    log.info(
      `job started in ${o.mux} on ${instance.id}; its output goes to ${JOB_LOG} there.\n` +
        `  Reattach: ssh-ec2 --attach   Follow the log: ssh-ec2 logs   List: ssh-ec2 ls\n` +
        `  ${leftRunningNote(run.cloud.region, instance.type, facts.limits, 'job')}\n` +
        `  ssh-ec2 --attach brings the results back once it has ended.`,
    );
    return;
  }

  let command: string;
  let stopped = false;
  let following = false;
  if (options.attach) {
    const before = await jobStatus(conn, id);
    if (before.state === 'none') {
      // Started only to look: stopped again; found running: left as it was.
      if (facts.origin === 'started') facts.finalState = 'stop';
      else facts.leftAsItIs = 'nothing to attach to';
      throw new UserError(
        `no job on ${instance.id} for this directory: nothing to attach to`,
        ExitCode.nothingThere,
        'Start one with ssh-ec2 --detach CMD, or run ssh-ec2 for a shell.',
      );
    }
    facts.ran = true;
    if (before.state !== 'running') {
      settle(run, before);
      await showTail(run, conn);
      return;
    }
    log.info(
      `attaching to the job running on ${instance.id}${o.tty ? (o.mux === 'tmux' ? ' (detach: Ctrl-b d)' : ' (detach: Ctrl-a d)') : ''}`,
    );
    command = followOrAttach;
    following = true;
    // Ctrl-C while following (or a SIGINT sent to ssh-ec2 while attached) leaves the job as it is.
    run.stopFollowing = () => {
      stopped = true;
      session.kill();
    };
  } else {
    facts.ran = true;
    command = `${start} && exec ${followOrAttach}`;
  }
  // Without a terminal there, nothing here is read (the job has its own, in tmux/screen): ssh runs
  // out of the terminal's reach (see Connection.attach), so a Ctrl-C is ssh-ec2's alone. It stops
  // following a job --attach found; a job started here in the foreground (not detached) takes it
  // as a plain command would: typed into the job's terminal there, so its status is the job's own.
  const session = conn.attach(command, { tty: o.tty, forwards: o.forwards, follow: !o.tty });
  announceForwards(o.forwards, log);
  run.kill = session.kill;
  const interrupt = !o.tty && !following ? { command: jobInterrupt(id, token), what: 'job' as const } : undefined;
  // --sync-every: the results pulled home while it runs, the last pull ended before the finish's (or
  // before a spot notice's sync back).
  const result = await pullingWhile(o.pulls, async (stopPulls) => {
    const watch = watchInterruption(run, conn, stopPulls);
    return log.phase('run', () => passingInterrupt(run, conn, interrupt, session.done)).finally(() => watch.stop());
  });
  run.kill = undefined;
  run.stopFollowing = undefined;
  // EC2 is taking the instance: the results came home at the notice; nothing is waited for.
  if (facts.interruption) {
    facts.exitStatus = statusAfter(run, result.exitCode);
    return;
  }
  // Only job.sh start exits so: attach and follow end with 0 or tmux/screen's own status.
  if (result.exitCode === JOB_RUNNING_STATUS) throw jobRunningError(run);
  if (result.exitCode === MUX_MISSING_STATUS) throw muxMissingError(o.mux);
  // Following stopped by a Ctrl-C, or the run interrupted (ssh-ec2 ended its ssh, 255): nothing was lost.
  const lost = result.exitCode === ExitCode.connectionLost && !stopped && !o.signal.aborted;
  let after: JobState;
  try {
    if (!(await conn.alive())) {
      log.warn('the ssh connection was lost; reconnecting to see whether the job is still running');
      await reconnect(run, conn, o.signal);
    }
    after = await jobStatus(conn, id);
  } catch {
    facts.leftAsItIs = 'job running, connection lost';
    facts.connected = false;
    facts.exitStatus = ExitCode.connectionLost;
    log.warn(
      `could not reach ${instance.id} again: it is left running with the job (the agent stops it once the job is done). Come back with ssh-ec2 --attach.`,
    );
    return;
  }
  if (after.state === 'running') {
    facts.leftAsItIs = lost ? 'job running, connection lost' : 'job still running';
    facts.exitStatus = lost ? ExitCode.connectionLost : ExitCode.ok;
    log.info(
      `the job is still running on ${instance.id}. Reattach: ssh-ec2 --attach   Follow: ssh-ec2 logs\n` +
        `  ${leftRunningNote(run.cloud.region, instance.type, facts.limits, options.command.length > 0 ? 'job' : 'shell')}`,
    );
    return;
  }
  settle(run, after);
}

/** The job has ended: its status is ours; the finish brings the results back. */
function settle(run: Run, job: JobState): void {
  if (job.state === 'finished') {
    run.facts.exitStatus = job.status;
    run.facts.commandEnded = { from: 'job', ...(job.usage && { usage: job.usage }) };
    run.log.info(
      `the job finished with status ${job.status}${job.ended ? ` at ${localTime(new Date(job.ended * 1000))}` : ''}`,
    );
  } else {
    // Killed with the machine (max-time, a poweroff): as a shell reports SIGKILL.
    run.facts.exitStatus = 128 + 9;
    run.log.warn('the job was killed before it finished (the instance was stopped while it ran)');
  }
}

/** How many of the job's last lines --attach shows when it finds the job ended. */
const TAIL_LINES = 10;

/** The end of an ended job's output, so --attach shows how it ended (the whole log comes back with the results). */
async function showTail(run: Run, conn: Connection): Promise<void> {
  const r = await conn.exec(`${jobCommand('log', run.plan.projectId)} | tail -n ${TAIL_LINES}`).catch(() => undefined);
  const lines = r?.stdout.replace(/\r/g, '').replace(/\n$/, ''); // a tmux log has the terminal's CRLF
  if (lines) run.log.info(`the last lines of its output (${JOB_LOG}):\n${lines}`);
}

async function startJob(run: Run, conn: Connection, start: string, mux: 'tmux' | 'screen'): Promise<void> {
  try {
    await conn.exec(start);
  } catch (err) {
    if (err instanceof SubprocessError && err.exitCode === JOB_RUNNING_STATUS) throw jobRunningError(run);
    if (err instanceof SubprocessError && err.exitCode === MUX_MISSING_STATUS) throw muxMissingError(mux);
    throw err;
  }
}

/** The instance lacks the multiplexer (an image without it): its environment needs fixing, exit 3. */
export function muxMissingError(mux: 'tmux' | 'screen'): UserError {
  const other = mux === 'tmux' ? 'screen' : 'tmux';
  return new UserError(
    `${mux} is not installed on the instance: the job was not started`,
    ExitCode.config,
    `Install it there (a --user-data script, or ssh-ec2 --stop sudo apt-get install -y ${mux}), or use --multi ${other}.`,
  );
}

function jobRunningError(run: Run): UserError {
  run.facts.leftAsItIs = 'job already running';
  return new UserError(
    'a job is already running for this directory',
    ExitCode.jobRunning,
    'Reattach with ssh-ec2 --attach, follow it with ssh-ec2 logs, or wait for it to end.',
  );
}
