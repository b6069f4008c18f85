/**
 * A Ctrl-C of what runs on the instance without a terminal (a plain command, a job followed in
 * the foreground) is passed on to it there, as a terminal would: it ends as it chooses (a shell
 * reports 130, a script that catches it may save its work and exit 0) and its status is the
 * run's. ssh runs out of the terminal's reach meanwhile (Connection.attach: ownGroup), so the
 * SIGINT is ssh-ec2's alone.
 */
import type { Connection } from '../remote/connection.js';
import type { Run } from './context.js';

/** How long a command has, after a Ctrl-C passed on to it, to end by itself (a job has no limit: below). */
const INTERRUPT_GRACE_MS = 10_000;

/**
 * Awaits `done` (what runs there) while a Ctrl-C is passed on by running `pass.command` on the
 * instance, which delivers the SIGINT (no `pass`: not passed on). A second Ctrl-C, a command still
 * running after INTERRUPT_GRACE_MS, or no answer from the instance: the run is interrupted as for
 * any other signal (exit 130). A job is given no time limit — one that saves a checkpoint on Ctrl-C
 * may take a while, and stopping to follow it would leave its results there — only a second Ctrl-C
 * stops following it (the job and the instance left running). The interrupt sent, if any, is over
 * when this returns (before the finish).
 */
export async function passingInterrupt<T>(
  run: Run,
  conn: Connection,
  pass: { command: string; what: 'command' | 'job' } | undefined,
  done: Promise<T>,
): Promise<T> {
  if (!pass) return done;
  const interrupt = passInterrupt(run, conn, pass.command, pass.what);
  run.passInterrupt = interrupt.take;
  try {
    return await done;
  } finally {
    run.passInterrupt = undefined;
    await interrupt.settled();
  }
}

function passInterrupt(run: Run, conn: Connection, command: string, what: 'command' | 'job') {
  const interruptRun = () => process.kill(process.pid, 'SIGINT');
  let escalation: NodeJS.Timeout | undefined;
  let sent: Promise<unknown> | undefined;
  const take = () => {
    run.passInterrupt = undefined;
    if (what === 'job') {
      run.log.warn('SIGINT passed on to the job (Ctrl-C again stops following it: the job and the instance go on)');
    } else {
      const grace = `${INTERRUPT_GRACE_MS / 1000}s`;
      run.log.warn(`SIGINT passed on to the command (Ctrl-C again, or ${grace} without it ending, stops it)`);
      escalation = setTimeout(interruptRun, INTERRUPT_GRACE_MS);
    }
    sent = conn.exec(command).catch(interruptRun);
  };
  // Its own session on the instance must be over before the finish asks who else is there.
  const settled = async () => {
    clearTimeout(escalation);
    await sent;
  };
  return { take, settled };
}
