/**
 * down --orphans and batches (ssh-ec2 batch): a batch's launch template, fleets and queues are
 * worth nothing once no instance of the batch is live (pending, running, stopping, stopped):
 * nothing will take its queued jobs, and a fleet of type instant launches no more. Such a batch of
 * this machine's is ended: fleets, queues, template (a queue still holding jobs says how many
 * would never run). A batch with a live instance is left and said (`ssh-ec2 batch cancel` ends
 * it); so is one made moments ago, whose launch may be under way in another terminal (its queue
 * and template come before its fleet), and another machine's. Its results in S3 are listed, never
 * deleted.
 */
import type { BatchCloud } from '../../cloud/batch-port.js';
import type { Cloud, TaggedResource } from '../../cloud/port.js';
import { loadBatchCloud } from '../../batch/clouds.js';
import { ExitCode } from '../../errors.js';
import { TAG } from '../../session/plan.js';
import { formatDuration } from '../../session/limits.js';
import { BATCH_TAG, CREATED_TAG } from '../../batch/tags.js';
import type { CommandContext } from '../types.js';

/** A batch made less than this long ago may still be launching: its fleet not made yet. */
export const BATCH_GRACE_MS = 15 * 60_000;

const KINDS: readonly TaggedResource['kind'][] = ['launch-template', 'fleet', 'queue'];

export interface OrphanBatch {
  batch: string;
  region: string;
  cloud: Cloud;
  /** Its launch templates, fleets and queues. */
  parts: TaggedResource[];
}

/** The batches this region's resources belong to, by their `ssh-ec2:batch` tag. */
export function batchesOf(resources: readonly TaggedResource[]): Map<string, TaggedResource[]> {
  const out = new Map<string, TaggedResource[]>();
  for (const x of resources) {
    const id = x.tags[BATCH_TAG];
    if (id && KINDS.includes(x.kind)) out.set(id, [...(out.get(id) ?? []), x]);
  }
  return out;
}

/** When the batch was made: its template's tag, else its newest part's creation. */
function madeAt(parts: readonly TaggedResource[]): Date | undefined {
  const tagged = parts.map((x) => Date.parse(x.tags[CREATED_TAG] ?? '')).find((t) => !Number.isNaN(t));
  if (tagged !== undefined) return new Date(tagged);
  const times = parts.flatMap((x) => (x.createdAt ? [x.createdAt.getTime()] : []));
  return times.length > 0 ? new Date(Math.max(...times)) : undefined;
}

const partLine = (x: TaggedResource): string =>
  x.kind === 'queue'
    ? `queue ${x.name}${x.waiting ? ` (still holds ${x.waiting} job(s): they would never run)` : ''}`
    : `${x.kind} ${x.id}${x.name ? ` (${x.name})` : ''}`;

/** What down --orphans does with each batch of a region: what is ended (and said), what is left and why. */
export async function judgeOrphanBatches(
  region: string,
  cloud: Cloud,
  resources: readonly TaggedResource[],
  o: { host: string; now: Date },
): Promise<{ ending: OrphanBatch[]; said: string[]; left: string[] }> {
  const out = { ending: [] as OrphanBatch[], said: [] as string[], left: [] as string[] };
  for (const x of resources)
    if (x.kind === 'results')
      out.left.push(`  results of batch ${x.name ?? '?'} at ${x.id} (${region}): listed, never deleted by ssh-ec2`);
  for (const [batch, parts] of batchesOf(resources)) {
    const head = `  batch ${batch} (${region}, ${parts.map((x) => x.kind).join(', ')})`;
    const host = parts.map((x) => x.tags[TAG.host]).find((h) => h !== undefined);
    if (host !== o.host) {
      out.left.push(`${head}: not ours (made on ${host ?? '?'}), left alone`);
      continue;
    }
    const made = madeAt(parts);
    const age = made ? o.now.getTime() - made.getTime() : Infinity;
    if (age < BATCH_GRACE_MS) {
      out.left.push(`${head}: made ${formatDuration(Math.max(0, age))} ago, its launch may be under way: left alone`);
      continue;
    }
    const live = await cloud.findInstances({ [BATCH_TAG]: batch });
    if (live.length > 0) {
      const which = live.map((i) => `${i.id} (${i.state})`).join(', ');
      out.left.push(`${head}: its instance(s) ${which} still live: left alone (ssh-ec2 batch cancel ${batch} ends it)`);
      continue;
    }
    out.ending.push({ batch, region, cloud, parts });
    out.said.push(`${head}: no instance of it is live; deleted: ${parts.map(partLine).join(', ')}`);
  }
  return out;
}

/** Fleets, then queues, then the template of each batch; a failure is said and the others go on. */
export async function endOrphanBatches(ctx: CommandContext, batches: readonly OrphanBatch[]): Promise<number> {
  let status: number = ExitCode.ok;
  const ports = new Map<string, Promise<BatchCloud>>();
  for (const b of batches) {
    const port = ports.get(b.region) ?? loadBatchCloud({ ...ctx, options: { ...ctx.options, region: b.region } });
    ports.set(b.region, port);
    const of = (kind: TaggedResource['kind']) => b.parts.filter((x) => x.kind === kind);
    try {
      const batch = await port;
      const fleets = of('fleet').map((x) => x.id);
      // No instance of the batch is live: EC2 ending a fleet's instances with it ends nothing.
      if (fleets.length > 0) await batch.deleteFleets(fleets);
      for (const q of of('queue')) await batch.deleteQueue(q.id);
      for (const t of of('launch-template')) await batch.deleteLaunchTemplate(t.id);
      ctx.log.info(`batch ${b.batch} (${b.region}): ${b.parts.length} resource(s) deleted`);
    } catch (err) {
      ctx.log.error(`batch ${b.batch} (${b.region}): ${(err as Error).message}`);
      status = ExitCode.cloud;
    }
  }
  return status;
}
