/**
 * The decision of the finish, for one instance: terminate, stop or leave it, and why. Pure: the
 * facts of the run, and what the finish saw (could it reach the instance, who else is there, did
 * the results come back), in; the action and its typed reason out. The guarantees it holds
 * (README "At the end" and "Safety"): the final state asked for is applied by the last session to
 * leave and never under a running job; an instance whose results are not back, or that could not
 * be reached to ask, is never terminated. Many instances (a batch) are each decided on their own.
 */
import type { FinalState } from '../options.js';
import type { LeftAsItIs, Origin } from './context.js';

/** Who else is on the instance, as asked over ssh; `unknown` when the answer could not be had. */
export type Others = 'job' | 'session' | { unknown: string };

export interface FinishFacts {
  /** The final state asked for (the option, or what the run learnt to ask instead). */
  asked: FinalState;
  origin: Origin;
  /** False for an instance that cannot be stopped (a one-time spot instance: issue #13). */
  canStop: boolean;
  /** EC2 gave notice that it takes the instance back (a spot interruption): it stops or terminates it itself. */
  interrupted?: boolean;
  leftAsItIs?: LeftAsItIs;
  hostKeyUntrusted: boolean;
  ran: boolean;
  /** ssh-ec2 down: nobody is asked, the instance ends under a job too. */
  endJobs: boolean;
  /** The results are to come back: rsync on, or a killed run here owed its sync back. */
  syncBack: boolean;
  /** What the finish saw (see finishNeeds for when it looks). */
  reachable: boolean;
  others?: Others;
  resultsBack: 'not needed' | 'back' | 'not back';
  /** This session's estimated cost is over --budget (budget.ts): not left running (issue #13). */
  overBudget?: boolean;
}

export type FinishReason =
  /** The final state asked for, nothing in its way. */
  | { kind: 'asked' }
  /** Left exactly as it is (a job, --attach with nothing there, logs): no final state at all. */
  | { kind: 'left as it is'; why: LeftAsItIs }
  /** Found, and its host key not trusted: nothing of this run's is there; left as found. */
  | { kind: 'host key untrusted' }
  /** Someone else is there, or might be. */
  | { kind: 'in use'; by: Others }
  /** Terminating could lose something: stopped instead. */
  | { kind: 'unsure'; because: 'results not back' | 'unreachable' }
  /**
   * As `unsure`, or a stop asked for, but the instance cannot be stopped (one-time spot): left
   * running under its agent, never terminated by ssh-ec2 unless asked to and its results are back.
   */
  | { kind: 'cannot stop'; because: 'results not back' | 'unreachable' | 'stop asked' }
  /** --leave asked, but the session is over --budget: stopped once the results are back (issue #13). */
  | { kind: 'over budget' }
  /** EC2 is taking it back (a spot interruption): nothing of ours to apply; the results came first. */
  | { kind: 'interrupted' };

export interface FinishDecision {
  action: FinalState;
  reason: FinishReason;
}

/** What the finish must look at before deciding: reach the instance, ask who else is there, pull. */
export function finishNeeds(
  f: Pick<
    FinishFacts,
    | 'asked'
    | 'origin'
    | 'leftAsItIs'
    | 'hostKeyUntrusted'
    | 'ran'
    | 'endJobs'
    | 'syncBack'
    | 'overBudget'
    | 'interrupted'
  >,
): {
  reach: 'no' | 'if alive' | 'reconnecting';
  ask: boolean;
  pull: boolean;
} {
  if (f.leftAsItIs || (f.hostKeyUntrusted && f.origin !== 'launched')) return { reach: 'no', ask: false, pull: false };
  // An instance EC2 is taking is never waited for: what is new since the notice's sync back comes
  // home only while it still answers; nobody is asked, as nothing of ours is applied to it.
  if (f.interrupted) return { reach: 'if alive', ask: false, pull: f.syncBack };
  // Nothing of this run's can be on an instance it launched and ran nothing on; but another run
  // here may have started using it meanwhile (it reuses it once running): that is asked over a
  // live connection only, never waited for.
  const nothingThere = nothingOfOurs(f);
  const pull = !nothingThere && f.syncBack;
  const ask = !f.endJobs && (f.asked !== 'leave' || stopsOverBudget(f));
  // A dropped connection is opened again first: who else is there is asked on the instance, and
  // the results come back through it.
  if (nothingThere) return { reach: ask ? 'if alive' : 'no', ask, pull };
  return { reach: pull || ask ? 'reconnecting' : 'no', ask, pull };
}

export function decideFinish(f: FinishFacts): FinishDecision {
  if (f.leftAsItIs) return { action: 'leave', reason: { kind: 'left as it is', why: f.leftAsItIs } };
  if (f.hostKeyUntrusted && f.origin !== 'launched')
    // Nothing of this run's is on an instance it found and could not trust, and nothing can be
    // asked or brought back over ssh: it is left as it was (one this run started, stopped again).
    return { action: f.origin === 'started' ? 'stop' : 'leave', reason: { kind: 'host key untrusted' } };
  if (f.interrupted) return { action: 'leave', reason: { kind: 'interrupted' } };
  const nothingThere = nothingOfOurs(f);
  const { ask } = finishNeeds(f);
  // No answer from an instance nothing ran on: no ssh-ec2 session has set it up (job.sh) yet.
  const others = nothingThere && typeof f.others === 'object' ? undefined : f.others;
  if (others) return { action: 'leave', reason: { kind: 'in use', by: others } };
  const pulled = f.resultsBack !== 'not back';
  // Unreachable: its results, or a job or session on it, may still be there.
  const unsure = !pulled || (ask && !f.reachable && !nothingThere);
  if (!unsure && f.asked === 'stop' && !f.canStop)
    return { action: 'leave', reason: { kind: 'cannot stop', because: 'stop asked' } };
  // Over --budget, what was to be left running is stopped: a stop never loses anything. Unsure
  // (results not back, unreachable), who else is there is unknown: a stop could end another
  // terminal's session or a job, so it is left, bounded by the agent's budget time limit.
  if (!unsure && stopsOverBudget(f)) return { action: 'stop', reason: { kind: 'over budget' } };
  if (!unsure || f.asked === 'leave') return { action: f.asked, reason: { kind: 'asked' } };
  const because = pulled ? 'unreachable' : 'results not back';
  if (!f.canStop) return { action: 'leave', reason: { kind: 'cannot stop', because } };
  return { action: 'stop', reason: { kind: 'unsure', because } };
}

