/**
 * Names the instance tells apart but this machine's file system does not (a Mac: `Data.csv` and
 * `data.csv`, or the NFC and NFD forms of `café`): brought home side by side they would
 * overwrite each other. Of each such group one comes home by the ordinary sync back; the others
 * are left out of it and brought into `.ssh-ec2/collisions/<stamp>/<n>/` instead, the n-th of a
 * group in the n-th directory (so they cannot meet there either), under their own names.
 *
 * Which one comes home: the one spelled exactly as the local file it would replace, when there
 * is one (a local file spelled otherwise is never written through another spelling: then all of
 * them go aside); otherwise the first in byte order. Directories whose names differ so are
 * merged, as the file system merges them; only what would replace something is set aside. A
 * local name that differs from the instance's only in normalisation is the same file (a Mac may
 * itself store a name decomposed): it is updated as usual, its previous version kept.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { nameKey, type NameFolding } from '../state/platform.js';
import { OWN_DIR, type Entry } from './ignore-rules.js';

export function collisionsDir(stamp: string, rank: number): string {
  return `${OWN_DIR}/collisions/${stamp}/${rank + 1}`;
}

/** A local directory's entries (name, and whether it is a directory); undefined if there is none. */
export type LocalDir = (relativeDir: string) => { name: string; isDir: boolean }[] | undefined;

export function readLocalDir(root: string): LocalDir {
  return (dir) => {
    try {
      return readdirSync(join(root, dir), { withFileTypes: true }).map((e) => ({
        name: e.name,
        isDir: e.isDirectory(),
      }));
    } catch {
      return undefined;
    }
  };
}

/**
 * The remote entries to set aside, by rank (rank n goes to `collisionsDir(stamp, n)`).
 * `listing` is the remote tree, parents before children; `excluded` what the sync back leaves
 * out anyway (with everything under it).
 */
export function planCollisions(
  listing: readonly Entry[],
  o: { folding: NameFolding; excluded: readonly Entry[]; local: LocalDir },
): Entry[][] {
  if (!o.folding.caseInsensitive && !o.folding.normalisationInsensitive) return [];
  const key = nameKey(o.folding);
  const pathKey = (path: string) => path.split('/').map(key).join('/');
  const out = new Set(o.excluded.map((e) => e.path));
  const groups = new Map<string, Entry[]>();
  for (const e of listing) {
    if (isUnder(e.path, out, true)) continue;
    const k = pathKey(e.path);
    groups.set(k, [...(groups.get(k) ?? []), e]);
  }
  const indexes = new Map<string, Map<string, { name: string; isDir: boolean }[]>>();
  const ranks: Entry[][] = [];
  const asideDirs = new Set<string>();
  // Shallow groups first: what lies under a directory set aside goes with it.
  const ordered = [...groups.values()]
    .filter((g) => g.length > 1 || localOther(g[0]!))
    .sort((a, b) => depth(a[0]!.path) - depth(b[0]!.path));
  for (const group of ordered) {
    // In byte order (the instance lists a directory in no particular order): the same tree
    // always gives the same result.
    const members = group
      .filter((e) => !isUnder(e.path, asideDirs, false))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    if (members.length === 0) continue;
    const local = localEntry(members[0]!.path);
    const winner = local ? members.find((m) => sameFile(last(m.path), local.name)) : members[0];
    const mergesWith = (m: Entry) => m.type === 'dir' && (winner ? winner.type === 'dir' : local?.isDir === true);
    members
      .filter((m) => m !== winner && !mergesWith(m))
      .forEach((m, rank) => {
        (ranks[rank] ??= []).push(m);
        if (m.type === 'dir') asideDirs.add(m.path);
      });
  }
  return ranks;

  /** A local directory's entries by key (built once per directory: a flat one may be huge). */
  function index(dir: string): Map<string, { name: string; isDir: boolean }[]> {
    let map = indexes.get(dir);
    if (!map) {
      map = new Map();
      for (const e of o.local(dir) ?? []) map.set(key(e.name), [...(map.get(key(e.name)) ?? []), e]);
      indexes.set(dir, map);
    }
    return map;
  }

  /** The local entry this remote path would land on, found by key component by component. */
  function localEntry(path: string): { name: string; isDir: boolean } | undefined {
    let dir = '';
    const parts = path.split('/');
    for (const [i, part] of parts.entries()) {
      const found = pick(dir, part, i < parts.length - 1);
      if (!found) return undefined;
      if (i === parts.length - 1) return found;
      dir = dir === '' ? found.name : `${dir}/${found.name}`;
    }
    return undefined;
  }

  function pick(dir: string, part: string, mustBeDir: boolean): { name: string; isDir: boolean } | undefined {
    const candidates = (index(dir).get(key(part)) ?? []).filter((e) => !mustBeDir || e.isDir);
    return candidates.find((e) => e.name === part) ?? candidates.find((e) => sameFile(e.name, part)) ?? candidates[0];
  }

  /** A lone remote entry whose local counterpart is spelled otherwise (beyond normalisation). */
  function localOther(e: Entry): boolean {
    const local = localEntry(e.path);
    return local !== undefined && !sameFile(local.name, last(e.path));
  }

  function sameFile(a: string, b: string): boolean {
    return o.folding.normalisationInsensitive ? a.normalize('NFC') === b.normalize('NFC') : a === b;
  }
}

/**
 * Excludes for bringing one rank into its side directory: everything the sync back leaves out,
 * and every entry beside the paths leading to the ones set aside (pruned as high as possible).
 */
export function sideExcludes(listing: readonly Entry[], aside: readonly Entry[], excluded: readonly Entry[]): Entry[] {
  const asidePaths = new Set(aside.map((e) => e.path));
  const leading = new Set<string>();
  for (const e of aside)
    for (let i = e.path.indexOf('/'); i !== -1; i = e.path.indexOf('/', i + 1)) leading.add(e.path.slice(0, i));
  const beside = listing.filter((e) => {
    if (asidePaths.has(e.path) || leading.has(e.path) || isUnder(e.path, asidePaths, false)) return false;
    const slash = e.path.lastIndexOf('/');
    return slash === -1 || leading.has(e.path.slice(0, slash));
  });
  return [...excluded, ...beside];
}

/** Is `path` (or, with `self`, the path itself) below one of `dirs`? */
function isUnder(path: string, dirs: ReadonlySet<string>, self: boolean): boolean {
  if (self && dirs.has(path)) return true;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) if (dirs.has(path.slice(0, i))) return true;
  return false;
}

const depth = (path: string) => path.split('/').length;
const last = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** The one line that says what was set aside and where. */
export function collisionsMessage(ranks: readonly Entry[][], stamp: string): string {
  const names = ranks.flatMap((entries, rank) =>
    entries.map((e) => `${rank + 1}/${e.path}${e.type === 'dir' ? '/' : ''}`),
  );
  const where = collisionsDir(stamp, 0).replace(/\/1$/, '/');
  return `${names.length} result(s) kept apart in ${where} (each name differs from another's only in case or Unicode normalisation, which this file system does not tell apart): ${names.join(', ')}`;
}
