/**
 * Ending instances, one after another: each in its own story (session/story.ts), so a stopped one
 * is started and its results brought back before it is terminated when its directory is here, and
 * a failure of one is reported without leaving the others running.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Cloud, InstanceInfo } from '../../cloud/port.js';
import { ExitCode, UserError } from '../../errors.js';
import { localContext } from '../../session/context.js';
import { TAG } from '../../session/plan.js';
import { bringUp } from '../../session/provision.js';
import { runStory } from '../../session/story.js';
import { connectFound } from '../existing-instance.js';
import type { CommandContext } from '../types.js';

/** Its results can come back: this machine made it and its directory is still here. */
export const isHere = (i: InstanceInfo): boolean =>
  i.tags[TAG.host] === hostname() && existsSync(i.tags[TAG.dir] ?? '\0');

/** Terminates each of `targets` (results brought back first when `pull` and it is here); the worst status. */
export async function endInstances(
  ctx: CommandContext,
  cloud: Cloud,
  targets: readonly InstanceInfo[],
  pull: boolean,
): Promise<number> {
  let status: number = ExitCode.ok;
  for (const i of targets) {
    const rsync = pull && isHere(i);
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
    else
      ctx.log.info(`${i.tags.Name ?? i.id}: ${rsync ? `results synced back into ${i.tags[TAG.dir]}; ` : ''}terminated`);
  }
  return status;
}
