/**
 * The one line of ours in the user's ~/.ssh/config: `Include <our file>`, at the top (ssh takes
 * the first value it reads, so our entries come before any `Host *` of theirs). Added once (a
 * second run finds it), and `--remove` takes exactly that line away: the rest of their file is
 * left byte for byte. The path is absolute: ssh reads a relative Include from ~/.ssh, and OpenSSH
 * takes ~ from the password database, not $HOME.
 *
 * "Ours" is the line as we write it, unindented. Below a `Host` or `Match` line it belongs to that
 * block (ssh ignores indentation): not effective there, so it is moved to the top. An indented
 * copy is taken to be the user's own, inside a block of theirs: left alone. A ~/.ssh/config that
 * is a symlink (dotfiles managers) is written through, never replaced by a file.
 */
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from '../../errors.js';

export const userSshConfig = (env: Readonly<Record<string, string | undefined>>): string =>
  join(env.HOME || homedir(), '.ssh', 'config');

export const includeLine = (ours: string): string => `Include ${/\s/.test(ours) ? `"${ours}"` : ours}`;

/** The file's lines, each with its own line ending, so joining them gives the file back unchanged. */
const linesOf = (text: string): string[] => text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
const isOurs = (line: string, ours: string) => line.replace(/\r?\n$/, '').trimEnd() === includeLine(ours);
const opensBlock = (line: string) => /^\s*(host|match)(\s|=)/i.test(line);
/** Remembers that ssh-ec2 made the user's file (it was absent), so `--remove` may take an empty one away. */
const madeMarker = (ours: string) => `${ours}.made-user-config`;

/** Whether our line is in the file where it takes effect: before any Host or Match line. */
export function hasInclude(userConfig: string, ours: string): boolean {
  return guarded(userConfig, () => {
    for (const line of linesOf(readIfAny(userConfig))) {
      if (isOurs(line, ours)) return true;
      if (opensBlock(line)) return false;
    }
    return false;
  });
}

/**
 * Adds the line at the top (the file and ~/.ssh made, mode 600/700, if missing), taking away a
 * copy of ours left below a Host line; false if it was already at the top.
 */
export function addInclude(userConfig: string, ours: string): boolean {
  return guarded(userConfig, () => {
    if (hasInclude(userConfig, ours)) return false;
    const target = writeTarget(userConfig);
    const made = !existsSync(target);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    const kept = linesOf(readIfAny(target)).filter((l) => !isOurs(l, ours));
    replace(target, `${includeLine(ours)}\n${kept.join('')}`, made ? 0o600 : statSync(target).mode & 0o777);
    if (made) remember(madeMarker(ours), target);
    return true;
  });
}

/** Takes our line away, nothing else (a file ssh-ec2 made and now empty goes); false if it was not there. */
export function removeInclude(userConfig: string, ours: string): boolean {
  return guarded(userConfig, () => {
    const target = writeTarget(userConfig);
    const lines = linesOf(readIfAny(target));
    const kept = lines.filter((l) => !isOurs(l, ours));
    const marker = madeMarker(ours);
    const madeByUs = existsSync(marker) && readFileSync(marker, 'utf8').trim() === target;
    rmSync(marker, { force: true });
    if (kept.length === lines.length) return false;
    if (madeByUs && kept.length === 0) rmSync(target);
    else replace(target, kept.join(''), statSync(target).mode & 0o777);
    return true;
  });
}

/** The file to write: a symlink's target, so the link stays. */
function writeTarget(userConfig: string): string {
  return existsSync(userConfig) ? realpathSync(userConfig) : userConfig;
}

/** Best effort: without the note, an emptied file of ours is only left behind. */
function remember(marker: string, target: string): void {
  try {
    writeFileSync(marker, `${target}\n`, { mode: 0o600 });
  } catch {
    // our state directory not made yet (ssh-config writes our file first)
  }
}

const readIfAny = (file: string): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');

/** Written beside and renamed over: a reader (an ssh starting now) sees the old file or the new one. */
function replace(file: string, text: string, mode: number): void {
  const tmp = `${file}.ssh-ec2.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, { mode });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** A file system's refusal (a directory, no permission, a read-only dotfiles store) is one line, not a bug. */
function guarded<T>(userConfig: string, body: () => T): T {
  try {
    return body();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (typeof e.code !== 'string' || e instanceof ConfigError) throw err;
    throw new ConfigError(`cannot change ${userConfig}: ${e.code} (${e.message.split(',')[0]})`, undefined, {
      cause: err,
    });
  }
}
