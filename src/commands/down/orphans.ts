/**
 * ssh-ec2 down --orphans [--all-regions] [--stopped-for DURATION] [--yes]: ends what this machine
 * made that no directory here claims any more, and what it made that has been stopped longer than
 * the limit; lists what another machine made and leaves it alone (a colleague's laptop or your
 * other one may be running work on it: `ssh-ec2 down NAME` ends one by name).
 *
 * Ours: `ssh-ec2:host` is this machine's name, as a session writes it (os.hostname()), AND ssh-ec2
 * here has connected to it (its host key is pinned in this machine's state, as owner.ts adopts).
 * A host name alone is no proof: two laptops of one person are both "Johns-MacBook-Pro", and
 * "localhost" or a DHCP name is anyone's; the pin is what only this machine has, and it covers
 * instances made before this rule (no new tag needed). One made here that never got that far is
 * listed and left alone (`ssh-ec2 down NAME` ends it). Claimed: the directory in its `ssh-ec2:dir`
 * tag is here (each directory finds its instance by its tags, so an existing directory still
 * reaches it). An orphan's directory is surely gone (directory-state.ts: a refused or unmounted
 * path is "unchecked" and left alone); it has nothing to bring results back to: it is terminated
 * as it is. One stopped too long whose directory is here gets the usual
 * down: started, its results brought back, then terminated. A path too long for a tag (kept as
 * "…hash…end") cannot be checked and is left alone. Security groups of ssh-ec2 that no instance
 * uses go as down's always do; volumes are listed, never deleted (ssh-ec2's own go with their
 * instance: DeleteOnTermination; a data volume, --volume, is named with its monthly cost and the
 * `ssh-ec2 volumes rm` that deletes it), nor are key pairs. A batch's launch template, fleets and
 * queues go when no instance of the batch is live (batches.ts); its results in S3 are listed only.
 */
import { hostname } from 'node:os';
import type { Cloud, InstanceInfo } from '../../cloud/port.js';
import { ExitCode, UsageError } from '../../errors.js';
import { requireRsync, rsyncSource } from '../../remote/rsync-capabilities.js';
import { localContext } from '../../session/context.js';
import { TAG } from '../../session/plan.js';
import { loadCloud } from '../../session/story.js';
import { formatDuration } from '../../session/limits.js';
import { parseDuration } from '../../time.js';
import { localTime } from '../../ui/words.js';
import { findEverywhere } from '../ls/regions.js';
import { liveJob } from '../live-job.js';
import { requireLocalPrograms } from '../shared.js';
import type { CommandContext } from '../types.js';
import { resolvePaths } from '../../state/paths.js';
import { pinnedIn } from '../../session/run-session.js';
import { confirm } from './confirm.js';
import { jobLine } from './describe.js';
import { directoryState, type DirectoryState } from './directory-state.js';
import { endInstances, isHere } from './end.js';
import { removeSecurityGroups } from './security-groups.js';
import { endOrphanBatches, judgeOrphanBatches, type OrphanBatch } from './batches.js';
import { cancelOrphanRequests, judgeOrphanRequests, orphanSpotRequests, type OrphanRequest } from './spot-requests.js';
import { dataVolumeLine } from '../volumes/table.js';

export const DEFAULT_STOPPED_FOR = '7d';

export type Verdict =
  | { end: true; why: 'orphan' | 'stopped too long' }
  | { end: false; why: 'claimed' | 'not ours' | 'not pinned here' }
  | { end: false; why: 'unchecked path'; detail: string };

export interface Judge {
  host: string;
  /** ssh-ec2 on this machine has connected to it: its host key is pinned in our state. */
  pinned: (id: string) => boolean;
  directory: (path: string) => DirectoryState;
  now: Date;
  stoppedForMs: number;
}

/** What down --orphans does with one instance (pure: the machine, the file system and the clock come in). */
export function verdict(i: InstanceInfo, o: Judge): Verdict {
  if (i.tags[TAG.host] !== o.host) return { end: false, why: 'not ours' };
  if (!o.pinned(i.id)) return { end: false, why: 'not pinned here' };
  const dir = i.tags[TAG.dir];
  if (dir === undefined || dir.startsWith('…'))
    return { end: false, why: 'unchecked path', detail: 'its directory tag is cut short' };
  const d = o.directory(dir);
  if (d.state === 'unchecked') return { end: false, why: 'unchecked path', detail: d.why };
  if (d.state === 'gone') return { end: true, why: 'orphan' };
  const stopped = i.state === 'stopped' && i.stoppedAt;
  if (stopped && o.now.getTime() - stopped.getTime() > o.stoppedForMs) return { end: true, why: 'stopped too long' };
  return { end: false, why: 'claimed' };
}

