/**
 * The only code that talks to EC2: a narrow port listing the calls ssh-ec2 makes, built from one
 * client configuration (region, retries, user agent), pagination flattened inside. Loaded lazily
 * so --help and --version never pay for the AWS SDK.
 */
import './quiet-sdk.js';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstanceTypesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  GetConsoleOutputCommand,
  EC2Client,
  ModifyInstanceAttributeCommand,
  paginateDescribeInstances,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  UpdateSecurityGroupRuleDescriptionsIngressCommand,
  type Filter,
  type Instance,
  type SecurityGroup,
  type IpPermission,
  type IpRange,
  type Tag,
} from '@aws-sdk/client-ec2';
import { EC2InstanceConnectClient, SendSSHPublicKeyCommand } from '@aws-sdk/client-ec2-instance-connect';
import { ConfigError, UserError } from '../errors.js';
import { DEFAULT_REGION } from '../options.js';
import type { Zone } from './capacity.js';
import { type CallBounds, NewResources, retrying } from './consistency.js';
import { aws, errorCode, isCapacityError, mapAwsError } from './errors.js';
import type { CallerIdentity } from './identity.js';
import { pickImage, type ImageInfo, type ImageQuery } from './image.js';
import { ruleDescription, SECURITY_GROUP_NAME, sshRuleChanges } from './ssh-rules.js';

export const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'] as const;

export interface InstanceInfo {
  id: string;
  state: string;
  type: string;
  publicIp?: string;
  privateIp?: string;
  launchTime?: Date;
  az?: string;
  vpcId?: string;
  /** The instance's security groups (ssh-ec2 changes the rules of its own group only). */
  securityGroups?: { id: string; name: string }[];
  tags: Record<string, string>;
  /** Why EC2 changed its state last (StateReason.Message), e.g. why it ended while pending. */
  stateReason?: string;
}

export interface InstanceTypeInfo {
  type: string;
  architectures: string[];
}

export interface LaunchSpec {
  imageId: string;
  instanceType: string;
  keyName?: string;
  securityGroupIds: string[];
  iamProfile?: string;
  userData?: string;
  rootDevice: string;
  volumeSizeGiB: number;
  shutdownBehavior: 'stop' | 'terminate';
  tags: Record<string, string>;
  /** A default subnet: chooses the availability zone. */
  subnetId?: string;
  /** Idempotency token: a retried RunInstances with the same token never makes a second instance. */
  clientToken: string;
}

export interface Cloud {
  readonly region: string;
  /** Who the credentials belong to (STS GetCallerIdentity), asked once per run. */
  caller(): Promise<CallerIdentity>;
  findInstances(tags: Record<string, string>, states?: readonly string[], filters?: Filter[]): Promise<InstanceInfo[]>;
  describeInstance(id: string): Promise<InstanceInfo | undefined>;
  resolveImage(query: ImageQuery): Promise<ImageInfo>;
  describeInstanceType(type: string): Promise<InstanceTypeInfo>;
  defaultVpc(): Promise<string>;
  /** The VPC's default subnet of each availability zone, by zone name. */
  defaultSubnets(vpcId: string): Promise<Zone[]>;
  /** A subnet named by the user (--subnet-id): its VPC and zone. */
  subnet(id: string): Promise<{ vpcId: string; zone: Zone }>;
  /**
   * A security group named by the user (--security-group: an id or a name), which must be in
   * `vpcId`; its id. Only read: its rules are the administrator's.
   */
  givenSecurityGroup(idOrName: string, vpcId: string): Promise<string>;
  /** The VPC's ssh-ec2 security group (created and tagged with `tags` if missing), letting `cidr` in on tcp/22 (see ssh-rules.ts). */
  ensureSecurityGroup(vpcId: string, cidr: string, tags: Record<string, string>): Promise<string>;
  /** The same for a group that exists (a reused instance's VPC); none: nothing is done (undefined). */
  allowSsh(vpcId: string, cidr: string): Promise<string | undefined>;
  /**
   * Deletes ssh-ec2's security groups that no instance uses any more (terminated ones excepted);
   * returns how many were deleted and how many are still in use.
   */
  removeUnusedSecurityGroups(): Promise<{ deleted: number; inUse: number }>;
  launch(spec: LaunchSpec): Promise<InstanceInfo>;
  start(id: string): Promise<void>;
  stop(id: string): Promise<void>;
  terminate(id: string): Promise<void>;
  /**
   * The instance's console output (cloud-init's boot log), if EC2 has it yet. `latest`: the serial
   * console as it is now rather than EC2's buffered copy (Nitro instance types only; others refuse).
   */
  consoleOutput(id: string, latest?: boolean, bounds?: CallBounds): Promise<string | undefined>;
  /** Changes a stopped instance's type. */
  setInstanceType(id: string, type: string): Promise<void>;
  /** Adds or overwrites tags on a resource. */
  tag(id: string, tags: Record<string, string>): Promise<void>;
  /** `bounds`: the caller's signal and deadline, which end the retrying of a not-yet-ready instance. */
  pushSshKey(
    req: { instanceId: string; osUser: string; publicKey: string; az?: string },
    bounds?: CallBounds,
  ): Promise<void>;
  /**
   * An instance EC2 has just created for this run though the port did not launch it (found after
   * a launch whose answer was lost): like the port's own launches, NotFound about it is "not yet".
   */
  noteNew(id: string): void;
}

