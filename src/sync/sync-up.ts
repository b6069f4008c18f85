/**
 * Sync up: the project directory to the instance, minus what .rsyncignore ignores and minus
 * files that look like secrets (unless .rsyncignore re-includes them). Nothing is ever deleted
 * on the instance.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, SubprocessError, UserError } from '../errors.js';
import type { Connection } from '../remote/connection.js';
import { run } from '../remote/exec.js';
import { enterDir } from '../remote/remote-command.js';
import { pushArgv, transferredFiles } from '../remote/rsync.js';
import type { Logger } from '../ui/logger.js';
import { excludeList, IgnoreRules, walkLocal, type Entry } from './ignore-rules.js';

export interface SyncParams {
  conn: Connection;
  localDir: string;
  remoteDir: string;
  /** Private scratch directory for the exclude list. */
  scratchDir: string;
  log: Logger;
  /** An interrupt ends the transfer (the sync up only: the sync back is part of the finish). */
  signal?: AbortSignal;
}

export async function syncUp(p: SyncParams): Promise<{ files: number }> {
  // pushArgv copies links to outside directories as their content: their files are judged too.
  const tree = walkLocal(p.localDir, new IgnoreRules(p.localDir, { holdSecrets: true }), { followUnsafeLinks: true });
  if (tree.secrets.length > 0) p.log.warn(heldBackMessage(tree.secrets));
  const excludeFile = join(p.scratchDir, `push-${process.pid}.exclude`);
  writeFileSync(excludeFile, excludeList([...tree.ignored, ...tree.secrets]), { mode: 0o600 });
  if (p.remoteDir.includes('/')) await p.conn.exec(enterDir(p.remoteDir)); // rsync creates only the last level
  try {
    const r = await run(pushArgv({ rsh: p.conn.rsh, remote: p.conn.remote, remoteDir: p.remoteDir, excludeFile, localDir: p.localDir }), { signal: p.signal });
    const files = transferredFiles(r.stdout);
    for (const f of files) p.log.detail(`↑ ${f}`);
    return { files: files.length };
  } catch (err) {
    if (err instanceof SubprocessError) {
      throw new UserError(`sync up failed, nothing was run: ${err.message}`, ExitCode.syncUp, 'Check the disk space on the instance and the files rsync names above; --no-rsync skips the sync.', { cause: err });
    }
    throw err;
  }
}

/** One line: how many, the first few names, and how to send one anyway. */
export function heldBackMessage(secrets: readonly Entry[], shown = 3): string {
  const names = secrets.slice(0, shown).map((e) => (e.type === 'dir' ? `${e.path}/` : e.path));
  const more = secrets.length > shown ? `, and ${secrets.length - shown} more` : '';
  const example = secrets[0]!.type === 'dir' ? `${secrets[0]!.path}/` : secrets[0]!.path;
  return `held back ${secrets.length} file(s) that may hold secrets, not sent: ${names.join(', ')}${more} (to send one, add \`!${example}\` to .rsyncignore)`;
}
