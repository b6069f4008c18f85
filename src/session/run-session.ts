/**
 * The story of one run: provision → connect → sync up → run → sync back → finish.
 * The finish (finish.ts, decided by decide-finish.ts) is written once and reached from success,
 * failure and signals alike (story.ts).
 */
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import type { Cloud } from '../cloud/ec2.js';
import type { InstanceInfo } from '../cloud/port.js';
import { originOf as settingOrigin, type FinalState, type Options } from '../options.js';
import type { Connection } from '../remote/connection.js';
import { RESULTS_COMMANDS } from '../remote/on-instance.js';
import { joinCommand, sessionCommand } from '../remote/remote-command.js';
import { dockerOf } from '../remote/docker.js';
import { measureWords } from '../remote/usage.js';
import { ExitCode } from '../errors.js';
import { noteSessionEnd } from './command-usage.js';
import { callerMemory } from '../state/cache.js';
import type { Paths } from '../state/paths.js';
import { syncUp } from '../sync/sync-up.js';
import { checkDetachedSyncEvery, pullingWhile, syncEveryOf } from '../sync/sync-every.js';
import { requireRsync, rsyncSource } from '../remote/rsync-capabilities.js';
import type { Logger } from '../ui/logger.js';
import { requirePrograms } from '../remote/exec.js';
import { wantsTerminal } from '../remote/ssh.js';
import { checkDefaultImageSupports } from '../cloud/dlami.js';
import { heldBackNoticeFile } from '../sync/secrets-notice.js';
import { announceForwards } from './forwards-announce.js';
import { checkoutBeside, type GitRun } from './git-checkout.js';
import { checkGitSettings, gitSource, type GitSource } from './git-source.js';
import { connect, prepareInstance } from './connect.js';
import { syncMounts } from './data-volume.js';
import { localContext, originOf, type LocalContext, type Run } from './context.js';
import { endSessions } from './finish.js';
import { checkJobCanStart, checkSessionOptions, multiplexerOf, runJob } from './job.js';
import { pemKey } from './keys.js';
import {
  interruptSessionsCommand,
  Journal,
  newSessionId,
  ownChildren,
  pendingFinalState,
  takeDeadJournals,
  type Pending,
} from './journal.js';
import { statusAfter, watchInterruption } from './interruption.js';
import { tellLastInterruption } from './interruption-record.js';
import { resolveLimits } from './limits.js';
import { budgetHourly } from './session-cost.js';
import { passingInterrupt } from './pass-interrupt.js';
import { provision, type Provisioned } from './provision.js';
import { runStory } from './story.js';
import { awsContext, refreshAliases } from '../state/aliases.js';
import { rememberInstance, warmCloud, warmInstance, warmth, type Warmth } from './warm.js';

export interface SessionDeps {
  options: Options;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  log: Logger;
  stdinIsTTY: boolean;
  stdoutIsTTY: boolean;
  loadCloud?: (region: string | undefined) => Promise<Cloud>;
}

export async function runSession(deps: SessionDeps): Promise<number> {
  const { options } = deps;
  await checkBeforeAws(options, deps.log);
  const local = localContext(deps, deps.cwd);
  // An rsync that cannot do the sync is said before anything is launched (a Mac's own, say).
  if (options.rsync) await requireRsync(rsyncSource(local), options.attach ? ['back'] : ['up', 'back']);
  // This directory's instance as an earlier run left it: used without AWS if it answers (warm.ts).
  const w = warmth(local, deps.env);
  // A run from git is refused (or pushed) before anything is launched (--attach sends nothing).
  const git = options.attach ? undefined : await gitSource(options, local.plan.projectDir, deps.env, deps.log);
  // Who these credentials are, as an earlier run learnt it (one STS call fewer), unless --no-cache.
  const known = { ...deps, callerMemory: options.cache ? callerMemory(local.paths.cache) : undefined };
  return runStory(known, local, (run, signal) => story(run, deps, w, signal, git), { cloud: warmCloud(w, known) });
}

