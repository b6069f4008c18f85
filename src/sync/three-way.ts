/**
 * The three-way rules (issue #10): each file compared on both sides with the common base (base.ts),
 * so that neither sync undoes the other side's work.
 *
 * Sync back: changed only on the instance → brought home; changed only here → left alone; changed
 * on both → yours stays, the instance's is brought beside it (`name.ec2-<stamp>.ext`); created on
 * the instance → brought home; deleted here since the base → not brought back (unless the instance
 * changed it since: then nothing is lost); deleted on the instance → kept here; a directory there
 * where a file or link is here → the instance's directory brought beside it whole (nothing here is
 * ever replaced by a different kind: a file here where the instance has a directory is one of the
 * files changed on both sides). Only what the plan brings is ever written here (sync-back.ts).
 * Sync up: changed only here → sent; changed only on the instance (a result) → not overwritten;
 * changed on both → the instance's brought beside first, then yours sent; deleted here while the
 * instance still holds the copy it was sent → removed there. Nothing else is ever removed there. A
 * directory here where the instance has a file: that file is brought beside first; a file here
 * where the instance has a directory: not sent (said).
 * A state that cannot be told for sure counts as changed (base.ts).
 */
import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import {
  agree,
  localChanged,
  localSig,
  recordLocal,
  remoteChanged,
  type BaseEntry,
  type BaseFiles,
  type Sig,
} from './base.js';

/** Both sides and the base, for the files the sync compares (neither ignored nor ours). */
export interface Sides {
  root: string;
  local: Map<string, Sig>;
  remote: Map<string, Sig>;
  base: BaseFiles;
  /** The instance's directories (parents before children), for the sync back's kind check. */
  remoteDirs?: readonly string[];
  /** The instance's file system keeps times finer than the second (remote-tree.ts). */
  fineTimes?: boolean;
}

/** True if anything is at this local path (a file the walk did not compare: held back, folded): never replaced. */
function existsLocally(root: string, path: string): boolean {
  try {
    lstatSync(join(root, path));
    return true;
  } catch {
    return existsSync(join(root, path));
  }
}

/**
 * Which side changed a file present on both since the base. With no base (a first sync), two
 * versions that differ count as changed on both, and two that agree as rsync judges (size, second)
 * as the same. With a base, the base decides: a change within the second, same size, is still seen.
 */
function judge(x: Sides, path: string, l: Sig, r: Sig): 'none' | 'here' | 'there' | 'both' {
  const e = x.base.get(path);
  if (!e) return agree(l, r) ? 'none' : 'both';
  const lc = localChanged(x.root, path, l, e);
  const rc = remoteChanged(r, e, x.fineTimes);
  return lc ? (rc ? 'both' : 'here') : rc ? 'there' : 'none';
}

export interface BackPlan {
  /** Brought home (changed on the instance only, or created there). */
  bring: string[];
  /** Of those, the ones rsync would take for unchanged (same size, same second): it must be made to see them. */
  force: string[];
  /** Changed on both sides: the instance's version goes beside yours. */
  conflicts: string[];
  /** Directories on the instance where a file or link is here: the instance's goes beside it, whole. */
  dirConflicts: string[];
  /** The instance's files in those directories, whether brought beside or not: their side goes in the base. */
  clashed: string[];
  /** Directories on the instance with nothing here by that name (empty ones too): made here. */
  newDirs: string[];
  /** Deleted here, unchanged there: not brought back. */
  notResurrected: string[];
  /** Left out of the sync back (yours stays). */
  exclude: string[];
}

