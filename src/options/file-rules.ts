/**
 * What each config file may set, and how a path written in one is read (config-files.ts applies
 * both; README "Config files and presets" lists them). The project file comes with the repository:
 * a cloned project may shape its instance and its run (type, image, limits, multiplexer, volume,
 * region, name, …), but nothing that acts on this machine or widens who can reach it or your
 * account — those are the user's to set, in the user file, the environment or a flag. The
 * project's `.env` comes with it too, and is held to the same list (options.ts).
 */
import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { OptionKey } from '../options.js';
import type { Spec } from './spec.js';

/** Not file keys at all: each is a choice for one run, never a default. */
export const RUN_MODES: Partial<Record<OptionKey, string>> = {
  dryRun: 'a dry run is asked for one run (--dry-run)',
  attach: 'attaching is a choice for one run (--attach)',
  detach: 'detaching is a choice for one run (--detach)',
  verbose: 'verbose output is a choice for one run (--verbose)',
  tty: 'a terminal is a choice for one run (--tty, --no-tty)',
  rsync: 'skipping the sync is a choice for one run (--no-rsync)',
};

/** Not in the project file, with why: each acts on this machine, or widens who reaches it or your account. */
export const USER_ONLY: Partial<Record<OptionKey, string>> = {
  sshConfig: 'its Match exec and ProxyCommand lines run on this machine',
  rsyncProgram: 'it is a program run on this machine',
  identity: 'it names a private key of yours',
  localForwards: 'it opens ports of this machine',
  remoteForwards: "it lets the instance reach this machine's network",
  dynamicForwards: 'it opens a proxy on this machine',
  ipUrl: 'its answer decides who may reach port 22',
  sshCidr: 'it opens port 22 of the security group all your instances share',
  iamProfile: "it gives the instance your AWS account's rights",
  securityGroup: 'a group of its choosing may let anyone reach port 22 (ssh-ec2 never changes its rules)',
  imageOwners:
    "an image of another owner's would receive your files and, with the instance profile, your account's rights",
  onSuccess: 'it is a command run on this machine',
  notify: "it sends your runs' commands, paths and instances to an address of its choosing",
  imageId: "an image of another owner's would receive your files and, with the instance profile, your account's rights",
  resultsEndpoint: 'it decides where the instance uploads your results (--results) and where pull --from-s3 reads',
  queueEndpoint: "it decides where a batch's jobs are sent and where its instances take them from",
  imdsUrl: 'it decides what the agent on the instance believes about its instance and its spot notices',
  poweroffCommand: 'it is a command run on the instance with sudo',
  mountCommand: 'it is a command run on the instance in place of mounting the data volume',
};

/** The file a value was read from, for its rules and its paths. */
export interface FileContext {
  kind: 'project' | 'user';
  /** The file's directory: relative paths in it are relative to it. */
  dir: string;
  home: string;
}

/**
 * The refusal of a user-only setting in a file that comes with the project (`.ssh-ec2.toml`, or
 * `.env` with `file` "the project's .env" and `key` its environment name), saying where it may be set.
 */
export function refuseInProject(
  setting: OptionKey,
  key: string,
  s: Spec<unknown>,
  at: string,
  file = 'the project file',
): never {
  const envName = file === 'the project file' ? s.env?.[0] : key;
  const where = [
    'your ~/.config/ssh-ec2/config.toml',
    ...(envName ? [`the environment (${envName})`] : []),
    ...(s.flag ? [`a flag (${s.flag.length === 1 ? '-' : '--'}${s.flag})`] : []),
  ];
  throw new UsageError(
    `${at}: ${key} cannot be set in ${file}: ${USER_ONLY[setting]}`,
    `A project you cloned may not choose it for you: set it in ${where.join(', ')}.`,
  );
}

/** How each path-valued setting is written: a path; a program (a path, or a name on PATH); a path or text. */
const PATHS: Partial<Record<OptionKey, 'path' | 'program' | 'path-or-text'>> = {
  identity: 'path',
  sshConfig: 'path',
  rsyncProgram: 'program',
  userData: 'path-or-text',
};

/**
 * A path-valued setting's raw text from a file: a leading `~/` is the home, a relative path is
 * relative to the file (not to wherever ssh-ec2 runs). user-data is a path when it names a file or
 * looks like one (`~/…`, `/…`, `./…`, `../…`; then it must exist), else the script itself; from
 * the project file, a path must stay inside the project.
 */
export function filePath(setting: OptionKey, raw: string, f: FileContext, source: string): string {
  const how = PATHS[setting];
  if (!how || raw === '') return raw;
  if (how === 'program' && !raw.includes('/') && !raw.startsWith('~')) return raw;
  const expanded = raw === '~' || raw.startsWith('~/') ? join(f.home, raw.slice(1)) : raw;
  const path = resolve(f.dir, expanded);
  if (how === 'path-or-text') {
    const looksLikePath = /^(~\/|\/|\.\.?\/)/.test(raw) && !/\s/.test(raw);
    if (!existsSync(path)) {
      if (looksLikePath) throw new UsageError(`${source}: user data file ${path} not found`);
      return raw; // the script itself
    }
  }
  if (f.kind === 'project' && !inside(f.dir, path))
    throw new UsageError(
      `${source}: ${raw} is outside the project; the project file may name only files inside it`,
      'Set it in your ~/.config/ssh-ec2/config.toml, the environment or a flag.',
    );
  return path;
}

/** Whether `path` (symbolic links followed) is inside `dir`. */
function inside(dir: string, path: string): boolean {
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : p);
  const rel = relative(real(dir), real(path));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}
