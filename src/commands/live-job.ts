/**
 * What runs on an instance, asked over ssh: ls shows it in its JOB column, down says it will be
 * killed. Only an instance whose host key is pinned here is asked: a verb does not wait for the
 * console to check a new key, and a key it pinned unchecked would be trusted by every later run.
 */
import type { Cloud, InstanceInfo } from '../cloud/ec2.js';
import { STATE_DIR, JOBS_DIR } from '../remote/instance-contract.js';
import type { JobState } from '../remote/on-instance.js';
import { resolvePaths } from '../state/paths.js';
import { jobStatus } from '../session/job.js';
import { TAG } from '../session/plan.js';
import { localContext, newRun } from '../session/context.js';
import { pinnedIn } from '../session/run-session.js';
import { connectFound } from './existing-instance.js';
import type { CommandContext } from './types.js';

/** A verb does not wait for an instance whose ssh is not up (yet): its job is then unknown. */
const ASK_SSH_TIMEOUT_MS = 15_000;

/** The job's state; a running one with its command (undefined: an interactive shell). */
export type LiveJob =
  | Exclude<JobState, { state: 'running' }>
  | { state: 'running'; started: Date; command: string | undefined }
  | { state: 'unknown'; why: string }
  | { state: 'not running' };

export async function liveJob(ctx: CommandContext, cloud: Cloud, i: InstanceInfo): Promise<LiveJob> {
  if (i.state !== 'running' || !i.tags[TAG.project]) return { state: 'not running' };
  if (!pinnedIn(resolvePaths(ctx.env))(i.id)) return { state: 'unknown', why: 'its host key is not pinned here' };
  const quiet = { ...ctx.log, info: () => {}, warn: () => {} };
  const state = newRun(localContext({ ...ctx, log: quiet }, ctx.cwd), cloud);
  try {
    const conn = await connectFound(state, i, undefined, {
      timeoutMs: ASK_SSH_TIMEOUT_MS,
      letIn: false,
      hostKeyWaitMs: 0,
    });
    const id = i.tags[TAG.project];
    const job = await jobStatus(conn, id);
    let answer: LiveJob;
    if (job.state === 'running') {
      // The command as typed; absent for an interactive shell (job.sh).
      const cmd = await conn.exec(`cat ~/${STATE_DIR}/${JOBS_DIR}/${id}/cmd 2>/dev/null || true`);
      answer = { state: 'running', started: new Date(job.started * 1000), command: cmd.stdout.trim() || undefined };
    } else answer = job;
    await conn.close({ keep: true });
    return answer;
  } catch (err) {
    await state.conn?.close({ keep: true });
    return { state: 'unknown', why: `ssh did not answer (${(err as Error).message.split('\n')[0]})` };
  }
}
