// The finish's decision, row by row against the README: "At the end", "Safety", "Faults tested"
// (and the verbs' lines of "Long jobs"). Each row names the README line it holds, gives the facts
// that line's situation leaves the finish with, and the decision. What the end-to-end tests add:
// that a run really arrives at those facts (faults.test.ts, session.test.ts, …).
import { describe, expect, it } from 'vitest';
import {
  decideFinish,
  finishNeeds,
  finishWords,
  type FinishDecision,
  type FinishFacts,
  type Situation,
} from '../../src/session/decide-finish.js';

/** A session that launched its instance, ran the command, and brought the results back. */
const BASE: FinishFacts = {
  asked: 'terminate',
  origin: 'launched',
  canStop: true,
  hostKeyUntrusted: false,
  ran: true,
  endJobs: false,
  syncBack: true,
  reachable: true,
  resultsBack: 'back',
};

const asked = (action: FinishDecision['action']): FinishDecision => ({ action, reason: { kind: 'asked' } });
const STOP_NOT_BACK: FinishDecision = { action: 'stop', reason: { kind: 'unsure', because: 'results not back' } };
const INTERRUPTED: FinishDecision = { action: 'leave', reason: { kind: 'interrupted' } };
const STOP_UNREACHABLE: FinishDecision = { action: 'stop', reason: { kind: 'unsure', because: 'unreachable' } };
const inUse = (by: 'job' | 'session' | { unknown: string }): FinishDecision => ({
  action: 'leave',
  reason: { kind: 'in use', by },
});
const leftAsItIs = (why: NonNullable<FinishFacts['leftAsItIs']>): FinishDecision => ({
  action: 'leave',
  reason: { kind: 'left as it is', why },
});
const OVER_BUDGET: FinishDecision = { action: 'stop', reason: { kind: 'over budget' } };
/** Before the command: nothing of the user's on the instance it launched, nothing to pull. */
const NOTHING_RAN: Partial<FinishFacts> = { ran: false, reachable: false, resultsBack: 'not needed' };
/** The connection dropped and never came back: nothing asked, nothing pulled. */
const UNREACHABLE: Partial<FinishFacts> = { reachable: false, resultsBack: 'not back' };

