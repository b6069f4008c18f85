/**
 * Between the batch port's types (batch-port.ts) and the SDK's requests and answers, pure: the
 * launch template says what a session's RunInstances says (run-instances.ts: every safety setting
 * the same), the fleet what docs/BATCH.md's lanes ask. Unit-tested without the SDK's clients.
 */
import type {
  CreateFleetCommandInput,
  CreateFleetCommandOutput,
  CreateLaunchTemplateCommandInput,
  Filter,
} from '@aws-sdk/client-ec2';
import type { FleetLaunch, FleetResult, TemplateSpec } from './batch-port.js';
import { UsageError } from '../errors.js';
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
            ...(fleetPriceCap(f) && { MaxTotalPrice: fleetPriceCap(f) }),
          },
        }
      : { OnDemandOptions: { AllocationStrategy: 'prioritized' } }),
    // The instances carry the lane's tags from the call itself (an instant fleet allows it), so
    // IAM's aws:RequestTag sees them, not only the template's copies.
    TagSpecifications: [
      { ResourceType: 'fleet', Tags: toTags(f.tags) },
      { ResourceType: 'instance', Tags: toTags(f.tags) },
    ],
  };
}

/**
 * MaxTotalPrice caps what the whole fleet costs an hour: --max-price is one instance's, so the cap
 * is it times the lane's instances (a fleet of 4 at 0.5 may spend 2.0 an hour, not 0.5).
 */
export function fleetPriceCap(f: Pick<FleetLaunch, 'maxPrice' | 'maxTotalPrice' | 'count'>): string | undefined {
  if (f.maxPrice === undefined) return f.maxTotalPrice;
  return String(Number((Number(f.maxPrice) * f.count).toFixed(6)));
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

/**
 * SQS's limits on one message and on one SendMessageBatch (its bodies together): 256 KiB each
 * (262,144 bytes), ten entries. AWS has since raised the sizes to 1 MiB; the lower bound holds
 * everywhere (every region, moto).
 */
export const SQS_MESSAGE_BYTES = 262_144;
const SQS_BATCH_ENTRIES = 10;

/**
 * The bodies in SendMessageBatch's groups: at most ten and 256 KiB together, ids unique within a
 * call (`m<index in bodies>`). A body over one message's limit is the user's: a UsageError naming
 * its job (a command that long belongs in a script in the project).
 */
export function messageBatches(bodies: readonly string[]): { Id: string; MessageBody: string }[][] {
  const out: { Id: string; MessageBody: string }[][] = [];
  let group: { Id: string; MessageBody: string }[] = [];
  let bytes = 0;
  bodies.forEach((MessageBody, n) => {
    const size = Buffer.byteLength(MessageBody, 'utf8');
    if (size > SQS_MESSAGE_BYTES)
      throw new UsageError(
        `job ${jobOf(MessageBody)}: its command is too long for a queue message (${size} bytes with its ` +
          `base64; SQS takes ${SQS_MESSAGE_BYTES})`,
        'Put the command in a script in the project directory and run that script.',
      );
    if (group.length === SQS_BATCH_ENTRIES || bytes + size > SQS_MESSAGE_BYTES) {
      out.push(group);
      group = [];
      bytes = 0;
    }
    group.push({ Id: `m${n}`, MessageBody });
    bytes += size;
  });
  if (group.length > 0) out.push(group);
  return out;
}

/** A body's job name (docs/BATCH.md: The SQS message), else its first characters. */
function jobOf(body: string): string {
  try {
    const job = (JSON.parse(body) as { job?: unknown }).job;
    if (typeof job === 'string') return job;
  } catch {
    // not one of ours: said as it starts
  }
  return JSON.stringify(body.slice(0, 40));
}
