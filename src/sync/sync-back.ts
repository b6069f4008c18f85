/**
 * Sync back: new and changed files from the instance, with the same ignore rules. Never deletes
 * a local file; a local file about to be replaced is kept under .ssh-ec2/backups/<stamp>/.
 * Remote symlinks pointing outside the project are not followed, and local symlinks pointing
 * outside it are never written through.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { enterDir, shQuote } from '../remote/remote-command.js';
import { SubprocessError } from '../errors.js';
import { run, runCrossed } from '../remote/exec.js';
import { backupDir, excludeFileText, pullArgv, serverPullArgv } from '../remote/rsync.js';
import { remoteArgv } from '../remote/ssh.js';
import { requireRsync } from '../remote/rsync-capabilities.js';
import { ignoredInListing, IgnoreRules, walkLocal, type Entry } from './ignore-rules.js';
import { listTransferred, rsyncFailed, writeRsh, type SyncParams } from './sync-up.js';

/** Beyond this many ignored directories the remote listing is not pruned (the command line stays short). */
const MAX_PRUNE = 500;

export interface SyncBackResult {
  /** Undefined when the local rsync cannot list what it transferred. */
  files: number | undefined;
  /** Local files whose previous version was kept, and where. */
  kept: number;
  backupDir: string;
}

export async function syncBack(p: SyncParams & { now?: Date }): Promise<SyncBackResult> {
  const caps = await requireRsync(p.rsync, ['back']);
  const rules = new IgnoreRules(p.localDir);
  const local = walkLocal(p.localDir, rules);
  const listing = await listRemote(p, local.ignored.filter((e) => e.type === 'dir'));
  const excluded: Entry[] = [
    ...local.ignored,
    ...ignoredInListing(listing, rules),
    ...local.outsideLinks.map((path) => ({ path, type: 'link' as const })),
  ];
  const excludeFile = join(p.scratchDir, `pull-${process.pid}.exclude`);
  const excludes = excludeFileText(excluded, caps);
  writeFileSync(excludeFile, excludes, { mode: 0o600 });
  const stamp = backupStamp(p.now ?? new Date());
  const failed = (err: unknown) => {
    if (!(err instanceof SubprocessError)) throw err;
    const why = rsyncFailed(err, 'back', caps);
    throw new SyncBackError(why.message, why.hint, { cause: err });
  };
  let files: number | undefined;
  if (caps.pull) {
    const r = await run(pullArgv({ rsh: writeRsh(p), remote: p.conn.remote, remoteDir: p.remoteDir, excludeFile, localDir: p.localDir, backupStamp: stamp }, caps)).catch(failed);
    files = listTransferred(r.stdout, caps, p.log, '↓');
  } else {
    // This rsync cannot receive as a client (openrsync): the instance's rsync sends to it as a server.
    p.log.detail(`this rsync (${caps.version}) receives as a server: the instance's rsync sends; the files are not listed`);
    const remoteExcludeFile = `.ssh-ec2/pull-${process.pid}.exclude`;
    await p.conn.exec(`umask 077 && mkdir -p .ssh-ec2 && cat > ${shQuote(remoteExcludeFile)}`, { input: excludes });
    const { local, remote } = serverPullArgv({ remoteDir: p.remoteDir, remoteExcludeFile, localDir: p.localDir, backupStamp: stamp }, caps);
    await runCrossed(local, remoteArgv(p.conn.target, remote)).catch(failed);
  }
  const dir = join(p.localDir, backupDir(stamp));
  return { files, kept: countFiles(dir), backupDir: dir };
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

/** The remote tree, parents before children, without descending into known-ignored directories. */
async function listRemote(p: SyncParams, prune: Entry[]): Promise<Entry[]> {
  const pruned = prune.length <= MAX_PRUNE ? prune : [];
  const pruneExpr = pruned.length === 0 ? '' : `\\( ${pruned.map((e) => `-path ${shQuote(`./${findEscape(e.path)}`)}`).join(' -o ')} \\) -prune -o `;
  const r = await p.conn.exec(`${enterDir(p.remoteDir)} && find . -mindepth 1 ${pruneExpr}-printf '%y %P\\0'`);
  const entries: Entry[] = [];
  for (const record of r.stdout.split('\0')) {
    if (record.length < 3) continue;
    const kind = record[0];
    entries.push({ path: record.slice(2), type: kind === 'd' ? 'dir' : kind === 'l' ? 'link' : 'file' });
  }
  return entries;
}

function findEscape(path: string): string {
  return path.replace(/[\\*?[]/g, '\\$&');
}

export function backupStamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
}

function countFiles(dir: string): number {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()).length;
  } catch {
    return 0;
  }
}