const ROWS: [readme: string, facts: Partial<FinishFacts>, decision: FinishDecision][] = [
  // ## At the end
  ['At the end: `-t`, `--terminate` (default) | terminated: nothing left to pay for', {}, asked('terminate')],
  ['At the end: `-s`, `--stop` | stopped: its disk is kept', { asked: 'stop' }, asked('stop')],
  ['At the end: `-l`, `--leave` | left running', { asked: 'leave' }, asked('leave')],
  [
    'At the end: applied only by the last session to leave: another session still runs something',
    { others: 'session' },
    inUse('session'),
  ],
  ['At the end: … or a detached job of this directory still runs there', { others: 'job' }, inUse('job')],
  [
    'At the end: the results of this session still come back; if the answer cannot be had, it is left running too',
    { others: { unknown: 'timeout' } },
    inUse({ unknown: 'timeout' }),
  ],
  [
    'At the end: if the results could not be brought back … stopped, never terminated',
    { resultsBack: 'not back' },
    STOP_NOT_BACK,
  ],
  ['At the end: … or the instance could not be reached after a dropped connection', UNREACHABLE, STOP_NOT_BACK],
  [
    'At the end: with --stop, results not back: stopped (and said so)',
    { asked: 'stop', ...UNREACHABLE },
    STOP_NOT_BACK,
  ],
  ['At the end: --leave, results not back: left running as asked', { asked: 'leave', ...UNREACHABLE }, asked('leave')],
  // ## Safety
  [
    'Safety: No surprise bill: the final state waits for the last session and for a running job',
    { others: 'job' },
    inUse('job'),
  ],
  [
    'Safety: Nothing lost: the sync back runs after failures and interrupts; when it cannot, stopped, not terminated',
    { resultsBack: 'not back' },
    STOP_NOT_BACK,
  ],
  // ## Faults tested
  [
    'Faults: SIGINT/SIGTERM/SIGHUP before the command: nothing runs and the new instance is terminated',
    NOTHING_RAN,
    asked('terminate'),
  ],
  ['Faults: SIGINT/SIGTERM/SIGHUP from the command on: results come back, then terminated', {}, asked('terminate')],
  [
    'Faults: a second Ctrl-C during the sync back: the sync back and the terminate still complete',
    {},
    asked('terminate'),
  ],
  [
    'Faults: SIGKILL while the command runs: the next ssh-ec2 syncs the results back (even with --no-rsync), then the pending final state',
    { origin: 'found', syncBack: true },
    asked('terminate'),
  ],
  [
    'Faults: … a run that itself leaves the instance (--leave, AWS_FINAL_STATE=leave) is obeyed',
    { origin: 'found', asked: 'leave' },
    asked('leave'),
  ],
  [
    "Faults: SIGKILL, down, --stop SIGKILLed after launching, --stop again: the killed run's terminate is never applied to the new instance",
    { asked: 'stop' },
    asked('stop'),
  ],
  [
    'Faults: a run interrupted before its command on the instance it launched, while a second run here already uses it',
    { ...NOTHING_RAN, reachable: true, others: 'session' },
    inUse('session'),
  ],
  [
    'Faults: (same row) no answer from an instance nothing ran on: no session has set it up yet; terminated',
    { ...NOTHING_RAN, reachable: true, others: { unknown: 'job.sh: not found' } },
    asked('terminate'),
  ],
  [
    'Faults: SIGKILL during the sync back: the next run syncs back itself and terminates',
    { origin: 'found' },
    asked('terminate'),
  ],
  [
    'Faults: SIGKILL while RunInstances is in flight: the instance is found by the next run, then terminated',
    { origin: 'found' },
    asked('terminate'),
  ],
  [
    'Faults: the ssh connection dropped during the command, instance reachable: reconnects, results back, terminated',
    {},
    asked('terminate'),
  ],
  ['Faults: the connection dropped because the network changed: results back, terminates', {}, asked('terminate')],
  ['Faults: the terminal closed during the command: the results come back, terminated', {}, asked('terminate')],
  [
    "Faults: a `--multi tmux` job's connection dropped, the instance unreachable: left running with its job",
    { leftAsItIs: 'job running, connection lost', ...UNREACHABLE },
    leftAsItIs('job running, connection lost'),
  ],
  [
    'Faults: (same row) `--attach` then brings the results back and terminates',
    { origin: 'started' },
    asked('terminate'),
  ],
  [
    'Faults: the connection dropped and the instance unreachable (for --reconnect-timeout): stopped, never terminated',
    UNREACHABLE,
    STOP_NOT_BACK,
  ],
  ['Faults: a network partition during the command: results come back, terminated', {}, asked('terminate')],
  [
    'Faults: the same with `--no-rsync`: stopped, never terminated: a job or another session may be on it',
    { syncBack: false, reachable: false, resultsBack: 'not needed' },
    STOP_UNREACHABLE,
  ],
  [
    'Faults: the connection of a plain session dropped while a detached job runs there: left running under the job',
    { others: 'job' },
    inUse('job'),
  ],
  [
    'Faults: a dropped interactive tmux session: the session and its shell live on',
    { leftAsItIs: 'job running, connection lost', ...UNREACHABLE },
    leftAsItIs('job running, connection lost'),
  ],
  [
    'Faults: the sync up failing: nothing runs; the instance it launched is terminated',
    NOTHING_RAN,
    asked('terminate'),
  ],
  ['Faults: the sync back failing: stopped, not terminated', { resultsBack: 'not back' }, STOP_NOT_BACK],
  [
    'Faults: every RunInstances attempt answered 500 after it launched: the instance found and used, then terminated',
    {},
    asked('terminate'),
  ],
  ['Faults: a 503 at each first call: a first session that launches and stops', { asked: 'stop' }, asked('stop')],
  ['Faults: (same row) a second that restarts and terminates', { origin: 'started' }, asked('terminate')],
  [
    "Faults: a second terminal's session on the same instance: only the last to leave applies its final state",
    { others: 'session' },
    inUse('session'),
  ],
  ['Faults: (same row) a detached job keeps the instance', { others: 'job' }, inUse('job')],
  [
    "Faults: a host key that matches none of the console's fingerprints: nothing sent, the instance it launched terminated",
    { hostKeyUntrusted: true, ...NOTHING_RAN },
    asked('terminate'),
  ],
  [
    'Faults: the console fingerprints appearing late, not matching: nothing sent, the instance terminated',
    { hostKeyUntrusted: true, ...NOTHING_RAN },
    asked('terminate'),
  ],
  [
    'Faults: SIGINT while the host key waits: the instance it launched terminated',
    { hostKeyUntrusted: true, ...NOTHING_RAN },
    asked('terminate'),
  ],
  [
    'Faults: (same row) one it found left running as it was',
    { hostKeyUntrusted: true, origin: 'found', ...NOTHING_RAN },
    { action: 'leave', reason: { kind: 'host key untrusted' } },
  ],
  [
    'Faults: (same row) one it found stopped and started: stopped again (left as it was)',
    { hostKeyUntrusted: true, origin: 'started', ...NOTHING_RAN },
    { action: 'stop', reason: { kind: 'host key untrusted' } },
  ],
  [
    "Faults: a stopped instance's start answered InsufficientInstanceCapacity a few times: started, run, terminated",
    { origin: 'started' },
    asked('terminate'),
  ],
  [
    "Faults: a stopped instance's StartInstances answered 500 through all retries: the finish stops it",
    { origin: 'found', ran: false, ...UNREACHABLE },
    STOP_NOT_BACK,
  ],
  [
    'Faults: `down` on a stopped instance EC2 first has no capacity for: results back, terminated',
    { origin: 'found', endJobs: true },
    asked('terminate'),
  ],
  [
    'Faults: credentials expiring after the launch: terminate is decided; its failure leaves it as it is (finish.ts)',
    {},
    asked('terminate'),
  ],
  [
    '`tmux` missing on the instance, with `--detach` and with `--multi tmux`: nothing run; the instance it launched terminated',
    {},
    asked('terminate'),
  ],
  // ## Long jobs (the verbs' finish)
  [
    'Long jobs: `--detach` returns as soon as the job has started',
    { leftAsItIs: 'job detached' },
    leftAsItIs('job detached'),
  ],
  [
    'Long jobs: `--attach`: the job still runs (you detached): everything is left running',
    { leftAsItIs: 'job still running' },
    leftAsItIs('job still running'),
  ],
  [
    'Long jobs: `--attach` with no job to attach to, on an instance found running: left as it was',
    { origin: 'found', leftAsItIs: 'nothing to attach to' },
    leftAsItIs('nothing to attach to'),
  ],
  [
    'Long jobs: `--detach` while one runs exits 8: left as it is',
    { leftAsItIs: 'job already running' },
    leftAsItIs('job already running'),
  ],
  ['Long jobs: `ssh-ec2 logs` follows, never ends anything', { leftAsItIs: 'logs' }, leftAsItIs('logs')],
  [
    'Long jobs: `pull`: a stopped one is started for the pull and stopped again',
    { origin: 'started', asked: 'stop' },
    asked('stop'),
  ],
  [
    'Long jobs: `down`: the results come back, then it is terminated, even under a job (nobody asked)',
    { origin: 'found', endJobs: true, reachable: true },
    asked('terminate'),
  ],
  [
    'Long jobs: `down`: stopped instead if the sync back fails',
    { origin: 'found', endJobs: true, resultsBack: 'not back' },
    STOP_NOT_BACK,
  ],
  [
    'Long jobs: `down` of an instance whose directory is not on this machine: terminated as it is',
    { origin: 'found', endJobs: true, syncBack: false, reachable: false, resultsBack: 'not needed' },
    asked('terminate'),
  ],
  // The shape for issue #13: a one-time spot instance cannot be stopped. Its results come back
  // first; when they cannot, it is left running under its agent, never terminated.
  ['issue #13 (shape): cannot be stopped, results back: terminated', { canStop: false }, asked('terminate')],
  [
    'issue #13 (shape): cannot be stopped, results not back: left running, never terminated',
    { canStop: false, resultsBack: 'not back' },
    { action: 'leave', reason: { kind: 'cannot stop', because: 'results not back' } },
  ],
  [
    'issue #13 (shape): cannot be stopped, unreachable under --no-rsync: left running',
    { canStop: false, syncBack: false, reachable: false, resultsBack: 'not needed' },
    { action: 'leave', reason: { kind: 'cannot stop', because: 'unreachable' } },
  ],
  // --stop keeps the disk; a one-time spot instance has no stop: neither terminated (the disk asked
  // for would be lost by ssh-ec2's hand) nor stopped (EC2 refuses): left under its agent.
  [
    'Spot: --stop of a one-time spot instance, results back: left running under its agent',
    { canStop: false, asked: 'stop' },
    { action: 'leave', reason: { kind: 'cannot stop', because: 'stop asked' } },
  ],
  [
    'Spot: --leave of a one-time spot instance: left running, as asked',
    { canStop: false, asked: 'leave', resultsBack: 'not back' },
    asked('leave'),
  ],
  // ## Guardrails (issue #13): over --budget, an instance is not left running; the results first.
  [
    'Guardrails: over --budget, --leave: stopped once the results are back, not left running',
    { asked: 'leave', overBudget: true },
    OVER_BUDGET,
  ],
  ['Guardrails: over --budget, --stop: stopped as asked', { asked: 'stop', overBudget: true }, asked('stop')],
  [
    'Guardrails: over --budget, terminate (default): terminated as asked, which spends less still',
    { overBudget: true },
    asked('terminate'),
  ],
  [
    'Guardrails: over --budget, --leave, unreachable: left (who else is there is unknown), its agent bounds it',
    { asked: 'leave', overBudget: true, reachable: false },
    asked('leave'),
  ],
  [
    'Guardrails: over --budget, --leave, results not back: left, never stopped under another session',
    { asked: 'leave', overBudget: true, resultsBack: 'not back' },
    asked('leave'),
  ],
  [
    'Guardrails: over --budget, a job still there: left running, its agent bounds it (the budget as a time limit)',
    { asked: 'leave', overBudget: true, others: 'job' },
    inUse('job'),
  ],
  [
    'Guardrails: over --budget, cannot be stopped: left running under its agent',
    { asked: 'leave', overBudget: true, canStop: false },
    asked('leave'),
  ],
  // ## Interruption: EC2 takes the spot instance itself; the finish neither stops nor terminates it.
  [
    'Interruption: results home after the notice, the instance gone by the end: left to EC2 (exit 10)',
    { interrupted: true, reachable: false, resultsBack: 'not back' },
    INTERRUPTED,
  ],
  [
    'Interruption: (same row) still answering at the end: the last results come back, nothing applied',
    { interrupted: true },
    INTERRUPTED,
  ],
  ['Interruption: (same row) --stop asked: not stopped by us', { interrupted: true, asked: 'stop' }, INTERRUPTED],
  [
    'Interruption: (same row) a one-time spot instance that cannot be stopped',
    { interrupted: true, canStop: false, resultsBack: 'not back' },
    INTERRUPTED,
  ],
];

