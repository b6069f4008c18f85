/**
 * Pure builders of rsync command lines for the two directions of the sync.
 * Both use -s (protect args: remote paths are never shell-interpreted, so spaces, quotes and
 * unicode in names are safe), a NUL-separated exclude file computed by sync/ignore-rules.ts,
 * and --out-format so the transferred names can be counted or listed.
 */
import { OWN_DIR } from '../sync/ignore-rules.js';

export interface RsyncCommon {
  /** The ssh command line rsync runs (from ssh.ts rsyncRsh). */
  rsh: string;
  /** user@address — any name; the ssh options decide where it really goes. */
  remote: string;
  /** Remote project directory, relative to the home directory (or absolute). */
  remoteDir: string;
  /** The NUL-separated exclude file. */
  excludeFile: string;
}

const base = ['rsync', '--recursive', '--links', '--perms', '--times', '--compress', '--protect-args', '--from0'];

/** Local project → instance. Never deletes anything on the instance. */
export function pushArgv(o: RsyncCommon & { localDir: string }): string[] {
  return [
    ...base,
    // A link to data outside the project is sent as its content (the instance has no such
    // target); a link inside the project stays a link.
    '--copy-unsafe-links',
    // A file changed on the instance since the last sync (a result) is newer: never clobber it.
    '--update',
    `--exclude-from=${o.excludeFile}`,
    '--out-format=%n',
    '-e', o.rsh,
    `${withSlash(o.localDir)}`,
    `${o.remote}:${withSlash(o.remoteDir)}`,
  ];
}

/**
 * Instance → local project: new and changed files only. Never deletes a local file; a local
 * file about to be replaced is first moved under `.ssh-ec2/backups/<stamp>/`. Remote symlinks
 * pointing outside the tree are skipped (--safe-links).
 */
export function pullArgv(o: RsyncCommon & { localDir: string; backupStamp: string }): string[] {
  return [
    ...base,
    '--safe-links',
    '--backup',
    `--backup-dir=${backupDir(o.backupStamp)}`,
    `--exclude-from=${o.excludeFile}`,
    '--out-format=%n',
    '-e', o.rsh,
    `${o.remote}:${withSlash(o.remoteDir)}`,
    withSlash(o.localDir),
  ];
}

export function backupDir(stamp: string): string {
  return `${OWN_DIR}/backups/${stamp}`;
}

function withSlash(p: string): string {
  return p.endsWith('/') ? p : `${p}/`;
}

/** Names rsync reported as transferred (files only: directories end with '/'). */
export function transferredFiles(outFormatLines: string): string[] {
  return outFormatLines.split('\n').filter((l) => l !== '' && !l.endsWith('/'));
}
