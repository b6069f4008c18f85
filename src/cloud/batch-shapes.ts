/**
 * Between the batch port's types (batch-port.ts) and the SDK's requests and answers, pure: the
 * launch template says what a session's RunInstances says (run-instances.ts: every safety setting
 * the same), the fleet what BATCH.md's lanes ask. Unit-tested without the SDK's clients.
 */
import type {
  CreateFleetCommandInput,
  CreateFleetCommandOutput,
  CreateLaunchTemplateCommandInput,
  Filter,
} from '@aws-sdk/client-ec2';
import type { FleetLaunch, FleetResult, TemplateSpec } from './batch-port.js';
import { runInstancesInput } from './run-instances.js';
import { toTags } from './sdk-shapes.js';

/**
 * The template's data is RunInstances' request for the same spec, minus what a fleet decides
 * (type, subnet, market, counts, client token): the metadata options, the encrypted gp3 root, the
 * shutdown behaviour and the tags of instance and volume are copied from the one place that makes
 * them, so a batch's instance can never be laxer than a session's.
 */
export function launchTemplateInput(spec: TemplateSpec): CreateLaunchTemplateCommandInput {
  const run = runInstancesInput({ ...spec, instanceType: '', tags: spec.instanceTags });
  const instanceTags = toTags(spec.instanceTags);
  return {
    LaunchTemplateName: spec.name,
    LaunchTemplateData: {
      ImageId: run.ImageId,
      KeyName: run.KeyName,
      SecurityGroupIds: run.SecurityGroupIds,
      IamInstanceProfile: run.IamInstanceProfile,
      UserData: run.UserData,
      InstanceInitiatedShutdownBehavior: run.InstanceInitiatedShutdownBehavior,
      MetadataOptions: run.MetadataOptions,
      BlockDeviceMappings: run.BlockDeviceMappings,
      TagSpecifications: [
        { ResourceType: 'instance', Tags: instanceTags },
        { ResourceType: 'volume', Tags: instanceTags },
      ],
    },
    TagSpecifications: [{ ResourceType: 'launch-template', Tags: toTags(spec.tags) }],
  };
}

/**
 * One instant fleet: the types in the order given (on-demand: `prioritized`, the first that has
 * room, as a session's capacity fallback; spot: price-capacity-optimized over them all).
 * `clientToken`: the SDK's retries of one call cannot launch twice.
 */
export function fleetInput(f: FleetLaunch, clientToken: string): CreateFleetCommandInput {
  const spot = f.market === 'spot';
  return {
    Type: 'instant',
    ClientToken: clientToken,
    LaunchTemplateConfigs: [
      {
        LaunchTemplateSpecification: { LaunchTemplateId: f.templateId, Version: '$Latest' },
        Overrides: f.overrides.map((o, n) => ({
          InstanceType: o.instanceType as never,
          ...(o.subnetId && { SubnetId: o.subnetId }),
          ...(!spot && { Priority: n }),
        })),
      },
    ],
    TargetCapacitySpecification: {
      TotalTargetCapacity: f.count,
      DefaultTargetCapacityType: f.market,
      ...(spot ? { SpotTargetCapacity: f.count } : { OnDemandTargetCapacity: f.count }),
    },
    ...(spot
      ? {
          SpotOptions: {
            AllocationStrategy: 'price-capacity-optimized',
            ...(f.maxTotalPrice && { MaxTotalPrice: f.maxTotalPrice }),
          },
        }
      : { OnDemandOptions: { AllocationStrategy: 'prioritized' } }),
    TagSpecifications: [{ ResourceType: 'fleet', Tags: toTags(f.tags) }],
  };
}

export function fleetResult(r: Pick<CreateFleetCommandOutput, 'FleetId' | 'Instances' | 'Errors'>): FleetResult {
  return {
    fleetId: r.FleetId ?? '',
    instanceIds: (r.Instances ?? []).flatMap((i) => i.InstanceIds ?? []),
    errors: (r.Errors ?? []).map((e) => {
      const type = e.LaunchTemplateAndOverrides?.Overrides?.InstanceType;
      return { code: e.ErrorCode ?? 'Unknown', message: e.ErrorMessage ?? '', ...(type && { instanceType: type }) };
    }),
  };
}

/** EC2's tag filters for these tags (`{}`: every resource carrying the tag key ssh-ec2). */
export function tagFilters(tags: Record<string, string>): Filter[] {
  const entries = Object.entries(tags);
  if (entries.length === 0) return [{ Name: 'tag-key', Values: ['ssh-ec2'] }];
  return entries.map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] }));
}

/** Every tag asked for is there (kept after the filters too: not every EC2 lookalike applies them). */
export const hasTags = (have: Record<string, string>, want: Record<string, string>): boolean =>
  Object.keys(want).length === 0
    ? Object.hasOwn(have, 'ssh-ec2')
    : Object.entries(want).every(([k, v]) => have[k] === v);

/** GetQueueAttributes' answer as counts (SQS answers every attribute as a string). */
export function queueCounts(a: Record<string, string> | undefined): {
  visible: number;
  inFlight: number;
  createdAt?: Date;
} {
  const n = (k: string) => Number(a?.[k] ?? 0) || 0;
  const created = Number(a?.CreatedTimestamp);
  return {
    visible: n('ApproximateNumberOfMessages'),
    inFlight: n('ApproximateNumberOfMessagesNotVisible'),
    ...(created > 0 && { createdAt: new Date(created * 1000) }),
  };
}

/** A queue's name: the last part of its URL. */
export const queueName = (url: string): string => url.slice(url.lastIndexOf('/') + 1);

/** The bodies in SendMessageBatch's groups: at most ten, ids unique within a call. */
export function messageBatches(bodies: readonly string[]): { Id: string; MessageBody: string }[][] {
  const out: { Id: string; MessageBody: string }[][] = [];
  for (let k = 0; k < bodies.length; k += 10)
    out.push(bodies.slice(k, k + 10).map((MessageBody, n) => ({ Id: `m${k + n}`, MessageBody })));
  return out;
}
