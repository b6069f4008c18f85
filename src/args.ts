/**
 * The command line, parsed by yargs from the declarations: the settings (options.ts) and the
 * commands (commands/registry.ts). The session's parsing halts at the first word that is not an
 * option: that word and everything after it (or everything after `--`) is the remote command,
 * untouched — `ssh-ec2 python train.py --epochs 3` passes --epochs to python. A verb's words are
 * its arguments, and its options may follow them: `ssh-ec2 down NAME --yes`.
 */
import yargs, { type Options as YargsOption } from 'yargs';
import { DEFAULT_COMMAND, VERBS } from './commands/registry.js';
import {
  takesVerbValue,
  VERB_FLAGS,
  WIRING,
  type Command,
  type VerbFlag,
  type VerbFlagValues,
} from './commands/types.js';
import { UsageError } from './errors.js';
import { checkFlags, FINAL_FLAGS } from './flags-given.js';
import { duration } from './options/spec.js';
import { OPTION_SPECS, type FlagValues, type OptionKey, type Spec } from './options.js';
import { formatDuration } from './session/limits.js';

export interface ParsedArgs {
  flags: FlagValues;
  /** The verbs' own switches given (only those the verb declares: flags-given.ts refuses the others). */
  verbFlags: VerbFlagValues;
  command: string[];
  help: boolean;
  version: boolean;
}

/** What the help shows after a setting's description: its default, then where else it is read. */
function describeSetting(s: Spec<unknown> & { fallback?: unknown }): string {
  const value = s.default ?? s.fallback;
  // 90000 ms reads "90s", as it is written in the README, rather than "1m30s".
  const ms = (v: number) => (v % 60_000 === 0 ? formatDuration(v) : `${v / 1000}s`);
  const show = (v: unknown) => (s.parse === duration ? ms(v as number) : [v].flat().join(','));
  const shown =
    s.defaultText !== undefined
      ? ` (default: ${s.defaultText})`
      : value === undefined || typeof value === 'boolean' || (Array.isArray(value) && value.length === 0)
        ? ''
        : ` (default ${show(value)})`;
  const envNote = s.env?.length ? ` [env ${s.env.join(', ')}]` : '';
  return s.describe + shown + envNote;
}

/**
 * Every setting and switch is declared to yargs for every command, so that a refused one is still
 * read whole (`-la` is two letters, `--region x` one flag): flags-given.ts refuses what the command
 * does not take, before yargs. A command's help shows its own.
 */
function yargsOptions(command: Command): Record<string, YargsOption> {
  const shows = (key: OptionKey) =>
    command.settings === 'all' || command.settings.includes(key) || WIRING.includes(key);
  const out: Record<string, YargsOption> = {};
  for (const [key, s] of Object.entries(OPTION_SPECS) as [OptionKey, Spec<unknown>][]) {
    if (!s.flag) continue;
    out[s.flag] = {
      type: s.kind === 'boolean' ? 'boolean' : 'string',
      array: s.kind === 'strings' ? true : undefined,
      requiresArg: s.kind !== 'boolean',
      alias: s.alias ? [...s.alias] : undefined,
      describe: describeSetting(s),
      group: `${s.group}:`,
      hidden: !shows(key) || undefined,
    };
  }
  for (const [flag, f] of Object.entries(FINAL_FLAGS)) {
    const hidden = !shows('finalState') || undefined;
    out[flag] = { type: 'boolean', alias: f.alias, describe: f.describe, group: 'Session:', hidden };
  }
  for (const [key, f] of Object.entries(VERB_FLAGS) as [VerbFlag, (typeof VERB_FLAGS)[VerbFlag]][]) {
    const own = command.flags?.includes(key) ?? false;
    const type = takesVerbValue(key) ? 'string' : 'boolean';
    out[f.flag] = { type, alias: [...f.alias], describe: f.describe, group: 'General:', hidden: !own };
  }
  out.quiet = { type: 'boolean', hidden: true };
  out.help = { type: 'boolean', alias: 'h', describe: 'show this help', group: 'General:' };
  out.version = { type: 'boolean', describe: 'show the version', group: 'General:' };
  return out;
}

const commandWords = (c: Command) => [c.name, ...(c.aliases ?? [])].join(' | ');

function usage(command: Command): string {
  if (command !== DEFAULT_COMMAND) {
    const also = command.aliases?.length ? `   (also: ${command.aliases.map((a) => `ssh-ec2 ${a}`).join(', ')})` : '';
    return [`Usage: ssh-ec2 ${command.usage.join('\n       ssh-ec2 ')} [options]${also}`, '', command.summary].join(
      '\n',
    );
  }
  return [
    ...command.usage.map((u, n) => `${n === 0 ? 'Usage:' : '      '} ssh-ec2 ${u}`),
    `       ssh-ec2 ${VERBS.filter((v) => !v.hidden)
      .flatMap((v) => v.usage)
      .join(' | ')}`,
    '',
    command.summary,
  ].join('\n');
}

