/**
 * down --orphans and spot requests: a persistent request of this machine's (our tags), open or
 * active, whose instance is gone (terminated by hand, or never launched) is an orphan — EC2 would
 * fulfil it again, a bill nobody sees. It is cancelled with the orphan instances, once agreed.
 */
import type { Cloud, InstanceInfo, TaggedResource } from '../../cloud/port.js';
import { liveSpotRequest } from '../../cloud/spot-market.js';
import { TAG } from '../../session/plan.js';

export function orphanSpotRequests(
  resources: readonly TaggedResource[],
  instances: readonly InstanceInfo[],
  host: string,
): TaggedResource[] {
  const live = new Set(instances.filter((i) => i.state !== 'terminated').map((i) => i.id));
  return resources.filter(
    (x) => liveSpotRequest(x) && x.tags[TAG.host] === host && !(x.attachedTo && live.has(x.attachedTo)),
  );
}

export const spotRequestLine = (x: TaggedResource, region: string): string =>
  `  spot request ${x.id} (${region}, ${x.state}, ${x.tags[TAG.dir] ?? '?'}): its instance is gone; cancelled so that EC2 launches no other`;

export async function cancelOrphanRequests(cloud: Cloud, requests: readonly TaggedResource[]): Promise<void> {
  if (requests.length > 0) await cloud.cancelSpotRequests(requests.map((x) => x.id));
}