/** What a run refuses before any AWS call (a dry run too): nothing is looked up, or launched, for nothing. */
export async function checkBeforeAws(options: Options, log: Logger): Promise<void> {
  // A missing key file is reported before any AWS call.
  if (options.identity) pemKey(options.identity, settingOrigin(options, 'identity'));
  await checkSessionOptions(options);
  checkDetachedSyncEvery(options, log);
  checkGitSettings(options);
  if (!options.attach) checkDefaultImageSupports(options); // --attach never launches
  await requirePrograms(localPrograms(options));
}

/** The local programs a run needs: ssh (and ssh-keygen, for keys and host key checks), rsync unless --no-rsync. */
export function localPrograms(options: Pick<Options, 'rsync' | 'rsyncProgram' | 'git'>): string[] {
  // An rsync named by SSH_EC2_RSYNC is looked for where it is named (rsync-capabilities.ts).
  const rsync = options.rsync && !options.rsyncProgram ? ['rsync'] : [];
  return ['ssh', 'ssh-keygen', ...rsync, ...(options.git ? ['git'] : [])];
}

/** Whether ssh-ec2 here has connected to an instance: its host key is pinned in our state (owner.ts). */
export const pinnedIn =
  (paths: Paths) =>
  (instanceId: string): boolean =>
    existsSync(paths.knownHosts(instanceId));

/** Up to the command's end; the sync back and the final state are the finish's (story.ts). */
async function story(run: Run, deps: SessionDeps, w: Warmth, signal: AbortSignal, git?: GitSource): Promise<void> {
  const ownFinalState = run.facts.finalState;
  run.facts.lastInterruption = tellLastInterruption(run.log, run.paths, run.plan.projectId);
  const pending = await recoverKilledRun(run);
  // A killed run's debts are settled by the API path (its instance may be gone or stopped); a data
  // volume is attached by it.
  const none = pending ? 'a killed run here left work to finish' : run.options.volume && 'a data volume (--volume)';
  const warm = none ? { ...w, none } : w;
  const got = await run.log.phase(
    'instance',
    async () => (await warmInstance(run, warm)) ?? provisionFor(run, { pending, ownFinalState }, signal),
  );
  // A warm instance's connection is open: the caller's address needs no letting in.
  const conn = await connect(run, got, signal, { letIn: !got.warm });
  // Interrupted while the connection was made: nothing is sent (no agent, no sync up).
  signal.throwIfAborted();
  run.journal?.note({ step: 'the sync up', connected: true });
  if (pending?.sessionIds.length && (await endSessions(conn, pending.sessionIds)))
    run.journal?.note({ inheritedSessions: [] });
  await prepareAndSyncUp(run, conn, got, signal, git && { source: git, agent: !!deps.env.SSH_AUTH_SOCK });
  rememberInstance(run, got, w.context);
  // Launched, started or reached, its host key now pinned: its ssh alias (if aliases are in use).
  await refreshAliases(
    run.paths,
    {
      id: got.instance.id,
      name: got.instance.tags.Name ?? run.plan.name,
      user: got.user,
      region: run.cloud.region,
      sshConfig: run.options.sshConfig && resolve(run.plan.projectDir, run.options.sshConfig),
      ...awsContext(deps.env),
    },
    run.log,
  );
  signal.throwIfAborted();
  await runCommand(run, conn, got, deps, signal);
}

