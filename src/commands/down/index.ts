/**
 * ssh-ec2 down [NAME | --all] [--yes]: sync back what can be, then terminate (asks first, unless
 * --yes). Only instances found are ended: nothing is ever launched by a verb.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { InstanceInfo } from '../../cloud/ec2.js';
import { ExitCode, UsageError, UserError } from '../../errors.js';
import { requireRsync, rsyncSource } from '../../remote/rsync-capabilities.js';
import { TAG } from '../../session/plan.js';
import { bringUp } from '../../session/provision.js';
import { localContext, newRun } from '../../session/context.js';
import { loadCloud, runStory } from '../../session/story.js';
import { connectFound, findExisting } from '../existing-instance.js';
import { mine, requireLocalPrograms } from '../shared.js';
import type { CommandContext } from '../types.js';
import { confirm } from './confirm.js';
import { removeSecurityGroups } from './security-groups.js';

export async function run(ctx: CommandContext): Promise<number> {
  const args = ctx.options.command;
  const all = ctx.flags.all ?? false;
  // `down NAME --yes`: options end at NAME, so --yes is a second word here (issue #10 changes it).
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
  const here = (i: InstanceInfo) => i.tags[TAG.host] === hostname() && existsSync(i.tags[TAG.dir] ?? '\0');
  // As for pull: an rsync that cannot bring files back is said before a stopped instance is started for nothing.
  if (ctx.options.rsync && targets.some(here)) await requireRsync(rsyncSource(own), ['back']);
  const lines = targets.map(
    (i) =>
      `  ${i.tags.Name ?? ''} ${i.id} (${i.state}, ${i.type}) ${here(i) ? `results synced back into ${i.tags[TAG.dir]}` : 'its directory is not on this machine: results are NOT brought back'}`,
  );
  if (!ctx.flags.yes && !(await confirm(ctx, `Terminate ${targets.length} instance(s)?\n${lines.join('\n')}\n`))) {
    ctx.log.info('nothing done');
    return ExitCode.ok;
  }
  let status: number = ExitCode.ok;
  for (const i of targets) {
    const rsync = ctx.options.rsync && here(i);
    const options = { ...ctx.options, rsync, remoteDir: i.tags[TAG.remoteDir] ?? ctx.options.remoteDir };
    const state = localContext({ ...ctx, options }, rsync ? (i.tags[TAG.dir] ?? ctx.cwd) : ctx.cwd);
    const start = { cloud, endJobs: true, facts: { instance: i, finalState: 'terminate' as const } };
    const r = await runStory(
      { ...ctx, options },
      state,
      async (s, signal) => {
        if (!rsync) return; // nothing to bring back: terminated as it is
        const instance = await bringUp({ cloud: s.cloud, log: s.log, signal, options }, i);
        s.facts.instance = instance;
        await connectFound(s, instance, signal);
        s.facts.ran = true;
      },
      start,
    ).catch((err: unknown) => {
      ctx.log.error(`${i.id}: ${(err as Error).message}`);
      return err instanceof UserError ? err.exitCode : ExitCode.internal;
    });
    if (r !== ExitCode.ok) status = r;
  }
  await removeSecurityGroups(ctx, cloud);
  return status;
}
