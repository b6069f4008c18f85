/**
 * What the local rsync can do, found out by trying it: a Mac's /usr/bin/rsync is rsync 2.6.9
 * (macOS ≤ 14) or openrsync (macOS 15+), and neither does everything a current rsync does
 * (issue #8). Each capability ssh-ec2 relies on is tried by a probe (rsync-probe.ts); here are
 * what each direction needs, the one line for an rsync that lacks it, and the cache: the answer
 * is cached per binary (path, size, mtime) under the state directory, so the probe runs once per
 * rsync installed, unless a probe failed for a reason that is this machine's, not the rsync's
 * (see rsync-probe.ts).
 */
import { accessSync, constants, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Logger } from '../ui/logger.js';
import { shortHash } from '../state/paths.js';
import { probeAll, PROBE_VERSION } from './rsync-probe.js';

export interface RsyncCapabilities {
  /** The binary probed (absolute). */
  path: string;
  /** First line of `rsync --version`, for messages. */
  version: string;
  /** Sends a tree to a remote rsync through a remote shell (the sync up). */
  push: boolean;
  /** Receives a tree from one (the sync back). The openrsync of 2026-07 aborts after the first file. */
  pull: boolean;
  /**
   * Receives as a server (`--server`) from a client that sends, keeping replaced files
   * (--backup-dir) and skipping unsafe links (--safe-links): the sync back for an rsync that
   * cannot receive as a client (rsync.ts serverPullArgv).
   */
  receiveAsServer: boolean;
  /** --exclude-from, one pattern a line. */
  excludeFrom: boolean;
  /** --from0: the exclude file NUL-separated, so any name (a line break in it too) can be excluded. */
  from0: boolean;
  /** --copy-unsafe-links: a link to outside the tree is sent as what it points to. */
  copyUnsafeLinks: boolean;
  /** --update: a newer file on the receiving side is left alone. */
  update: boolean;
  /** --safe-links: a received link pointing outside the tree is not made. */
  safeLinks: boolean;
  /** --backup --backup-dir: a replaced file is first moved there. */
  backupDir: boolean;
  compress: boolean;
  /** --out-format=%n lists the transferred names (openrsync crashes on a %). */
  outFormat: boolean;
  /** -v lists them one a line between a header and a blank line (the fallback listing). */
  verboseList: boolean;
}

export type Capability = Exclude<keyof RsyncCapabilities, 'path' | 'version'>;

/**
 * What each direction cannot do without; the rest only makes it better. --update and --backup-dir
 * are no longer used: the three-way rules (sync/three-way.ts) decide what is not overwritten.
 */
export const NEEDED: Record<'up' | 'back', readonly Capability[]> = {
  up: ['push', 'excludeFrom', 'copyUnsafeLinks'],
  back: ['pull', 'excludeFrom', 'safeLinks'],
};

const WHAT: Record<Capability, string> = {
  push: 'send files to the instance',
  pull: 'bring files back from the instance',
  receiveAsServer: 'bring files back from the instance',
  excludeFrom: 'apply .rsyncignore (--exclude-from)',
  from0: 'exclude names with line breaks (--from0)',
  copyUnsafeLinks: 'send links to outside the project as their content (--copy-unsafe-links)',
  update: 'leave newer files on the instance alone (--update)',
  safeLinks: 'skip links to outside the project when bringing results back (--safe-links)',
  backupDir: 'keep the local versions of replaced files (--backup-dir)',
  compress: 'compress (--compress)',
  outFormat: 'list transferred files (--out-format)',
  verboseList: 'list transferred files (-v)',
};

/** Which rsync to use: SSH_EC2_RSYNC (an option), else the first `rsync` on PATH. */
export interface RsyncSource {
  program?: string;
  stateDir: string;
  env?: Readonly<Record<string, string | undefined>>;
  /** Where to say (-v) why an answer was not cached. */
  log?: Pick<Logger, 'detail'>;
  /** Each probe's time limit (tests shorten it). */
  probeTimeoutMs?: number;
  /** False: a fresh answer is not cached (a dry run writes nothing); a cached one is still read. */
  keep?: boolean;
}

/** The source of a session's settings: SSH_EC2_RSYNC, and the state directory for the cache. */
export function rsyncSource(s: {
  options: { rsyncProgram?: string };
  paths: { state: string };
  log?: Pick<Logger, 'detail'>;
}): RsyncSource {
  return { program: s.options.rsyncProgram, stateDir: s.paths.state, log: s.log };
}

const memo = new Map<string, Promise<RsyncCapabilities>>();