describe('decideFinish: the README, row by row', () => {
  it.each(ROWS)('%s', (_readme, facts, decision) => {
    expect(decideFinish({ ...BASE, ...facts })).toEqual(decision);
  });
});

describe('finishNeeds: what the finish looks at before deciding', () => {
  it('nothing at all for an instance left as it is, or found and not trusted', () => {
    expect(finishNeeds({ ...BASE, leftAsItIs: 'logs' })).toEqual({ reach: 'no', ask: false, pull: false });
    expect(finishNeeds({ ...BASE, origin: 'found', hostKeyUntrusted: true })).toEqual({
      reach: 'no',
      ask: false,
      pull: false,
    });
  });
  it('an instance it launched and ran nothing on: asked over a live connection only, nothing pulled', () => {
    expect(finishNeeds({ ...BASE, ran: false })).toEqual({ reach: 'if alive', ask: true, pull: false });
    expect(finishNeeds({ ...BASE, ran: false, asked: 'leave' })).toEqual({ reach: 'no', ask: false, pull: false });
    // Over --budget, --leave becomes a stop: who else is there is asked, as for --stop.
    expect(finishNeeds({ ...BASE, asked: 'leave', overBudget: true })).toEqual({
      reach: 'reconnecting',
      ask: true,
      pull: true,
    });
  });
  it('an instance EC2 is taking: never reconnected to, nobody asked; pulled while it still answers', () => {
    expect(finishNeeds({ ...BASE, interrupted: true })).toEqual({ reach: 'if alive', ask: false, pull: true });
    expect(finishNeeds({ ...BASE, interrupted: true, syncBack: false })).toEqual({
      reach: 'if alive',
      ask: false,
      pull: false,
    });
  });
  it('otherwise a lost connection is opened again to ask and to pull; down asks nobody', () => {
    expect(finishNeeds(BASE)).toEqual({ reach: 'reconnecting', ask: true, pull: true });
    expect(finishNeeds({ ...BASE, endJobs: true })).toEqual({ reach: 'reconnecting', ask: false, pull: true });
    expect(finishNeeds({ ...BASE, endJobs: true, syncBack: false })).toEqual({ reach: 'no', ask: false, pull: false });
  });
});

