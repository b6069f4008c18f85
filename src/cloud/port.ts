/**
 * The cloud port: the calls ssh-ec2 makes to EC2, in its own types (no SDK type crosses it).
 * ec2.ts implements it against AWS; test/fakes/cloud.ts in memory. Importing this file never
 * loads the SDK.
 */
import type { Zone } from './capacity.js';
import type { CallBounds } from './consistency.js';
import type { CallerIdentity } from './identity.js';
import type { ImageInfo, ImageQuery } from './image.js';
import type { SpotRequest } from './spot-market.js';

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
  /** When it was stopped, for a stopped one (the date EC2 writes into StateTransitionReason). */
  stoppedAt?: Date;
  /** A spot instance's request (SpotInstanceRequestId): cancelled before the instance is terminated. */
  spotRequestId?: string;
  /** The device names of its EBS volumes (BlockDeviceMappings): the root's, and a data volume's once attached. */
  devices?: string[];
}

/** A resource other than an instance that carries an ssh-ec2 tag (ssh-ec2 ls --all-regions). */
export interface TaggedResource {
  /** A batch's (ssh-ec2 batch): its launch template, fleets, queues, and where its results are (`results`: an S3 URL). */
  kind: 'volume' | 'security-group' | 'key-pair' | 'launch-template' | 'spot-request' | 'fleet' | 'queue' | 'results';
  id: string;
  name?: string;
  /** A volume's (available, in-use, …), a spot request's (open, active, cancelled, …); none for the others. */
  state?: string;
  createdAt?: Date;
  /** A volume's size; the instance a volume is attached to, or a spot request's. */
  sizeGiB?: number;
  attachedTo?: string;
  /** A queue's jobs not finished: waiting to be taken, and being run. */
  waiting?: number;
  tags: Record<string, string>;
}

export interface TaggedResources {
  resources: TaggedResource[];
  /** The actions a policy refused (e.g. ec2:DescribeVolumes): those kinds are not in `resources`. */
  refused: string[];
}

/** A data volume (--volume; cloud/volumes.ts). */
export interface VolumeInfo {
  id: string;
  /** Its name tag (ssh-ec2:data-volume). */
  name: string;
  sizeGiB: number;
  zone: string;
  /** EC2's: creating, available, in-use, … */
  state: string;
  /** The instance holding it, while attached or attaching, and how far (attaching, attached). */
  attachedTo?: string;
  attachState?: string;
  /** EC2's CreateTime: of two of one name (made at once), the older is the one (data-volume.ts). */
  createdAt?: Date;
  tags: Record<string, string>;
}

export interface InstanceTypeInfo {
  type: string;
  architectures: string[];
}

/** An instance type as DescribeInstanceTypes tells it: what `prices` shows and the type checks compare. */
export interface InstanceTypeDetails extends InstanceTypeInfo {
  vcpus: number;
  memoryMiB: number;
  /** GPUs (0: none) and their model, e.g. 1 × "A10G". */
  gpus: number;
  gpuName?: string;
}

/** The latest spot price of a type in a zone (DescribeSpotPriceHistory, Linux/UNIX). */
export interface SpotPrice {
  type: string;
  zone: string;
  /** USD per hour. */
  usd: number;
  at: Date;
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
  /** Launch as spot (spot-market.ts); none: on-demand. */
  spot?: SpotRequest;
}

/**
 * A DescribeInstances filter (EC2's names: `tag:KEY`, `instance.group-id`, …): an instance
 * matches when its value is one of `Values`.
 */
export interface InstanceFilter {
  Name: string;
  Values: string[];
}

/** A call doctor asks EC2 whether it would be allowed (DryRun): nothing is made or changed. */
export type DryRunCall =
  /** The launch's own request (its instance profile, encrypted volume, metadata options, tags). */
  | { action: 'RunInstances'; spec: Omit<LaunchSpec, 'clientToken'> }
  | { action: 'StartInstances' | 'StopInstances' | 'TerminateInstances'; instanceId: string }
  | { action: 'CancelSpotInstanceRequests'; requestId: string }
  | { action: 'CreateSecurityGroup'; vpcId: string; tags: Record<string, string> }
  | { action: 'AuthorizeSecurityGroupIngress'; groupId: string; cidr: string };

/**
 * EC2's answer to a DryRun: `allowed` (DryRunOperation), `denied` (UnauthorizedOperation: its
 * message, which names the action), or `unknown` (any other answer: EC2 checked something else
 * first, e.g. an instance id it does not know).
 */
export type DryRunAnswer =
  { allowed: true } | { allowed: false; message: string } | { allowed: 'unknown'; code: string; message: string };

/** A security group as doctor reports it: whose, and who may reach tcp/22 through it. */
export interface SecurityGroupInfo {
  id: string;
  name: string;
  vpcId: string;
  tags: Record<string, string>;
  /** The CIDRs let in on tcp/22 (a rule for all traffic or all ports counts). */
  sshFrom: string[];
}

export interface KeyPairInfo {
  name: string;
  /** As EC2 shows it: MD5 or SHA-1 colon hex (RSA), base64 SHA-256 (ED25519). */
  fingerprint?: string;
  type?: string;
}

