/** ssh-ec2 ls | status: this user's ssh-ec2 instances: directory, state, type, uptime, job, limits. */
import { hostname } from 'node:os';
import type { Cloud, InstanceInfo } from '../../cloud/ec2.js';
import { ExitCode } from '../../errors.js';
import { resolvePaths } from '../../state/paths.js';
import { jobStatus } from '../../session/job.js';
import { LIMIT_TAGS } from '../../session/limits.js';
import { TAG } from '../../session/plan.js';
import { localContext, newRun } from '../../session/context.js';
import { pinnedIn } from '../../session/run-session.js';
import { loadCloud } from '../../session/story.js';
import { connectFound } from '../existing-instance.js';
import { mine, takesNoArguments } from '../shared.js';
import type { CommandContext } from '../types.js';
import { costCell } from './cost.js';
import { since, table } from './table.js';

// ls asks each instance about its job over ssh but answers without (a "?"): it does not refuse to
// run without ssh or rsync.
export async function run(ctx: CommandContext): Promise<number> {
  takesNoArguments(ctx);
  const cloud = await loadCloud(ctx);
  const instances = await mine(ctx, cloud);
  if (instances.length === 0) {
    ctx.log.info(`no ssh-ec2 instances (running or stopped) for you in ${cloud.region}`);
    return ExitCode.ok;
  }
  const jobs = await Promise.all(instances.map((i) => liveJob(ctx, cloud, i)));
  const rows = instances.map((i, n) => {
    const deadline = i.tags[LIMIT_TAGS.deadline];
    return [
      i.tags.Name ?? i.id,
      i.id,
      i.state,
      costCell(cloud.region, i),
      i.state === 'running' && i.launchTime ? since(i.launchTime) : '-',
      jobs[n]!,
      `idle ${i.tags[LIMIT_TAGS.idleTimeout] ?? '-'}, max ${i.tags[LIMIT_TAGS.maxTime] ?? '-'}${deadline && deadline !== 'none' ? ` (until ${deadline})` : ''}`,
      `${i.tags[TAG.host] === hostname() ? '' : `${i.tags[TAG.host] ?? '?'}:`}${i.tags[TAG.dir] ?? '?'}`,
    ];
  });
  ctx.stdout.write(table([['NAME', 'ID', 'STATE', 'TYPE', 'UP', 'JOB', 'LIMITS', 'DIRECTORY'], ...rows]));
  return ExitCode.ok;
}

/** `ls` does not wait for an instance whose ssh is not up (yet): its job shows as "?". */
const LS_SSH_TIMEOUT_MS = 15_000;

/**
 * The job of a running instance, asked over ssh; "?" when it cannot be asked. Only an instance
 * whose host key is pinned here is asked: ls does not wait for the console to check a new key, and
 * a key it pinned unchecked would be trusted by every later run.
 */
async function liveJob(ctx: CommandContext, cloud: Cloud, i: InstanceInfo): Promise<string> {
  if (i.state !== 'running' || !i.tags[TAG.project]) return '-';
  if (!pinnedIn(resolvePaths(ctx.env))(i.id)) return '?';
  const state = newRun(localContext({ ...ctx, log: { ...ctx.log, info: () => {}, warn: () => {} } }, ctx.cwd), cloud);
  try {
    const conn = await connectFound(state, i, undefined, {
      timeoutMs: LS_SSH_TIMEOUT_MS,
      letIn: false,
      hostKeyWaitMs: 0,
    });
    const job = await jobStatus(conn, i.tags[TAG.project]);
    await conn.close({ keep: true });
    switch (job.state) {
      case 'running':
        return `running ${since(new Date(job.started * 1000))}`;
      case 'finished':
        return `ended (${job.status})`;
      case 'killed':
        return 'killed';
      default:
        return 'none';
    }
  } catch {
    await state.conn?.close({ keep: true });
    return '?';
  }
}
