/**
 * Data volumes (--volume NAME[:SIZE]): EBS volumes that outlive instances, found by the owner and
 * the name tag, created on first use (gp3, encrypted), attached to this directory's instance.
 * The SDK's calls; the rules (tags, names, sizes) are volume-rules.ts's.
 */
import './quiet-sdk.js';
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  paginateDescribeVolumes,
  type EC2Client,
  type Volume,
} from '@aws-sdk/client-ec2';
import { aws } from './errors.js';
import type { Cloud, VolumeInfo } from './port.js';
import { tagMap, toTags } from './sdk-shapes.js';
import { DATA_VOLUME_TAG } from './volume-rules.js';

function toVolume(v: Volume): VolumeInfo {
  const tags = tagMap(v.Tags);
  return {
    id: v.VolumeId!,
    name: tags[DATA_VOLUME_TAG] ?? tags.Name ?? v.VolumeId!,
    sizeGiB: v.Size ?? 0,
    zone: v.AvailabilityZone ?? '',
    state: v.State ?? 'unknown',
    attachedTo: v.Attachments?.find((a) => a.State !== 'detached')?.InstanceId,
    attachState: v.Attachments?.find((a) => a.State !== 'detached')?.State,
    createdAt: v.CreateTime,
    tags,
  };
}

export function volumeCalls(
  ec2: EC2Client,
): Pick<Cloud, 'findVolumes' | 'createVolume' | 'attachVolume' | 'deleteVolume'> {
  return {
    async findVolumes(tags) {
      return aws('list the volumes', async () => {
        const out: VolumeInfo[] = [];
        const Filters = Object.entries(tags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] }));
        for await (const page of paginateDescribeVolumes({ client: ec2 }, { Filters }))
          for (const v of page.Volumes ?? []) if (v.State !== 'deleted') out.push(toVolume(v));
        return out;
      });
    },
    async createVolume({ zone, sizeGiB, tags }) {
      const r = await aws('create the volume', () =>
        ec2.send(
          new CreateVolumeCommand({
            AvailabilityZone: zone,
            Size: sizeGiB,
            VolumeType: 'gp3',
            Encrypted: true,
            TagSpecifications: [{ ResourceType: 'volume', Tags: toTags(tags) }],
          }),
        ),
      );
      return toVolume({ ...r, Tags: r.Tags ?? toTags(tags) });
    },
    async attachVolume(volumeId, instanceId, device) {
      await aws('attach the volume', () =>
        ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device })),
      );
    },
    async deleteVolume(id) {
      await aws('delete the volume', () => ec2.send(new DeleteVolumeCommand({ VolumeId: id })));
    },
  };
}
