/**
 * The frame of every run that may touch an instance (a session, and the verbs pull, logs, down):
 * the work, then the finish, guaranteed. Signals interrupt the work, never the finish (sync back,
 * final state).
 */
import type { CallerMemory, Cloud } from '../cloud/ec2.js';
import type { BatchCloud } from '../cloud/batch-port.js';
import { onSpawn } from '../remote/exec.js';
import type { Logger } from '../ui/logger.js';
import { newRun, type LocalContext, type Run, type RunFacts } from './context.js';
import { finish } from './finish.js';
import { ownChildren } from './journal.js';
import { trapSignals } from './signals.js';

export interface StoryDeps {
  options: { region?: string };
  log: Logger;
  loadCloud?: (region: string | undefined, o?: { askCaller?: boolean }) => Promise<Cloud>;
  /** Who these credentials are, from an earlier run (a session's, unless --no-cache). */
  callerMemory?: CallerMemory;
  /** The batch port, for tests (test/fakes/batch-cloud.ts); by default AWS's (batch/clouds.ts). */
  loadBatchCloud?: (region: string | undefined) => Promise<BatchCloud>;
}

/**
 * Runs `work` on a run of `local` with the finish guaranteed. `start` gives what a verb knows
 * before it starts: the cloud it has loaded already, `endJobs` (down), facts (the instance it found).
 * Returns the exit status.
 */
export async function runStory(
  deps: StoryDeps,
  local: LocalContext,
  work: (run: Run, signal: AbortSignal) => Promise<void>,
  start: { cloud?: Cloud; endJobs?: boolean; facts?: Partial<RunFacts> } = {},
): Promise<number> {
  const { log } = deps;
  const abort = new AbortController();
  let run: Run | undefined;
  const trap = trapSignals(
    log,
    (signal) => {
      abort.abort(new Interrupted(signal));
      run?.kill?.(signal === 'SIGINT' ? 'SIGINT' : 'SIGHUP');
    },
    () => run?.finishing,
    (signal) => {
      if (signal !== 'SIGINT') return false;
      const take = run?.stopFollowing ?? run?.passInterrupt;
      take?.();
      return take !== undefined;
    },
  );
  // A run killed with SIGKILL leaves its programs (a sync back's rsync) behind: the run that
  // finishes its work ends them first, from the journal.
  onSpawn(() => run?.journal?.note({ children: ownChildren() }));
  let error: unknown;
  try {
    run = newRun(local, start.cloud ?? (await loadCloud(deps)), start);
    await work(run, abort.signal);
  } catch (err) {
    if (!(err instanceof Interrupted) && !abort.signal.aborted) error = err;
  } finally {
    const finalFailed = run ? await finish(run) : undefined;
    // A final state that could not be applied is the exit status, unless something failed first.
    if (finalFailed && !error && (run?.facts.exitStatus ?? 0) === 0) error = finalFailed;
    trap.dispose();
    onSpawn(undefined);
  }
  if (error) throw error;
  return trap.exitStatus() ?? run?.facts.exitStatus ?? 0;
}

/** `askCaller: false`: the owner is not asked ahead (see createCloud). */
export async function loadCloud(deps: StoryDeps, o: { askCaller?: boolean } = {}): Promise<Cloud> {
  const load =
    deps.loadCloud ??
    (async (region, o2) =>
      (await import('../cloud/ec2.js')).createCloud({ region, callerMemory: deps.callerMemory, ...o2 }));
  return load(deps.options.region, o);
}

export class Interrupted extends Error {
  constructor(readonly signal: string) {
    super(`interrupted by ${signal}`);
  }
}
