/**
 * What a command declares (its folder's spec.ts) and what it is given when it runs. The
 * declarations are read by the parser and the help without loading any command's code: each
 * command's module (and the AWS SDK behind it) is imported only when that command runs.
 */
import type { OptionKey } from '../options.js';
import type { SessionDeps } from '../session/run-session.js';
import type { StoryDeps } from '../session/story.js';

/** The verbs' own switches: not settings (no environment, no .env), only flags. */
export const VERB_FLAGS = {
  yes: { flag: 'yes', alias: ['y'], describe: 'down, ssh-config: do not ask for confirmation' },
  remove: { flag: 'remove', alias: [], describe: 'ssh-config: take the Include line and the aliases away' },
  all: { flag: 'all', alias: [], describe: "down, ls: all of your ssh-ec2 instances, not only this directory's" },
  // --no-pull: down's own name for --no-rsync (which down also honours).
  pull: {
    flag: 'pull',
    alias: [],
    describe: 'down: bring results back first, starting a stopped instance (--no-pull: terminate as it is)',
  },
  presets: { flag: 'presets', alias: [], describe: "config: list the config files' preset names, one a line" },
  allRegions: {
    flag: 'all-regions',
    alias: [],
    describe: 'ls, down --orphans: every enabled region, not only --region',
  },
  json: {
    flag: 'json',
    alias: [],
    describe: 'ls, config, doctor, prices: print JSON on stdout (README: Machine-readable output)',
  },
  orphans: {
    flag: 'orphans',
    alias: [],
    describe: 'down: end what this machine made that no directory here claims, and what stayed stopped too long',
  },
  fromS3: {
    flag: 'from-s3',
    alias: [],
    describe: 'pull: from where --results uploaded them (no instance needed), never over a local edit',
  },
  // The one verb flag with a value (flags-given.ts and args.ts read `value`).
  stoppedFor: {
    flag: 'stopped-for',
    alias: [],
    value: true,
    describe: 'down --orphans: also end instances of this machine stopped longer than this (default 7d)',
  },
} as const;
export type VerbFlag = keyof typeof VERB_FLAGS;
/** Flags with a value are strings; the others switches. */
export type VerbFlagValues = Partial<Record<Exclude<VerbFlag, 'stoppedFor'>, boolean>> & { stoppedFor?: string };
export const takesVerbValue = (key: VerbFlag): boolean => 'value' in VERB_FLAGS[key];

export interface CommandContext extends SessionDeps {
  stdout: NodeJS.WritableStream;
  /** The word it was called by (`status` for ls). */
  word: string;
  flags: VerbFlagValues;
  /** The batch port, for tests (test/fakes/batch-cloud.ts); by default AWS's (batch/clouds.ts). */
  loadBatchCloud?: StoryDeps['loadBatchCloud'];
}

export interface Command {
  name: string;
  aliases?: readonly string[];
  /** How it is called, after `ssh-ec2 `; one line each. */
  usage: readonly string[];
  /** One line, for the list of commands and the top of its help. */
  summary: string;
  /**
   * The settings it reads, shown in its help; a verb refuses the others (exit 2), except the
   * WIRING (below) every verb accepts.
   */
  settings: readonly OptionKey[] | 'all';
  flags?: readonly VerbFlag[];
  examples?: readonly (readonly [command: string, what: string])[];
  load: () => Promise<{ run(ctx: CommandContext): Promise<number> }>;
  /** Internal (run by ssh, not by people): dispatched, never listed in the help. */
  hidden?: boolean;
  /**
   * It reads no project settings (.env, .ssh-ec2.toml) from the current directory, only the user
   * file and the environment: that directory is not the project it acts on (options/load.ts).
   */
  noProjectSettings?: boolean;
}

/**
 * Where and how ssh-ec2 reaches AWS and the instances: every verb accepts these, so one alias or
 * script line can carry them whatever verb follows (issue #10).
 */
export const WIRING: readonly OptionKey[] = [
  'region',
  'sshConfig',
  'user',
  'sshCidr',
  'imageName',
  'imageOwners',
  'verbose',
  'preset',
  'silent',
];

/** Finding this directory's instance (its tags: plan.ts) and connecting to it. */
export const REACH_SETTINGS: readonly OptionKey[] = [
  'region',
  'name',
  'keyName',
  'identity',
  'user',
  'sshConfig',
  'hostKeyTimeout',
  'reconnectTimeout',
  'verbose',
  'silent',
];

/** Starting a stopped instance and bringing its results back. */
export const SYNC_BACK_SETTINGS: readonly OptionKey[] = ['instanceTypes', 'capacityTimeout', 'remoteDir', 'rsync'];
