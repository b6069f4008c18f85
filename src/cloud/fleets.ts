/**
 * Finding a batch's fleets. AWS lists an instant fleet only when asked for it by id ("If a fleet is
 * of type instant, you must specify the fleet ID in the request, otherwise the fleet does not
 * appear in the response": DescribeFleets), so the ids come from the instances it launched, which
 * EC2 tags `aws:ec2:fleet-id`, in any state (a terminated one is listed about an hour); the
 * listing by tag adds any other. A fleet whose instances are all long gone is found no more: it
 * launches nothing and costs nothing.
 */
import {
  DescribeFleetsCommand,
  paginateDescribeFleets,
  paginateDescribeInstances,
  type EC2Client,
  type FleetData,
} from '@aws-sdk/client-ec2';
import type { FleetInfo } from './batch-port.js';
import { hasTags, tagFilters } from './batch-shapes.js';
import { isNotFound } from './consistency.js';
import { tagMap } from './sdk-shapes.js';

const FLEET_ID_TAG = 'aws:ec2:fleet-id';

const info = (f: FleetData): FleetInfo => ({
  id: f.FleetId ?? '',
  state: f.FleetState ?? 'unknown',
  tags: tagMap(f.Tags),
  createdAt: f.CreateTime,
});

/** The fleets carrying `tags` (`{}`: the tag key ssh-ec2), instant ones found through their instances. */
export async function findFleets(ec2: EC2Client, tags: Record<string, string>): Promise<FleetInfo[]> {
  const ids = new Set<string>();
  for await (const page of paginateDescribeInstances({ client: ec2 }, { Filters: tagFilters(tags) }))
    for (const r of page.Reservations ?? [])
      for (const i of r.Instances ?? []) {
        const id = tagMap(i.Tags)[FLEET_ID_TAG];
        if (id) ids.add(id);
      }
  const found = new Map<string, FleetInfo>();
  const keep = (fleets: FleetData[] | undefined) => {
    for (const f of fleets ?? []) if (f.FleetId && hasTags(tagMap(f.Tags), tags)) found.set(f.FleetId, info(f));
  };
  for await (const page of paginateDescribeFleets({ client: ec2 }, { Filters: tagFilters(tags) })) keep(page.Fleets);
  const unseen = [...ids].filter((id) => !found.has(id));
  if (unseen.length > 0) {
    try {
      keep((await ec2.send(new DescribeFleetsCommand({ FleetIds: unseen }))).Fleets);
    } catch (err) {
      // One of them EC2 no longer knows: asked one by one, the others kept.
      if (!isNotFound(err)) throw err;
      for (const id of unseen)
        keep(
          await ec2.send(new DescribeFleetsCommand({ FleetIds: [id] })).then(
            (r) => r.Fleets,
            (e: unknown) => {
              if (isNotFound(e)) return [];
              throw e;
            },
          ),
        );
    }
  }
  return [...found.values()];
}
