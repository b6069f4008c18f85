/**
 * ssh-ec2 batch JOBS: the jobs file read and put in lanes, every check a session makes before AWS,
 * the batch's resources made (batch/launch-batch.ts), its instances prepared (batch/prepare.ts),
 * then the live table until every job is finished (batch/follow.ts). Ctrl-C while it launches or
 * prepares terminates the instances whose worker has not started; the others keep going.
 */
import { resolve } from 'node:path';
import { checkSpotOptions } from '../../cloud/spot-market.js';
import { UsageError, UserError, ExitCode } from '../../errors.js';
import { originOf } from '../../options.js';
import { requireRsync, rsyncSource } from '../../remote/rsync-capabilities.js';
import { localContext, newRun } from '../../session/context.js';
import { pemKey } from '../../session/keys.js';
import { trapSignals } from '../../session/signals.js';
import { loadCloud } from '../../session/story.js';
import { callerMemory } from '../../state/cache.js';
import { batchId } from '../../batch/batch-id.js';
import { loadBatchCloud } from '../../batch/clouds.js';
import { readJobsFile } from '../../batch/jobs-file.js';
import { makeLanes } from '../../batch/lanes.js';
import { launchBatch, undoLaunch, type Launched } from '../../batch/launch-batch.js';
import { prepareBatch } from '../../batch/prepare.js';
import { requireLocalPrograms } from '../shared.js';
import { withoutSessionOnly } from './session-only.js';
import type { CommandContext } from '../types.js';

export async function run(given: CommandContext, jobsFile: string, args: readonly string[]): Promise<number> {
  if (args.length > 0)
    throw new UsageError(
      `ssh-ec2 batch takes one jobs file, and its commands from there (got also "${args.join(' ')}")`,
    );
  // From here on, nothing sees a session-only setting from a file or the environment.
  const ctx = { ...given, options: withoutSessionOnly(given.options, (line) => given.log.info(line)) };
  const o = ctx.options;
  if (o.identity) pemKey(o.identity, originOf(o, 'identity'));
  const rows = readJobsFile(resolve(ctx.cwd, jobsFile));
  const lanes = makeLanes(rows, { instanceTypes: o.instanceTypes, spot: o.spot || o.spotFallback }, o.instances);
  // The lanes say whether there is spot at all: the jobs file's spot column counts as --spot.
  const spot = lanes.some((l) => l.market === 'spot');
  checkSpotOptions({ ...o, spot: o.spot || spot });
  // A fleet's spot instance is a one-time request, which EC2 will not stop: without --results its
  // instance would have to stop to keep its files (the template says so), and EC2 refuses the launch.
  if (spot && !o.results)
    throw new UsageError(
      'a batch with spot jobs needs --results s3://bucket/prefix: a one-time spot instance cannot be stopped, so its files would go with it',
    );
  await requireLocalPrograms(ctx);
  const local = localContext(ctx, ctx.cwd);
  if (o.rsync) await requireRsync(rsyncSource(local), ['up', 'back']);
  const deps = { ...ctx, callerMemory: o.cache ? callerMemory(local.paths.cache) : undefined };
  const [cloud, batchCloud] = await Promise.all([loadCloud(deps), loadBatchCloud(ctx)]);
  const run = newRun(local, cloud);
  const created = new Date();
  const batch = batchId(jobsFile, created);
  const abort = new AbortController();
  const trap = trapSignals(
    ctx.log,
    () => abort.abort(),
    () => undefined,
  );
  let launched: Launched | undefined;
  try {
    ctx.log.info(
      `batch ${batch}: ${rows.length} job(s) in ${lanes.length} lane(s), ${lanes.reduce((n, l) => n + l.count, 0)} instance(s)`,
    );
    launched = await launchBatch(run, batchCloud, { batch, created, lanes, signal: abort.signal });
    const prepared = await prepareBatch(run, batchCloud, launched, abort.signal);
    if (prepared.started.length === 0) {
      await undoLaunch(run, batchCloud, launched.rec);
      if (abort.signal.aborted) return trap.exitStatus() ?? 130;
      throw new UserError(
        `no instance of batch ${batch} could be prepared: its jobs failed, nothing is left running`,
        ExitCode.batchFailed,
        'The lines above say why; run ssh-ec2 -v batch … for more.',
      );
    }
    if (abort.signal.aborted) {
      ctx.log.info(
        `batch ${batch}: ${prepared.started.length} instance(s) keep running its jobs; follow with ssh-ec2 batch status ${batch}, end with ssh-ec2 batch cancel ${batch}`,
      );
      return trap.exitStatus() ?? 130;
    }
  } catch (err) {
    // An interrupt before the instances were prepared: launchBatch deleted what it made.
    if (abort.signal.aborted && !(err instanceof UserError)) {
      ctx.log.info(`batch ${batch} interrupted while it was launched: nothing of it is left running`);
      return trap.exitStatus() ?? 130;
    }
    throw err;
  } finally {
    trap.dispose();
  }
  // The live table until every job has ended, then the collect (batch/follow.ts).
  const { followBatch } = await import('../../batch/follow.js');
  return followBatch(ctx, launched.rec, { cloud, batchCloud });
}