/** The local rsync's capabilities: from this process's memo, the cache, or a fresh probe. */
export function localRsync(src: RsyncSource): Promise<RsyncCapabilities> {
  const path = findRsync(src.program, src.env ?? process.env);
  const key = `${path}\0${src.stateDir}`;
  let p = memo.get(key);
  if (!p) {
    p = cachedOrProbe(path, src);
    memo.set(key, p);
    p.catch(() => memo.delete(key));
  }
  return p;
}

/** The rsync of the capabilities needed for `directions`; one line naming what is missing otherwise. */
export async function requireRsync(
  src: RsyncSource,
  directions: readonly ('up' | 'back')[],
): Promise<RsyncCapabilities> {
  const caps = await localRsync(src);
  const missing = missingFor(caps, directions);
  if (missing.length > 0) throw tooOld(caps, missing);
  return caps;
}

/**
 * Missing capabilities; a direction that does not work at all is named alone (its options cannot
 * be tried). The sync back also works by receiving as a server.
 */
export function missingFor(caps: RsyncCapabilities, directions: readonly ('up' | 'back')[]): Capability[] {
  const needs = (d: 'up' | 'back'): readonly Capability[] => {
    if (d === 'back' && !caps.pull && caps.receiveAsServer) return [];
    return caps[NEEDED[d][0]!] ? NEEDED[d] : NEEDED[d].slice(0, 1);
  };
  return [...new Set(directions.flatMap(needs))].filter((c) => !caps[c]);
}

/** What this rsync does without, of what is not needed (what makes a sync slower or less complete). */
export function lacking(caps: RsyncCapabilities): string[] {
  const needed = new Set<Capability>([...NEEDED.up, ...NEEDED.back]);
  // No longer used (NEEDED), or replaced: with a client pull, receiving as a server is not needed;
  // the listing falls back on -v.
  const replaced = (c: Capability) =>
    c === 'update' ||
    c === 'backupDir' ||
    (c === 'receiveAsServer' && caps.pull) ||
    (c === 'outFormat' && caps.verboseList);
  const missing = (Object.keys(WHAT) as Capability[]).filter((c) => !needed.has(c) && !caps[c] && !replaced(c));
  return [...new Set(missing.map((c) => WHAT[c]))];
}

/** The one line for an rsync that cannot do what ssh-ec2 needs, with the fix. */
export function tooOld(caps: Pick<RsyncCapabilities, 'path' | 'version'>, missing: readonly Capability[]): ConfigError {
  return new ConfigError(
    `your rsync (${caps.path}: ${caps.version}) cannot ${missing.map((c) => WHAT[c]).join(', ')}`,
    `Install a current rsync (macOS: brew install rsync) and put it first on PATH, or point SSH_EC2_RSYNC at it (e.g. SSH_EC2_RSYNC=/opt/homebrew/bin/rsync).`,
  );
}

export function findRsync(program: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  if (program && isAbsolute(program)) {
    if (executable(program)) return program;
    throw new ConfigError(
      `SSH_EC2_RSYNC=${program} is not an executable file`,
      'Point SSH_EC2_RSYNC at an rsync binary, or unset it to use the rsync on PATH.',
    );
  }
  const name = program ?? 'rsync';
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const p = join(dir || '.', name);
    if (executable(p)) return isAbsolute(p) ? p : join(process.cwd(), p);
  }
  throw new ConfigError(
    `${name} not found on PATH: ssh-ec2 syncs with it`,
    'Install rsync (macOS: brew install rsync; Debian/Ubuntu: apt install rsync), or use --no-rsync.',
  );
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

async function cachedOrProbe(
  path: string,
  { stateDir, log, probeTimeoutMs, keep = true }: RsyncSource,
): Promise<RsyncCapabilities> {
  const st = statSync(path);
  const file = join(stateDir, 'rsync', `${shortHash(JSON.stringify([PROBE_VERSION, path, st.size, st.mtimeMs]))}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RsyncCapabilities;
  } catch {
    // not probed yet (or an unreadable cache): probe
  }
  const { caps, environmental } = await probeAll(path, probeTimeoutMs);
  if (environmental.length > 0) {
    // A slow or full machine is not the rsync's fault: cached, it would refuse every later run.
    log?.detail(`rsync probe not cached: ${environmental.join('; ')}`);
    return caps;
  }
  if (!keep) return caps;
  try {
    // Written whole then renamed: a run reading it meanwhile never sees half an answer.
    mkdirSync(join(stateDir, 'rsync'), { recursive: true, mode: 0o700 });
    writeFileSync(`${file}.${process.pid}`, `${JSON.stringify(caps, null, 2)}\n`, { mode: 0o600 });
    renameSync(`${file}.${process.pid}`, file);
  } catch {
    // The cache only saves the next run a second; an unwritable state directory is not this run's problem.
  }
  return caps;
}
