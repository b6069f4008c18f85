/** Between the SDK's shapes and the port's own types (port.ts): the port never hands out an SDK type. */
import type { Instance, Tag } from '@aws-sdk/client-ec2';
import type { InstanceInfo } from './port.js';

export function toTags(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

export function toInfo(i: Instance): InstanceInfo {
  return {
    id: i.InstanceId!,
    state: i.State?.Name ?? 'unknown',
    type: i.InstanceType ?? 'unknown',
    publicIp: i.PublicIpAddress || undefined,
    privateIp: i.PrivateIpAddress || undefined,
    launchTime: i.LaunchTime,
    az: i.Placement?.AvailabilityZone,
    vpcId: i.VpcId,
    securityGroups: (i.SecurityGroups ?? []).map((g) => ({ id: g.GroupId ?? '', name: g.GroupName ?? '' })),
    tags: Object.fromEntries((i.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
    stateReason: i.StateReason?.Message || undefined,
  };
}
