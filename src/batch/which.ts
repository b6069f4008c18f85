/**
 * Which batch a verb is about: the one named, else this directory's newest — its record here, else
 * the newest that carries this directory's tags (a launch template, an instance) in the region.
 */
import type { Cloud } from '../cloud/ec2.js';
import type { BatchCloud } from '../cloud/batch-port.js';
import { ExitCode, UserError } from '../errors.js';
import type { LocalContext } from '../session/context.js';
import { TAG } from '../session/plan.js';
import { listRecords } from './record.js';
import { BATCH_TAG, CREATED_TAG } from './tags.js';

export interface TaggedBatch {
  batch: string;
  /** ISO time, as the template's tag says (else its creation, else the first instance's launch). */
  created: string;
}

/** This directory's batches that tags show in the region (its launch templates', its instances'), newest first. */
export async function taggedBatches(local: LocalContext, cloud: Cloud, batchCloud: BatchCloud): Promise<TaggedBatch[]> {
  const mine = { [TAG.project]: local.plan.projectId };
  const [templates, instances] = await Promise.all([
    batchCloud.findLaunchTemplates(mine),
    cloud.findInstances(mine, ['pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated']),
  ]);
  const found = new Map<string, string>();
  for (const t of templates) {
    const id = t.tags[BATCH_TAG];
    if (id) found.set(id, t.tags[CREATED_TAG] ?? t.createdAt?.toISOString() ?? '');
  }
  for (const i of instances) {
    const id = i.tags[BATCH_TAG];
    if (id && !found.has(id)) found.set(id, i.launchTime?.toISOString() ?? '');
  }
  return [...found].map(([batch, created]) => ({ batch, created })).sort((a, b) => b.created.localeCompare(a.created));
}

/** The batch named, else this directory's newest; none → one line, exit 7. */
export async function whichBatch(
  local: LocalContext,
  cloud: Cloud,
  batchCloud: BatchCloud,
  named: string | undefined,
): Promise<string> {
  if (named) return named;
  const recorded = listRecords(local.plan.projectDir)[0];
  if (recorded) return recorded.batch;
  const tagged = (await taggedBatches(local, cloud, batchCloud))[0];
  if (tagged) return tagged.batch;
  throw new UserError(
    `no batch of this directory in ${cloud.region}`,
    ExitCode.nothingThere,
    'Start one with ssh-ec2 batch JOBS; from another machine, name it: ssh-ec2 batch status BATCH.',
  );
}
