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
import { fileCounter } from './sync-progress.js';
import {
  explainRsyncFailure,
  excludeFileText,
  pushArgv,
  rshScript,
  rsyncMessage,
  transferredFiles,
} from '../remote/rsync.js';
import { requireRsync, type RsyncCapabilities, type RsyncSource } from '../remote/rsync-capabilities.js';
import type { Gentle } from '../remote/rsync.js';
import type { Logger } from '../ui/logger.js';
import { withGitLeftOut } from './git-base.js';
import { loadBase, loadHints, saveBase, type Sig } from './base.js';
import { ignoredInListing, IgnoreRules, walkLocal, type Entry } from './ignore-rules.js';
import { sideExcludes } from './name-collisions.js';
import { pullInto } from './pull.js';
import {
  copyOnInstance,
  listRemote,
  remoteSide,
  removeOnInstance,
  startListing,
  statRemote,
  touchOnInstance,
} from './remote-tree.js';
import { noticeHeldBack } from './secrets-notice.js';
import {
  besideMessage,
  besidePairs,
  localSigs,
  nameList,
  nextBase,
  planUp,
  refreshed,
  type UpPlan,
} from './three-way.js';

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
  /** Told how far the transfer is ("12 files"): the status line's detail. */
  onProgress?: (detail: string) => void;
  /** Where the secrets notice remembers what it said (secrets-notice.ts); said every time without. */
  heldBackNotice?: string;
  /** The pulls during the run (sync-every.ts): the instance's rsync at a low priority, its bandwidth bounded. */
  gentle?: Gentle;
  /** Paths on the instance where something is mounted (the data volume): left out both ways. */
  mounts?: readonly string[];
}

export async function syncUp(p: SyncParams & { now?: Date }): Promise<{ files: number | undefined }> {
  p = withGitLeftOut(p); // an instance's own clone (git-base.ts)
  const caps = await requireRsync(p.rsync, ['up']);
  p.log.detail(`local rsync: ${caps.path} (${caps.version})`);
  // pushArgv copies links to outside directories as their content: their files are judged too.
  const base = loadBase(p.localDir, p.instanceId);
  const hints = loadHints(p.localDir, p.instanceId);
  const listing = startListing(p, hints.pruned.up);
  const rules = new IgnoreRules(p.localDir, {
    holdSecrets: true,
    known: { kept: base, texts: hints.rules },
    mounts: p.mounts,
  });
  const tree = walkLocal(p.localDir, rules, { followUnsafeLinks: true });
  noticeHeldBack(tree.secrets, p.log, p.heldBackNotice);
  const outsideLinks = new Set(tree.outsideLinks);
  try {
    const prune = [...tree.ignored, ...tree.secrets].filter((e) => e.type === 'dir');
    const listed = await listing(prune);
    const leftOut = [...tree.ignored, ...tree.secrets, ...ignoredInListing(listed.entries, rules)];
    const sides = {
      root: p.localDir,
      local: localSigs(p.localDir, tree.files, outsideLinks),
      ...remoteSide(listed, leftOut),
      base,
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
    writeFileSync(excludeFile, excludeFileText([...tree.ignored, ...tree.secrets, ...results], caps, p.mounts), {
      mode: 0o600,
    });
    const r = await run(
      pushArgv(
        { rsh: writeRsh(p), remote: p.conn.remote, remoteDir: p.remoteDir, excludeFile, localDir: p.localDir },
        caps,
      ),
      { signal: p.signal, onStdout: fileCounter(p.onProgress, caps.outFormat) },
    );
    // Only --out-format's list is taken as complete (a -v listing's format varies by rsync).
    const sent = caps.outFormat ? transferredFiles(r.stdout, caps) : undefined;
    const files = listTransferred(r.stdout, caps, p.log, '↑');
    const after = await afterPush(p, sides, plan, sent, { prune, leftOut, rules, outsideLinks });
    const next = nextBase({ ...sides, ...after }, { held: new Set(plan.exclude) });
    saveBase(p.localDir, p.instanceId, next, {
      was: base,
      pruned: { up: prune.map((e) => e.path) },
      rules: rules.rulesRead(),
    });
    return { files };
  } catch (err) {
    if (err instanceof SubprocessError) {
      const why = rsyncFailed(err, 'up', caps);
      throw new UserError(`sync up failed, nothing was run: ${why.message}`, ExitCode.syncUp, why.hint, { cause: err });
    }
    throw err;
  }
}

/** Above this many files sent, the instance is listed again rather than asked about each. */
const STAT_LIMIT = 1000;

/**
 * Both sides after the push, for the base. Nothing else changes the instance's side during the
 * push but what rsync sent and what the plan removed: when rsync names what it sent (--out-format,
 * each a file the walk saw), only those are asked about, here and there; the rest is as listed
 * before (a change there since then is seen by the next sync, as one made after it). Otherwise
 * (an rsync that does not list, an odd name it escapes, copies made beside) the instance is listed
 * again and every file here stat'ed again.
 */
async function afterPush(
  p: SyncParams,
  sides: { local: Map<string, Sig>; remote: Map<string, Sig> },
  plan: UpPlan,
  sent: string[] | undefined,
  o: { prune: Entry[]; leftOut: Entry[]; rules: IgnoreRules; outsideLinks: ReadonlySet<string> },
): Promise<{ local: Map<string, Sig>; remote: Map<string, Sig> }> {
  // A name rsync printed escaped (`\#ooo`) could also be another file's real name: listed again.
  const known =
    sent !== undefined &&
    sent.length <= STAT_LIMIT &&
    sent.every((path) => sides.local.has(path) && !/\\#[0-7]{3}/.test(path));
  if (!known || plan.conflicts.length > 0) {
    const listed = await listRemote(p, o.prune);
    const { remote } = remoteSide(listed, [...o.leftOut, ...ignoredInListing(listed.entries, o.rules)]);
    return { local: localSigs(p.localDir, remote.keys(), o.outsideLinks), remote };
  }
  // The files given a time there that rsync was then to replace: asked about even if it did not.
  const changed = [...new Set([...sent, ...plan.force])];
  const there = await statRemote(p, changed);
  const here = localSigs(p.localDir, changed, o.outsideLinks);
  const remote = refreshed(sides.remote, there, [...plan.remove, ...changed]);
  return { local: refreshed(sides.local, here, changed), remote };
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
