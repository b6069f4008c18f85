/**
 * What ssh-ec2 made, region by region: the caller's instances and the resources carrying ssh-ec2's
 * tags, found by their tags (never only by local state: a laptop that lost its state still sees
 * everything). Regions are asked a few at a time; a region that refuses (not opted in, a policy
 * denying it) is a warning, not a failure of the listing.
 */
import { mapBounded } from '../../bounded.js';
import type { Cloud, InstanceInfo, TaggedResource, TaggedResources } from '../../cloud/port.js';
import { localUser } from '../../session/context.js';
import { ownerOf } from '../../session/owner.js';
import { TAG } from '../../session/plan.js';
import { loadCloud } from '../../session/story.js';
import { mine } from '../shared.js';
import type { CommandContext } from '../types.js';
import { batchExtras } from './batch-resources.js';

/** How many regions are asked at once: enough to list ~30 regions in a few round trips. */
const REGIONS_AT_ONCE = 6;

export interface RegionFindings {
  region: string;
  cloud: Cloud;
  instances: InstanceInfo[];
  resources: TaggedResource[];
}

export interface Findings {
  regions: RegionFindings[];
  /** One line per region that could not be listed. */
  warnings: string[];
}

/**
 * `home`'s region, or every enabled region (`all`); `resources`: the other kinds too, kept when
 * they are the caller's (a volume names its owner as its instance does) or nobody's in particular
 * (the shared security group, key pairs and templates tagged ssh-ec2).
 */
export async function findEverywhere(
  ctx: CommandContext,
  home: Cloud,
  o: { all: boolean; resources: boolean },
): Promise<Findings> {
  const names = o.all ? await home.enabledRegions() : [home.region];
  const owners = new Set([await ownerOf(home, ctx.log), localUser(ctx.env)]);
  const warnings: string[] = [];
  const one = async (region: string): Promise<RegionFindings | undefined> => {
    try {
      const cloud = region === home.region ? home : await loadCloud({ ...ctx, options: { ...ctx.options, region } });
      const [instances, { resources, refused }] = await Promise.all([
        mine(ctx, cloud),
        o.resources ? everyKind(ctx, cloud) : Promise.resolve({ resources: [], refused: [] }),
      ]);
      if (refused.length > 0) warnings.push(refusedLine(region, refused));
      const kept = resources.filter((r) => r.tags[TAG.user] === undefined || owners.has(r.tags[TAG.user]));
      return { region, cloud, instances, resources: kept };
    } catch (err) {
      if (!o.all) throw err;
      warnings.push(`${region}: not listed (${(err as Error).message})`);
      return undefined;
    }
  };
  const found = await mapBounded(names, REGIONS_AT_ONCE, one);
  return { regions: found.filter((f): f is RegionFindings => f !== undefined), warnings };
}

/** EC2's listings, then what a batch has beyond them (its queues, its results' prefix). */
async function everyKind(ctx: CommandContext, cloud: Cloud): Promise<TaggedResources> {
  const ec2 = await cloud.taggedResources();
  const batch = await batchExtras(ctx, cloud.region, ec2.resources);
  return { resources: [...ec2.resources, ...batch.resources], refused: [...ec2.refused, ...batch.refused].sort() };
}

/** One warning for the listings a policy attached before they were asked refuses (the instances are listed). */
function refusedLine(region: string, actions: readonly string[]): string {
  return (
    `${region}: not allowed to ${actions.join(', ')}: those resources are not listed ` +
    '(your policy predates them: attach the current policy/ssh-ec2-iam-policy.json, ' +
    'or policy/ssh-ec2-role-policy.json for SSO and roles)'
  );
}
