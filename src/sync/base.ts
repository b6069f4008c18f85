/**
 * The common base of the three-way sync (issue #10): what each file was, on each side, the last
 * time both sides were known to hold the same version. Kept per instance in the project's own
 * directory, `.ssh-ec2/base/<instance-id>.json`: beside the project it describes (moved or copied
 * with it, gone with it), already outside both syncs, one small file per instance (a path and two
 * signatures, ~100 bytes a file), the few most recent kept (BASES_KEPT).
 *
 * A side's signature is its size and its mtime to the nanosecond as that side reports it (the
 * instance's file system and a Mac's keep nanoseconds; rsync carries whole seconds or
 * nanoseconds). A file edited within the same second as the base was taken, on a file system that
 * keeps whole seconds, could keep both: such a signature is "uncertain"; locally a hash decides
 * (cheap: only such recent files, only small ones), on the instance it counts as changed — unless
 * the instance's file system is probed to keep finer times (then only rsync set a whole second).
 */
import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { OWN_DIR } from './ignore-rules.js';

/** A side's view of one file: size and mtime ("seconds.nanoseconds"). */
export interface Sig {
  s: number;
  m: string;
}
/** A base entry: each side's signature when they last agreed (`l` absent: never agreed locally), and when. */
export interface BaseEntry {
  l?: Sig & { h?: string };
  r?: Sig;
  /** When it was recorded (seconds since the epoch): how near the mtimes lie to it says if they are certain. */
  t: number;
  /**
   * 'instance': made there (a result) and brought home, never sent from here: deleted here, it is
   * kept there — a sync up removes only what it sent.
   */
  o?: 'instance';
}
export type BaseFiles = Map<string, BaseEntry>;

const BASES_KEPT = 4;
/** Above this, an uncertain local file is not hashed (it counts as changed). */
const HASH_LIMIT = 16 * 1024 * 1024;

export function baseFile(localDir: string, instanceId: string): string {
  return join(localDir, OWN_DIR, 'base', `${instanceId.replace(/[^\w.-]/g, '_')}.json`);
}

/**
 * The ignored directories each sync last left out of the instance's listing: the next one lists
 * the instance with them while it walks here, and takes that listing only if they are all still
 * left out (listing fewer directories' content than it might is what MAX_PRUNE does too).
 */
export type Pruned = Partial<Record<'up' | 'back', string[]>>;
/** Besides the files: the listing's hint, and the rules files read when it was written (ignore-rules.ts Known). */
export interface Hints {
  pruned: Pruned;
  rules: ReadonlyMap<string, string | null>;
}
interface Stored extends Hints {
  files: BaseFiles;
}

/**
 * The base this process last read or wrote, and the file's identity then: the sync back reads
 * what the sync up just wrote (20,000 entries: tens of ms to parse) only if another process
 * replaced it since (a rename: a new inode).
 */
let last: (Stored & { file: string; id: string }) | undefined;

const identity = (file: string) => {
  const st = statSync(file, { bigint: true });
  return `${st.ino}:${st.size}:${st.mtimeNs}`;
};

function read(file: string): Stored {
  try {
    const id = identity(file);
    if (last?.file === file && last.id === id) return last;
    const data = JSON.parse(readFileSync(file, 'utf8')) as {
      files: Record<string, BaseEntry>;
      pruned?: Pruned;
      rules?: Record<string, string | null>;
    };
    const rules = new Map(Object.entries(data.rules ?? {}));
    last = { file, id, files: new Map(Object.entries(data.files)), pruned: data.pruned ?? {}, rules };
    return last;
  } catch {
    // none yet (a new instance): every file present on both sides and differing is changed on both
    return { files: new Map(), pruned: {}, rules: new Map() };
  }
}

/** The base (never modified by the caller: nextBase makes a new one). */
export function loadBase(localDir: string, instanceId: string): BaseFiles {
  return read(baseFile(localDir, instanceId)).files;
}

export function loadHints(localDir: string, instanceId: string): Hints {
  return read(baseFile(localDir, instanceId));
}

/**
 * Written whole then renamed; older bases beyond BASES_KEPT go (their instances are most likely
 * gone). Not written when it would judge every file as `was` does (a sync where nothing changed).
 */
