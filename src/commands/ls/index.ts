/**
 * ssh-ec2 ls | status: this user's ssh-ec2 instances: directory, state, type, uptime, job, limits;
 * --all-regions: everything carrying ssh-ec2's tags in every enabled region; --json: as data.
 */
import type { Cloud } from '../../cloud/ec2.js';
import { ExitCode } from '../../errors.js';
import { forgetInstance } from '../../state/leftovers.js';
import { resolvePaths } from '../../state/paths.js';
import { LIMIT_TAGS, withoutLimit } from '../../session/limits.js';
import { TAG } from '../../session/plan.js';
import { loadCloud } from '../../session/story.js';
import { liveJob, type LiveJob } from '../live-job.js';
import { takesNoArguments } from '../shared.js';
import type { CommandContext } from '../types.js';
import { costCell } from './cost.js';
import { localTime } from '../../ui/words.js';
import { inventoryTable } from './inventory-table.js';
import { instanceRecord, resourceRecord } from './records.js';
import { findEverywhere } from './regions.js';
import { since, table, whereCell } from './table.js';

// ls asks each instance about its job over ssh but answers without (a "?"): it does not refuse to
// run without ssh or rsync.
export async function run(ctx: CommandContext): Promise<number> {
  takesNoArguments(ctx);
  const cloud = await loadCloud(ctx);
  const all = ctx.flags.allRegions ?? false;
  const json = ctx.flags.json ?? false;
  // The other kinds are listed with --all-regions (the inventory) and in JSON; the plain table of
  // one region stays the instances' (its calls unchanged).
  const found = await findEverywhere(ctx, cloud, { all, resources: all || json });
  for (const w of found.warnings) ctx.log.warn(w);
  await forgetEnded(ctx, cloud);
  const instances = found.regions.flatMap((r) => r.instances.map((i) => ({ region: r, i })));
  const jobs = await Promise.all(instances.map(({ region, i }) => liveJob(ctx, region.cloud, i)));
  if (json) {
    const doc = {
      regions: found.regions.map((r) => r.region),
      warnings: found.warnings,
      instances: instances.map(({ region, i }, n) => instanceRecord(region.region, i, jobs[n]!)),
      resources: found.regions.flatMap((r) => r.resources.map((x) => resourceRecord(r.region, x))),
    };
    ctx.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return ExitCode.ok;
  }
  if (all) {
    const text = inventoryTable(found, jobs.map(jobCell));
    if (text) ctx.stdout.write(text);
    else ctx.log.info(`nothing of ssh-ec2's for you in the ${found.regions.length} region(s) listed`);
    return ExitCode.ok;
  }
  if (instances.length === 0) {
    ctx.log.info(`no ssh-ec2 instances (running or stopped) for you in ${cloud.region}`);
    return ExitCode.ok;
  }
  const rows = instances.map(({ i }, n) => {
    const deadline = i.tags[LIMIT_TAGS.deadline];
    return [
      i.tags.Name ?? i.id,
      i.id,
      i.state,
      i.type,
      i.state === 'running' && i.launchTime ? since(i.launchTime) : '-',
      costCell(cloud.region, i),
      jobCell(jobs[n]!),
      `${withoutLimit(i.tags) ? 'NO LIMIT: ' : ''}idle ${i.tags[LIMIT_TAGS.idleTimeout] ?? '-'}, max ${i.tags[LIMIT_TAGS.maxTime] ?? '-'}${deadline && deadline !== 'none' ? ` (until ${untilText(deadline)})` : ''}`,
      whereCell(i.tags),
    ];
  });
  ctx.stdout.write(table([['NAME', 'ID', 'STATE', 'TYPE', 'UP', 'COST', 'JOB', 'LIMITS', 'DIRECTORY'], ...rows]));
  return ExitCode.ok;
}

/** The JOB column. */
export function jobCell(job: LiveJob): string {
  switch (job.state) {
    case 'running':
      return `running ${since(job.started)}`;
    case 'finished':
      return `ended (${job.status})`;
    case 'killed':
      return 'killed';
    case 'unknown':
      return '?';
    case 'not running':
      return '-';
    default:
      return 'none';
  }
}

/**
 * The instances the listing shows ended: what is kept here for them (host key, ssh log, keys)
 * goes. One more call, only of ssh-ec2's instances; a failure costs nothing but the cleanup.
 */
async function forgetEnded(ctx: CommandContext, cloud: Cloud): Promise<void> {
  try {
    const ended = await cloud.findInstances(
      {},
      ['shutting-down', 'terminated'],
      [{ Name: 'tag-key', Values: [TAG.project] }],
    );
    const paths = resolvePaths(ctx.env);
    for (const i of ended) forgetInstance(paths, i.id);
  } catch (err) {
    ctx.log.detail(`could not list ended instances: ${(err as Error).message}`);
  }
}

/** The max-time deadline tag (UTC, as EC2 keeps it) as the user's clock shows it. */
function untilText(tag: string): string {
  const at = new Date(tag);
  return Number.isNaN(at.getTime()) ? tag : localTime(at).replace(/(\d\d:\d\d):\d\d/, '$1');
}
