/**
 * Sync up: the project directory to the instance, minus what .rsyncignore ignores. Nothing is
 * ever deleted on the instance.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, SubprocessError, UserError } from '../errors.js';
import type { Connection } from '../remote/connection.js';
import { run } from '../remote/exec.js';
import { enterDir } from '../remote/remote-command.js';
import { pushArgv, transferredFiles } from '../remote/rsync.js';
import type { Logger } from '../ui/logger.js';
import { excludeList, walkLocal } from './ignore-rules.js';

export interface SyncParams {
  conn: Connection;
  localDir: string;
  remoteDir: string;
  /** Private scratch directory for the exclude list. */
  scratchDir: string;
  log: Logger;
}

export async function syncUp(p: SyncParams): Promise<{ files: number }> {
  const tree = walkLocal(p.localDir);
  const excludeFile = join(p.scratchDir, `push-${process.pid}.exclude`);
  writeFileSync(excludeFile, excludeList(tree.ignored), { mode: 0o600 });
  if (p.remoteDir.includes('/')) await p.conn.exec(enterDir(p.remoteDir)); // rsync creates only the last level
  try {
    const r = await run(pushArgv({ rsh: p.conn.rsh, remote: p.conn.remote, remoteDir: p.remoteDir, excludeFile, localDir: p.localDir }));
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