export function saveBase(
  localDir: string,
  instanceId: string,
  files: BaseFiles,
  o: { was?: BaseFiles; pruned?: Pruned; rules: ReadonlyMap<string, string | null> },
): void {
  const file = baseFile(localDir, instanceId);
  const before = read(file);
  const pruned = { ...before.pruned, ...o.pruned };
  const same = JSON.stringify(pruned) === JSON.stringify(before.pruned) && sameTexts(before.rules, o.rules);
  if (o.was && same && sameJudgement(o.was, files)) {
    // Not rewritten, but used now: older bases are pruned by their files' times, and this one's
    // instance is the one in use.
    try {
      const now = new Date();
      utimesSync(file, now, now);
      if (last?.file === file) last.id = identity(file);
    } catch {
      // gone meanwhile: the next sync writes it
    }
    return;
  }
  const dir = join(file, '..');
  mkdirSync(dir, { recursive: true });
  const data = { version: 1, pruned, rules: Object.fromEntries(o.rules), files: Object.fromEntries(files) };
  writeFileSync(`${file}.${process.pid}`, JSON.stringify(data));
  renameSync(`${file}.${process.pid}`, file);
  last = { file, id: identity(file), files, pruned, rules: o.rules };
  const others = readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .map((n) => ({ n, t: statSync(join(dir, n)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const o of others.slice(BASES_KEPT)) rmSync(join(dir, o.n), { force: true });
}

/**
 * Would `was` judge every file as `now` does? The same files with the same signatures, and none
 * uncertain at `was`'s older time: `t` is read only through `uncertain`, which an older time makes
 * only more careful, so keeping `was` loses nothing.
 */
function sameJudgement(was: BaseFiles, now: BaseFiles): boolean {
  if (was.size !== now.size) return false;
  for (const [path, n] of now) {
    const e = was.get(path);
    if (!e || e.o !== n.o || !sameSig(e.l, n.l) || !sameSig(e.r, n.r) || e.l?.h !== n.l?.h) return false;
    if ((n.l && uncertain(n.l, e.t)) || (n.r && uncertain(n.r, e.t))) return false;
  }
  return true;
}

const sameTexts = (a: ReadonlyMap<string, string | null>, b: ReadonlyMap<string, string | null>) =>
  a.size === b.size && [...a].every(([dir, text]) => b.has(dir) && b.get(dir) === text);

const sameSig = (a: Sig | undefined, b: Sig | undefined) => a?.s === b?.s && a?.m === b?.m;

/** The local signature of a file (a link outside the project: of what it points to, as the sync up sends it). */
export function localSig(root: string, path: string, follow = false): Sig | undefined {
  try {
    const st = (follow ? statSync : lstatSync)(join(root, path), { bigint: true });
    const ns = st.mtimeNs;
    return { s: Number(st.size), m: `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}` };
  } catch {
    return undefined;
  }
}

/** `find -printf %T@` ("1732950000.1234567890") as a signature's mtime. */
export function findMtime(t: string): string {
  const [sec = '0', frac = ''] = t.split('.');
  return `${sec}.${frac.padEnd(9, '0').slice(0, 9)}`;
}

const seconds = (m: string) => Number(m.slice(0, m.indexOf('.')));

/** Both sides hold the same version as far as rsync can tell: same size, same whole second. */
export function agree(a: Sig, b: Sig): boolean {
  return a.s === b.s && seconds(a.m) === seconds(b.m);
}

/** A whole-second mtime as late as the base: a later edit in that second could have kept it. */
function uncertain(sig: Sig, t: number): boolean {
  return sig.m.endsWith('.000000000') && seconds(sig.m) >= t - 1;
}

export function fileHash(path: string): string | undefined {
  try {
    return createHash('sha1').update(readFileSync(path)).digest('hex');
  } catch {
    return undefined;
  }
}

/** Has the local file changed since the base? No base, or no way to be sure: changed. */
export function localChanged(root: string, path: string, now: Sig, e: BaseEntry | undefined): boolean {
  const was = e?.l;
  if (!was || was.s !== now.s || was.m !== now.m) return true;
  if (!uncertain(was, e.t)) return false;
  return was.h === undefined || fileHash(join(root, path)) !== was.h;
}

/**
 * Has the instance's file changed since the base? No base, or no way to be sure: changed. Where the
 * instance's file system keeps finer times (`fineTimes`, probed: remote-tree.ts), a whole-second
 * time was set there (by rsync), and an edit since would have left a fraction: it is sure.
 */
export function remoteChanged(now: Sig, e: BaseEntry | undefined, fineTimes = false): boolean {
  const was = e?.r;
  return !was || was.s !== now.s || was.m !== now.m || (!fineTimes && uncertain(was, e.t));
}

/** A local signature as the base keeps it: with a hash when it is uncertain and small enough. */
export function recordLocal(root: string, path: string, sig: Sig, t: number): Sig & { h?: string } {
  if (!uncertain(sig, t) || sig.s > HASH_LIMIT) return sig;
  const h = fileHash(join(root, path));
  return h === undefined ? sig : { ...sig, h };
}
