/**
 * Sync back: what the instance changed or made, by the three-way rules (three-way.ts), with the
 * same ignore rules. Never deletes a local file, never replaces one changed here since the base:
 * changed on both sides, the instance's version is brought beside it, as is a directory there where
 * a file or link is here. Its rsync is handed only what the plan brings (an include-only filter), so
 * a file saved here during the transfer that the plan left alone is never touched. Remote symlinks pointing
 * outside the project are not followed, and local symlinks pointing outside it are never written
 * through. Names the local file system would take for one (a Mac's case- and
 * normalisation-insensitive APFS) are kept apart: see name-collisions.ts.
 */
import { lutimesSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SubprocessError } from '../errors.js';
import { requireRsync } from '../remote/rsync-capabilities.js';
import { localPlatform, type NameFolding, type Platform } from '../state/platform.js';
import { withGitLeftOut } from './git-base.js';
import { loadBase, loadHints, saveBase, type Sig } from './base.js';
import { ignoredInListing, IgnoreRules, OWN_DIR, walkLocal, type Entry } from './ignore-rules.js';
import { collisionsDir, collisionsMessage, planCollisions, readLocalDir, sideExcludes } from './name-collisions.js';
import { planned, pullInto } from './pull.js';
import { copyOnInstance, remoteSide, startListing } from './remote-tree.js';
import { rsyncFailed, type SyncParams } from './sync-up.js';
import {
  backupStamp,
  besideMessage,
  besidePairs,
  localSigs,
  nameList,
  nextBase,
  planBack,
  refreshed,
} from './three-way.js';

/**
 * Above this many paths to bring (a first sync back of thousands of results), rsync is told what
 * to leave out instead of what to bring: its filter rules are tried one by one for each file, so
 * the include-only form costs planned × visited (measured: 10,000 paths 0.3 s of CPU on each side,
 * 20,000 paths 1.2 s), while the exclude form costs what is left out.
 */
export const INCLUDE_LIMIT = 10_000;

export interface SyncBackResult {
  /** Undefined when the local rsync cannot list what it transferred. */
  files: number | undefined;
  /** Brought home: changed or made on the instance only. */
  brought: string[];
  /** The instance's versions of files changed on both sides, written beside yours. */
  beside: string[];
}

/**
 * `midRun`: a pull while the command runs (sync-every.ts), where files come and go as the command works.
 * `includeLimit`: INCLUDE_LIMIT, lower in a test of the exclude form.
 */
export async function syncBack(
  p: SyncParams & { now?: Date; platform?: Platform; midRun?: boolean; includeLimit?: number },
): Promise<SyncBackResult> {
  p = withGitLeftOut(p); // an instance's own clone (git-base.ts)
  const limit = p.includeLimit ?? INCLUDE_LIMIT;
  const caps = await requireRsync(p.rsync, ['back']);
  const base = loadBase(p.localDir, p.instanceId);
  const hints = loadHints(p.localDir, p.instanceId);
  const list = startListing(p, hints.pruned.back);
  const rules = new IgnoreRules(p.localDir, { known: { kept: base, texts: hints.rules }, mounts: p.mounts });
  const local = walkLocal(p.localDir, rules);
  const prune = local.ignored.filter((e) => e.type === 'dir');
  const remote = await list(prune);
  const listing = remote.entries;
  const excluded: Entry[] = [
    ...local.ignored,
    ...ignoredInListing(listing, rules),
    ...local.outsideLinks.map((path) => ({ path, type: 'link' as const })),
  ];
  const now = p.now ?? new Date();
  const stamp = backupStamp(now);
  const failed = (err: unknown): never => {
    if (!(err instanceof SubprocessError)) throw err;
    const why = rsyncFailed(err, 'back', caps);
    throw new SyncBackError(why.message, why.hint, { cause: err });
  };
  const aside = setAside(p, listing, excluded);
  const leftOut = [...excluded, ...aside.flat()];
  const { remote: compared, remoteDirs } = remoteSide(remote, leftOut);
  const sides = {
    root: p.localDir,
    local: localSigs(p.localDir, local.files),
    remote: compared,
    remoteDirs,
    base,
    fineTimes: remote.fineTimes,
  };
  const plan = planBack(sides);
  const beside = besidePairs(plan.conflicts, now);
  const besideDirs = besidePairs(plan.dirConflicts, now);
  await copyOnInstance(p, beside).catch(failed);
  await copyOnInstance(p, besideDirs, true).catch(failed);
  // The copies beside were made with mode and mtime kept: the instance's side of each is its original's.
  const copied = copiesBeside(beside, besideDirs, listing, compared, new Set(sides.remoteDirs));
  // Now on the instance too: the pulls into the collision directories must leave them out.
  listing.push(...copied);
  // rsync would take these for unchanged (same size and second as here): a local time it cannot match.
  for (const path of plan.force) lutimesSync(join(p.localDir, path), new Date(), new Date(0));
  const wanted = [...plan.bring, ...copied.filter((e) => e.type !== 'dir').map((e) => e.path)];
  const only = planned(wanted, [...plan.newDirs, ...copied.filter((e) => e.type === 'dir').map((e) => e.path)]);
  if (only.length > limit)
    p.log.detail(`sync back: ${only.length} paths to bring, over ${limit}: rsync is told what to leave out`);
  const before = localSigs(p.localDir, wanted);
  const skip = plan.exclude.map((path) => ({ path, type: 'file' as const }));
  // Nothing to bring: no rsync at all.
  let files =
    only.length === 0
      ? 0
      : await pullInto(p, caps, {
          localDir: p.localDir,
          exclude: [...leftOut, ...skip],
          only: only.length <= limit ? only : undefined,
          name: '',
          arrow: '↓',
        }).catch(failed);
  for (const [rank, entries] of aside.entries()) {
    const side = collisionsDir(stamp, rank);
    mkdirSync(join(p.localDir, side), { recursive: true }); // rsync makes only the last level
    const got = await pullInto(p, caps, {
      localDir: join(p.localDir, side),
      exclude: sideExcludes(listing, entries, excluded),
      name: `-aside${rank}`,
      arrow: `↓ ${side}:`,
    }).catch(failed);
    files = files === undefined || got === undefined ? undefined : files + got;
  }
  if (aside.length > 0) p.log.warn(collisionsMessage(aside, stamp));
  // The base's files were all judged not ignored by these rules (ignore-rules.ts Known), but for
  // the copies beside, named here: judged now, and if one is ignored, none is taken as known.
  const judged = copied.some((e) => rules.ignored(e.path, e.type)) ? new Map() : rules.rulesRead();
  const after = {
    ...sides,
    local: localAfter(p.localDir, sides.local, compared, only.length <= limit && wanted),
  };
  saveBase(
    p.localDir,
    p.instanceId,
    nextBase(after, {
      resolved: new Set([...plan.conflicts, ...plan.clashed]),
      held: new Set(plan.exclude),
      brought: new Set(plan.bring),
    }),
    { was: base, pruned: { back: prune.map((e) => e.path) }, rules: judged },
  );
  // What the plan brought must have arrived (here now, and not as it was before): one the instance
  // removed meanwhile is said, not dropped. A link is not checked: one pointing outside is never made here.
  const links = new Set(listing.flatMap((e) => (e.type === 'link' ? [e.path] : [])));
  const arrived = (path: string) => {
    const [was, is] = [before.get(path), after.local.get(path)];
    return links.has(path) || (is !== undefined && (was === undefined || was.s !== is.s || was.m !== is.m));
  };
  const missing = wanted.filter((path) => !arrived(path));
  const brought = plan.bring.filter(arrived);
  const besideNames = [...beside.map(([, name]) => name), ...besideDirs.map(([, name]) => `${name}/`)];
  if (brought.length > 0) p.log.info(`brought back: ${nameList(brought)}`);
  if (besideNames.length > 0) p.log.warn(besideMessage(besideNames));
  if (missing.length > 0) {
    const said = `listed on the instance but not brought back (changed there during the sync?): ${nameList(missing)}`;
    // While the command runs, a file gone between the listing and the transfer is its temporary one.
    if (p.midRun) p.log.detail(said);
    else p.log.warn(said);
  }
  if (plan.notResurrected.length > 0) p.log.detail(`deleted here, not brought back: ${nameList(plan.notResurrected)}`);
  return { files, brought, beside: besideNames };
}

