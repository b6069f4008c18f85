/**
 * What a command declares (its folder's spec.ts) and what it is given when it runs. The
 * declarations are read by the parser and the help without loading any command's code: each
 * command's module (and the AWS SDK behind it) is imported only when that command runs.
 */
import type { OptionKey } from '../options.js';
import type { SessionDeps } from '../session/run-session.js';

/** The verbs' own switches: not settings (no environment, no .env), only flags. */
export const VERB_FLAGS = {
  yes: { flag: 'yes', alias: ['y'], describe: 'down: do not ask for confirmation' },
  all: { flag: 'all', alias: [], describe: "down, ls: all of your ssh-ec2 instances, not only this directory's" },
  // --no-pull: down's own name for --no-rsync (which down also honours).
  pull: {
    flag: 'pull',
    alias: [],
    describe: 'down: bring results back first, starting a stopped instance (--no-pull: terminate as it is)',
  },
} as const;
export type VerbFlag = keyof typeof VERB_FLAGS;
export type VerbFlagValues = Partial<Record<VerbFlag, boolean>>;

export interface CommandContext extends SessionDeps {
  stdout: NodeJS.WritableStream;
  /** The word it was called by (`status` for ls). */
  word: string;
  flags: VerbFlagValues;
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
