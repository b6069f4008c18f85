/**
 * The journal of a run: a small JSON file per run (`<state>/journals/<projectId>.<pid>.json`),
 * rewritten atomically (tmp + rename) at each step that changes the world and removed when the
 * finish is done. A journal whose pid is dead is a run killed with SIGKILL (or a crash, a power
 * cut): the next session in the same directory reads it and finishes that run's work — the sync
 * back it owed, then the final state (see `pendingFinalState` for the rule).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FinalState } from '../options.js';
import type { Paths } from '../state/paths.js';
import { runningPrograms } from '../remote/exec.js';
import { processAlive, stillOurs } from '../state/process.js';
import { backoff } from '../time.js';
import type { Logger } from '../ui/logger.js';

export type JournalStep =
  'provisioning' | 'connecting' | 'the sync up' | 'the command' | 'the sync back' | 'the final state';

export interface JournalEntry {
  pid: number;
  projectDir: string;
  startedAt: string;
  step: JournalStep;
  instanceId?: string;
  /** The instance was launched by that run. */
  launched?: boolean;
  connected?: boolean;
  /** Something was run on the instance: there may be results to bring back. */
  ran?: boolean;
  syncedBack?: boolean;
  /** The final state that run was to apply. */
  finalState: FinalState;
  /** Its remote command's processes carry SSH_EC2_SESSION=<this> (see `endSessionsCommand`). */
  sessionId?: string;
  /** Remote sessions of killed runs this run took over, until it has ended them. */
  inheritedSessions?: string[];
  /** Local processes of that run that outlive it (its ssh session): ended by the recovery. */
  children?: Child[];
}

export class Journal {
  private entry: JournalEntry;
  constructor(
    readonly path: string,
    first: Omit<JournalEntry, 'pid' | 'startedAt'>,
  ) {
    this.entry = { pid: process.pid, startedAt: new Date().toISOString(), ...first };
    this.write();
  }

  get current(): Readonly<JournalEntry> {
    return this.entry;
  }

  note(patch: Partial<JournalEntry>): void {
    this.entry = { ...this.entry, ...patch };
    if (!this.removed) this.write();
  }

  /** The finish is done: nothing is owed any more (and nothing noted later brings the file back). */
  remove(): void {
    this.removed = true;
    rmSync(this.path, { force: true });
  }

  private removed = false;

