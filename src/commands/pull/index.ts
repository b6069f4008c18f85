/**
 * ssh-ec2 pull: sync back now; the instance is left as it was (started only to pull: stopped again).
 * --from-s3: from where --results uploaded them instead, no instance needed (from-s3.ts).
 */
import { requireRsync, rsyncSource } from '../../remote/rsync-capabilities.js';
import { localContext } from '../../session/context.js';
import { runStory } from '../../session/story.js';
import { reachExisting } from '../existing-instance.js';
import { requireLocalPrograms, takesNoArguments } from '../shared.js';
import type { CommandContext } from '../types.js';

export async function run(ctx: CommandContext): Promise<number> {
  takesNoArguments(ctx);
  if (ctx.flags.fromS3) return (await import('./from-s3.js')).pullFromS3(ctx);
  await requireLocalPrograms(ctx);
  const state = localContext(ctx, ctx.cwd);
  // An rsync that cannot bring files back is said before a stopped instance is started for nothing.
  if (ctx.options.rsync) await requireRsync(rsyncSource(state), ['back']);
  return runStory(ctx, state, async (s, signal) => {
    await reachExisting(s, signal, 'pull');
    s.facts.finalState = s.facts.origin === 'started' ? 'stop' : 'leave';
  });
}
