/**
 * What a sync up would send, from the local side alone (a dry run: no instance is asked). The walk
 * and the rules are the sync up's own (ignore-rules.ts, secrets held back); without the instance's
 * side, every file kept is counted: the three-way rules (three-way.ts) may send fewer.
 */
import { lstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IgnoreRules, walkLocal, type Entry } from './ignore-rules.js';

export interface SyncPreview {
  /** Files and links that would go up. */
  files: number;
  bytes: number;
  /** Left out by .rsyncignore (and ssh-ec2's own), topmost paths only. */
  ignored: Entry[];
  /** Held back as secrets (secrets-notice.ts says how to send one). */
  secrets: Entry[];
}

export function previewSyncUp(localDir: string): SyncPreview {
  const rules = new IgnoreRules(localDir, { holdSecrets: true });
  const tree = walkLocal(localDir, rules, { followUnsafeLinks: true });
  const outside = new Set(tree.outsideLinks);
  let bytes = 0;
  for (const path of tree.files) {
    try {
      // A link to outside the project goes up as its content (--copy-unsafe-links), one inside as a link.
      bytes += (outside.has(path) ? statSync : lstatSync)(join(localDir, path)).size;
    } catch {
      // Gone since the walk, or a dangling link: rsync would say so; nothing to count.
    }
  }
  return { files: tree.files.length, bytes, ignored: tree.ignored, secrets: tree.secrets };
}