/** The instance (found, started or launched), known to the finish as soon as it may be running. */
async function provisionFor(
  run: Run,
  { pending, ownFinalState }: { pending?: Pending; ownFinalState?: FinalState },
  signal: AbortSignal,
): Promise<Provisioned> {
  const { options, plan, paths, log, facts } = run;
  const got = await provision({
    options,
    plan,
    cloud: run.cloud,
    log,
    lockPath: paths.lock(plan.projectId),
    cacheDir: paths.cache,
    signal,
    mayLaunch: !options.attach,
    pinned: pinnedIn(paths),
    onInstance: (instance, launched) => {
      facts.instance = instance;
      facts.origin = originOf({ launched });
      if (pending?.instanceId && pending.instanceId !== instance.id) {
        // Its instance was ended meanwhile (ssh-ec2 down, the console): what it owed went with
        // it, and its final state is not this instance's. Dropped in the same journal write
        // that names the new instance, so a kill now cannot hand the debts on to it.
        log.info(`the killed run's instance ${pending.instanceId} is gone: nothing of it is left to finish`);
        facts.finalState = ownFinalState;
        facts.owedSyncBack = false;
        pending.sessionIds = [];
        run.journal?.note({
          step: 'connecting',
          instanceId: instance.id,
          launched,
          ran: false,
          inheritedSessions: [],
          finalState: ownFinalState ?? options.finalState,
        });
        return;
      }
      run.journal?.note({ step: 'connecting', instanceId: instance.id, launched });
    },
  });
  facts.instance = got.instance;
  facts.origin = originOf(got);
  return got;
}

/**
 * The agent and its limits installed while the project goes up (no sync up for --attach). A job's
 * start is refused (one already running, no tmux/screen) before anything is sent: the agent
 * (which brings the job wrapper that answers) first, then the check, then the sync up.
 */
async function prepareAndSyncUp(run: Run, conn: Connection, got: Provisioned, signal: AbortSignal, git?: GitRun) {
  const { options, log } = run;
  const hourly = budgetHourly(run.cloud.region, got.instance);
  const limits = resolveLimits(options, got.instance, got.launched || got.started, undefined, hourly);
  run.facts.limits = limits;
  const mux = multiplexerOf(options);
  // A job's start is checked in the agent's own exchange (one round trip).
  const job = mux !== 'none' && !options.attach ? { id: run.plan.projectId, mux } : undefined;
  const prepared = log.phase('agent', () => prepareInstance(run, conn, got.instance, limits, job, got.volume));
  if (job) checkJobCanStart(run, await prepared, job.mux);
  if (git)
    await checkoutBeside(
      prepared,
      { ...syncParams(run, conn, got.instance), instanceId: got.instance.id, signal },
      git,
    );
  else if (options.rsync && !options.attach) {
    // An agent that cannot be installed ends the sync up too. Either one's failure (or an interrupt)
    // waits for the other's end before the finish: it never runs beside a push, and the agent's
    // exchange still running there would count as another session (the instance left running).
    const stop = new AbortController();
    let agentFailed = false;
    prepared.catch(() => {
      agentFailed = true;
      stop.abort();
    });
    const up = log.phase('sync up', () =>
      log.progress(`syncing up to ${got.instance.id}`, (onProgress) =>
        syncUp({
          ...syncParams(run, conn, got.instance),
          instanceId: got.instance.id,
          signal: AbortSignal.any([signal, stop.signal]),
          onProgress,
        }),
      ),
    );
    try {
      const [sent] = await Promise.all([up, prepared]);
      log.detail(`sync up: ${sent.files ?? 'an unknown number of'} file(s) sent`);
    } catch (err) {
      await (agentFailed ? up : prepared).catch(() => undefined);
      throw err;
    }
  } else {
    await prepared;
  }
}

