/**
 * The one line of ours in the user's ~/.ssh/config: `Include <our file>`, at the top (ssh takes
 * the first value it reads, so our entries come before any `Host *` of theirs). Added once (a
 * second run finds it), and `--remove` takes exactly that line away: the rest of their file is
 * left byte for byte. The path is absolute: ssh reads a relative Include from ~/.ssh, and OpenSSH
 * takes ~ from the password database, not $HOME.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const userSshConfig = (env: Readonly<Record<string, string | undefined>>): string =>
  join(env.HOME || homedir(), '.ssh', 'config');

export const includeLine = (ours: string): string => `Include ${/\s/.test(ours) ? `"${ours}"` : ours}`;

/** The file's lines, each with its own line ending, so joining them gives the file back unchanged. */
const linesOf = (text: string): string[] => text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
const isOurs = (line: string, ours: string) => line.replace(/\r?\n$/, '').trim() === includeLine(ours);

export function hasInclude(userConfig: string, ours: string): boolean {
  return existsSync(userConfig) && linesOf(readFileSync(userConfig, 'utf8')).some((l) => isOurs(l, ours));
}

/** Adds the line at the top (the file and ~/.ssh made, mode 600/700, if missing); false if it was there. */
export function addInclude(userConfig: string, ours: string): boolean {
  if (hasInclude(userConfig, ours)) return false;
  mkdirSync(dirname(userConfig), { recursive: true, mode: 0o700 });
  const text = existsSync(userConfig) ? readFileSync(userConfig, 'utf8') : '';
  const mode = existsSync(userConfig) ? statSync(userConfig).mode & 0o777 : 0o600;
  replace(userConfig, `${includeLine(ours)}\n${text}`, mode);
  return true;
}

/** Takes our line away, nothing else; false if it was not there. */
export function removeInclude(userConfig: string, ours: string): boolean {
  if (!hasInclude(userConfig, ours)) return false;
  const lines = linesOf(readFileSync(userConfig, 'utf8'));
  const kept = lines.filter((l) => !isOurs(l, ours));
  replace(userConfig, kept.join(''), statSync(userConfig).mode & 0o777);
  return true;
}

/** Written beside and renamed over: a reader (an ssh starting now) sees the old file or the new one. */
function replace(file: string, text: string, mode: number): void {
  const tmp = `${file}.ssh-ec2.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}
