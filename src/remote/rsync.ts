/**
 * Pure builders of rsync command lines for the two directions of the sync, from what the local
 * rsync can do (rsync-capabilities.ts): a Mac's rsync 2.6.9 or openrsync has no --protect-args,
 * so nothing here depends on it.
 * - The remote path never passes through the remote shell: --rsync-path enters the project
 *   directory (`mkdir -p -- '<dir>' && cd -- '<dir>' && rsync`, single-quoted for the remote login
 *   shell) and the remote path is `.`, so spaces, quotes, `$`, globs and leading dashes are safe
 *   with any rsync, and the instance's rsync never glob-expands the name.
 * - -e is a private wrapper script that execs ssh with its exact argv (rshScript): openrsync splits
 *   -e on spaces and ignores quotes, so no option of ours is ever split by an rsync.
 * - Names travel byte for byte: no --iconv, no normalisation (macOS writes names decomposed).
 */
import { UserError } from '../errors.js';
import { excludeList, type Entry } from '../sync/ignore-rules.js';
import { enterDir, shQuote } from './remote-command.js';
import { tooOld, type RsyncCapabilities } from './rsync-capabilities.js';

export interface RsyncCommon {
  /** Path of the rsh wrapper script (rshScript) rsync runs instead of ssh. */
  rsh: string;
  /** user@address — any name; the ssh options decide where it really goes. */
  remote: string;
  /** Remote project directory, relative to the home directory (or absolute). */
  remoteDir: string;
  /** The exclude file (excludeFileText). */
  excludeFile: string;
  /** A pull during the run (sync/sync-every.ts): the instance's rsync runs behind `prefix`, under `bwlimit`. */
  gentle?: Gentle;
}

/** How a pull leaves the running command alone: `nice …`/`ionice …` words before rsync there, KiB/s at most. */
export interface Gentle {
  prefix: string;
  bwlimit: number;
}

const gentleArgs = (g: Gentle | undefined) => (g ? [`--bwlimit=${g.bwlimit}`] : []);

type Caps = Pick<RsyncCapabilities, 'path' | 'compress' | 'from0' | 'outFormat' | 'verboseList'>;

function base(o: RsyncCommon, caps: Caps): string[] {
  return [
    caps.path,
    '--recursive',
    '--links',
    '--perms',
    '--times',
    ...(caps.compress ? ['--compress'] : []),
    ...(caps.from0 ? ['--from0'] : []),
    `--exclude-from=${o.excludeFile}`,
    ...listingArgs(caps),
    ...gentleArgs(o.gentle),
    '-e',
    rshArg(o.rsh),
    `--rsync-path=${enterDir(o.remoteDir)} && ${o.gentle?.prefix ?? ''}rsync`,
  ];
}

/**
 * Local project → instance. Deletes nothing itself: what may be removed there, and what must not be
 * overwritten (a result changed on the instance), the three-way rules decide (sync/three-way.ts)
 * and hand over as excludes, so no --update: a local edit with an older clock than the instance's
 * is still sent.
 */
export function pushArgv(
  o: RsyncCommon & { localDir: string; keepDirLinks?: boolean; backupDir?: string },
  caps: Caps,
): string[] {
  return [
    ...base(o, caps),
    // push: what it replaces there is kept (relative to the remote directory), not lost.
    ...(o.backupDir ? ['--backup', `--backup-dir=${o.backupDir}`] : []),
    // A link to data outside the project is sent as its content (the instance has no such
    // target); a link inside the project stays a link.
    '--copy-unsafe-links',
    // A directory there that is a link (a mount point played by one) is written through, not replaced.
    ...(o.keepDirLinks ? ['--keep-dirlinks'] : []),
    withSlash(o.localDir),
    `${o.remote}:./`,
  ];
}

/**
 * Instance → local project. Never deletes a local file; which files it may replace (changed on the
 * instance only) the three-way rules decide and the excludes carry. Remote symlinks pointing
 * outside the tree are skipped (--safe-links).
 */
export function pullArgv(o: RsyncCommon & { localDir: string }, caps: Caps): string[] {
  return [...base(o, caps), '--safe-links', `${o.remote}:./`, withSlash(o.localDir)];
}

