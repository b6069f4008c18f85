/**
 * The rsync probe: each capability ssh-ec2 relies on (rsync-capabilities.ts) is a tiny transfer
 * between temporary directories, through a stand-in remote shell with the same program at the
 * far end, whose effect is checked. Versions are not trusted to tell (openrsync's options change
 * from release to release, and a rsync may be built without some). A probe that fails for a
 * reason of this machine's, not the rsync's, says so (environmental): that answer is not cached.
 */
import {
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { plainTempDir } from '../state/paths.js';
import { runAllowFailure } from './exec.js';
import { shQuote } from './remote-command.js';
import { rshArg, verboseNames } from './rsync.js';
import type { Capability, RsyncCapabilities } from './rsync-capabilities.js';

/** Bump when a probe changes: cached answers of older probes are then not used. */
export const PROBE_VERSION = 2;

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
export async function probeAll(
  path: string,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<{ caps: RsyncCapabilities; environmental: string[] }> {
  const v = await runAllowFailure([path, '--version'], { timeoutMs });
  // openrsync prints its version on stderr.
  const version = (
    `${v.stdout}\n${v.stderr}`.split('\n').find((l) => l.trim() !== '') ?? `exit status ${v.exitCode}`
  ).trim();
  // The probes' -e names a file in it: a TMPDIR holding a space would fail every probe of openrsync.
  const root = plainTempDir('ssh-ec2-rsync-probe-');
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
