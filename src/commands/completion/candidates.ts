/**
 * `ssh-ec2 __complete WORDS…` (hidden; the completion scripts call it at each Tab): the candidates
 * for the last word, one a line. Everything is derived from the declarations — the verbs
 * (registry.ts), the settings (options.ts), the verbs' switches (types.ts) — so a new verb or flag
 * completes with no edit here. It reads only local files and never loads the AWS SDK or yargs:
 * cli.ts answers it before loading the rest.
 */
import { presetNames } from '../../options/config-files.js';
import { DEFAULT_COMMAND, VERBS } from '../registry.js';
import { VERB_FLAGS, WIRING, type Command, type VerbFlag } from '../types.js';
import { FINAL_FLAGS } from '../../flags-given.js';
import { OPTION_SPECS, type OptionKey, type Spec } from '../../options.js';
import { FINAL_STATES } from '../../options/spec.js';
import { finalState, multiplexer } from '../../options/spec.js';
import { localInstanceNames } from './instances.js';

export interface CompleteContext {
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

/** The preset names (`--preset NAME`) of this directory's config files and the user's. */
export function presetCandidates(ctx: CompleteContext): string[] {
  return presetNames(ctx.cwd, ctx.env);
}

/** Values a setting's parser accepts, where they are a closed set (found by the parser it declares). */
const CLOSED_VALUES = new Map<unknown, readonly string[]>([
  [multiplexer, ['tmux', 'screen', 'none']],
  [finalState, FINAL_STATES],
]);

const dash = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`);

interface FlagInfo {
  names: string[];
  /** What completes its value: nothing for a switch. */
  value?: (ctx: CompleteContext) => string[];
}

/** The flags a command takes, as its help shows them (the others are refused: flags-given.ts). */
export function commandFlags(command: Command): FlagInfo[] {
  const shows = (key: OptionKey) =>
    command.settings === 'all' || command.settings.includes(key) || WIRING.includes(key);
  const out: FlagInfo[] = [];
  for (const [key, s] of Object.entries(OPTION_SPECS) as [OptionKey, Spec<unknown>][]) {
    if (!s.flag || s.hidden || !shows(key)) continue;
    const names = [s.flag, ...(s.alias ?? [])].map(dash);
    if (s.kind === 'boolean') {
      out.push({ names: [...names, ...negation(s.flag, s.describe)] });
      continue;
    }
    out.push({ names, value: valuesOf(key, s) });
  }
  if (shows('finalState'))
    for (const [flag, f] of Object.entries(FINAL_FLAGS)) out.push({ names: [dash(flag), dash(f.alias)] });
  for (const key of command.flags ?? []) {
    const f = VERB_FLAGS[key as VerbFlag];
    out.push({ names: [dash(f.flag), ...f.alias.map(dash), ...negation(f.flag, f.describe)] });
  }
  out.push({ names: ['--help', '-h'] });
  if (command === DEFAULT_COMMAND) out.push({ names: ['--version'] });
  return out;
}

/** A switch's `--no-` form, where its help names one. */
const negation = (flag: string, describe: string) => (describe.includes(`--no-${flag}`) ? [`--no-${flag}`] : []);

function valuesOf(key: OptionKey, s: Spec<unknown>): FlagInfo['value'] {
  const closed = CLOSED_VALUES.get(s.parse);
  if (closed) return () => [...closed];
  if (key === 'name') return (ctx) => localInstanceNames(ctx.env);
  if (s.flag === 'preset') return presetCandidates;
  // A file, a region, a type…: the shell's own completion (files) or nothing.
  return () => [];
}

/** Positional words a verb's usage spells out: `completion bash|zsh|fish`, `down [NAME | --all]`. */
function operandValues(command: Command, ctx: CompleteContext): string[] {
  const words = command.usage.flatMap((u) => u.split(/\s+/).slice(1));
  const out: string[] = [];
  for (const w of words.map((x) => x.replace(/^\[|\]$/g, ''))) {
    if (/^[a-z][a-z-]*(\|[a-z][a-z-]*)+$/.test(w)) out.push(...w.split('|'));
    if (w === 'NAME') out.push(...localInstanceNames(ctx.env));
  }
  return out;
}

/** The verbs a user types (not the hidden ones ssh-ec2 calls itself, as proxy-connect). */
export function verbWords(): string[] {
  return VERBS.filter((v) => !v.hidden).flatMap((v) => [v.name, ...(v.aliases ?? [])]);
}

/** The candidates for the last of `words` (the word being typed, '' for a new one), given the ones before. */
export function complete(words: readonly string[], ctx: CompleteContext): string[] {
  const before = words.slice(0, -1);
  const current = words.at(-1) ?? '';
  if (before.includes('--')) return [];
  const verb = VERBS.find((v) => v.name === before[0] || v.aliases?.includes(before[0] ?? ''));
  const command = verb ?? DEFAULT_COMMAND;
  const flags = commandFlags(command);
  // bash splits `--multi=t` into `--multi`, `=`, `t`; zsh and fish keep one word.
  const attached = /^(--[^=]+)=(.*)$/.exec(current);
  const byBash = before.at(-1) === '=' ? before.at(-2) : undefined;
  const previous = attached?.[1] ?? byBash ?? (before.length > (verb ? 1 : 0) ? before.at(-1) : undefined);
  const valued = previous && flags.find((f) => f.value && f.names.includes(previous));
  let found: string[];
  if (valued && attached)
    return valued.value!(ctx)
      .filter((v) => v.startsWith(attached[2]!))
      .map((v) => `${attached[1]}=${v}`);
  if (valued) found = valued.value!(ctx);
  else if (current.startsWith('-')) found = flags.flatMap((f) => f.names);
  else if (before.length === 0) found = verbWords();
  // The session's first word is the remote command: the shell completes files there.
  else if (!verb) found = [];
  else found = operandValues(verb, ctx);
  return [...new Set(found)].filter((c) => c.startsWith(current));
}