/**
 * The local side after the pull. Handed an include-only filter, rsync wrote nothing but `wanted`:
 * only those are stat'ed again, the rest is as the walk found it (an edit here since then is seen
 * by the next sync, as one made after it). Otherwise every compared file is.
 */
function localAfter(
  root: string,
  walked: Map<string, Sig>,
  compared: Map<string, Sig>,
  wanted: readonly string[] | false,
): Map<string, Sig> {
  if (!wanted) return localSigs(root, compared.keys());
  return refreshed(walked, localSigs(root, wanted), wanted);
}

/**
 * The copies beside made on the instance, as entries (a directory's content too, parents first);
 * each copied file's signature recorded as its original's.
 */
function copiesBeside(
  files: [string, string][],
  dirs: [string, string][],
  listing: readonly Entry[],
  sigs: Map<string, Sig>,
  dirsCompared: ReadonlySet<string>,
): Entry[] {
  const out: Entry[] = [];
  for (const [path, name] of files) {
    out.push({ path: name, type: 'file' });
    sigs.set(name, sigs.get(path)!);
  }
  for (const [dir, name] of dirs) {
    out.push({ path: name, type: 'dir' });
    for (const e of listing) {
      // What the sync leaves out (ignored, ours) is copied there too, but stays there.
      if (!e.path.startsWith(`${dir}/`) || !(e.type === 'dir' ? dirsCompared : sigs).has(e.path)) continue;
      const copy = `${name}${e.path.slice(dir.length)}`;
      out.push({ path: copy, type: e.type });
      const sig = sigs.get(e.path);
      if (sig) sigs.set(copy, sig);
    }
  }
  return out;
}

/** The sync back failed: the finish says why (the hint) and keeps the instance; not an exit status of its own. */
export class SyncBackError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SyncBackError';
  }
}

/**
 * Remote names this file system would take for one (a Mac's): all but one set aside (see
 * name-collisions.ts). The file system is asked, in .ssh-ec2/; if it cannot be, it is taken
 * to fold names (setting aside what needs no setting aside loses nothing).
 */
function setAside(p: SyncParams & { platform?: Platform }, listing: Entry[], excluded: Entry[]): Entry[][] {
  let folding: NameFolding = { caseInsensitive: true, normalisationInsensitive: true };
  try {
    folding = (p.platform ?? localPlatform).nameFolding(join(p.localDir, OWN_DIR));
  } catch {
    // keep the careful answer
  }
  return planCollisions(listing, { folding, excluded, local: readLocalDir(p.localDir) });
}

export { backupStamp } from './three-way.js';
