/**
 * Spot requests' SDK calls: cancelled before their instance is terminated (spot-market.ts says
 * when), and listed where they carry our tags (`ls --all-regions`, `down --orphans`).
 */
import './quiet-sdk.js';
import {
  CancelSpotInstanceRequestsCommand,
  paginateDescribeSpotInstanceRequests,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { aws } from './errors.js';
import type { Cloud, TaggedResource } from './port.js';
import { tagMap } from './sdk-shapes.js';

export function spotRequestCalls(ec2: EC2Client): Pick<Cloud, 'cancelSpotRequests'> {
  return {
    async cancelSpotRequests(ids) {
      if (ids.length === 0) return;
      await aws('cancel the spot request', () =>
        ec2.send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [...ids] })),
      );
    },
  };
}

/** The region's spot requests carrying the tag key ssh-ec2, with their state and instance. */
export async function listSpotRequests(ec2: EC2Client, ourTag: { Name: string; Values: string[] }[]) {
  const out: TaggedResource[] = [];
  for await (const page of paginateDescribeSpotInstanceRequests({ client: ec2 }, { Filters: ourTag }))
    for (const r of page.SpotInstanceRequests ?? [])
      out.push({
        kind: 'spot-request',
        id: r.SpotInstanceRequestId!,
        name: r.Type,
        state: r.State,
        createdAt: r.CreateTime,
        attachedTo: r.InstanceId,
        tags: tagMap(r.Tags),
      });
  return out;
}