const USER_AGENT: [string, string] = ['ssh-ec2', '0.1.0'];
const MAX_ATTEMPTS = 6;
/** An instance launched less than this long ago may still be unknown to EC2 calls naming it. */
const JUST_LAUNCHED_MS = 10 * 60_000;
/** The tag key every security group ssh-ec2 creates carries (and the only ones it uses or deletes). */
const SECURITY_GROUP_TAG = 'ssh-ec2';

export async function resolveRegion(explicit: string | undefined): Promise<string> {
  if (explicit) return explicit;
  try {
    // The SDK's own resolution: AWS_REGION, then the selected profile's region.
    const probe = new EC2Client({});
    const region = await probe.config.region();
    probe.destroy();
    if (region) return region;
  } catch {
    // none configured
  }
  return DEFAULT_REGION;
}

export async function createCloud(cfg: { region?: string }): Promise<Cloud> {
  const region = await resolveRegion(cfg.region);
  const clientConfig = {
    region,
    maxAttempts: MAX_ATTEMPTS,
    retryStrategy: retryStrategy(MAX_ATTEMPTS),
    customUserAgent: [USER_AGENT],
  };
  const ec2 = new EC2Client(clientConfig);
  // One credential resolution for every client: a role profile is assumed once per run, so the
  // owner STS reports is the session the EC2 calls are made as (a session name the SDK makes up
  // would differ between two resolutions), and an SSO token is read once.
  const shared = { ...clientConfig, credentials: ec2.config.credentials };
  let connect: EC2InstanceConnectClient | undefined;
  let caller: Promise<CallerIdentity> | undefined;
  // What this run created: EC2 may not know it yet (consistency.ts).
  const created = new NewResources();

  /** The VPC's group named ssh-ec2, if it is ssh-ec2's (someone else's by that name: ConfigError). */
  const findGroup = async (vpcId: string): Promise<SecurityGroup | undefined> => {
    const found = await aws('find the security group', () =>
      ec2.send(
        new DescribeSecurityGroupsCommand({
          Filters: [
            { Name: 'vpc-id', Values: [vpcId] },
            { Name: 'group-name', Values: [SECURITY_GROUP_NAME] },
          ],
        }),
      ),
    );
    const group = found.SecurityGroups?.[0];
    if (group && !group.Tags?.some((t) => t.Key === SECURITY_GROUP_TAG)) {
      // Someone's own group by that name: its rules (perhaps open to the world) are not ours to use or change.
      throw new ConfigError(
        `the security group named ${SECURITY_GROUP_NAME} in ${vpcId} (${group.GroupId}) was not made by ssh-ec2 (it has no ${SECURITY_GROUP_TAG} tag)`,
        `Rename or delete it; or, if it is meant for ssh-ec2, tag it ${SECURITY_GROUP_TAG}=shared (ssh-ec2 then adds and prunes its own rules in it).`,
      );
    }
    return group;
  };

  /** Creates the VPC's ssh-ec2 group; if another run just did, that one (once EC2 lists it). */
  const createGroup = async (vpcId: string, tags: Record<string, string>): Promise<SecurityGroup> => {
    try {
      const made = await ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: SECURITY_GROUP_NAME,
          Description: 'ssh-ec2: ssh from its users addresses only',
          VpcId: vpcId,
          TagSpecifications: [{ ResourceType: 'security-group', Tags: toTags(tags) }],
        }),
      );
      created.add(made.GroupId!);
      return { GroupId: made.GroupId!, IpPermissions: [] };
    } catch (err) {
      if (errorCode(err) !== 'InvalidGroup.Duplicate') throw mapAwsError(err, 'create the security group');
      // Two first runs at once (two terminals, two directories): the other one's group is used.
      const listed = () => findGroup(vpcId).then((g) => g ?? Promise.reject(new Error('not listed yet')));
      const theirs = await retrying(listed, (e) => !(e instanceof UserError)).catch((e: unknown) => {
        throw e instanceof UserError ? e : mapAwsError(err, 'create the security group');
      });
      // Just created: EC2 may not know it yet where its rules are changed either.
      created.add(theirs.GroupId!);
      return theirs;
    }
  };

  /** The VPC's ssh-ec2 group, letting `cidr` in; created with `tags` when missing (no tags: undefined). */
  const sshGroup = async (
    vpcId: string,
    cidr: string,
    tags: Record<string, string> | undefined,
  ): Promise<string | undefined> => {
    const group = (await findGroup(vpcId)) ?? (tags && (await createGroup(vpcId, tags)));
    if (!group) return undefined;
    const groupId = group.GroupId!;
    const rules = group.IpPermissions ?? [];
    const today = new Date();
    const changes = sshRuleChanges(rules, cidr, today);
    const ssh = (ranges: IpRange[]): IpPermission[] => [
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: ranges },
    ];
    const mine = ssh([{ CidrIp: cidr, Description: ruleDescription(today) }]);
    const authorize = () =>
      aws('allow ssh in the security group', async () => {
        try {
          await created.settle([groupId], () =>
            ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: mine })),
          );
        } catch (err) {
          if (errorCode(err) !== 'InvalidPermission.Duplicate') throw err;
        }
      });
    // Dating and pruning are housekeeping and never fail a run (an older IAM policy may not allow
    // them). A rule another run revoked just now is added back.
    await Promise.all([
      changes.authorize && authorize(),
      changes.refresh &&
        ec2
          .send(new UpdateSecurityGroupRuleDescriptionsIngressCommand({ GroupId: groupId, IpPermissions: mine }))
          .catch(authorize),
      changes.revoke.length > 0 &&
        ec2
          .send(
            new RevokeSecurityGroupIngressCommand({
              GroupId: groupId,
              IpPermissions: ssh(changes.revoke.map((c) => ({ CidrIp: c }))),
            }),
          )
          .catch(() => undefined),
    ]);
    return groupId;
  };

  const cloud: Cloud = {
    region,

    caller() {
      // The STS client is loaded only now; the answer cannot change within a run. Not kept across
      // runs: the credentials (a profile, an SSO login) may change between two, and the call
      // overlaps the first lookup anyway (owner.ts), so a cache would save no time.
      caller ??= import('./sts.js').then((sts) => sts.callerIdentity(shared));
      return caller;
    },

    async findInstances(tags, states = LIVE_STATES, filters = []) {
      const Filters = [
        ...filters,
        ...Object.entries(tags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] })),
        { Name: 'instance-state-name', Values: [...states] },
      ];
      return aws('list instances', async () => {
        const out: InstanceInfo[] = [];
        for await (const page of paginateDescribeInstances({ client: ec2 }, { Filters })) {
          for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) out.push(toInfo(i));
        }
        // Listed, but launched moments ago (by a run killed while launching, another terminal):
        // calls naming it may not find it yet.
        for (const i of out)
          if (i.launchTime && Date.now() - i.launchTime.getTime() < JUST_LAUNCHED_MS) created.add(i.id);
        return out;
      });
    },

    async describeInstance(id) {
      return aws('describe the instance', async () => {
        try {
          const pages = await created.settle([id], async () => {
            const out: Instance[] = [];
            for await (const page of paginateDescribeInstances({ client: ec2 }, { InstanceIds: [id] }))
              out.push(...(page.Reservations?.[0]?.Instances ?? []));
            return out;
          });
          if (pages[0]) return toInfo(pages[0]);
        } catch (err) {
          if (errorCode(err) === 'InvalidInstanceID.NotFound') return undefined;
          throw err;
        }
        return undefined;
      });
    },

    async resolveImage(query) {
      if (query.imageId) {
        const r = await aws('look up the image', () =>
          ec2.send(new DescribeImagesCommand({ ImageIds: [query.imageId!] })),
        );
        return pickImage(r.Images ?? [], query);
      }
      const r = await aws('look up the image', () =>
        ec2.send(
          new DescribeImagesCommand({
            Owners: [...query.owners],
            Filters: [
              { Name: 'name', Values: [...query.namePatterns] },
              { Name: 'state', Values: ['available'] },
              ...(query.architecture ? [{ Name: 'architecture', Values: [query.architecture] }] : []),
            ],
          }),
        ),
      );
      return pickImage(r.Images ?? [], query);
    },

    async describeInstanceType(type) {
      const r = await aws(`use instance type ${type}`, () =>
        ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: [type] as never })),
      );
      const t = r.InstanceTypes?.[0];
      if (!t)
        throw new ConfigError(
          `unknown instance type "${type}" in ${region}`,
          'See https://aws.amazon.com/ec2/instance-types/ for the names.',
        );
      return { type, architectures: t.ProcessorInfo?.SupportedArchitectures ?? ['x86_64'] };
    },

    async defaultVpc() {
      const r = await aws('find the default VPC', () =>
        ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] })),
      );
      const id = r.Vpcs?.[0]?.VpcId;
      if (!id) {
        throw new ConfigError(
          `no default VPC in ${region}: ssh-ec2 does not know where to launch`,
          'Name a subnet to launch in: --subnet-id subnet-… (or SSH_EC2_SUBNET_ID); `aws ec2 describe-subnets` lists them. Or create a default VPC (`aws ec2 create-default-vpc`), or use another region.',
        );
      }
      return id;
    },

    async subnet(id) {
      const r = await aws('find the subnet', async () => {
        try {
          return await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [id] }));
        } catch (err) {
          if (errorCode(err) === 'InvalidSubnetID.NotFound') return { Subnets: [] };
          throw err;
        }
      });
      const s = r.Subnets?.[0];
      if (!s?.VpcId || !s.AvailabilityZone)
        throw new ConfigError(
          `subnet ${id} not found in ${region}`,
          'Check --subnet-id / SSH_EC2_SUBNET_ID (and --region): `aws ec2 describe-subnets` lists the subnets.',
        );
      return { vpcId: s.VpcId, zone: { name: s.AvailabilityZone, subnetId: id } };
    },

    async givenSecurityGroup(idOrName, vpcId) {
      const byId = /^sg-[0-9a-f]+$/.test(idOrName);
      const find = (filters: Filter[]) =>
        aws('find the security group', async () => {
          try {
            return (
              (
                await ec2.send(
                  new DescribeSecurityGroupsCommand(
                    byId
                      ? { GroupIds: [idOrName] }
                      : { Filters: [{ Name: 'group-name', Values: [idOrName] }, ...filters] },
                  ),
                )
              ).SecurityGroups ?? []
            );
          } catch (err) {
            if (errorCode(err) === 'InvalidGroup.NotFound') return [];
            throw err;
          }
        });
      const hint = `--security-group takes the id (sg-…) or the name of a group in the instance's VPC ${vpcId} (--subnet-id chooses the VPC): \`aws ec2 describe-security-groups\` lists them.`;
      const groups = await find([{ Name: 'vpc-id', Values: [vpcId] }]);
      const inVpc = groups.find((g) => g.VpcId === vpcId);
      if (inVpc?.GroupId) return inVpc.GroupId;
      // Say where it is, if it exists elsewhere: a group name is unique per VPC only.
      const elsewhere = byId ? groups : await find([]);
      if (elsewhere.length > 0) {
        const where = elsewhere.map((g) => `${g.GroupId} in ${g.VpcId}`).join(', ');
        throw new ConfigError(`security group ${idOrName} is not in the instance's VPC ${vpcId} (${where})`, hint);
      }
      throw new ConfigError(`security group ${idOrName} not found in ${region}`, hint);
    },

    async defaultSubnets(vpcId) {
      const r = await aws('list the default subnets', () =>
        ec2.send(
          new DescribeSubnetsCommand({
            Filters: [
              { Name: 'vpc-id', Values: [vpcId] },
              { Name: 'default-for-az', Values: ['true'] },
            ],
          }),
        ),
      );
      return (r.Subnets ?? [])
        .filter((s) => s.SubnetId && s.AvailabilityZone)
        .map((s) => ({ name: s.AvailabilityZone!, subnetId: s.SubnetId! }))
        .sort((a, b) => a.name.localeCompare(b.name));
    },

    async removeUnusedSecurityGroups() {
      const groups = await aws('find the security groups', () =>
        ec2.send(
          new DescribeSecurityGroupsCommand({
            Filters: [
              { Name: 'group-name', Values: [SECURITY_GROUP_NAME] },
              { Name: 'tag-key', Values: [SECURITY_GROUP_TAG] },
            ],
          }),
        ),
      );
      let deleted = 0;
      let inUse = 0;
      for (const g of groups.SecurityGroups ?? []) {
        const users = await cloud.findInstances(
          {},
          [...LIVE_STATES, 'shutting-down'],
          [{ Name: 'instance.group-id', Values: [g.GroupId!] }],
        );
        if (users.length > 0) {
          inUse++;
          continue;
        }
        try {
          await ec2.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId }));
          deleted++;
        } catch (err) {
          // Still attached to an instance being terminated: a later `down` removes it.
          if (errorCode(err) !== 'DependencyViolation') throw mapAwsError(err, 'delete the security group');
          inUse++;
        }
      }
      return { deleted, inUse };
    },

    async ensureSecurityGroup(vpcId, cidr, tags) {
      return (await sshGroup(vpcId, cidr, tags))!;
    },

    allowSsh: (vpcId, cidr) => sshGroup(vpcId, cidr, undefined),

    async launch(spec) {
      const tagList = toTags(spec.tags);
      // The security group this run just created may not be known yet where instances are launched.
      const r = await aws('launch the instance', () =>
        created.settle(spec.securityGroupIds, () =>
          ec2.send(
            new RunInstancesCommand({
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
                  Ebs: {
                    VolumeSize: spec.volumeSizeGiB,
                    VolumeType: 'gp3',
                    Encrypted: true,
                    DeleteOnTermination: true,
                  },
                },
              ],
              TagSpecifications: [
                { ResourceType: 'instance', Tags: tagList },
                { ResourceType: 'volume', Tags: tagList },
              ],
              ClientToken: spec.clientToken,
            }),
          ),
        ),
      );
      const i = r.Instances?.[0];
      if (!i?.InstanceId) throw new Error('RunInstances returned no instance');
      created.add(i.InstanceId);
      return toInfo(i);
    },

    // A terminate answered NotFound for an instance launched seconds ago is tried again until EC2
    // knows it: dropping it would leave a GPU running with nothing to stop it.
    async start(id) {
      await aws('start the instance', () =>
        created.settle([id], () => ec2.send(new StartInstancesCommand({ InstanceIds: [id] }))),
      );
    },
    async stop(id) {
      await aws('stop the instance', () =>
        created.settle([id], () => ec2.send(new StopInstancesCommand({ InstanceIds: [id] }))),
      );
    },
    async terminate(id) {
      await aws('terminate the instance', () =>
        created.settle([id], () => ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }))),
      );
    },
    async consoleOutput(id, latest, bounds) {
      const r = await aws('read the console output', () =>
        created.settle(
          [id],
          () => ec2.send(new GetConsoleOutputCommand({ InstanceId: id, ...(latest && { Latest: true }) })),
          bounds,
        ),
      );
      return r.Output ? Buffer.from(r.Output, 'base64').toString('utf8') : undefined;
    },
    async setInstanceType(id, type) {
      await aws(`change the instance type to ${type}`, () =>
        ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: type } })),
      );
    },
    async tag(id, tags) {
      await aws('tag the instance', () =>
        created.settle([id], () => ec2.send(new CreateTagsCommand({ Resources: [id], Tags: toTags(tags) }))),
      );
    },
    noteNew: (id) => created.add(id),

    async pushSshKey({ instanceId, osUser, publicKey, az }, bounds) {
      connect ??= new EC2InstanceConnectClient(shared);
      // Just after `running`, Instance Connect may still find the instance "not in a valid state"
      // (its services are starting): tried again for a bounded time. Only keys for running
      // instances are pushed, so that answer means "not yet".
      await aws('push the ssh key with EC2 Instance Connect', () =>
        retrying(
          () =>
            connect!.send(
              new SendSSHPublicKeyCommand({
                InstanceId: instanceId,
                InstanceOSUser: osUser,
                SSHPublicKey: publicKey,
                AvailabilityZone: az,
              }),
            ),
          (err) => errorCode(err) === 'EC2InstanceStateInvalidException',
          bounds,
        ),
      );
    },
  };
  // Every command that builds a Cloud needs the owner: asked now, it overlaps with what comes
  // before the first lookup (the lock, the journal). A failure is reported where it is awaited.
  cloud.caller().catch(() => undefined);
  return cloud;
}