/**
 * The sync back for a local rsync that can only receive as a server (openrsync aborts receiving as
 * a client): the instance's rsync 3 is the client and sends, through a bridge from its remote shell
 * to the ssh channel's stdin and stdout (fds 3 and 4; a background job's stdin is /dev/null in sh,
 * hence fd 5), to the local rsync run as `--server`. The same guarantees: the local server skips
 * unsafe links; the instance's rsync applies
 * the excludes, written there at `remoteExcludeFile` (relative to the home directory).
 */
export function serverPullArgv(
  o: { remoteDir: string; remoteExcludeFile: string; localDir: string; gentle?: Gentle },
  caps: Pick<RsyncCapabilities, 'path' | 'from0'>,
): { local: string[]; remote: string } {
  const safety = ['--safe-links'];
  const local = [caps.path, '--server', '-rlpt', ...safety, '.', withSlash(o.localDir)];
  const bridge = `sh -c "exec 5<&0; cat <&5 >&4 & exec cat <&3"`;
  const sender = [
    `${o.gentle?.prefix ?? ''}rsync`,
    ...gentleArgs(o.gentle),
    '--recursive',
    '--links',
    '--perms',
    '--times',
    ...safety,
    ...(caps.from0 ? ['--from0'] : []),
    `--exclude-from="$HOME"/${shQuote(o.remoteExcludeFile)}`,
    '-e',
    shQuote(bridge),
    './',
    'ssh-ec2:.',
  ];
  // rsync's own output must not enter the channel (fd 1): it goes to stderr. The exclude file goes.
  const excludes = `"$HOME"/${shQuote(o.remoteExcludeFile)}`;
  return {
    local,
    remote: `${enterDir(o.remoteDir)} && exec 3<&0 4>&1 && ${sender.join(' ')} >&2; s=$?; rm -f ${excludes}; exit $s`,
  };
}

function withSlash(p: string): string {
  return p.endsWith('/') ? p : `${p}/`;
}

/**
 * How the transferred names are listed: --out-format where a % works, else -v, else not at all.
 * Each name after its size (%l), so that the progress line can say bytes and rate as they come.
 */
function listingArgs(caps: Caps): string[] {
  if (caps.outFormat) return [`--out-format=${SIZED_NAME}`];
  return caps.verboseList ? ['-v'] : [];
}

/** Names rsync reported as transferred (files only: directories end with '/'); undefined if it cannot say. */
export function transferredFiles(stdout: string, caps: Caps): string[] | undefined {
  if (!caps.outFormat && !caps.verboseList) return undefined;
  const names = caps.outFormat ? stdout.split('\n').map((l) => sizedName(l)?.name ?? l) : verboseNames(stdout);
  return names.filter((l) => l !== '' && !l.endsWith('/'));
}

/** A line of --out-format=SIZED_NAME: the size in bytes, a space, the name (rsync escapes a line break in it). */
export const SIZED_NAME = '%l %n';
export function sizedName(line: string): { size: number; name: string } | undefined {
  const m = /^(\d+) (.*)$/.exec(line);
  return m ? { size: Number(m[1]), name: m[2]! } : undefined;
}

/**
 * The names in `rsync -v` output: the lines between the header ("building file list ... done",
 * "receiving file list ... done", openrsync's "Transfer starting: N files") and the first blank
 * line, minus rsync's own notes.
 */
export function verboseNames(stdout: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) =>
    /^(building file list|receiving file list|receiving incremental file list|sending incremental file list|Transfer starting:)/.test(
      l,
    ),
  );
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l === '') break;
    if (/^(created directory |ignoring unsafe symlink |skipping non-regular file )/.test(l)) continue;
    out.push(l.replace(/ -> .*$/, ''));
  }
  return out;
}

/**
 * rsync's -e: `/bin/sh <wrapper>`, two words every rsync splits alike (the runtime directory may
 * be on a noexec file system). openrsync splits -e on spaces whatever the quotes, so the wrapper
 * is written where its path is plain (the runtime directory, paths.ts plainDir); a path with a
 * space or quote would be quoted the way rsync 2.6.9 and 3.x split -e.
 */
