/**
 * Which flags a command line gives, checked against what its command takes — before yargs, so the
 * user reads the flag as typed (`--stpo`, `-l`), a "did you mean", and which verb refused it (issue
 * #10: `ssh-ec2 ls -la` was taken silently as --leave --attach).
 */
import { takesVerbValue, VERB_FLAGS, WIRING, type Command, type VerbFlag } from './commands/types.js';
import { UsageError } from './errors.js';
import { OPTION_SPECS, type FinalState, type OptionKey } from './options.js';

/** What a flag name (long or short, without dashes) stands for. */
type Meaning = { setting: OptionKey } | { verb: VerbFlag } | { general: 'help' | 'version' };

export const FINAL_FLAGS: Record<string, { alias: string; state: FinalState; describe: string }> = {
  terminate: {
    alias: 't',
    state: 'terminate',
    describe: 'terminate the instance at the end (default; env AWS_FINAL_STATE)',
  },
  stop: { alias: 's', state: 'stop', describe: 'stop it at the end: the disk is kept, the next run here restarts it' },
  leave: { alias: 'l', state: 'leave', describe: 'leave it running (it keeps costing money)' },
};

function meanings(): Map<string, Meaning> {
  const m = new Map<string, Meaning>();
  for (const [key, s] of Object.entries(OPTION_SPECS) as [OptionKey, (typeof OPTION_SPECS)[OptionKey]][]) {
    if (s.flag) for (const name of [s.flag, ...(s.alias ?? [])]) m.set(name, { setting: key });
  }
  for (const [flag, f] of Object.entries(FINAL_FLAGS)) {
    m.set(flag, { setting: 'finalState' });
    m.set(f.alias, { setting: 'finalState' });
  }
  for (const [key, f] of Object.entries(VERB_FLAGS) as [VerbFlag, (typeof VERB_FLAGS)[VerbFlag]][]) {
    for (const name of [f.flag, ...f.alias]) m.set(name, { verb: key });
  }
  m.set('quiet', { setting: 'verbose' });
  m.set('help', { general: 'help' });
  m.set('h', { general: 'help' });
  m.set('version', { general: 'version' });
  return m;
}

const takesValue = (name: string, meaning: Meaning | undefined) =>
  meaning !== undefined &&
  (('verb' in meaning && takesVerbValue(meaning.verb)) ||
    ('setting' in meaning && meaning.setting !== 'finalState' && isValued(meaning.setting, name)));

function isValued(key: OptionKey, name: string): boolean {
  return OPTION_SPECS[key].kind !== 'boolean' && name !== 'quiet';
}

const isSwitch = (v: Meaning) =>
  ('verb' in v && !takesVerbValue(v.verb)) || ('setting' in v && OPTION_SPECS[v.setting].kind === 'boolean');

export interface GivenFlag {
  /** As typed: `--stpo`, `-l` (one letter of `-la`), `--no-pull`. */
  token: string;
  /** The name looked up: `stpo`, `l`, `pull` (a negated boolean is its flag). */
  name: string;
}

/**
 * The flags in `argv` (values already split off, see splitAttachedValues). The session's options
 * end at its first word; a verb's options may follow its words (`down NAME --yes`). `--` ends both.
 */
export function givenFlags(argv: readonly string[], haltAtWord: boolean): GivenFlag[] {
  const m = meanings();
  const out: GivenFlag[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (!a.startsWith('-') || a === '-') {
      if (haltAtWord) break;
      continue;
    }
    if (a.startsWith('--')) {
      const raw = a.slice(2).split('=')[0]!;
      const negated = /^no-(.+)$/.exec(raw);
      const name = negated && !m.has(raw) && m.has(negated[1]!) ? negated[1]! : raw;
      out.push({ token: `--${raw}`, name });
      if (!a.includes('=') && takesValue(name, m.get(name))) i++;
      continue;
    }
    const letters = [...a.slice(1).split('=')[0]!];
    letters.forEach((letter, n) => {
      out.push({ token: `-${letter}`, name: letter });
      if (n === letters.length - 1 && !a.includes('=') && takesValue(letter, m.get(letter))) i++;
    });
  }
  return out;
}

/** The names a command takes: every setting and final state for the session; a verb's own and the wiring. */
function accepted(command: Command, isSession: boolean): (meaning: Meaning) => boolean {
  return (meaning) => {
    if ('general' in meaning) return true;
    if ('verb' in meaning) return !isSession && (command.flags?.includes(meaning.verb) ?? false);
    if (isSession || WIRING.includes(meaning.setting)) return true;
    return command.settings === 'all' || command.settings.includes(meaning.setting);
  };
}

/** Refuses (exit 2) the first flag the command does not take, or that nothing takes. */
export function checkFlags(argv: readonly string[], command: Command, isSession: boolean): void {
  const m = meanings();
  const takes = accepted(command, isSession);
  const who = isSession ? 'ssh-ec2' : `ssh-ec2 ${command.name}`;
  for (const { token, name } of givenFlags(argv, isSession)) {
    const meaning = m.get(name);
    if (meaning === undefined) {
      const close = nearest(
        name,
        [...m].filter(([, v]) => takes(v)).flatMap(([k, v]) => (isSwitch(v) ? [k, `no-${k}`] : [k])),
      );
      throw new UsageError(`unknown option ${token}${close ? ` (did you mean ${dash(close)}?)` : ''}`);
    }
    if (takes(meaning)) continue;
    if ('verb' in meaning && isSession) {
      const verbs = VERB_FLAG_OWNERS[meaning.verb];
      throw new UsageError(
        `${token} is for the verbs (ssh-ec2 ${verbs} ${token}); to run a command named so, put it after --`,
      );
    }
    const long = longName(meaning, name);
    throw new UsageError(`${who} does not take ${token}${long && long !== token ? ` (${long})` : ''}`);
  }
}

/** Which verbs take each verb flag, for the session's refusal. */
const VERB_FLAG_OWNERS: Record<VerbFlag, string> = {
  yes: 'down',
  all: 'down',
  pull: 'down',
  remove: 'ssh-config',
  presets: 'config',
  allRegions: 'ls',
  json: 'ls|config|doctor',
  orphans: 'down',
  stoppedFor: 'down',
  fromS3: 'pull',
};

function longName(meaning: Meaning, name: string): string | undefined {
  if ('verb' in meaning) return `--${VERB_FLAGS[meaning.verb].flag}`;
  if ('setting' in meaning && meaning.setting === 'finalState')
    return `--${Object.keys(FINAL_FLAGS).find((f) => FINAL_FLAGS[f]!.alias === name) ?? name}`;
  if ('setting' in meaning) {
    const flag = OPTION_SPECS[meaning.setting].flag;
    return flag && flag.length > 1 ? `--${flag}` : undefined;
  }
  return undefined;
}

/** A long name is suggested with two dashes, a letter with one, whatever the typo had. */
const dash = (name: string) => (name.length > 1 ? `--${name}` : `-${name}`);

/** The closest name within a couple of edits (a swap of two letters counts one), if any. */
export function nearest(word: string, names: readonly string[]): string | undefined {
  if (word.length === 1) return undefined; // a mistyped letter: any other letter is as close
  const limit = word.length <= 3 ? 1 : 2;
  let best: { name: string; d: number } | undefined;
  for (const name of names) {
    if (name.length === 1) continue;
    const d = editDistance(word, name);
    if (d <= limit && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
