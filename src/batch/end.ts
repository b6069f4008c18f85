/**
 * A batch's own resources ended once it is collected whole or cancelled: its queues, its fleets
 * and its launch template. Instances are ended one by one before (a spot request cancelled first,
 * down's ending loop): EC2 deletes an instant fleet with its instances, so a fleet is deleted only
 * once none of the batch's is live — never as a way to terminate. Each is found by what the caller knows
 * (the record, the state) and by its tags, so another laptop, or a second try after a failure,
 * ends what is left; one gone already is fine.
 */
import type { BatchCloud } from '../cloud/batch-port.js';
import { LIVE_STATES, type Cloud } from '../cloud/port.js';
import { BATCH_TAG } from './tags.js';

/** The queue of a batch's lane (docs/BATCH.md: Names): `ssh-ec2-<batch>-<lane>`. */
export const queuePrefix = (batch: string): string => `ssh-ec2-${batch}-`;

/** The tag EC2 puts on a fleet's instances. */
const FLEET_ID_TAG = 'aws:ec2:fleet-id';

const isLaneQueue = (name: string, batch: string): boolean =>
  name.startsWith(queuePrefix(batch)) && /^\d+$/.test(name.slice(queuePrefix(batch).length));

export interface EndedResources {
  queues: number;
  fleets: number;
  templates: number;
  /** Instances of the batch still live: not ended here (the caller's to terminate); its fleets were kept. */
  liveInstances: string[];
}

/** Deletes the batch's queues, fleets and launch template; what was deleted, and what still runs. */
export async function endBatchResources(
  batchCloud: BatchCloud,
  cloud: Cloud,
  batch: string,
  lanes: readonly { queueUrl?: string; fleetIds?: readonly string[] }[],
  known: { templateId?: string; fleetIds?: readonly string[] } = {},
): Promise<EndedResources> {
  const tags = { [BATCH_TAG]: batch };
  const queues = new Set(lanes.map((l) => l.queueUrl).filter((u): u is string => !!u));
  for (const q of await batchCloud.findQueues(queuePrefix(batch)))
    // By its tag; untagged (a listing without tags), by its whole name: another batch's id may extend this one's.
    if (q.tags[BATCH_TAG] === batch || (q.tags[BATCH_TAG] === undefined && isLaneQueue(q.name, batch)))
      queues.add(q.url);
  for (const url of queues) await batchCloud.deleteQueue(url);

  // DeleteFleets ends an instant fleet's instances with it (batch-aws.ts): only once none is live.
  const all = await cloud.findInstances(tags, [...LIVE_STATES, 'shutting-down', 'terminated']);
  const live = all.filter((i) => (LIVE_STATES as readonly string[]).includes(i.state)).map((i) => i.id);
  // AWS lists an instant fleet only by its id: its instances' tag names it (another laptop's way).
  const fleets = new Set([
    ...(known.fleetIds ?? []),
    ...lanes.flatMap((l) => l.fleetIds ?? []),
    ...all.map((i) => i.tags[FLEET_ID_TAG]).filter((f): f is string => !!f),
  ]);
  for (const f of await batchCloud.findFleets(tags)) if (!/deleted/.test(f.state)) fleets.add(f.id);
  if (fleets.size > 0 && live.length === 0) await batchCloud.deleteFleets([...fleets]);

  const templates = new Set(known.templateId ? [known.templateId] : []);
  for (const t of await batchCloud.findLaunchTemplates(tags)) templates.add(t.id);
  for (const id of templates) await batchCloud.deleteLaunchTemplate(id);

  return {
    queues: queues.size,
    fleets: live.length === 0 ? fleets.size : 0,
    templates: templates.size,
    liveInstances: live,
  };
}
