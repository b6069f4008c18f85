/**
 * Sync up: the project directory to the instance, minus what .rsyncignore ignores and minus
 * files that look like secrets (unless .rsyncignore re-includes them), by the three-way rules
 * (three-way.ts): a result the instance changed since the base is never overwritten (changed here
 * too: it is first brought home beside yours); a file deleted here is removed there only while the
 * instance's copy is still the one it was sent. Nothing else is ever deleted on the instance.
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
import { loadBase, saveBase } from './base.js';
import { ignoredInListing, IgnoreRules, walkLocal } from './ignore-rules.js';
import { sideExcludes } from './name-collisions.js';
import { pullInto } from './pull.js';
import { copyOnInstance, listRemote, remoteSide, removeOnInstance, touchOnInstance } from './remote-tree.js';
import { noticeHeldBack } from './secrets-notice.js';
import { besideMessage, besidePairs, localSigs, nameList, nextBase, planUp } from './three-way.js';

export interface SyncParams {
  conn: Connection;
  localDir: string;
  remoteDir: string;
  /** Whose base the three-way rules read and write (base.ts). */
  instanceId: string;
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

export async function syncUp(p: SyncParams & { now?: Date }): Promise<{ files: number | undefined }> {
  const caps = await requireRsync(p.rsync, ['up']);
  p.log.detail(`local rsync: ${caps.path} (${caps.version})`);
  // pushArgv copies links to outside directories as their content: their files are judged too.
  const rules = new IgnoreRules(p.localDir, { holdSecrets: true });
  const tree = walkLocal(p.localDir, rules, { followUnsafeLinks: true });
  noticeHeldBack(tree.secrets, p.log, p.heldBackNotice);
  const outsideLinks = new Set(tree.outsideLinks);
  try {
    const prune = [...tree.ignored, ...tree.secrets].filter((e) => e.type === 'dir');
    const listed = await listRemote(p, prune);
    const leftOut = [...tree.ignored, ...tree.secrets, ...ignoredInListing(listed.entries, rules)];
    const sides = {
      root: p.localDir,
      local: localSigs(p.localDir, tree.files, outsideLinks),
      ...remoteSide(listed, leftOut),
      base: loadBase(p.localDir, p.instanceId),
      fineTimes: listed.fineTimes,
    };
    const plan = planUp(sides);
    if (plan.notSent.length > 0)
      p.log.warn(
        `a directory on the instance where a file is here: not sent, the instance keeps its own: ${nameList(plan.notSent)}`,
      );
    if (plan.conflicts.length > 0) {
      const beside = besidePairs(plan.conflicts, p.now ?? new Date());
      await copyOnInstance(p, beside);
      const names = beside.map(([, name]) => ({ path: name, type: 'file' as const }));
      const back = await requireRsync(p.rsync, ['back']);
      await pullInto(p, back, {
        localDir: p.localDir,
        exclude: sideExcludes([...listed.entries, ...names], names, []),
        name: '-beside',
        arrow: '↓',
      });
      p.log.warn(besideMessage(names.map((e) => e.path)));
    }
    // rsync would take these for unchanged (same size and second as here): a time there it cannot match.
    await touchOnInstance(p, plan.force);
    if (plan.remove.length > 0) {
      await removeOnInstance(p, plan.remove);
      p.log.info(`removed from the instance (deleted here): ${nameList(plan.remove)}`);
    }
    const excludeFile = join(p.scratchDir, `push-${process.pid}.exclude`);
    const results = plan.exclude.map((path) => ({ path, type: 'file' as const }));
    writeFileSync(excludeFile, excludeFileText([...tree.ignored, ...tree.secrets, ...results], caps), { mode: 0o600 });
    const r = await run(
      pushArgv(
        { rsh: writeRsh(p), remote: p.conn.remote, remoteDir: p.remoteDir, excludeFile, localDir: p.localDir },
        caps,
      ),
      { signal: p.signal },
    );
    const files = listTransferred(r.stdout, caps, p.log, '↑');
    const after = await listRemote(p, prune);
    const { remote } = remoteSide(after, [...leftOut, ...ignoredInListing(after.entries, rules)]);
    const local = localSigs(p.localDir, remote.keys(), outsideLinks);
    saveBase(p.localDir, p.instanceId, nextBase({ ...sides, local, remote }, { held: new Set(plan.exclude) }));
    return { files };
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
