/**
 * A spot interruption during an attached session (a command, a job followed, --attach): EC2 gives
 * two minutes' notice, the agent writes it on the instance (src/agent/interruption.sh), and this
 * run, which watches for that file over its own ssh master, says so at once and brings the results
 * home at once, while the command may still run. The session then ends with its own exit status
 * (ExitCode.interrupted) and the finish leaves the instance to EC2 (decide-finish.ts). What the
 * next run here says of it: interruption-record.ts.
 */
import { ExitCode } from '../errors.js';
import type { Connection } from '../remote/connection.js';
import { INTERRUPTION_FILE, STATE_DIR } from '../remote/instance-contract.js';
import type { Run } from './context.js';
import { bringResultsBack } from './finish.js';
import { writeInterruptionRecord, type Interruption } from './interruption-record.js';

/**
 * Waits on the instance for the agent's file, then prints it. Not a poll of any API: a test of one
 * file a second. The loop runs apart from the sshd (its parent is gone), so the agent and the
 * finish never count it as a session; it writes a newline each second, which fails once this end
 * has closed the channel, and so it never outlives the run.
 */
export const WATCH_COMMAND =
  `f="$HOME/${STATE_DIR}/${INTERRUPTION_FILE}"; ` +
  `(while [ ! -f "$f" ]; do printf '\\n' || exit 0; sleep 1; done; cat "$f") </dev/null &`;

/** Prints the agent's file if it is there (one line), nothing otherwise. */
export const NOTICE = `cat "$HOME/${STATE_DIR}/${INTERRUPTION_FILE}" 2>/dev/null; :`;

/** The agent's file ("<action> <time>"), or nothing if it is not one. */
export function parseNotice(out: string): Pick<Interruption, 'action' | 'time'> | undefined {
  const m = /^(stop|terminate|hibernate) (\S+)$/m.exec(out);
  return m ? { action: m[1]!, time: m[2]! } : undefined;
}

/** `spot interruption: EC2 will stop this instance at 16:40:00 (in 1m52s); bringing results home now`. */
export function noticeLine(n: Pick<Interruption, 'action' | 'time'>, now: Date): string {
  const at = new Date(n.time);
  if (Number.isNaN(at.getTime()))
    return `spot interruption: EC2 will ${n.action} this instance within two minutes; bringing results home now`;
  const p = (x: number) => String(x).padStart(2, '0');
  const clock = `${p(at.getHours())}:${p(at.getMinutes())}:${p(at.getSeconds())}`;
  const s = Math.max(0, Math.round((at.getTime() - now.getTime()) / 1000));
  const left = s >= 60 ? `${Math.floor(s / 60)}m${p(s % 60)}s` : `${s}s`;
  return `spot interruption: EC2 will ${n.action} this instance at ${clock} (in ${left}); bringing results home now`;
}

export interface InterruptionWatch {
  /** Stops watching; resolves once a notice seen meanwhile has been handled (results home). */
  stop(): Promise<void>;
}

/**
 * The watch starts this long after the command: a notice gives two minutes (and the agent asks
 * every 5 s), while a short command (a warm `ssh-ec2 true`) must not pay for one more ssh beside it.
 */
const WATCH_AFTER_MS = 2000;

/** Watches for a notice while the session's command runs, and answers it (see the top). */
export function watchInterruption(
  run: Run,
  conn: Connection,
  beforeSync: () => Promise<void> = async () => undefined,
): InterruptionWatch {
  const abort = new AbortController();
  let handled: Promise<void> = Promise.resolve();
  const start = () => {
    handled = conn.watch(WATCH_COMMAND, abort.signal).then(
      async (out) => {
        // A notice that came as the command ended is answered all the same: EC2 is taking the instance.
        const notice = out === undefined ? undefined : parseNotice(out);
        if (notice) await answerNotice(run, conn, notice, beforeSync);
      },
      (err: unknown) => run.log.detail(`the spot interruption watch ended: ${(err as Error).message}`),
    );
  };
  const timer = setTimeout(start, WATCH_AFTER_MS);
  return {
    stop: async () => {
      clearTimeout(timer);
      abort.abort();
      await handled;
    },
  };
}

async function answerNotice(
  run: Run,
  conn: Connection,
  notice: Pick<Interruption, 'action' | 'time'>,
  beforeSync: () => Promise<void>,
) {
  const instanceId = run.facts.instance?.id;
  if (!instanceId || !takeNotice(run, notice)) return;
  if (!run.options.rsync && !run.facts.owedSyncBack) return;
  await beforeSync(); // --sync-every's pulls end first: one sync at a time
  if (await bringResultsBack(run, conn, instanceId)) recordInterruption(run, true);
}

/** Notes a notice (once): the fact, the line, the record for the next run. */
function takeNotice(run: Run, notice: Pick<Interruption, 'action' | 'time'>): boolean {
  const { facts } = run;
  const instanceId = facts.instance?.id;
  if (!instanceId || facts.interruption) return false;
  facts.interruption = { instanceId, ...notice, resultsHome: false };
  run.log.warn(noticeLine(notice, new Date()));
  recordInterruption(run, false);
  return true;
}

/**
 * A notice the finish found (NOTICE, asked with who else is there) that the watch did not see: the
 * command ended first (a job the agent's SIGTERM ended), or ran for less than WATCH_AFTER_MS. The
 * finish then brings the results home and leaves the instance to EC2; the run exits 10 all the same.
 */
export function lateNotice(run: Run, out: string): void {
  const notice = parseNotice(out);
  if (notice && takeNotice(run, notice)) run.facts.exitStatus = ExitCode.interrupted;
}

/** What the next run here reads (interruption-record.ts); `home`: the results came home since the notice. */
export function recordInterruption(run: Run, home: boolean): void {
  const r = run.facts.interruption;
  if (!r) return;
  r.resultsHome ||= home;
  writeInterruptionRecord(run.paths, run.plan.projectId, r);
}

/** The run's exit status once its command ended: the command's, or ExitCode.interrupted after a notice. */
export function statusAfter(run: Run, commandStatus: number): number {
  return run.facts.interruption ? ExitCode.interrupted : commandStatus;
}