function epilog(command: Command): string {
  const verbs = VERBS.filter((v) => !v.hidden).map(
    (v) => [`${commandWords(v)}${v.usage[0]!.slice(v.name.length)}`, v.summary] as const,
  );
  const width = Math.max(...verbs.map(([w]) => w.length));
  return [
    ...(command === DEFAULT_COMMAND
      ? [
          'Verbs (first word; ssh-ec2 VERB --help for its own options):',
          ...verbs.map(([w, summary]) => `  ${w.padEnd(width)}  ${summary}`),
          '',
        ]
      : []),
    "Exit status: the remote command's (or the job's); 255 connection lost; 2 usage error;",
    '3 configuration (credentials, region, key); 4 AWS error; 5 no capacity; 6 sync up failed;',
    '7 no instance or job there (nothing launched); 8 a job is already running; 9 a doctor check failed;',
    '10 spot interruption (results home); 11 a cost guardrail; 12 a batch job failed; 70 internal error.',
    'Settings: flags > --preset > env > .env > .ssh-ec2.toml > ~/.config/ssh-ec2/config.toml > defaults.',
  ].join('\n');
}

function parser(argv: string[], command: Command) {
  const y = yargs(argv)
    .scriptName('ssh-ec2')
    .usage(usage(command))
    .parserConfiguration({
      'halt-at-non-option': command === DEFAULT_COMMAND,
      'populate--': true,
      'camel-case-expansion': false,
      'parse-positional-numbers': false,
      'parse-numbers': false,
      'dot-notation': false,
      'strip-aliased': true,
      'boolean-negation': true,
      // `-L a -L b jupyter`: each -L takes one value, so the command is not swallowed.
      'greedy-arrays': false,
    })
    .help(false)
    .version(false)
    .options(yargsOptions(command))
    // Unknown options are refused before (flags-given.ts); a verb's words are its arguments.
    .strictOptions()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .epilog(epilog(command))
    .exitProcess(false)
    .fail((msg, err) => {
      throw err instanceof UsageError ? err : new UsageError(msg || err?.message || 'bad arguments');
    });
  for (const [example, what] of command.examples ?? []) y.example(example, what);
  return y;
}

/** `argv` without the verb's word, if any: `command` is the verb (else the session). */
export async function parseArgs(argv: readonly string[], command: Command = DEFAULT_COMMAND): Promise<ParsedArgs> {
  const session = command === DEFAULT_COMMAND;
  const split = splitAttachedValues(argv, session);
  checkFlags(split, command, session);
  const parsed = (await parser(split, command).parseAsync()) as Record<string, unknown>;
  const flags: FlagValues = {};
  for (const [key, s] of Object.entries(OPTION_SPECS) as [OptionKey, (typeof OPTION_SPECS)[OptionKey]][]) {
    if (!s.flag) continue;
    const v = parsed[s.flag];
    if (v !== undefined) flags[key] = v as string | string[] | boolean;
  }
  if (parsed.quiet === false && flags.verbose === undefined) flags.verbose = true;
  const finals = Object.entries(FINAL_FLAGS).filter(([flag]) => parsed[flag] === true);
  if (finals.length > 1) throw new UsageError(`choose one of ${finals.map(([f]) => `--${f}`).join(', ')}`);
  if (finals.length === 1) flags.finalState = finals[0]![1].state;
  const verbFlags: VerbFlagValues = {};
  for (const [key, f] of Object.entries(VERB_FLAGS) as [VerbFlag, (typeof VERB_FLAGS)[VerbFlag]][]) {
    const v = parsed[f.flag];
    if (v === undefined) continue;
    if (key === 'stoppedFor') verbFlags.stoppedFor = String(v);
    else verbFlags[key] = v === true;
  }
  const words = [
    ...(session ? [] : ((parsed._ as unknown[] | undefined) ?? [])),
    ...((parsed['--'] as unknown[]) ?? []),
  ].map(String);
  return { flags, verbFlags, command: words, help: parsed.help === true, version: parsed.version === true };
}

export async function helpText(command: Command = DEFAULT_COMMAND): Promise<string> {
  return parser([], command).getHelp();
}

/**
 * ssh writes forwards as `-L8888:localhost:8888` and keys as `-ikey.pem`; yargs would read those
 * as groups of short flags, so the value is split off first (options only, never in the command).
 * A switch followed by the word true or false is followed by the command `true` or `false`.
 * The session's options end at its first word; a verb's (`haltAtWord` false) go on after its words.
 */
export function splitAttachedValues(argv: readonly string[], haltAtWord = true): string[] {
  const valueShorts = new Set(['i', 'I', 'L', 'R', 'D']);
  const valueLongs = new Set(
    Object.values(OPTION_SPECS)
      .filter((s) => s.flag && s.kind !== 'boolean')
      .flatMap((s) => [s.flag!, ...(s.alias ?? [])]),
  );
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--' || (haltAtWord && (!a.startsWith('-') || a === '-'))) return [...out, ...argv.slice(i)];
    if (!a.startsWith('-') || a === '-') {
      out.push(a);
      continue;
    }
    const short = /^-([iILRD])(.+)$/.exec(a);
    if (short && valueShorts.has(short[1]!)) {
      out.push(`-${short[1]}`, short[2]!);
      continue;
    }
    out.push(a);
    const name = a.replace(/^--?/, '');
    if (!a.includes('=') && (valueLongs.has(name) || valueShorts.has(name))) {
      if (i + 1 < argv.length) out.push(argv[++i]!);
    } else if (haltAtWord && !a.includes('=') && (argv[i + 1] === 'true' || argv[i + 1] === 'false')) {
      // yargs would take `--stop true` as --stop=true; for us `true` is the command.
      return [...out, '--', ...argv.slice(i + 1)];
    }
  }
  return out;
}