export function planBack(x: Sides): BackPlan {
  const plan: BackPlan = {
    bring: [],
    force: [],
    conflicts: [],
    dirConflicts: [],
    clashed: [],
    newDirs: [],
    notResurrected: [],
    exclude: [],
  };
  const clash = new Set<string>();
  for (const dir of [...(x.remoteDirs ?? [])].sort(byDepth)) {
    if (isUnder(dir, clash)) continue;
    const kind = localKind(x.root, dir);
    if (kind === undefined) plan.newDirs.push(dir);
    else if (kind !== 'dir') clash.add(dir); // rsync would replace the file or link here with the directory
  }
  for (const dir of clash) {
    const files = [...x.remote.keys()].filter((path) => path.startsWith(`${dir}/`));
    plan.clashed.push(...files);
    plan.exclude.push(dir);
    // Brought beside whole, unless nothing in it changed there since it last was.
    if (!files.every((path) => unchangedThere(x, path))) plan.dirConflicts.push(dir);
  }
  for (const [path, r] of x.remote) {
    if (isUnder(path, clash)) continue;
    const l = x.local.get(path);
    const e = x.base.get(path);
    if (!l) {
      // Something here the walk did not compare (a directory, a name this file system folds): never
      // replaced; the instance's version goes beside it, unless it did already and is unchanged since.
      if (existsLocally(x.root, path)) {
        if (!unchangedThere(x, path)) plan.conflicts.push(path);
        plan.exclude.push(path);
      } else if (e?.l && !remoteChanged(r, e, x.fineTimes)) {
        plan.notResurrected.push(path);
        plan.exclude.push(path);
      } else plan.bring.push(path);
      continue;
    }
    const changed = judge(x, path, l, r);
    if (changed === 'there') {
      plan.bring.push(path);
      if (agree(l, r)) plan.force.push(path);
      continue;
    }
    if (changed === 'both') plan.conflicts.push(path);
    if (changed !== 'none' || !agree(l, r)) plan.exclude.push(path);
  }
  return plan;
}

const unchangedThere = (x: Sides, path: string) => {
  const e = x.base.get(path);
  return e?.r !== undefined && !remoteChanged(x.remote.get(path)!, e, x.fineTimes);
};

/** What is here at this path: a directory (not a link to one), something else, or nothing. */
function localKind(root: string, path: string): 'dir' | 'other' | undefined {
  try {
    return lstatSync(join(root, path)).isDirectory() ? 'dir' : 'other';
  } catch {
    return undefined;
  }
}

const byDepth = (a: string, b: string) => a.split('/').length - b.split('/').length;

/** Is `path` strictly below one of `dirs`? */
function isUnder(path: string, dirs: ReadonlySet<string>): boolean {
  if (dirs.size === 0) return false;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) if (dirs.has(path.slice(0, i))) return true;
  return false;
}

export interface UpPlan {
  /** Changed on both sides: brought home beside yours, then yours is sent. */
  conflicts: string[];
  /** To send, but rsync would take them for unchanged (same size, same second): it must be made to see them. */
  force: string[];
  /** Changed on the instance only (a result): not overwritten. */
  exclude: string[];
  /** Deleted here, and the instance's copy is still the one it was sent: removed there. */
  remove: string[];
  /** A file or link here where the instance has a directory: not sent (rsync would have to delete it there). */
  notSent: string[];
}

export function planUp(x: Sides): UpPlan {
  const plan: UpPlan = { conflicts: [], force: [], exclude: [], remove: [], notSent: [] };
  const dirsThere = new Set(x.remoteDirs);
  for (const [path, l] of x.local) {
    if (dirsThere.has(path)) {
      plan.notSent.push(path);
      plan.exclude.push(path);
      continue;
    }
    const r = x.remote.get(path);
    if (!r) continue;
    const changed = judge(x, path, l, r);
    if (changed === 'both') plan.conflicts.push(path);
    if ((changed === 'here' || changed === 'both') && agree(l, r)) plan.force.push(path);
    if (changed === 'there' || (changed === 'none' && !agree(l, r))) plan.exclude.push(path);
  }
  for (const [path, r] of x.remote) {
    if (x.local.has(path)) continue;
    // A directory here where the instance has a file: sent, it replaces that file there; brought beside first.
    if (localKind(x.root, path) === 'dir') {
      if (!unchangedThere(x, path)) plan.conflicts.push(path);
      continue;
    }
    const e = x.base.get(path);
    if (e?.l && e.o !== 'instance' && !remoteChanged(r, e, x.fineTimes) && !existsLocally(x.root, path))
      plan.remove.push(path);
  }
  return plan;
}