/** --leave over --budget is a stop, where a stop is possible (a one-time spot instance is left under its agent). */
function stopsOverBudget(f: { asked: FinalState; overBudget?: boolean; canStop?: boolean }): boolean {
  return !!f.overBudget && f.asked === 'leave' && f.canStop !== false;
}

function nothingOfOurs(f: Pick<FinishFacts, 'origin' | 'ran'>): boolean {
  return f.origin === 'launched' && !f.ran;
}

export interface Line {
  level: 'info' | 'warn';
  text: string;
}

/** What the words name besides the decision: the instance, where it belongs, what a next run does. */
export interface Situation {
  id: string;
  /** The project directory, as the user types it in a shell (quoted: ui/words.ts). */
  dir: string;
  /** `g4dn.xlarge, about $0.66/hour on demand`: the instance type and its price. */
  costs: string;
  /** The final state a plain next ssh-ec2 here applies (without this run's flags), and who says so. */
  next: { state: FinalState; source?: string };
}

/**
 * The words the user sees for a decision, in one place: `before` the final state is applied,
 * `after` it (terminating says itself that it did, in finish.ts). One "what next" line at most,
 * and `ssh-ec2 down` the way to end an instance (issue #10).
 */
export function finishWords(d: FinishDecision, s: Situation): { before?: Line; after?: Line } {
  const r = d.reason;
  const { id, dir } = s;
  switch (r.kind) {
    case 'in use':
      return { before: inUseLine(r.by, id) };
    case 'unsure': {
      const pulled = r.because === 'unreachable';
      const why = pulled
        ? `${id} could not be reached to see whether a job or another session uses it`
        : 'the results could not be brought back';
      return {
        after: {
          level: 'warn',
          text:
            `${why}, so ${id} was stopped, not terminated: nothing is lost.\n` +
            `  To ${pulled ? 'end it' : 'get them'}: ssh-ec2 down in ${dir} (it restarts the instance, brings the results back, then terminates it).`,
        },
      };
    }
    case 'cannot stop':
      return {
        after: {
          level: 'warn',
          text: `${CANNOT_STOP_WHY[r.because](id)}, and ${id} cannot be stopped (one-time spot): it was left running, not terminated; its agent ends it once nothing runs (--idle-timeout), ssh-ec2 down in ${dir} now.`,
        },
      };
    case 'over budget':
      return {
        after: {
          level: 'info',
          text: stoppedLine(s).replace(/^stopped (\S+):/, 'stopped $1, not left running (over --budget):'),
        },
      };
    case 'interrupted':
      return {
        after: {
          level: 'warn',
          text: `EC2 is taking ${id} back (spot interruption), so ssh-ec2 leaves it to EC2.\n  Next: ssh-ec2 in ${dir} says what happened and resumes on its disk if it was stopped, on a new instance otherwise.`,
        },
      };
    case 'host key untrusted':
      return d.action === 'stop' ? { after: { level: 'info', text: `stopped ${id} again, as it was found` } } : {};
    case 'asked':
      if (d.action === 'leave')
        return {
          after: {
            level: 'info',
            text: `left ${id} (${s.costs}) running.\n  Next: ssh-ec2 in ${dir} reuses it; ssh-ec2 down there ends it.`,
          },
        };
      if (d.action === 'stop') return { after: { level: 'info', text: stoppedLine(s) } };
      return {};
    default:
      return {};
  }
}

const CANNOT_STOP_WHY = {
  unreachable: (id: string) => `${id} could not be reached to see whether a job or another session uses it`,
  'results not back': () => 'the results could not be brought back',
  'stop asked': () => 'a stop was asked for',
};

/** After a stop: what the next plain run here does with it, since the final state is each run's own. */
function stoppedLine({ id, dir, next }: Situation): string {
  const stopped = `stopped ${id}: its disk is kept (storage is billed).\n  Next: ssh-ec2 in ${dir} restarts it, then`;
  const by = next.source ? `, as ${next.source} asks` : '';
  if (next.state === 'terminate')
    return `${stopped} terminates it at its end unless given --stop or --leave again; ssh-ec2 down ends it now.`;
  if (next.state === 'stop') return `${stopped} stops it again at its end${by}; ssh-ec2 down ends it.`;
  return `${stopped} leaves it running at its end${by}; ssh-ec2 down ends it.`;
}

function inUseLine(by: Others, id: string): Line {
  if (by === 'job')
    return {
      level: 'warn',
      text: `a detached job is still running on ${id}, so it is left running: its agent stops it once the job is done (ssh-ec2 down ends both now).`,
    };
  if (by === 'session')
    return {
      level: 'info',
      text: `another session is using ${id}, so it is left running: the last session to leave applies its final state.`,
    };
  return {
    level: 'warn',
    text: `could not tell whether another session or a job is using ${id} (${by.unknown}), so it is left running: its agent stops it once nothing runs (--idle-timeout), or ssh-ec2 down ends it now.`,
  };
}