function toTags(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function toInfo(i: Instance): InstanceInfo {
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

interface RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}

/**
 * The SDK's standard retries, spelled out: 5xx answers, timeouts and throttling
 * (RequestLimitExceeded, 429) are retried up to `maxAttempts` in all, with exponential backoff
 * and full jitter (bases 100 ms, and 500 ms when throttled; at most 20 s). A retry re-sends the
 * same request, so a RunInstances keeps its ClientToken and cannot launch twice. Unlike the
 * SDK's, capacity errors are never retried in place: EC2 answers InsufficientInstanceCapacity
 * with a 500, and retrying the same zone only delays the fallback (capacity.ts). No retry quota
 * (token bucket) either: one user's CLI makes a handful of calls.
 */
export function retryStrategy(maxAttempts: number, random: () => number = Math.random) {
  const token = (count: number, delay: number): RetryToken => ({
    getRetryCount: () => count,
    getRetryDelay: () => delay,
  });
  return {
    acquireInitialRetryToken: async (_scope: string) => token(0, 0),
    refreshRetryTokenForRetry: async (previous: RetryToken, info: { error?: unknown; errorType: string }) => {
      const retries = previous.getRetryCount();
      const retryable = info.errorType === 'THROTTLING' || info.errorType === 'TRANSIENT';
      if (!retryable || retries + 1 >= maxAttempts || isCapacityError(info.error)) throw new Error('not retried');
      const base = info.errorType === 'THROTTLING' ? 500 : 100;
      return token(retries + 1, Math.floor(random() * Math.min(20_000, base * 2 ** retries)));
    },
    recordSuccess: (_token: RetryToken) => {},
  };
}
