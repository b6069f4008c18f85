/**
 * The command line of a session, parsed by yargs from the declarations in options.ts. Parsing
 * halts at the first word that is not an option: that word and everything after it (or
 * everything after `--`) is the remote command, untouched — `ssh-ec2 python train.py --epochs 3`
 * passes --epochs to python.
 */
import yargs, { type Options as YargsOption } from 'yargs';
import { UsageError } from './errors.js';
import { OPTION_SPECS, type FinalState, type FlagValues, type OptionKey } from './options.js';

const FINAL_FLAGS: Record<string, { alias: string; state: FinalState; describe: string }> = {
  terminate: {
    alias: 't',
    state: 'terminate',
    describe: 'terminate the instance at the end (default; env AWS_FINAL_STATE)',
  },
  stop: { alias: 's', state: 'stop', describe: 'stop it at the end: the disk is kept, the next run here restarts it' },
  leave: { alias: 'l', state: 'leave', describe: 'leave it running (it keeps costing money)' },
};

export interface ParsedArgs {
  flags: FlagValues;
  command: string[];
  help: boolean;
  version: boolean;
}

function yargsOptions(): Record<string, YargsOption> {
  const out: Record<string, YargsOption> = {};
  for (const s of Object.values(OPTION_SPECS)) {
    if (!s.flag) continue;
    const envNote = s.env?.length ? ` [env ${s.env.join(', ')}]` : '';
    out[s.flag] = {
      type: s.kind === 'boolean' ? 'boolean' : 'string',
      array: s.kind === 'strings' ? true : undefined,
      requiresArg: s.kind !== 'boolean',
      alias: s.alias ? [...s.alias] : undefined,
      describe: s.describe + envNote,
      group: `${s.group}:`,
    };
  }
  for (const [flag, f] of Object.entries(FINAL_FLAGS)) {
    out[flag] = { type: 'boolean', alias: f.alias, describe: f.describe, group: 'Session:' };
  }
  out.quiet = { type: 'boolean', hidden: true };
  out.help = { type: 'boolean', alias: 'h', describe: 'show this help', group: 'General:' };
  out.version = { type: 'boolean', describe: 'show the version', group: 'General:' };
  return out;
}

function parser(argv: string[]) {
  return yargs(argv)
    .scriptName('ssh-ec2')
    .usage(
      [
        'Usage: ssh-ec2 [options] [--] [command words...]',
        '       ssh-ec2 --detach [options] [--] command...   |   ssh-ec2 --attach [options]',
        '       ssh-ec2 ls | logs | pull | down [NAME | --all] [--yes]',
        '',
        'Runs this directory on an EC2 instance as if it were local: launches (or reuses) the',
        'instance, syncs the directory up (minus .rsyncignore), runs the command (or a shell) there,',
        'syncs new and changed files back, then terminates, stops or leaves the instance.',
      ].join('\n'),
    )
    .parserConfiguration({
      'halt-at-non-option': true,
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
    .options(yargsOptions())
    .strict()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .epilog(
      [
        'Verbs (first word): ls | status, logs, pull, down [NAME | --all] [--yes].',
        "Exit status: the remote command's (or the job's); 255 connection lost; 2 usage error;",
        '3 configuration (credentials, region, key); 4 AWS error; 5 no capacity; 6 sync up failed;',
        '7 no instance or job there (nothing launched); 8 a job is already running; 70 internal error.',
        'Settings: flags > environment > .env in this directory > defaults.',
      ].join('\n'),
    )
    .exitProcess(false)
    .fail((msg, err) => {
      throw err instanceof UsageError ? err : new UsageError(msg || err?.message || 'bad arguments');
    });
}

export async function parseArgs(argv: readonly string[]): Promise<ParsedArgs> {
  const parsed = (await parser(splitAttachedValues(argv)).parseAsync()) as Record<string, unknown>;
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
  const command = ((parsed['--'] as unknown[] | undefined) ?? []).map(String);
  return { flags, command, help: parsed.help === true, version: parsed.version === true };
}

export async function helpText(): Promise<string> {
  return parser([]).getHelp();
}

/**
 * ssh writes forwards as `-L8888:localhost:8888` and keys as `-ikey.pem`; yargs would read those
 * as groups of short flags, so the value is split off first (options only, never in the command).
 * A switch followed by the word true or false is followed by the command `true` or `false`.
 */
export function splitAttachedValues(argv: readonly string[]): string[] {
  const valueShorts = new Set(['i', 'L', 'R', 'D']);
  const valueLongs = new Set(
    Object.values(OPTION_SPECS)
      .filter((s) => s.flag && s.kind !== 'boolean')
      .flatMap((s) => [s.flag!, ...(s.alias ?? [])]),
  );
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--' || !a.startsWith('-') || a === '-') return [...out, ...argv.slice(i)];
    const short = /^-([iLRD])(.+)$/.exec(a);
    if (short && valueShorts.has(short[1]!)) {
      out.push(`-${short[1]}`, short[2]!);
      continue;
    }
    out.push(a);
    const name = a.replace(/^--?/, '');
    if (!a.includes('=') && (valueLongs.has(name) || valueShorts.has(name))) {
      if (i + 1 < argv.length) out.push(argv[++i]!);
    } else if (!a.includes('=') && (argv[i + 1] === 'true' || argv[i + 1] === 'false')) {
      // yargs would take `--stop true` as --stop=true; for us `true` is the command.
      return [...out, '--', ...argv.slice(i + 1)];
    }
  }
  return out;
}
