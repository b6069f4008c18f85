/**
 * down --orphans and spot requests: a persistent request of this machine's (our tags), open or
 * active, whose instance is not among ours is looked at before anything is said of it. EC2 says
 * its instance is terminated or unknown: the request is an orphan — EC2 would fulfil it again, a
 * bill nobody sees — and is cancelled. Its instance still runs (EC2 relaunched it for the request,
 * or it lost our tags): "gone" would be false and a cancel alone leaves it running, so it is
 * terminated with the request when its tags are none or the request's, and otherwise named with
 * how to end both. Each request is cancelled on its own: a failure is said and the rest goes on.
 */
import type { Cloud, InstanceInfo, TaggedResource } from '../../cloud/port.js';
import { liveSpotRequest, requestGone } from '../../cloud/spot-market.js';
import { ExitCode } from '../../errors.js';
import { TAG } from '../../session/plan.js';
import type { CommandContext } from '../types.js';

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

/** A request to cancel, and the instance still running for it that goes with it. */
export interface OrphanRequest {
  x: TaggedResource;
  instance?: InstanceInfo;
}

const ENDED = ['terminated', 'shutting-down'];

/** The instance carries no ssh-ec2 tags of another: none at all (EC2's relaunch), or the request's. */
const sameOwner = (i: InstanceInfo, x: TaggedResource): boolean =>
  [TAG.host, TAG.dir].every((k) => i.tags[k] === undefined || i.tags[k] === x.tags[k]);

/** What EC2 says of each request's instance: what is cancelled (and terminated with it), what is left and why. */
export async function judgeOrphanRequests(
  cloud: Cloud,
  region: string,
  requests: readonly TaggedResource[],
): Promise<{ ending: OrphanRequest[]; said: string[]; left: string[] }> {
  const out = { ending: [] as OrphanRequest[], said: [] as string[], left: [] as string[] };
  for (const x of requests) {
    const head = `  spot request ${x.id} (${region}, ${x.state}, ${x.tags[TAG.dir] ?? '?'})`;
    let i: InstanceInfo | undefined;
    try {
      i = x.attachedTo ? await cloud.describeInstance(x.attachedTo) : undefined;
    } catch (err) {
      out.left.push(
        `${head}: its instance ${x.attachedTo} could not be looked at (${(err as Error).message}): left alone`,
      );
      continue;
    }
    if (!i || ENDED.includes(i.state)) {
      const gone = !x.attachedTo
        ? 'it has no instance'
        : i
          ? `its instance ${i.id} is ${i.state}`
          : `EC2 no longer knows its instance ${x.attachedTo}`;
      out.ending.push({ x });
      out.said.push(`${head}: ${gone}; cancelled so that EC2 launches no other`);
    } else if (sameOwner(i, x)) {
      out.ending.push({ x, instance: i });
      const tags = i.tags[TAG.host] === undefined ? 'without our tags' : 'not listed as ours';
      out.said.push(
        `${head}: its instance ${i.id} (${i.state}, ${tags}) still runs: cancelled, then ${i.id} terminated`,
      );
    } else
      out.left.push(
        `${head}: its instance ${i.id} (${i.state}) still runs and carries another's tags ` +
          `(${i.tags[TAG.host] ?? '?'}:${i.tags[TAG.dir] ?? '?'}): left alone. To end both: ` +
          `aws ec2 cancel-spot-instance-requests --region ${region} --spot-instance-request-ids ${x.id} && ` +
          `aws ec2 terminate-instances --region ${region} --instance-ids ${i.id}`,
      );
  }
  return out;
}

/**
 * Cancels each request, then terminates the instance still running for it; a failure is said and
 * the others go on (the orphan instances too). A request EC2 no longer knows is cancelled already.
 */
export async function cancelOrphanRequests(
  ctx: CommandContext,
  cloud: Cloud,
  requests: readonly OrphanRequest[],
): Promise<number> {
  let status: number = ExitCode.ok;
  for (const { x, instance } of requests) {
    try {
      await cloud.cancelSpotRequests([x.id]).catch((err: unknown) => {
        if (!requestGone(err)) throw err;
      });
    } catch (err) {
      ctx.log.error(
        `could not cancel spot request ${x.id}: ${(err as Error).message}`,
        instance && `${instance.id} is left running: terminated now, EC2 would launch it again for the request.`,
      );
      status = ExitCode.cloud;
      continue;
    }
    if (!instance) continue;
    try {
      await cloud.terminate(instance.id);
      ctx.log.info(`${instance.id}: spot request ${x.id} cancelled, its instance terminated`);
    } catch (err) {
      ctx.log.error(`could not terminate ${instance.id}: ${(err as Error).message}`);
      status = ExitCode.cloud;
    }
  }
  return status;
}