export async function endOrphans(ctx: CommandContext): Promise<number> {
  if (ctx.options.command.length > 0 || ctx.flags.all)
    throw new UsageError('ssh-ec2 down --orphans takes no instance name and no --all');
  const limitText = ctx.flags.stoppedFor ?? DEFAULT_STOPPED_FOR;
  const stoppedForMs = parseDuration(limitText);
  if (stoppedForMs === undefined)
    throw new UsageError(`--stopped-for ${limitText}: not a duration`, 'Write it as 12h, 7d or 1d12h.');
  const pull = ctx.options.rsync && ctx.flags.pull !== false;
  await requireLocalPrograms(ctx);
  const home = await loadCloud(ctx);
  const found = await findEverywhere(ctx, home, { all: ctx.flags.allRegions ?? false, resources: true });
  for (const w of found.warnings) ctx.log.warn(w);
  const pinned = pinnedIn(resolvePaths(ctx.env));
  const judge: Judge = { host: hostname(), pinned, directory: directoryState, now: new Date(), stoppedForMs };
  const ending: { cloud: Cloud; i: InstanceInfo }[] = [];
  const said: string[] = [];
  const left: string[] = [];
  const requests: { cloud: Cloud; r: OrphanRequest }[] = [];
  const batches: OrphanBatch[] = [];
  for (const r of found.regions) {
    for (const i of r.instances) {
      const v = verdict(i, judge);
      const what = `${i.tags.Name ?? ''} ${i.id} (${r.region}, ${i.state}, ${i.tags[TAG.host] ?? '?'}:${i.tags[TAG.dir] ?? '?'})`;
      if (v.end) {
        ending.push({ cloud: r.cloud, i });
        // What runs there is said before asking, as plain down says it (issue #10).
        const job = jobLine(await liveJob(ctx, r.cloud, i));
        said.push(
          [
            `  ${what}`,
            ...(job ? [`    ${job}`] : []),
            v.why === 'orphan'
              ? '    its directory is gone from this machine: terminated as it is (nothing to bring results back to)'
              : `    stopped since ${localTime(i.stoppedAt!)} (over ${formatDuration(stoppedForMs)}): ${pull ? 'results brought back, then terminated' : 'terminated as it is'}`,
          ].join('\n'),
        );
      } else if (v.why === 'not ours')
        left.push(`  ${what}: not ours (made on ${i.tags[TAG.host] ?? '?'}), left alone`);
      else if (v.why === 'not pinned here')
        left.push(
          `  ${what}: made on a machine named ${judge.host}, but ssh-ec2 here never connected to it ` +
            '(no pinned host key): maybe another machine of that name, left alone',
        );
      else if (v.why === 'unchecked path')
        left.push(`  ${what}: its directory cannot be checked (${v.detail}): left alone`);
    }
    const candidates = orphanSpotRequests(r.resources, r.instances, judge.host);
    const fate = await judgeOrphanRequests(r.cloud, r.region, candidates);
    requests.push(...fate.ending.map((q) => ({ cloud: r.cloud, r: q })));
    said.push(...fate.said);
    left.push(...fate.left);
    const batchFate = await judgeOrphanBatches(r.region, r.cloud, r.resources, judge);
    batches.push(...batchFate.ending);
    said.push(...batchFate.said);
    left.push(...batchFate.left);
    for (const x of r.resources) {
      const data = dataVolumeLine(r.region, x);
      if (data) left.push(data);
      else if (x.kind === 'volume' && !x.attachedTo)
        left.push(
          `  volume ${x.id} (${r.region}, ${x.sizeGiB ?? '?'} GiB, unattached): listed, never deleted by ssh-ec2`,
        );
    }
  }
  if (left.length > 0) ctx.log.info(`Left alone:\n${left.join('\n')}`);
  if (ending.length + requests.length + batches.length > 0) {
    const what = [
      ending.length > 0 && `terminate ${ending.length} instance(s)`,
      requests.length > 0 && `cancel ${requests.length} spot request(s)`,
      batches.length > 0 && `delete what ${batches.length} ended batch(es) left`,
    ];
    const question = `${upper(what.filter(Boolean).join(', '))}?\n${said.join('\n')}\n`;
    if (ctx.flags.yes) ctx.log.info(question.replace(/^(.*?)\?\n/, '$1:\n').trimEnd());
    else if (!(await confirm(ctx, question))) {
      ctx.log.info('nothing done');
      return ExitCode.ok;
    }
  } else ctx.log.info(`no orphans of this machine (${judge.host}) in ${found.regions.length} region(s)`);
  if (pull && ending.some(({ i }) => isHere(i))) await requireRsync(rsyncSource(localContext(ctx, ctx.cwd)), ['back']);
  let status: number = ExitCode.ok;
  for (const r of found.regions) {
    const mine = ending.filter((e) => e.cloud === r.cloud).map((e) => e.i);
    // Each request on its own, its failures said: the orphan instances below are ended whatever they do.
    const ended = requests.filter((q) => q.cloud === r.cloud).map((q) => q.r);
    const c = await cancelOrphanRequests(ctx, r.cloud, ended);
    if (c !== ExitCode.ok) status = c;
    if (mine.length > 0) {
      const s = await endInstances(ctx, r.cloud, mine, pull);
      if (s !== ExitCode.ok) status = s;
    }
    // Groups no instance uses any more go, as with every down, once the user agreed to something.
    const agreed = mine.length > 0 || ctx.flags.yes;
    if (agreed && r.resources.some((x) => x.kind === 'security-group')) await removeSecurityGroups(ctx, r.cloud);
  }
  const b = await endOrphanBatches(ctx, batches);
  if (b !== ExitCode.ok) status = b;
  return status;
}

const upper = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