/** The command, plain or as a job (job.ts); its exit status becomes the run's. */
async function runCommand(run: Run, conn: Connection, got: Provisioned, deps: SessionDeps, signal: AbortSignal) {
  const { options, plan, log, facts } = run;
  const sessionId = newSessionId();
  facts.sessionId = sessionId;
  run.journal?.note({ step: 'the command', ran: true, sessionId });
  const mux = multiplexerOf(options);
  const tty = wantsTerminal(options.tty, deps);
  const pulls = syncEveryOf(options, { ...syncParams(run, conn, got.instance), instanceId: got.instance.id }, tty);
  if (mux !== 'none')
    return runJob(run, conn, got.instance, { mux, tty, forwards: forwardsOf(options), signal, pulls });
  facts.ran = true;
  // The id marks the command's processes, so an interrupt (or the run after a SIGKILL) can end them.
  // With a terminal there, the terminal delivers a Ctrl-C (ssh puts ours in raw mode: it is a key
  // like any other). Without one, nothing there turns a key into a signal: ssh runs out of the
  // terminal's reach and ssh-ec2 passes the Ctrl-C on (below), so the command decides its status.
  // ssh must not be in the terminal's foreground group then, even to read a keyboard (stdin a
  // terminal, stdout redirected): its mux client exits on SIGINT whatever the command does, and
  // the command's status would be lost. So ssh-ec2 reads the terminal for it (relayInput: cooked,
  // a line at a time, Ctrl-D as end of file, as ssh would have read it).
  const pass = !tty;
  const session = conn.attach(
    `export SSH_EC2_SESSION=${sessionId}; ${sessionCommand(plan.remoteDir, joinCommand(options.command), { tty, docker: dockerOf(options), measure: measureWords(sessionId), ...(options.results && { results: RESULTS_COMMANDS }) })}`,
    { tty, forwards: forwardsOf(options), ownGroup: pass, relayInput: pass && deps.stdinIsTTY },
  );
  announceForwards(forwardsOf(options), log);
  run.journal?.note({ children: ownChildren() });
  run.kill = session.kill;
  const interrupt = pass ? { command: interruptSessionsCommand([sessionId]), what: 'command' as const } : undefined;
  // --sync-every: the results pulled home while it runs, the last pull ended before the finish's (or
  // before a spot notice's sync back).
  const result = await pullingWhile(pulls, async (stopPulls) => {
    const watch = watchInterruption(run, conn, stopPulls);
    return log.phase('run', () => passingInterrupt(run, conn, interrupt, session.done)).finally(() => watch.stop());
  });
  run.kill = undefined;
  if (signal.aborted) await endSessions(conn, [sessionId]);
  facts.exitStatus = statusAfter(run, result.exitCode);
  if (!signal.aborted && result.exitCode !== ExitCode.connectionLost) noteSessionEnd(run, conn, sessionId);
}

/**
 * Starts this run's journal, then takes over the work of a run here that was killed (its journal
 * outlived it): the same instance (provision finds it by its tags), the sync back it owed even
 * under --no-rsync, and its final state by the rule of `pendingFinalState`. Inherited work is
 * written to this run's journal first, so a second kill loses nothing either.
 */
async function recoverKilledRun(run: Run): Promise<Pending | undefined> {
  const { options, plan, paths, log, facts } = run;
  const journal = new Journal(paths.journal(plan.projectId), {
    projectDir: plan.projectDir,
    step: 'provisioning',
    finalState: facts.finalState ?? options.finalState,
  });
  run.journal = journal;
  const pending = await takeDeadJournals(paths, plan.projectId, log);
  if (!pending) return undefined;
  facts.owedSyncBack = pending.syncBack;
  facts.finalState = pendingFinalState(facts.finalState ?? options.finalState, pending.finalState);
  // With the killed run's instance: its debts are that instance's only, even if this run is killed in turn.
  journal.note({
    ran: pending.syncBack,
    finalState: facts.finalState,
    inheritedSessions: pending.sessionIds,
    instanceId: pending.instanceId,
  });
  return pending;
}

export function forwardsOf(o: Options) {
  return { local: o.localForwards, remote: o.remoteForwards, dynamic: o.dynamicForwards };
}

/** `instance`: the one synced with, whose attached data volume is left out (data-volume.ts syncMounts). */
export function syncParams(local: LocalContext, conn: Connection, instance: InstanceInfo | undefined) {
  return {
    conn,
    localDir: local.plan.projectDir,
    remoteDir: local.plan.remoteDir,
    scratchDir: local.paths.runtime,
    rsync: rsyncSource(local),
    log: local.log,
    heldBackNotice: heldBackNoticeFile(local),
    mounts: syncMounts(local.options, instance),
  };
}
