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
    tags: tagMap(i.Tags),
    stateReason: i.StateReason?.Message || undefined,
    stoppedAt: i.State?.Name === 'stopped' ? transitionTime(i.StateTransitionReason) : undefined,
    spotRequestId: i.SpotInstanceRequestId || undefined,
    devices: (i.BlockDeviceMappings ?? []).flatMap((m) => (m.DeviceName ? [m.DeviceName] : [])),
  };
}

/** "User initiated (2026-11-30 12:00:00 GMT)" → that moment (EC2 says it in UTC, as GMT or UTC). */
export function transitionTime(reason: string | undefined): Date | undefined {
  const m = /\((\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) (?:GMT|UTC)\)/.exec(reason ?? '');
  if (!m) return undefined;
  const d = new Date(`${m[1]}T${m[2]}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export const tagMap = (tags: Tag[] | undefined): Record<string, string> =>
  Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
