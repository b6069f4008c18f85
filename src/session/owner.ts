/**
 * Whose instance is whose. An instance is this caller's when it carries the directory's tags and
 * `ssh-ec2:user` = the owner derived from the AWS identity (cloud/identity.ts), which the IAM
 * policies let nobody else put on an instance: so nobody can plant one that this ssh-ec2 takes as
 * its own.
 *
 * Migration: earlier versions of ssh-ec2 wrote the *local* login name there. Such an instance is still this
 * directory's when ssh-ec2 on this machine has connected to it before (its host key is pinned in
 * ssh-ec2's state): a stopped instance from before the upgrade is reused, not launched again
 * beside. The pin is what makes it safe: anyone whose IAM user name is this machine's login name
 * may tag an instance with it, but cannot make this machine have connected to it. An adopted
 * instance is re-tagged with the owner (when the policy allows: it lets you re-tag only your own).
 */
import type { Cloud, InstanceInfo } from '../cloud/ec2.js';
import { generatedSessionName, ownerTag } from '../cloud/identity.js';
import type { Logger } from '../ui/logger.js';
import { TAG, type Plan } from './plan.js';

export interface Owners {
  /** From the AWS identity: what ssh-ec2 writes now. */
  owner: string;
  /** The local login name: what earlier versions wrote. */
  localUser: string;
  /** ssh-ec2 on this machine has connected to the instance (its host key is pinned here). */
  pinned(id: string): boolean;
}

export interface Whose {
  own: InstanceInfo[];
  /** Tagged the old way and connected to from here: ours, to be re-tagged. */
  adopt: InstanceInfo[];
  /** Tagged the old way but never connected to from here: not taken (it may have been planted). */
  unproven: InstanceInfo[];
}

/** The migration rule: which of the instances found are the caller's. */
export function whose(found: readonly InstanceInfo[], o: Owners): Whose {
  const w: Whose = { own: [], adopt: [], unproven: [] };
  for (const i of found) {
    const user = i.tags[TAG.user];
    if (user === o.owner) w.own.push(i);
    else if (user === o.localUser) (o.pinned(i.id) ? w.adopt : w.unproven).push(i);
  }
  return w;
}

let warnedSession: string | undefined;

export async function ownerOf(cloud: Cloud, log: Logger): Promise<string> {
  const id = await cloud.caller();
  const session = generatedSessionName(id);
  if (session && warnedSession !== session) {
    warnedSession = session;
    log.warn(
      `your role session name ${session} is made up anew for each session, and with it the owner of your instances (ssh-ec2:user=${ownerTag(id)}): ` +
        `the next session will not find them. Set role_session_name in your AWS profile (e.g. to your user name).`,
    );
  }
  return ownerTag(id);
}

/** Tags for an instance launched for this directory by this owner. */
export function launchTags(plan: Plan, owner: string): Record<string, string> {
  return { ...plan.instanceTags, [TAG.user]: owner };
}

export interface FindContext {
  cloud: Cloud;
  plan: Plan;
  log: Logger;
  pinned(id: string): boolean;
  /** Only looking (a dry run): an instance to adopt is taken as this directory's, but not re-tagged. */
  lookOnly?: boolean;
}

/**
 * This directory's instances of this caller. Who the caller is and which instances carry the
 * directory's tags are asked at once (one round trip, not two); the owner is then checked here.
 * Instances tagged the old way are adopted (re-tagged) or, unproven, named and left alone.
 */
export async function findOwn(
  ctx: FindContext,
  states?: readonly string[],
): Promise<{ owner: string; instances: InstanceInfo[] }> {
  const { cloud, plan, log } = ctx;
  const [owner, found] = await Promise.all([ownerOf(cloud, log), cloud.findInstances(plan.dirTags, states)]);
  const w = whose(found, { owner, localUser: plan.localUser, pinned: ctx.pinned });
  for (const i of w.unproven) {
    log.warn(
      `${i.id} (${i.state}) carries this directory's tags with ssh-ec2:user=${plan.localUser}, as an earlier ssh-ec2 wrote them, but ssh-ec2 here never connected to it: not taken as yours. ` +
        `If it is yours, re-tag it (\`aws ec2 create-tags --resources ${i.id} --tags Key=${TAG.user},Value=${owner}\`) or end it (\`aws ec2 terminate-instances --instance-ids ${i.id}\`)`,
    );
  }
  if (!ctx.lookOnly) await Promise.all(w.adopt.map((i) => adopt(cloud, i, owner, log)));
  return { owner, instances: [...w.own, ...w.adopt] };
}

/** Re-tags an instance of an earlier ssh-ec2 with the owner, so it is found (and allowed) as such from now on. */
async function adopt(cloud: Cloud, i: InstanceInfo, owner: string, log: Logger): Promise<void> {
  try {
    await cloud.tag(i.id, { [TAG.user]: owner });
    log.detail(
      `${i.id}: ssh-ec2:user ${i.tags[TAG.user]} → ${owner} (an earlier ssh-ec2 tagged it with the local login name)`,
    );
    i.tags[TAG.user] = owner;
  } catch (err) {
    // The policies let you re-tag only what is tagged as yours already: an administrator can.
    log.warn(
      `${i.id} is tagged ssh-ec2:user=${i.tags[TAG.user]} (by an earlier ssh-ec2) and could not be re-tagged as ${owner} (${(err as Error).message}); ` +
        `an administrator can: aws ec2 create-tags --resources ${i.id} --tags Key=${TAG.user},Value=${owner}`,
    );
  }
}
