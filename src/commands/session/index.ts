/** The default command: a session on this directory's instance (the story: session/run-session.ts). */
import { originOf } from '../../options.js';
import { UsageError } from '../../errors.js';
import { pemKey } from '../../session/keys.js';
import { checkBeforeAws, runSession } from '../../session/run-session.js';
import type { CommandContext } from '../types.js';

export async function run(ctx: CommandContext): Promise<number> {
  // A missing key file is reported first, as it always was (runSession checks it again: it is cheap).
  if (ctx.options.identity) pemKey(ctx.options.identity, originOf(ctx.options, 'identity'));
  const { yes, all } = ctx.flags;
  if (yes || all)
    throw new UsageError(
      `--${yes ? 'yes' : 'all'} is for the verbs (ssh-ec2 down --yes); to run a command named so, put it after --`,
    );
  if (ctx.options.dryRun) return dryRun(ctx);
  const status = await runSession(ctx);
  ctx.log.summary(status === 0 ? 'done' : `finished with status ${status}`);
  return status;
}

/** --dry-run: the plan on stdout, then exit 0; what a run would refuse before AWS is refused alike. */
async function dryRun(ctx: CommandContext): Promise<number> {
  await checkBeforeAws(ctx.options, ctx.log);
  const [{ resolveDryRun }, { dryRunText }] = await Promise.all([
    import('../../session/dry-run.js'),
    import('../../session/dry-run-words.js'),
  ]);
  ctx.stdout.write(dryRunText(await resolveDryRun(ctx)));
  return 0;
}