describe('finishWords: one "what next" line at most, ssh-ec2 down the way to end (issue #10)', () => {
  const id = 'i-0abc';
  const at: Situation = {
    id,
    dir: "'/home/me/my project (v2)'",
    costs: 'g4dn.xlarge, about $0.66/hour on demand',
    next: { state: 'terminate' },
  };
  const words = (facts: Partial<FinishFacts>, s: Partial<Situation> = {}) =>
    finishWords(decideFinish({ ...BASE, ...facts }), { ...at, ...s });
  const all = (w: ReturnType<typeof words>) => [w.before?.text, w.after?.text].filter(Boolean).join('\n');
  it('the results not back', () => {
    expect(words({ resultsBack: 'not back' })).toEqual({
      after: {
        level: 'warn',
        text:
          'the results could not be brought back, so i-0abc was stopped, not terminated: nothing is lost.\n' +
          "  To get them: ssh-ec2 down in '/home/me/my project (v2)' (it restarts the instance, brings the results back, then terminates it).",
      },
    });
  });
  it('unreachable under --no-rsync', () => {
    expect(words({ syncBack: false, reachable: false, resultsBack: 'not needed' })).toEqual({
      after: {
        level: 'warn',
        text:
          'i-0abc could not be reached to see whether a job or another session uses it, so i-0abc was stopped, not terminated: nothing is lost.\n' +
          "  To end it: ssh-ec2 down in '/home/me/my project (v2)' (it restarts the instance, brings the results back, then terminates it).",
      },
    });
  });
  it('someone else there: the reason, and nothing after it that contradicts it', () => {
    expect(words({ others: 'job' })).toEqual({
      before: {
        level: 'warn',
        text: 'a detached job is still running on i-0abc, so it is left running: its agent stops it once the job is done (ssh-ec2 down ends both now).',
      },
    });
    expect(words({ others: 'session' })).toEqual({
      before: {
        level: 'info',
        text: 'another session is using i-0abc, so it is left running: the last session to leave applies its final state.',
      },
    });
    expect(words({ others: { unknown: 'no answer' } })).toEqual({
      before: {
        level: 'warn',
        text: 'could not tell whether another session or a job is using i-0abc (no answer), so it is left running: its agent stops it once nothing runs (--idle-timeout), or ssh-ec2 down ends it now.',
      },
    });
  });
  it('--leave: its price, and one line of what next, naming ssh-ec2 down', () => {
    expect(words({ asked: 'leave' })).toEqual({
      after: {
        level: 'info',
        text:
          'left i-0abc (g4dn.xlarge, about $0.66/hour on demand) running.\n' +
          "  Next: ssh-ec2 in '/home/me/my project (v2)' reuses it; ssh-ec2 down there ends it.",
      },
    });
  });
  it('--stop: a plain next run restarts it and terminates it, unless told again (the final state is per run)', () => {
    expect(words({ asked: 'stop' }).after?.text).toBe(
      'stopped i-0abc: its disk is kept (storage is billed).\n' +
        "  Next: ssh-ec2 in '/home/me/my project (v2)' restarts it, then terminates it at its end unless given --stop or --leave again; ssh-ec2 down ends it now.",
    );
    expect(words({ asked: 'stop' }, { next: { state: 'stop', source: 'AWS_FINAL_STATE (in .env)' } }).after?.text).toBe(
      'stopped i-0abc: its disk is kept (storage is billed).\n' +
        "  Next: ssh-ec2 in '/home/me/my project (v2)' restarts it, then stops it again at its end, as AWS_FINAL_STATE (in .env) asks; ssh-ec2 down ends it.",
    );
  });
  it('never the old advice: --terminate true as the way to end', () => {
    const cases: Partial<FinishFacts>[] = [
      { asked: 'leave' },
      { asked: 'stop' },
      { others: 'job' },
      { others: 'session' },
      { resultsBack: 'not back' },
      { syncBack: false, reachable: false, resultsBack: 'not needed' },
    ];
    for (const c of cases) {
      expect(all(words(c))).not.toMatch(/--terminate true|End it/);
      expect(all(words(c)).match(/ssh-ec2 (down|in)/g)?.length ?? 0).toBeLessThanOrEqual(2);
    }
  });
  it('nothing more when terminated as asked (terminating says so itself)', () => {
    expect(words({})).toEqual({});
  });
  it('a found instance not trusted: stopped again when this run started it, else nothing', () => {
    expect(words({ hostKeyUntrusted: true, origin: 'started', ...NOTHING_RAN }).after?.text).toBe(
      'stopped i-0abc again, as it was found',
    );
    expect(words({ hostKeyUntrusted: true, origin: 'found', ...NOTHING_RAN })).toEqual({});
  });
});
