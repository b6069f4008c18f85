/**
 * What the local rsync can do, found out by trying it: a Mac's /usr/bin/rsync is rsync 2.6.9
 * (macOS ≤ 14) or openrsync (macOS 15+), and neither does everything a current rsync does
 * (issue #8). Versions are not trusted to tell (openrsync's options change from release to
 * release, and a rsync may be built without some): each capability ssh-ec2 relies on is a tiny
 * transfer between temporary directories, through a stand-in remote shell with the same program
 * at the far end, whose effect is checked. The answer is cached per binary (path, size, mtime)
 * under the state directory, so the probe runs once per rsync installed, unless a probe failed
 * for a reason that is this machine's, not the rsync's (see Environmental).
 */
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  lstatSync,
  readlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Logger } from '../ui/logger.js';
import { shortHash } from '../state/paths.js';
import { runAllowFailure } from './exec.js';
import { shQuote } from './remote-command.js';
import { rshArg } from './rsync.js';

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

/** What each direction cannot do without; the rest only makes it better. */
export const NEEDED: Record<'up' | 'back', readonly Capability[]> = {
  up: ['push', 'excludeFrom', 'copyUnsafeLinks', 'update'],
  back: ['pull', 'excludeFrom', 'safeLinks', 'backupDir'],
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

/** Bump when a probe changes: cached answers of older probes are then not used. */
const PROBE_VERSION = 2;

/** Which rsync to use: SSH_EC2_RSYNC (an option), else the first `rsync` on PATH. */
export interface RsyncSource {
  program?: string;
  stateDir: string;
  env?: Readonly<Record<string, string | undefined>>;
  /** Where to say (-v) why an answer was not cached. */
  log?: Pick<Logger, 'detail'>;
  /** Each probe's time limit (tests shorten it). */
  probeTimeoutMs?: number;
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

async function cachedOrProbe(path: string, { stateDir, log, probeTimeoutMs }: RsyncSource): Promise<RsyncCapabilities> {
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

/** One probe: files to make, options to add, and what must hold afterwards. */
interface Probe {
  direction: 'push' | 'pull';
  options: string[];
  /** Source and destination trees to start from (relative path → content; '->' prefix: a symlink). */
  src?: Record<string, string>;
  dst?: Record<string, string>;
  check(r: { dst: string; stdout: string }): boolean;
}

const TREE = { a: 'new content\n', 'sp ace': 's\n', keep: 'k\n' };

const PROBES: Record<Capability, Probe> = {
  push: {
    direction: 'push',
    options: [],
    check: ({ dst }) => read(dst, 'a') === TREE.a && read(dst, 'sp ace') === TREE['sp ace'],
  },
  pull: {
    direction: 'pull',
    options: [],
    check: ({ dst }) => read(dst, 'a') === TREE.a && read(dst, 'keep') === TREE.keep,
  },
  // The far end (the probed rsync itself) is the receiving server, as in serverPullArgv.
  receiveAsServer: {
    direction: 'push',
    options: ['--safe-links', '--backup', '--backup-dir=.bk'],
    src: { out: '->/', in: '->a' },
    dst: { a: 'old\n' },
    check: ({ dst }) =>
      read(dst, 'a') === TREE.a &&
      read(dst, '.bk/a') === 'old\n' &&
      linkOf(dst, 'out') === undefined &&
      linkOf(dst, 'in') === 'a',
  },
  excludeFrom: {
    direction: 'push',
    options: ['--exclude-from=EXCLUDES'],
    check: ({ dst }) => read(dst, 'a') === undefined && read(dst, 'keep') === TREE.keep,
  },
  from0: {
    direction: 'push',
    options: ['--from0', '--exclude-from=EXCLUDES0'],
    src: { 'line\nbreak': 'x\n' },
    check: ({ dst }) =>
      read(dst, 'a') === undefined && read(dst, 'line\nbreak') === undefined && read(dst, 'keep') === TREE.keep,
  },
  copyUnsafeLinks: {
    direction: 'push',
    options: ['--copy-unsafe-links'],
    src: { out: '->../outside' },
    check: ({ dst }) => read(dst, 'out') === 'outside\n',
  },
  update: {
    direction: 'push',
    options: ['--update'],
    dst: { a: 'NEWER\n' },
    check: ({ dst }) => read(dst, 'a') === 'NEWER\n' && read(dst, 'keep') === TREE.keep,
  },
  safeLinks: {
    direction: 'pull',
    options: ['--safe-links'],
    src: { out: '->/', in: '->a' },
    check: ({ dst }) => linkOf(dst, 'out') === undefined && linkOf(dst, 'in') === 'a',
  },
  backupDir: {
    direction: 'pull',
    options: ['--backup', '--backup-dir=.bk'],
    dst: { a: 'old\n' },
    check: ({ dst }) => read(dst, 'a') === TREE.a && read(dst, '.bk/a') === 'old\n',
  },
  compress: { direction: 'push', options: ['--compress'], check: ({ dst }) => read(dst, 'a') === TREE.a },
  outFormat: {
    direction: 'push',
    options: ['--out-format=%n'],
    check: ({ stdout }) => stdout.split('\n').includes('sp ace'),
  },
  verboseList: { direction: 'push', options: ['-v'], check: ({ stdout }) => verboseNames(stdout).includes('sp ace') },
};

/** Runs every probe against the binary at `path`. */
export async function probeRsync(path: string, timeoutMs?: number): Promise<RsyncCapabilities> {
  return (await probeAll(path, timeoutMs)).caps;
}

const PROBE_TIMEOUT_MS = 20_000;

/** The capabilities, and why any probe failed for a reason of this machine's (then the answer is not to be kept). */
async function probeAll(
  path: string,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<{ caps: RsyncCapabilities; environmental: string[] }> {
  const v = await runAllowFailure([path, '--version'], { timeoutMs });
  // openrsync prints its version on stderr.
  const version = (
    `${v.stdout}\n${v.stderr}`.split('\n').find((l) => l.trim() !== '') ?? `exit status ${v.exitCode}`
  ).trim();
  const root = mkdtempSync(join(tmpdir(), 'ssh-ec2-rsync-probe-'));
  try {
    const caps = { path, version } as RsyncCapabilities;
    const environmental: string[] = [];
    for (const [name, probe] of Object.entries(PROBES) as [Capability, Probe][]) {
      const r = await runProbe(path, join(root, name), probe, timeoutMs);
      caps[name] = r.ok;
      if (r.environmental) environmental.push(`${name}: ${r.environmental}`);
    }
    return { caps, environmental };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * A stand-in for ssh: drops the host and hands the rest, joined with spaces, to a shell, as
 * sshd does with the remote login shell. The far end is the probed rsync itself.
 */
const FAKE_RSH = '#!/bin/sh\nshift\nexec /bin/sh -c "$*"\n';

/** A probe's answer; `environmental`: it failed for a reason of this machine's (time, space, could not start). */
interface ProbeAnswer {
  ok: boolean;
  environmental?: string;
}

/**
 * Signals that end a program from outside (our time limit's SIGTERM, a kill, a resource limit);
 * a crash (openrsync's assertion aborts) is the rsync's own answer.
 */
const KILLED = new Set(['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGXCPU', 'SIGXFSZ']);
/** rsync's (and the system's) words for a full disk or quota. */
const NO_SPACE = /No space left on device|ENOSPC|Disk quota exceeded|EDQUOT/;

async function runProbe(rsync: string, dir: string, probe: Probe, timeoutMs: number): Promise<ProbeAnswer> {
  try {
    prepare(dir, probe);
  } catch (err) {
    return { ok: false, environmental: `could not prepare it: ${(err as Error).message}` };
  }
  const argv = probeArgv(rsync, dir, probe);
  let r: Awaited<ReturnType<typeof runAllowFailure>>;
  try {
    r = await runAllowFailure(argv, { timeoutMs, cwd: dir });
  } catch (err) {
    return { ok: false, environmental: `rsync did not start: ${(err as Error).message}` };
  }
  if (r.signal && KILLED.has(r.signal))
    return {
      ok: false,
      environmental: `rsync ended by ${r.signal} (each probe may take ${Math.round(timeoutMs / 1000)}s)`,
    };
  if (r.exitCode !== 0 && NO_SPACE.test(r.stderr))
    return {
      ok: false,
      environmental: `no space: ${r.stderr
        .split('\n')
        .find((l) => NO_SPACE.test(l))!
        .trim()}`,
    };
  try {
    return { ok: r.exitCode === 0 && probe.check({ dst: join(dir, 'dst'), stdout: r.stdout }) };
  } catch {
    return { ok: false };
  }
}

function prepare(dir: string, probe: Probe): void {
  const src = join(dir, 'src');
  const dst = join(dir, 'dst');
  mkdirSync(src, { recursive: true });
  mkdirSync(dst);
  writeFileSync(join(dir, 'outside'), 'outside\n');
  writeTree(src, { ...TREE, ...probe.src });
  writeTree(dst, probe.dst ?? {});
  // The receiving side's copy is an hour newer, for --update.
  const later = new Date(Date.now() + 3600_000);
  for (const name of Object.keys(probe.dst ?? {})) utimesSync(join(dst, name), later, later);
  const rsh = join(dir, 'rsh');
  writeFileSync(rsh, FAKE_RSH, { mode: 0o700 });
  writeFileSync(join(dir, 'excludes'), '/a\n');
  writeFileSync(join(dir, 'excludes0'), '/a\0/line\nbreak\0');
}

function probeArgv(rsync: string, dir: string, probe: Probe): string[] {
  const src = join(dir, 'src');
  const dst = join(dir, 'dst');
  const rsh = join(dir, 'rsh');
  const options = probe.options.map((o) =>
    o.replace('EXCLUDES0', join(dir, 'excludes0')).replace('EXCLUDES', join(dir, 'excludes')),
  );
  const far = (d: string) => `--rsync-path=cd ${shQuote(d)} && ${shQuote(rsync)}`;
  return probe.direction === 'push'
    ? [rsync, '--recursive', '--links', '--times', ...options, '-e', rshArg(rsh), far(dst), `${src}/`, 'localhost:./']
    : [rsync, '--recursive', '--links', '--times', ...options, '-e', rshArg(rsh), far(src), 'localhost:./', `${dst}/`];
}

function writeTree(root: string, tree: Record<string, string>): void {
  for (const [name, content] of Object.entries(tree)) {
    if (content.startsWith('->')) symlinkSync(content.slice(2), join(root, name));
    else writeFileSync(join(root, name), content);
  }
}

function read(root: string, name: string): string | undefined {
  try {
    return readFileSync(join(root, name), 'utf8');
  } catch {
    return undefined;
  }
}

function linkOf(root: string, name: string): string | undefined {
  try {
    return lstatSync(join(root, name)).isSymbolicLink() ? readlinkSync(join(root, name)) : undefined;
  } catch {
    return undefined;
  }
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
