/**
 * What ssh-ec2 ls --all-regions lists besides instances: the regions enabled for the account, and
 * each region's volumes, security groups, key pairs, launch templates and fleets carrying the tag key ssh-ec2
 * (found by their tags, never by what a machine remembers: issue #12, dstack #3453). ssh-ec2 makes
 * volumes (with its instances) and security groups; key pairs and launch templates are listed when
 * they carry our tags, whoever made them.
 */
import './quiet-sdk.js';
import {
  DescribeKeyPairsCommand,
  DescribeRegionsCommand,
  DescribeSecurityGroupsCommand,
  paginateDescribeLaunchTemplates,
  paginateDescribeVolumes,
  type EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import { CloudError } from '../errors.js';
import { kindOf } from './aws-codes.js';
import { fleetDeleted } from './batch-port.js';
import { findFleets } from './fleets.js';
import { aws } from './errors.js';
import type { Cloud, TaggedResource, TaggedResources } from './port.js';
import { tagMap } from './sdk-shapes.js';
import { listSpotRequests } from './spot-requests.js';

/**
 * One rule for every kind, the README's: the tag key `ssh-ec2`, which everything ssh-ec2 makes
 * carries (an instance and its volumes the project's id, the security group `shared`).
 */
const OUR_KEY = 'ssh-ec2';
const ours = (tags: Tag[] | undefined): boolean => (tags ?? []).some((t) => t.Key === OUR_KEY);
const OUR_TAG = [{ Name: 'tag-key', Values: [OUR_KEY] }];

export function inventory(ec2: EC2Client): Pick<Cloud, 'enabledRegions' | 'taggedResources'> {
  return {
    async enabledRegions() {
      const r = await aws('list the regions', () => ec2.send(new DescribeRegionsCommand({ AllRegions: false })));
      return (r.Regions ?? []).flatMap((x) => (x.RegionName ? [x.RegionName] : [])).sort();
    },

    async taggedResources(): Promise<TaggedResources> {
      const refused: string[] = [];
      // A policy attached before these calls came refuses some listings: the others, and the
      // instances, are still listed; the caller names what was refused (regions.ts).
      const unlessRefused = async (action: string, p: Promise<TaggedResource[]>) => {
        try {
          return await p;
        } catch (err) {
          if (!(err instanceof CloudError && kindOf(err.code ?? '') === 'denied')) throw err;
          refused.push(action);
          return [];
        }
      };
      const volumes = aws('list the volumes', async () => {
        const out: TaggedResource[] = [];
        for await (const page of paginateDescribeVolumes({ client: ec2 }, { Filters: OUR_TAG }))
          for (const v of page.Volumes ?? [])
            out.push({
              kind: 'volume',
              id: v.VolumeId!,
              state: v.State,
              createdAt: v.CreateTime,
              sizeGiB: v.Size,
              attachedTo: v.Attachments?.[0]?.InstanceId,
              tags: tagMap(v.Tags),
            });
        return out;
      });
      const groups = aws('list the security groups', async () => {
        const r = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: OUR_TAG }));
        return (r.SecurityGroups ?? []).map((g): TaggedResource => ({
          kind: 'security-group',
          id: g.GroupId!,
          name: g.GroupName,
          tags: tagMap(g.Tags),
        }));
      });
      // Few per region: listed whole and kept by their tags (a tag-key filter is not offered everywhere).
      const keys = aws('list the key pairs', async () => {
        const r = await ec2.send(new DescribeKeyPairsCommand({}));
        return (r.KeyPairs ?? [])
          .filter((k) => ours(k.Tags))
          .map((k): TaggedResource => ({
            kind: 'key-pair',
            id: k.KeyPairId ?? k.KeyName!,
            name: k.KeyName,
            createdAt: k.CreateTime,
            tags: tagMap(k.Tags),
          }));
      });
      const templates = aws('list the launch templates', async () => {
        const out: TaggedResource[] = [];
        for await (const page of paginateDescribeLaunchTemplates({ client: ec2 }, {}))
          for (const t of page.LaunchTemplates ?? [])
            if (ours(t.Tags))
              out.push({
                kind: 'launch-template',
                id: t.LaunchTemplateId!,
                name: t.LaunchTemplateName,
                createdAt: t.CreateTime,
                tags: tagMap(t.Tags),
              });
        return out;
      });
      // A batch's fleets (ssh-ec2 batch; fleets.ts: how an instant one is found); one DeleteFleets
      // ended is listed by EC2 a while longer: left out.
      const fleets = aws('list the fleets', async () =>
        (await findFleets(ec2, {}))
          .filter((f) => !fleetDeleted(f.state))
          .map((f): TaggedResource => ({
            kind: 'fleet',
            id: f.id,
            state: f.state,
            createdAt: f.createdAt,
            tags: f.tags,
          })),
      );
      const all = await Promise.all([
        unlessRefused('ec2:DescribeVolumes', volumes),
        unlessRefused('ec2:DescribeSecurityGroups', groups),
        unlessRefused('ec2:DescribeKeyPairs', keys),
        unlessRefused('ec2:DescribeLaunchTemplates', templates),
        unlessRefused('ec2:DescribeFleets', fleets),
        unlessRefused(
          'ec2:DescribeSpotInstanceRequests',
          aws('list the spot requests', () => listSpotRequests(ec2, OUR_TAG)),
        ),
      ]);
      return { resources: all.flat(), refused: refused.sort() };
    },
  };
}
