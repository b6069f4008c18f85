/**
 * --on-success CMD (seed 001's after_sucessful_training): a command of the user's, run here by
 * /bin/sh in the project directory once the command on the instance exited 0 and its results are
 * home (the sync back brought them by its rules). Its output is the user's terminal's; its failure
 * is one warning line and never the run's exit status (which is the command's, and that was 0).
 * A run whose results did not come back does not run it, and says why in one line. User-only
 * (options/file-rules.ts): a cloned project's file cannot make this machine run something.
 */
import { runAttached } from '../remote/exec.js';
import type { Logger } from '../ui/logger.js';
import type { Run } from './context.js';

/** Whether the results are home, as the finish saw it. */
export type ResultsHome = 'back' | 'not back' | 'not needed';

/** Why --on-success is not run, or undefined when it is. */
export function onSuccessSkipped(f: {
  exitStatus?: number;
  resultsBack: ResultsHome;
  rsync: boolean;
}): string | undefined {
  if (f.exitStatus !== 0) return undefined; // nothing to say: it is for a success only
  if (f.resultsBack === 'back') return undefined;
  if (f.resultsBack === 'not back') return 'the results did not come back';
  return f.rsync ? 'the results were not brought back' : 'the sync back was skipped (--no-rsync)';
}

export async function runOnSuccess(
  command: string,
  projectDir: string,
  log: Pick<Logger, 'info' | 'warn' | 'detail'>,
): Promise<void> {
  log.detail(`--on-success: ${command}`);
  try {
    const { exitCode, signal } = await runAttached(['/bin/sh', '-c', command], { cwd: projectDir }).done;
    if (exitCode !== 0)
      log.warn(`--on-success failed (${signal ?? `exit status ${exitCode}`}): the run's status stays the command's`);
  } catch (err) {
    log.warn(`--on-success could not be run: ${(err as Error).message}`);
  }
}

/** After the finish: --on-success when the command ended with 0 and its results are home. */
export async function onSuccessAfter(run: Run, resultsBack: ResultsHome): Promise<void> {
  const { options, facts, log } = run;
  if (!options.onSuccess || !facts.commandEnded) return;
  if (facts.exitStatus !== 0) {
    log.detail(`--on-success not run: the command exited with ${facts.exitStatus ?? 'no status'}`);
    return;
  }
  const skipped = onSuccessSkipped({ exitStatus: facts.exitStatus, resultsBack, rsync: options.rsync });
  if (skipped) {
    log.warn(`--on-success not run: ${skipped}`);
    return;
  }
  await runOnSuccess(options.onSuccess, run.plan.projectDir, log);
}