export function rshArg(path: string): string {
  if (!/[\s'"]/.test(path)) return `/bin/sh ${path}`;
  return `/bin/sh ${path.includes("'") ? `"${path}"` : `'${path}'`}`;
}

/** The rsh wrapper: ssh with its exact argv, then whatever rsync adds (host, remote command). */
export function rshScript(sshArgv: readonly string[]): string {
  return `#!/bin/sh\nexec ${sshArgv.map(shQuote).join(' ')} "$@"\n`;
}

/**
 * The exclude file: NUL-separated where --from0 works (any name survives), else one pattern a
 * line; a name with a line break cannot be excluded then, which is said rather than risked
 * (it could be a secret held back).
 */
export function excludeFileText(
  entries: readonly Entry[],
  caps: Pick<RsyncCapabilities, 'path' | 'version' | 'from0'>,
  mounts: readonly string[] = [],
): string {
  if (caps.from0) return excludeList(entries, mounts);
  const broken = entries.find((e) => /[\n\r]/.test(e.path));
  if (broken) {
    const err = tooOld(caps, ['from0']);
    throw new UserError(`${err.message} (${JSON.stringify(broken.path)})`, err.exitCode, err.hint);
  }
  return excludeList(entries, mounts).replaceAll('\0', '\n');
}

/** Why an rsync failed, in words, and what to do; from its exit status and everything it said. */
export function explainRsyncFailure(
  f: { exitCode: number | undefined; signal: string | undefined; stderr: string },
  direction: 'up' | 'back',
  rsync: string,
): { cause: string; hint: string } {
  const said = f.stderr;
  const up = direction === 'up';
  const brew = `Install a current rsync (macOS: brew install rsync) and put it first on PATH, or point SSH_EC2_RSYNC at it.`;
  const results = up
    ? 'Nothing was run; --no-rsync skips the sync.'
    : 'The results stay on the instance (stopped, not terminated).';
  if (/No space left on device|Disk quota exceeded/i.test(said)) {
    return up
      ? {
          cause: "the instance's disk is full",
          hint: `Free space on the instance, or launch it with a bigger --volume-size. ${results}`,
        }
      : { cause: 'the local disk is full', hint: `Free space here, then sync back with ssh-ec2 pull. ${results}` };
  }
  if (/^SIG(SEGV|ABRT|BUS|ILL|FPE)$/.test(f.signal ?? '') || f.exitCode === 134 || f.exitCode === 139) {
    return { cause: `your rsync (${rsync}) crashed${f.signal ? ` (${f.signal})` : ''}`, hint: `${brew} ${results}` };
  }
  if (f.signal) return { cause: `rsync was ended (${f.signal})`, hint: results };
  if (f.exitCode === 127 || /rsync: (command )?not found|command not found/.test(said)) {
    return {
      cause: 'rsync is missing on the instance',
      hint: `Install rsync there (sudo apt-get install rsync) or use an image that has it. ${results}`,
    };
  }
  if (/unknown option|unrecognized option|syntax or usage error/.test(said)) {
    return { cause: `your rsync (${rsync}) refused an option`, hint: `${brew} ${results}` };
  }
  if (/protocol (version )?(mismatch|incompatib)|is your shell clean/i.test(said)) {
    return {
      cause: "your rsync and the instance's do not understand each other",
      hint: `Make sure the login shell on the instance prints nothing for a command (no echo in .bashrc). ${brew}`,
    };
  }
  if (/Permission denied|Operation not permitted|Read-only file system/.test(said)) {
    return up
      ? {
          cause: 'permission denied on the instance',
          hint: `The project directory there must be writable by the login user (see --remote-dir, --user). ${results}`,
        }
      : {
          cause: 'permission denied',
          hint: `A file on the instance is unreadable, or a local one is not writable: see the name in the message. ${results}`,
        };
  }
  if (
    f.exitCode === 12 ||
    f.exitCode === 255 ||
    /connection unexpectedly closed|Broken pipe|Connection (reset|closed)|unexplained error/i.test(said)
  ) {
    return {
      cause: 'the connection to the instance was lost',
      hint: `Check your network and run ssh-ec2 again. ${results}`,
    };
  }
  return { cause: 'rsync failed', hint: `See rsync's message. ${results}` };
}

/** The most telling line rsync wrote: its first own error, else its last line. */
export function rsyncMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (
    lines.find((l) => /^rsync: |^rsync\(\d+\): |error:/i.test(l) && !/^rsync error: some files/.test(l)) ??
    lines.at(-1) ??
    ''
  );
}
