/**
 * ssh-ec2 down [NAME | --all] [--yes] [--no-pull]: sync back what can be, then terminate (asks
 * first, unless --yes, saying what runs there and that it will be killed). Only instances found
 * are ended: nothing is ever launched by a verb. --no-pull is down's word for --no-rsync: either
 * ends the instances as they are, a stopped one not started.
 */
import type { InstanceInfo } from '../../cloud/ec2.js';
import { ExitCode, UsageError, UserError } from '../../errors.js';
import { requireRsync, rsyncSource } from '../../remote/rsync-capabilities.js';
import { TAG } from '../../session/plan.js';
import { localContext, newRun } from '../../session/context.js';
import { loadCloud } from '../../session/story.js';
import { findExisting } from '../existing-instance.js';
import { mine, requireLocalPrograms } from '../shared.js';
import type { CommandContext } from '../types.js';
import { liveJob } from '../live-job.js';
import { confirm } from './confirm.js';
import { describeTarget } from './describe.js';
import { endInstances, isHere } from './end.js';
import { endOrphans } from './orphans.js';
import { removeSecurityGroups } from './security-groups.js';

export async function run(ctx: CommandContext): Promise<number> {
  const args = ctx.options.command;
  const all = ctx.flags.all ?? false;
  if (ctx.flags.orphans) return endOrphans(ctx);
  if (ctx.flags.stoppedFor !== undefined || ctx.flags.allRegions)
    throw new UsageError('--stopped-for and --all-regions go with ssh-ec2 down --orphans');
  if (args.length > 1 || (args.length === 1 && all))
    throw new UsageError('ssh-ec2 down takes one instance name, or --all');
  await requireLocalPrograms(ctx);
  const name = args[0];
  const own = localContext(ctx, ctx.cwd);
  const cloud = await loadCloud(ctx);
  let targets: InstanceInfo[];
  if (all || name) {
    targets = (await mine(ctx, cloud)).filter((i) => all || i.tags.Name === name || i.id === name);
    if (targets.length === 0)
      throw new UserError(
        name ? `no ssh-ec2 instance of yours named ${name}` : 'no ssh-ec2 instance of yours to end',
        ExitCode.nothingThere,
        'ssh-ec2 ls lists them.',
      );
  } else {
    targets = await findExisting(newRun(own, cloud), 'down');
  }
  const here = isHere;
  const pull = ctx.options.rsync && ctx.flags.pull !== false;
  // As for pull: an rsync that cannot bring files back is said before a stopped instance is started for nothing.
  if (pull && targets.some(here)) await requireRsync(rsyncSource(own), ['back']);
  const said = await Promise.all(
    targets.map(async (i) => ({
      instance: i,
      job: await liveJob(ctx, cloud, i),
      into: pull && here(i) ? i.tags[TAG.dir] : undefined,
      notBack: pull ? 'its directory is not on this machine' : `--no-${ctx.flags.pull === false ? 'pull' : 'rsync'}`,
    })),
  );
  const question = `Terminate ${targets.length} instance(s)?\n${said.flatMap(describeTarget).join('\n')}\n`;
  if (ctx.flags.yes) ctx.log.info(question.replace(/^Terminate (.*)\?/, 'Terminating $1:').trimEnd());
  else if (!(await confirm(ctx, question))) {
    ctx.log.info('nothing done');
    return ExitCode.ok;
  }
  const status = await endInstances(ctx, cloud, targets, pull);
  await removeSecurityGroups(ctx, cloud);
  return status;
}
