/**
 * The sync's side of a run from git (issue #14, session/git-checkout.ts): the instance's project
 * directory is a checkout, not a copy sent from here.
 *
 * Its `.git/` is the instance's own clone: never brought home (its objects, index and refs would
 * land in yours, or beside them), never overwritten by yours. An instance that had a checkout is
 * remembered here, beside the base (`.ssh-ec2/git/<instance-id>`), so a later `--attach`, `pull` or
 * plain run leaves its `.git/` out too.
 *
 * The checkout is the base of the three-way rules: each checked-out file the same here (the same
 * blob, hashed here at checkout time) is recorded as agreeing on both sides, so the sync back brings only
 * what the command made or changed; one that differs here is recorded on the instance's side
 * only (changed here: yours stays); one absent here as deleted here (never brought home) yet made
 * there (never removed there by a later sync up).
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadBase, localSig, recordLocal, saveBase, type BaseEntry, type Sig } from './base.js';
import { OWN_DIR } from './ignore-rules.js';

export const GIT_DIR = '.git';

const marker = (localDir: string, instanceId: string) =>
  join(localDir, OWN_DIR, 'git', instanceId.replace(/[^\w.-]/g, '_'));

export function markGitCheckout(localDir: string, instanceId: string): void {
  mkdirSync(join(marker(localDir, instanceId), '..'), { recursive: true });
  writeFileSync(marker(localDir, instanceId), '');
}

/** The paths both syncs leave out for this instance: its mounts, and its own `.git/` once it had a checkout. */
export function withGitLeftOut<T extends { localDir: string; instanceId: string; mounts?: readonly string[] }>(
  p: T,
): T {
  if (!existsSync(marker(p.localDir, p.instanceId))) return p;
  return { ...p, mounts: [...(p.mounts ?? []), GIT_DIR] };
}

/** A checked-out file as the instance reports it: its blob id (git ls-files -s) and signature there. */
export interface CheckedOut {
  path: string;
  blob: string;
  sig: Sig;
}

/** git's id of a blob: what a file here would be if it were added (a link: its target). */
export function blobId(root: string, path: string): string | undefined {
  try {
    const full = join(root, path);
    const content = lstatSync(full).isSymbolicLink() ? Buffer.from(readlinkSync(full)) : readFileSync(full);
    return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
  } catch {
    return undefined;
  }
}

/**
 * The base after a checkout: the instance's earlier base, with each checked-out file recorded as
 * above. Each local file of the same size is hashed, even with --git on a tree found clean: that
 * check was made before the launch, and a file edited since must stay yours (never "agreeing").
 */
export function checkoutBase(
  localDir: string,
  instanceId: string,
  files: readonly CheckedOut[],
  o: { now?: number } = {},
): Map<string, BaseEntry> {
  const t = Math.floor((o.now ?? Date.now()) / 1000);
  const out = new Map(loadBase(localDir, instanceId));
  for (const f of files) {
    const l = localSig(localDir, f.path);
    // Absent here: as deleted here, and as made there (a later sync up never removes it there).
    if (!l) out.set(f.path, { l: f.sig, r: f.sig, t, o: 'instance' });
    else if (l.s === f.sig.s && blobId(localDir, f.path) === f.blob)
      out.set(f.path, { l: recordLocal(localDir, f.path, l, t), r: f.sig, t });
    else out.set(f.path, { r: f.sig, t });
  }
  return out;
}

export function saveCheckoutBase(localDir: string, instanceId: string, files: readonly CheckedOut[]): void {
  saveBase(localDir, instanceId, checkoutBase(localDir, instanceId, files), { rules: new Map() });
}
