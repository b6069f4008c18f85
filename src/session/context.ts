/**
 * A run, in three parts: what it knows before it starts (its context: options, who and where,
 * paths, logger, the cloud port; never changed), what it learns as it goes (its facts: typed
 * values, which the finish decides from: decide-finish.ts), and what it holds open (its
 * connection, its journal, the session a signal ends). A signal received is the trap's to tell
 * (signals.ts): it becomes the exit status.
 */
import { hostname, userInfo } from 'node:os';
import type { Cloud, InstanceInfo } from '../cloud/ec2.js';
import type { FinalState, Options } from '../options.js';
import type { Connection } from '../remote/connection.js';
import { privateDir, resolvePaths, type Paths } from '../state/paths.js';
import type { Logger } from '../ui/logger.js';
import type { Interruption } from './interruption-record.js';
import type { Journal } from './journal.js';
import type { Limits } from './limits.js';
import type { Usage } from '../remote/usage.js';
import { makePlan, type Plan } from './plan.js';

/** What a run knows before any AWS call. */
export interface LocalContext {
  readonly options: Options;
  readonly plan: Plan;
  readonly paths: Paths;
  readonly log: Logger;
}

/** What a run knows before it starts. */
export interface RunContext extends LocalContext {
  readonly cloud: Cloud;
  /** ssh-ec2 down: the instance ends even under a running job or another session. */
  readonly endJobs: boolean;
}

/** How this run came by its instance. */
export type Origin =
  /** Launched by this run: until something ran on it, it holds nothing of the user's. */
  | 'launched'
  /** Found stopped, and started by this run. */
  | 'started'
  /** Found as it was (running, or stopped and not started: `down` without a sync back). */
  | 'found';

/** Why the instance is left exactly as it is, whatever the final state asked for. */
export type LeftAsItIs =
  | 'job detached'
  | 'job still running'
  | 'job running, connection lost'
  | 'job already running'
  | 'nothing to attach to'
  | 'logs';

/** What a run learns, as it learns it. */
export interface RunFacts {
  instance?: InstanceInfo;
  origin?: Origin;
  /** ssh works and the host key was checked: the finish may use the connection. */
  connected: boolean;
  /**
   * Its host key was not trusted (interrupted before the console showed it, or matching none):
   * nothing may go over ssh.
   */
  hostKeyUntrusted: boolean;
  /** Something ran on the instance: there may be results to bring back. */
  ran: boolean;
  /** The command's (or job's) exit status. */
  exitStatus?: number;
  /** The id of this run's remote command (SSH_EC2_SESSION), once it was started. */
  sessionId?: string;
  leftAsItIs?: LeftAsItIs;
  /** Replaces the final state asked for: a killed run's pending one, or what a verb or --attach learnt. */
  finalState?: FinalState;
  /** A killed run here owed a sync back: done even under --no-rsync. */
  owedSyncBack: boolean;
  /** The agent's limits for this instance. */
  limits?: Limits;
  /** EC2 gave notice that it takes the (spot) instance back (interruption.ts): it is EC2's to end. */
  interruption?: Interruption;
  /** An earlier run's interruption, said at this run's start (interruption-record.ts): not said again. */
  lastInterruption?: Interruption;
  /**
   * The command ended while this run watched (a plain session's, or the job this run ran or
   * found ended), with its measure: --on-success may follow; from a session, --notify is sent
   * from here (a job sends its own).
   */
  commandEnded?: { from: 'session' | 'job'; usage?: Usage };
}

/** A run: its context, its facts, and what it holds open. */
export interface Run extends RunContext {
  readonly facts: RunFacts;
  conn?: Connection;
  /** This run's journal (sessions only): what it has done, for a run that finds it killed. */
  journal?: Journal;
  /** Ends the running session (signals). */
  kill?: (signal?: NodeJS.Signals) => void;
  /** Set while a run only follows a job's output (logs, --attach): a Ctrl-C stops that, quietly. */
  stopFollowing?: () => void;
  /** A Ctrl-C the running command takes itself (no terminal: passed on to it on the instance). */
  passInterrupt?: () => void;
  /** What the finish is doing now, for the message of a second signal. */
  finishing?: string;
  /** A plain session's measure being read (command-usage.ts): settled by the finish. */
  usageRead?: Promise<Usage | undefined>;
  /** The caller's address being let into the security group (see letCallerIn): settled before exit. */
  lettingIn?: Promise<void>;
}

export function newRun(
  local: LocalContext,
  cloud: Cloud,
  start: { endJobs?: boolean; facts?: Partial<RunFacts> } = {},
): Run {
  return {
    ...local,
    cloud,
    endJobs: start.endJobs ?? false,
    facts: { connected: false, hostKeyUntrusted: false, ran: false, owedSyncBack: false, ...start.facts },
  };
}

export function localContext(
  deps: { options: Options; env: Readonly<Record<string, string | undefined>>; log: Logger },
  cwd: string,
): LocalContext {
  const plan = makePlan(deps.options, { cwd, localUser: localUser(deps.env), localHost: hostname() });
  const paths = resolvePaths(deps.env);
  privateDir(paths.runtime);
  return { options: deps.options, plan, paths, log: deps.log };
}

export const localUser = (env: Readonly<Record<string, string | undefined>>): string => env.USER || userInfo().username;

export function originOf(got: { launched: boolean; started?: boolean }): Origin {
  return got.launched ? 'launched' : got.started ? 'started' : 'found';
}
