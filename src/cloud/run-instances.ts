/**
 * RunInstances' request for a LaunchSpec, made in one place: the launch sends it, and doctor sends
 * the very same with DryRun (read-only.ts), so that what the launch needs (iam:PassRole for its
 * instance profile, the encrypted volume's KMS rights, conditions on tags or metadata options) is
 * what doctor asks about.
 */
import type { RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import type { LaunchSpec } from './port.js';
import { toTags } from './sdk-shapes.js';
import { marketOptions } from './spot-market.js';

export function runInstancesInput(
  spec: Omit<LaunchSpec, 'clientToken'> & { clientToken?: string },
): RunInstancesCommandInput {
  const tagList = toTags(spec.tags);
  return {
    ImageId: spec.imageId,
    InstanceType: spec.instanceType as never,
    MinCount: 1,
    MaxCount: 1,
    KeyName: spec.keyName,
    SecurityGroupIds: spec.securityGroupIds,
    SubnetId: spec.subnetId,
    IamInstanceProfile: spec.iamProfile ? { Name: spec.iamProfile } : undefined,
    UserData: spec.userData ? Buffer.from(spec.userData, 'utf8').toString('base64') : undefined,
    InstanceInitiatedShutdownBehavior: spec.shutdownBehavior,
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2 },
    BlockDeviceMappings: [
      {
        DeviceName: spec.rootDevice,
        Ebs: { VolumeSize: spec.volumeSizeGiB, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
      },
    ],
    // Spot: a persistent request that stops its instance when interrupted (spot-market.ts).
    InstanceMarketOptions: marketOptions(spec.spot),
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tagList },
      { ResourceType: 'volume', Tags: tagList },
      // The request too, so that `ls --all-regions` and `down --orphans` find one whose instance is gone.
      ...(spec.spot ? [{ ResourceType: 'spot-instances-request' as const, Tags: tagList }] : []),
    ],
    ClientToken: spec.clientToken,
  };
}
