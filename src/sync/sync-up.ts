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
import {
  explainRsyncFailure,
  excludeFileText,
  pushArgv,
  rshScript,
  rsyncMessage,
  transferredFiles,
} from '../remote/rsync.js';
import { requireRsync, type RsyncCapabilities, type RsyncSource } from '../remote/rsync-capabilities.js';
import type { Logger } from '../ui/logger.js';
import { IgnoreRules, walkLocal } from './ignore-rules.js';
import { noticeHeldBack } from './secrets-notice.js';

export interface SyncParams {
  conn: Connection;
  localDir: string;
  remoteDir: string;
  /** Private scratch directory for the exclude list and the rsh wrapper. */
  scratchDir: string;
  /** Which local rsync, and where its probed capabilities are cached. */
  rsync: RsyncSource;
  log: Logger;
  /** An interrupt ends the transfer (the sync up only: the sync back is part of the finish). */
  signal?: AbortSignal;
  /** Where the secrets notice remembers what it said (secrets-notice.ts); said every time without. */
  heldBackNotice?: string;
}

export async function syncUp(p: SyncParams): Promise<{ files: number | undefined }> {
  const caps = await requireRsync(p.rsync, ['up']);
  p.log.detail(`local rsync: ${caps.path} (${caps.version})`);
  // pushArgv copies links to outside directories as their content: their files are judged too.
  const tree = walkLocal(p.localDir, new IgnoreRules(p.localDir, { holdSecrets: true }), { followUnsafeLinks: true });
  noticeHeldBack(tree.secrets, p.log, p.heldBackNotice);
  const excludeFile = join(p.scratchDir, `push-${process.pid}.exclude`);
  writeFileSync(excludeFile, excludeFileText([...tree.ignored, ...tree.secrets], caps), { mode: 0o600 });
  try {
    const r = await run(
      pushArgv(
        { rsh: writeRsh(p), remote: p.conn.remote, remoteDir: p.remoteDir, excludeFile, localDir: p.localDir },
        caps,
      ),
      { signal: p.signal },
    );
    return { files: listTransferred(r.stdout, caps, p.log, '↑') };
  } catch (err) {
    if (err instanceof SubprocessError) {
      const why = rsyncFailed(err, 'up', caps);
      throw new UserError(`sync up failed, nothing was run: ${why.message}`, ExitCode.syncUp, why.hint, { cause: err });
    }
    throw err;
  }
}

/** The rsh wrapper rsync runs instead of ssh, in the private scratch directory. */
export function writeRsh(p: SyncParams): string {
  const path = join(p.scratchDir, `rsh-${process.pid}.sh`);
  writeFileSync(path, rshScript(p.conn.rsyncSsh), { mode: 0o700 });
  return path;
}

/** Logs the names rsync reported; how many, or undefined when this rsync cannot list them. */
export function listTransferred(
  stdout: string,
  caps: RsyncCapabilities,
  log: Logger,
  arrow: string,
): number | undefined {
  const files = transferredFiles(stdout, caps);
  if (!files) log.detail(`this rsync (${caps.version}) cannot list the files it transfers`);
  for (const f of files ?? []) log.detail(`${arrow} ${f}`);
  return files?.length;
}

/** One line naming the real cause (never a guess at the disk), and what to do. */
export function rsyncFailed(
  err: SubprocessError,
  direction: 'up' | 'back',
  caps: RsyncCapabilities,
): { message: string; hint: string } {
  const why = explainRsyncFailure(err, direction, caps.path);
  return { message: `${why.cause} (${rsyncMessage(err.stderr) || err.message})`, hint: why.hint };
}
