/**
 * Sync back: new and changed files from the instance, with the same ignore rules. Never deletes
 * a local file; a local file about to be replaced is kept under .ssh-ec2/backups/<stamp>/.
 * Remote symlinks pointing outside the project are not followed, and local symlinks pointing
 * outside it are never written through. Names the local file system would take for one (a Mac's
 * case- and normalisation-insensitive APFS) are kept apart: see name-collisions.ts.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { enterDir, shQuote } from '../remote/remote-command.js';
import { SubprocessError } from '../errors.js';
import { run, runCrossed } from '../remote/exec.js';
import { backupDir, excludeFileText, pullArgv, serverPullArgv } from '../remote/rsync.js';
import { remoteArgv } from '../remote/ssh.js';
import { requireRsync } from '../remote/rsync-capabilities.js';
import { localPlatform, type NameFolding, type Platform } from '../state/platform.js';
import { ignoredInListing, IgnoreRules, OWN_DIR, walkLocal, type Entry } from './ignore-rules.js';
import { collisionsDir, collisionsMessage, planCollisions, readLocalDir, sideExcludes } from './name-collisions.js';
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

export async function syncBack(p: SyncParams & { now?: Date; platform?: Platform }): Promise<SyncBackResult> {
  const caps = await requireRsync(p.rsync, ['back']);
  const rules = new IgnoreRules(p.localDir);
  const local = walkLocal(p.localDir, rules);
  const listing = await listRemote(
    p,
    local.ignored.filter((e) => e.type === 'dir'),
  );
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
  /** One rsync from the instance into `localDir`, minus `exclude`: how many files it brought, when this rsync can tell. */
  const pull = async (localDir: string, exclude: Entry[], name: string, arrow: string): Promise<number | undefined> => {
    const excludes = excludeFileText(exclude, caps);
    if (caps.pull) {
      const excludeFile = join(p.scratchDir, `pull-${process.pid}${name}.exclude`);
      writeFileSync(excludeFile, excludes, { mode: 0o600 });
      const r = await run(
        pullArgv(
          {
            rsh: writeRsh(p),
            remote: p.conn.remote,
            remoteDir: p.remoteDir,
            excludeFile,
            localDir,
            backupStamp: stamp,
          },
          caps,
        ),
      ).catch(failed);
      return listTransferred(r.stdout, caps, p.log, arrow);
    }
    // This rsync cannot receive as a client (openrsync): the instance's rsync sends to it as a server.
    p.log.detail(
      `this rsync (${caps.version}) receives as a server: the instance's rsync sends; the files are not listed`,
    );
    const remoteExcludeFile = `.ssh-ec2/pull-${process.pid}${name}.exclude`;
    await p.conn.exec(`umask 077 && mkdir -p .ssh-ec2 && cat > ${shQuote(remoteExcludeFile)}`, { input: excludes });
    const { local, remote } = serverPullArgv(
      { remoteDir: p.remoteDir, remoteExcludeFile, localDir, backupStamp: stamp },
      caps,
    );
    await runCrossed(local, remoteArgv(p.conn.target, remote)).catch(failed);
    return undefined;
  };
  const aside = setAside(p, listing, excluded);
  let files = await pull(p.localDir, [...excluded, ...aside.flat()], '', '↓');
  for (const [rank, entries] of aside.entries()) {
    const side = collisionsDir(stamp, rank);
    mkdirSync(join(p.localDir, side), { recursive: true }); // rsync makes only the last level
    const got = await pull(
      join(p.localDir, side),
      sideExcludes(listing, entries, excluded),
      `-aside${rank}`,
      `↓ ${side}:`,
    );
    files = files === undefined || got === undefined ? undefined : files + got;
  }
  if (aside.length > 0) p.log.warn(collisionsMessage(aside, stamp));
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

/** The remote tree, parents before children, without descending into known-ignored directories. */
async function listRemote(p: SyncParams, prune: Entry[]): Promise<Entry[]> {
  const pruned = prune.length <= MAX_PRUNE ? prune : [];
  const pruneExpr =
    pruned.length === 0
      ? ''
      : `\\( ${pruned.map((e) => `-path ${shQuote(`./${findEscape(e.path)}`)}`).join(' -o ')} \\) -prune -o `;
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
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .replace('T', '-');
}

/**
 * Files (and links) below `dir`, links never followed. Not readdir's `recursive`: from Node 22 on
 * it descends into linked directories, so a kept link to a directory would count what it points at.
 */
function countFiles(dir: string): number {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  return entries.reduce((n, e) => n + (e.isDirectory() ? countFiles(join(dir, e.name)) : 1), 0);
}