/**
 * The base after a sync: a file the two sides now agree on is recorded as it is on each, unless
 * its change was held back on purpose (`held`: it would seem to agree only by rsync's coarse
 * measure); a file whose instance version was just brought beside yours (`resolved`) records the
 * instance's side only (yours stays changed, to be sent); a file deleted here and still there
 * keeps its entry (the next sync up removes it, unless it was made there: `brought`, marked
 * 'instance' until it is changed here and sent); the rest keep what they had, or nothing.
 */
export function nextBase(
  x: Sides,
  o: { resolved?: ReadonlySet<string>; held?: ReadonlySet<string>; brought?: ReadonlySet<string> } = {},
  now = Date.now(),
): BaseFiles {
  const t = Math.floor(now / 1000);
  const out: BaseFiles = new Map();
  for (const [path, r] of x.remote) {
    const l = x.local.get(path);
    const e = x.base.get(path);
    if (o.resolved?.has(path)) out.set(path, { ...(e?.l ? { l: e.l } : {}), r, t } satisfies BaseEntry);
    else if (l && o.held?.has(path)) {
      if (e) out.set(path, e);
    } else if (l && o.brought?.has(path) && !agree(l, r)) {
      // Brought, but changed there during the transfer (a log the command appends to): what came is
      // the instance's, unchanged here since; the listed side stays, so the next sync brings the rest.
      out.set(path, { l: recordLocal(x.root, path, l, t), r, t, o: 'instance' });
    } else if (l && agree(l, r)) {
      // Made on the instance: just brought home (`brought`), or brought earlier and not changed here since.
      const made = o.brought?.has(path) || (e?.o === 'instance' && e.l !== undefined && agree(e.l, l));
      out.set(path, { l: recordLocal(x.root, path, l, t), r, t, ...(made ? { o: 'instance' as const } : {}) });
    } else if (e) out.set(path, e);
  }
  return out;
}

/** Local signatures of these paths (a link to outside the project: of what it points to). */
export function localSigs(
  root: string,
  paths: Iterable<string>,
  followed: ReadonlySet<string> = new Set(),
): Map<string, Sig> {
  const out = new Map<string, Sig>();
  for (const path of paths) {
    const sig = localSig(root, path, followed.has(path));
    if (sig) out.set(path, sig);
  }
  return out;
}

/** `sigs` with these paths as `fresh` has them now (a path `fresh` lacks is gone): a copy. */
export function refreshed(sigs: Map<string, Sig>, fresh: Map<string, Sig>, paths: Iterable<string>): Map<string, Sig> {
  const out = new Map(sigs);
  for (const path of paths) {
    const sig = fresh.get(path);
    if (sig) out.set(path, sig);
    else out.delete(path);
  }
  return out;
}

/**
 * Where the instance's version of a file changed on both sides goes: `name.ec2-<stamp>.ext`, beside
 * it (`from`: s3 for pull --from-s3's).
 */
export function besideName(path: string, stamp: string, from = 'ec2'): string {
  const slash = path.lastIndexOf('/') + 1;
  const name = path.slice(slash);
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  return `${path.slice(0, slash)}${stem}.${from}-${stamp}${ext}`;
}

/** Each path with its name beside it (besideName), stamped with this time. */
export function besidePairs(paths: readonly string[], now: Date): [string, string][] {
  const stamp = backupStamp(now);
  return paths.map((path) => [path, besideName(path, stamp)]);
}

/** Names for one line: the first few, and how many more. */
export function nameList(names: readonly string[], shown = 10): string {
  const more = names.length > shown ? `, and ${names.length - shown} more` : '';
  return `${names.slice(0, shown).join(', ')}${more}`;
}

/** The one line naming the instance's versions of files changed on both sides. */
export function besideMessage(names: readonly string[]): string {
  return `changed both here and on the instance: yours kept, the instance's beside it: ${nameList(names)}`;
}

/** A stamp for names: `20261130-071900Z` (UTC, to the second). */
export function backupStamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .replace('T', '-');
}
