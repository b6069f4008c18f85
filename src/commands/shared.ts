/** What the verbs share: their arguments, the programs they need, and the caller's instances. */
import type { Cloud, InstanceInfo } from '../cloud/ec2.js';
import { UsageError } from '../errors.js';
import { requirePrograms } from '../remote/exec.js';
import { resolvePaths } from '../state/paths.js';
import { ownerOf, whose } from '../session/owner.js';
import { TAG } from '../session/plan.js';
import { localUser } from '../session/context.js';
import { localPrograms, pinnedIn } from '../session/run-session.js';
import type { CommandContext } from './types.js';

export function takesNoArguments(ctx: CommandContext): void {
  const args = ctx.options.command;
  if (args.length > 0) throw new UsageError(`ssh-ec2 ${ctx.word} takes no arguments (got "${args.join(' ')}")`);
}

/** ssh and rsync (unless --no-rsync), before any AWS call. */
export async function requireLocalPrograms(ctx: CommandContext): Promise<void> {
  await requirePrograms(localPrograms(ctx.options));
}

/** This caller's instances (any host), newest first; those tagged by ssh-ec2 0.1 as owner.ts allows. */
export async function mine(ctx: CommandContext, cloud: Cloud): Promise<InstanceInfo[]> {
  const owner = await ownerOf(cloud, ctx.log);
  const local = localUser(ctx.env);
  const found = await cloud.findInstances({}, undefined, [
    { Name: `tag:${TAG.user}`, Values: [...new Set([owner, local])] },
  ]);
  const w = whose(found, { owner, localUser: local, pinned: pinnedIn(resolvePaths(ctx.env)) });
  return [...w.own, ...w.adopt]
    .filter((i) => i.tags[TAG.project] !== undefined)
    .sort((a, b) => (b.launchTime?.getTime() ?? 0) - (a.launchTime?.getTime() ?? 0));
}