  private write(): void {
    const tmp = `${this.path}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      writeFileSync(tmp, `${JSON.stringify(this.entry)}\n`, { mode: 0o600 });
      renameSync(tmp, this.path);
    } catch {
      // The journal is a safety net: a full disk must not stop the run itself.
    }
  }
}

/** A program a run started: its argv (NUL-separated) and when it was seen running (epoch ms). */
export interface Child {
  pid: number;
  cmdline: string;
  seenAt: number;
}

/** The local programs this run started that are still running (exec.ts keeps the list). */
export function ownChildren(): Child[] {
  return runningPrograms().map((p) => ({ pid: p.pid, cmdline: p.argv.join('\0'), seenAt: p.seenAt }));
}

/** What a killed run left to do, gathered from every dead journal of this project (then removed). */
export interface Pending {
  previous: JournalEntry[];
  syncBack: boolean;
  finalState: FinalState;
  instanceId?: string;
  /** Remote sessions of the killed runs, to end before the finish. */
  sessionIds: string[];
}

const STRICTNESS: FinalState[] = ['leave', 'stop', 'terminate'];

/**
 * The rule for a killed run's final state: a run that itself leaves the instance running
 * (`--leave`, or AWS_FINAL_STATE=leave) is obeyed — the user is here now, is told the price and
 * how to end it. Otherwise the stricter of the two applies (terminate > stop): the killed run's
 * terminate is not weakened to this run's stop, nor this run's terminate to its stop. Either way
 * the instance is only ever terminated once the results are back (else it is stopped).
 */
export function pendingFinalState(own: FinalState, pending: FinalState): FinalState {
  if (own === 'leave') return own;
  return STRICTNESS.indexOf(pending) > STRICTNESS.indexOf(own) ? pending : own;
}

export function journalsDir(paths: Paths): string {
  return dirname(paths.journal(''));
}

/** Reads the journals of this project whose run is dead; journals of live runs are left alone. */
export async function takeDeadJournals(paths: Paths, projectId: string, log: Logger): Promise<Pending | undefined> {
  const dir = journalsDir(paths);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(`${projectId}.`) && n.endsWith('.json'));
  } catch {
    return undefined;
  }
  const previous: JournalEntry[] = [];
  for (const name of names) {
    const path = join(dir, name);
    let entry: JournalEntry;
    try {
      entry = JSON.parse(readFileSync(path, 'utf8')) as JournalEntry;
    } catch {
      continue; // unreadable: being written right now, or garbage; never acted on
    }
    if (entry.pid === process.pid || processAlive(entry.pid)) continue;
    previous.push(entry);
    const pending = entry.ran && !entry.syncedBack;
    log.warn(
      `a previous ssh-ec2 here (pid ${entry.pid}) was killed during ${entry.step}; finishing its work: ${pending ? 'sync back, then ' : ''}${entry.finalState}`,
    );
    await endOrphans(entry);
    rmSync(path, { force: true });
  }
  if (previous.length === 0) return undefined;
  return {
    previous,
    syncBack: previous.some((e) => e.ran && !e.syncedBack),
    finalState: previous
      .map((e) => e.finalState)
      .reduce((a, b) => (STRICTNESS.indexOf(b) > STRICTNESS.indexOf(a) ? b : a)),
    instanceId: previous.find((e) => e.instanceId)?.instanceId,
    sessionIds: previous.flatMap((e) => [...(e.sessionId ? [e.sessionId] : []), ...(e.inheritedSessions ?? [])]),
  };
}

/**
 * The killed run's ssh session outlives it (it was its child, not in its process group's fate):
 * left alone it would keep the remote command attached and count as "another session", so the
 * final state would never apply. Ended only when that pid is still the same program, started
 * no later than the run saw it (a recycled pid is never killed; see `stillOurs`).
 */
async function endOrphans(entry: JournalEntry): Promise<void> {
  const isOurs = (c: Child) =>
    typeof c.seenAt === 'number' && stillOurs({ pid: c.pid, seenAt: c.seenAt, argv0: c.cmdline.split('\0')[0] ?? '' });
  const ours = (entry.children ?? []).filter(isOurs);
  for (const c of ours) {
    try {
      process.kill(c.pid, 'SIGTERM');
    } catch {
      // gone meanwhile
    }
  }
  // Gone before the finish asks who else is on the instance (at most 3 s).
  for await (const _ of backoff({ firstDelayMs: 20, maxDelayMs: 200, deadline: Date.now() + 3000 }))
    if (!ours.some((c) => processAlive(c.pid) && isOurs(c))) return;
}

/** A fresh id for this run's remote session, exported to its command as SSH_EC2_SESSION. */
export function newSessionId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Ends the remote processes of the given sessions (SIGTERM, then SIGKILL after about a second).
 * Needed because killing the local ssh of a session without a terminal ends nothing there: over
 * the shared master connection sshd keeps the session, and its command, until the command exits
 * (so it would also count as "another session" and keep the instance running).
 */
export function endSessionsCommand(ids: string[]): string {
  return (
    `for i in 1 2 3 4 5 6 7 8 9 10; do sig=TERM; [ $i -gt 5 ] && sig=KILL; found=; ` +
    `${signalSessions(ids, '$sig')}; [ -z "$found" ] && exit 0; sleep 0.2; done`
  );
}

/**
 * Sends SIGINT, once, to the remote processes of the given sessions: a Ctrl-C of a command that
 * runs without a terminal, passed on so that the command ends as it chooses and reports its own
 * status (a terminal would have delivered it so).
 */
export function interruptSessionsCommand(ids: string[]): string {
  return `found=; ${signalSessions(ids, 'INT')}; :`;
}

/** Signals every process whose environment names one of the sessions (the remote side is Linux). */
function signalSessions(ids: string[], signal: string): string {
  const pattern =
    ids
      .filter((id) => /^[0-9a-f]+$/.test(id))
      .map((id) => `SSH_EC2_SESSION=${id}`)
      .join('|') || 'SSH_EC2_SESSION=-';
  return `for p in /proc/[0-9]*; do tr '\\0' '\\n' < "$p/environ" 2>/dev/null | grep -Eqx '${pattern}' && { found=1; kill -${signal} "\${p#/proc/}" 2>/dev/null; }; done`;
}