export interface Cloud {
  readonly region: string;
  /** The endpoint the calls go to, when it is not AWS's own (AWS_ENDPOINT_URL): what cached ids are valid for. */
  readonly endpoint?: string;
  /** Who the credentials belong to (STS GetCallerIdentity), asked once per run. */
  caller(): Promise<CallerIdentity>;
  findInstances(
    tags: Record<string, string>,
    states?: readonly string[],
    filters?: InstanceFilter[],
  ): Promise<InstanceInfo[]>;
  describeInstance(id: string): Promise<InstanceInfo | undefined>;
  /** The regions enabled for the account (DescribeRegions, opted-in or needing no opt-in). */
  enabledRegions(): Promise<string[]>;
  /**
   * The volumes, security groups, key pairs, launch templates and fleets of the region carrying an ssh-ec2
   * tag; a listing the policy refuses is left out and its action named in `refused`.
   */
  taggedResources(): Promise<TaggedResources>;
  resolveImage(query: ImageQuery): Promise<ImageInfo>;
  describeInstanceType(type: string): Promise<InstanceTypeInfo>;
  /** The details of these types (none: every type of the region); a name EC2 does not know is left out. */
  instanceTypeDetails(types?: readonly string[]): Promise<InstanceTypeDetails[]>;
  /**
   * Where types are offered (DescribeInstanceTypeOfferings): by zone name, or `region` for the
   * region as a whole; `types` none: every type.
   */
  typeOfferings(
    location: 'region' | 'availability-zone',
    types?: readonly string[],
  ): Promise<{ type: string; location: string }[]>;
  /** The current spot price of each type in each zone (`zones` none: every zone offering it). */
  spotPrices(types: readonly string[], zones?: readonly string[]): Promise<SpotPrice[]>;
  /**
   * The default VPC and its default subnet of each availability zone, by zone name (a VPC
   * without any: no zones).
   */
  defaultNetwork(): Promise<{ vpcId: string; zones: Zone[] }>;
  /** A subnet named by the user (--subnet-id): its VPC and zone. */
  subnet(id: string): Promise<{ vpcId: string; zone: Zone }>;
  /**
   * A security group named by the user (--security-group: an id or a name), which must be in
   * `vpcId`; its id. Only read: its rules are the administrator's.
   */
  givenSecurityGroup(idOrName: string, vpcId: string): Promise<string>;
  /**
   * The VPC's ssh-ec2 security group (created and tagged with `tags` if missing), letting `cidr`
   * in on tcp/22 (see ssh-rules.ts). `createFirst`: created without a lookup first, looked up
   * only if it exists (`InvalidGroup.Duplicate`) — a call fewer where it is likely missing.
   */
  ensureSecurityGroup(
    vpcId: string,
    cidr: string,
    tags: Record<string, string>,
    how?: { createFirst?: boolean },
  ): Promise<string>;
  /**
   * The VPC's ssh-ec2 security group as it is, changing nothing (a dry run): its id and the
   * addresses its tcp/22 rules let in; none: undefined.
   */
  findSshSecurityGroup(vpcId: string): Promise<{ groupId: string; cidrs: string[] } | undefined>;
  /** The same for a group that exists (a reused instance's VPC); none: nothing is done (undefined). */
  allowSsh(vpcId: string, cidr: string): Promise<string | undefined>;
  /**
   * Deletes ssh-ec2's security groups that no instance uses any more (terminated ones excepted);
   * returns how many were deleted and how many are still in use.
   */
  removeUnusedSecurityGroups(): Promise<{ deleted: number; inUse: number }>;
  launch(spec: LaunchSpec): Promise<InstanceInfo>;
  /** Volumes carrying all these tags (cloud/volumes.ts), deleted ones left out. */
  findVolumes(tags: Record<string, string>): Promise<VolumeInfo[]>;
  /** A gp3 volume, encrypted, tagged as it is made. */
  createVolume(spec: { zone: string; sizeGiB: number; tags: Record<string, string> }): Promise<VolumeInfo>;
  attachVolume(volumeId: string, instanceId: string, device: string): Promise<void>;
  deleteVolume(id: string): Promise<void>;
  start(id: string): Promise<void>;
  stop(id: string): Promise<void>;
  terminate(id: string): Promise<void>;
  /** Cancels spot requests (their instances are left as they are): before a terminate (spot-requests.ts). */
  cancelSpotRequests(ids: readonly string[]): Promise<void>;
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
  /** Whether EC2 would allow the call (DryRun): doctor's permission checks. Never changes anything. */
  dryRun(call: DryRunCall): Promise<DryRunAnswer>;
  /**
   * A security group, only read: by id or name in `vpcId`; no `idOrName`: the VPC's group named
   * ssh-ec2 (whoever made it: `tags` says). None: undefined.
   */
  describeSecurityGroup(vpcId: string, idOrName?: string): Promise<SecurityGroupInfo | undefined>;
  /** The EC2 key pair of that name in the region; none: undefined. */
  keyPair(name: string): Promise<KeyPairInfo | undefined>;
}
