/**
 * Sync back: what the instance changed or made, by the three-way rules (three-way.ts), with the
 * same ignore rules. Never deletes a local file, never replaces one changed here since the base:
 * changed on both sides, the instance's version is brought beside it. Remote symlinks pointing
 * outside the project are not followed, and local symlinks pointing outside it are never written
 * through. Names the local file system would take for one (a Mac's case- and
 * normalisation-insensitive APFS) are kept apart: see name-collisions.ts.
 */
import { lutimesSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SubprocessError } from '../errors.js';
import { requireRsync } from '../remote/rsync-capabilities.js';
import { localPlatform, type NameFolding, type Platform } from '../state/platform.js';
import { loadBase, saveBase } from './base.js';
import { ignoredInListing, IgnoreRules, OWN_DIR, walkLocal, type Entry } from './ignore-rules.js';
import { collisionsDir, collisionsMessage, planCollisions, readLocalDir, sideExcludes } from './name-collisions.js';
import { pullInto } from './pull.js';
import { copyOnInstance, listRemote } from './remote-tree.js';
import { rsyncFailed, type SyncParams } from './sync-up.js';
import {
  backupStamp,
  besideMessage,
  besideName,
  localSigs,
  nameList,
  nextBase,
  outside,
  planBack,
} from './three-way.js';

export interface SyncBackResult {
  /** Undefined when the local rsync cannot list what it transferred. */
  files: number | undefined;
  /** Brought home: changed or made on the instance only. */
  brought: string[];
  /** The instance's versions of files changed on both sides, written beside yours. */
  beside: string[];
}

export async function syncBack(p: SyncParams & { now?: Date; platform?: Platform }): Promise<SyncBackResult> {
  const caps = await requireRsync(p.rsync, ['back']);
  const rules = new IgnoreRules(p.localDir);
  const local = walkLocal(p.localDir, rules);
  const remote = await listRemote(
    p,
    local.ignored.filter((e) => e.type === 'dir'),
  );
  const listing = remote.entries;
  const excluded: Entry[] = [
    ...local.ignored,
    ...ignoredInListing(listing, rules),
    ...local.outsideLinks.map((path) => ({ path, type: 'link' as const })),
  ];
  const stamp = backupStamp(p.now ?? new Date());
  const failed = (err: unknown): never => {
    if (!(err instanceof SubprocessError)) throw err;
    const why = rsyncFailed(err, 'back', caps);
    throw new SyncBackError(why.message, why.hint, { cause: err });
  };
  const aside = setAside(p, listing, excluded);
  const compared = outside(remote.sigs, [...excluded, ...aside.flat()]);
  const sides = {
    root: p.localDir,
    local: localSigs(p.localDir, local.files),
    remote: compared,
    base: loadBase(p.localDir, p.instanceId),
    fineTimes: remote.fineTimes,
  };
  const plan = planBack(sides);
  const beside = plan.conflicts.map((path): [string, string] => [path, besideName(path, stamp)]);
  await copyOnInstance(p, beside).catch(failed);
  // Now on the instance too: the pulls into the collision directories must leave them out.
  listing.push(...beside.map(([, path]) => ({ path, type: 'file' as const })));
  // rsync would take these for unchanged (same size and second as here): a local time it cannot match.
  for (const path of plan.force) lutimesSync(join(p.localDir, path), new Date(), new Date(0));
  const skip = plan.exclude.map((path) => ({ path, type: 'file' as const }));
  let files = await pullInto(p, caps, {
    localDir: p.localDir,
    exclude: [...excluded, ...aside.flat(), ...skip],
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
  // The copies beside were made with mode and mtime kept: the instance's side of each is its original's.
  for (const [path, name] of beside) compared.set(name, compared.get(path)!);
  const now = { ...sides, local: localSigs(p.localDir, compared.keys()) };
  saveBase(
    p.localDir,
    p.instanceId,
    nextBase(now, { resolved: new Set(plan.conflicts), held: new Set(plan.exclude), brought: new Set(plan.bring) }),
  );
  if (plan.bring.length > 0) p.log.info(`brought back: ${nameList(plan.bring)}`);
  if (beside.length > 0) p.log.warn(besideMessage(beside.map(([, name]) => name)));
  if (plan.notResurrected.length > 0) p.log.detail(`deleted here, not brought back: ${nameList(plan.notResurrected)}`);
  return { files, brought: plan.bring, beside: beside.map(([, name]) => name) };
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
