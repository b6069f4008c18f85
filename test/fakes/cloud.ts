/**
 * An in-memory cloud: the port of src/cloud/port.ts kept in a few maps, for unit tests of what
 * uses the port (provision, the verbs, the finish). A fake at our own port — no SDK, no moto, no
 * root. It plays EC2 as the port's callers see it: instances with states and tags, security
 * groups, errors mapped as the real port maps them (a UserError whose `cause` carries AWS's code
 * and HTTP status).
 *
 * Knobs (all public fields, set before or during a test):
 * - `region`, `identity` (what caller() answers), `vpcId` (undefined: no default VPC), `zones`
 *   (the default subnets), `subnets` (all subnets by id, for --subnet-id), `instanceTypes` (type →
 *   architectures; others are unknown), `images` (architecture → image; none: no image for it).
 * - `typeDetails` (type → vCPUs, memory, GPUs: what instanceTypeDetails adds to `instanceTypes`;
 *   a type without a row has 0 of each), `offeredIn` (type → the zones offering it; none: every
 *   zone of `zones`), `spotPriceTable` (`"type zone"` → USD/hour; none: no spot price).
 * - `bootDescribes`: how many describeInstance calls a launched or started instance stays
 *   `pending` before it runs with an address (default 0: running at the first describe).
 * - `endWhilePending`: a StateReason; the next instance launched ends (terminated) while pending.
 * - `fail(op, code | Injection)`: the next call(s) of `op` fail with that AWS code; an Injection
 *   says how many times, for which arguments (`when`), with what HTTP status (capacity and
 *   throttling default to 500 as on EC2, others to 400), and whether the call took effect
 *   before its answer was lost (`tookEffect`: a launch that launched, a start that started).
 * - `console`: instance id → its console output (what consoleOutput answers).
 * - `deniedActions`: the EC2 actions a DryRun is refused (UnauthorizedOperation); `keyPairs`: by name.
 * - `onCall(op, args)`: called as each call is made, before its answer (a test's moment to act:
 *   a signal while RunInstances is in flight, say).
 * Record: `calls` (every call, in order, with its arguments), `launches` (the LaunchSpecs sent),
 * `callsOf(op)`; the world: `instances`, `groups` (maps by id), `add(instance)` to seed one.
 */
import type { Zone } from '../../src/cloud/capacity.js';
import { mapAwsError } from '../../src/cloud/errors.js';
import type { CallerIdentity } from '../../src/cloud/identity.js';
import { NO_IMAGE, type ImageInfo } from '../../src/cloud/image.js';
import {
  type Cloud,
  type DryRunCall,
  type InstanceFilter,
  type InstanceInfo,
  type KeyPairInfo,
  type LaunchSpec,
  LIVE_STATES,
  type TaggedResource,
  type VolumeInfo,
} from '../../src/cloud/port.js';
import { SECURITY_GROUP_NAME } from '../../src/cloud/ssh-rules.js';
import { CloudError, ConfigError } from '../../src/errors.js';

export type CloudOp = Exclude<keyof Cloud, 'region' | 'endpoint'>;

export interface Injection {
  /** AWS's error code, e.g. InsufficientInstanceCapacity, VcpuLimitExceeded, InvalidInstanceID.NotFound. */
  code: string;
  message?: string;
  /** HTTP status of the failed answer (none: `null`, as a network failure). */
  status?: number | null;
  /** How many calls fail (default 1; Infinity: all). */
  times?: number;
  /** Only calls whose arguments match fail. */
  when?: (...args: unknown[]) => boolean;
  /** The call did what it was asked before its answer failed (the answer lost). */
  tookEffect?: boolean;
}

export interface FakeGroup {
  id: string;
  name: string;
  vpcId: string;
  tags: Record<string, string>;
  /** Who may reach tcp/22. */
  cidrs: Set<string>;
}

/** What each call says it was doing when it failed, as the real port says it ("could not …"). */
const DOING: Partial<Record<CloudOp, string>> = {
  findInstances: 'list instances',
  describeInstance: 'describe the instance',
  launch: 'launch the instance',
  start: 'start the instance',
  stop: 'stop the instance',
  terminate: 'terminate the instance',
  cancelSpotRequests: 'cancel the spot request',
  tag: 'tag the instance',
  consoleOutput: 'read the console output',
  pushSshKey: 'push the ssh key with EC2 Instance Connect',
  ensureSecurityGroup: 'allow ssh in the security group',
  allowSsh: 'allow ssh in the security group',
  removeUnusedSecurityGroups: 'find the security groups',
  defaultNetwork: 'list the default subnets',
  subnet: 'find the subnet',
  givenSecurityGroup: 'find the security group',
  findSshSecurityGroup: 'find the security group',
  resolveImage: 'look up the image',
  enabledRegions: 'list the regions',
  taggedResources: 'list the volumes',
  instanceTypeDetails: 'describe instance types',
  typeOfferings: 'list where instance types are offered',
  spotPrices: 'read the spot price history',
};

/** An AWS error as the SDK throws it, mapped as the real port maps it. */
export function awsFailure(op: string, i: Pick<Injection, 'code' | 'message' | 'status'>): unknown {
  const status =
    i.status === null
      ? undefined
      : (i.status ?? (/Insufficient|Throttl|RequestLimitExceeded/.test(i.code) ? 500 : 400));
  const err = Object.assign(new Error(i.message ?? `${i.code} (fake)`), {
    name: i.code,
    ...(status !== undefined && { $metadata: { httpStatusCode: status } }),
  });
  return mapAwsError(err, DOING[op as CloudOp] ?? op);
}

/**
 * A fake's answer to one call, later (as from the network): `effect`'s, or the first injection
 * for `op` matching the arguments (used up `times` times; `tookEffect`: the effect first).
 */
export async function answer<Op extends string, T>(
  injections: Map<Op, Injection[]>,
  op: Op,
  args: unknown[],
  effect: () => T,
): Promise<T> {
  await Promise.resolve();
  const queue = injections.get(op) ?? [];
  const injection = queue.find((i) => !i.when || i.when(...args));
  if (!injection) return effect();
  injection.times = (injection.times ?? 1) - 1;
  if (injection.times <= 0) queue.splice(queue.indexOf(injection), 1);
  if (injection.tookEffect) effect();
  throw awsFailure(op, injection);
}

const ZONES: Zone[] = [
  { name: 'eu-central-1a', subnetId: 'subnet-a' },
  { name: 'eu-central-1b', subnetId: 'subnet-b' },
];

export class FakeCloud implements Cloud {
  region = 'eu-central-1';
  identity: CallerIdentity = { account: '123456789012', arn: 'arn:aws:iam::123456789012:user/alice', userId: 'AIDA1' };
  vpcId: string | undefined = 'vpc-default';
  zones: Zone[] = ZONES.map((z) => ({ ...z }));
  subnets: Record<string, { vpcId: string; zone: Zone }> = Object.fromEntries(
    ZONES.map((z) => [z.subnetId, { vpcId: 'vpc-default', zone: z }]),
  );
  instanceTypes: Record<string, string[]> = {
    'g4dn.xlarge': ['x86_64'],
    'g5.xlarge': ['x86_64'],
    'g5.2xlarge': ['x86_64'],
    't3.large': ['x86_64'],
    'g5g.xlarge': ['arm64'],
  };
  typeDetails: Record<string, { vcpus: number; memoryMiB: number; gpus: number; gpuName?: string }> = {
    'g4dn.xlarge': { vcpus: 4, memoryMiB: 16384, gpus: 1, gpuName: 'T4' },
    'g5.xlarge': { vcpus: 4, memoryMiB: 16384, gpus: 1, gpuName: 'A10G' },
    'g5.2xlarge': { vcpus: 8, memoryMiB: 32768, gpus: 1, gpuName: 'A10G' },
    't3.large': { vcpus: 2, memoryMiB: 8192, gpus: 0 },
    'g5g.xlarge': { vcpus: 4, memoryMiB: 8192, gpus: 1, gpuName: 'T4g' },
  };
  offeredIn: Record<string, string[]> = {};
  spotPriceTable: Record<string, number> = {};
  images: Record<string, ImageInfo> = {
    x86_64: {
      id: 'ami-x86',
      name: 'Deep Learning x86',
      rootDevice: '/dev/sda1',
      rootSizeGiB: 75,
      defaultUser: 'ubuntu',
    },
    arm64: {
      id: 'ami-arm',
      name: 'Deep Learning arm',
      rootDevice: '/dev/sda1',
      rootSizeGiB: 75,
      defaultUser: 'ubuntu',
    },
  };
  bootDescribes = 0;
  endWhilePending: string | undefined;
  console: Record<string, string> = {};
  onCall: ((op: CloudOp, args: unknown[]) => void) | undefined;
  deniedActions = new Set<string>();
  keyPairs: Record<string, KeyPairInfo> = {};

  readonly instances = new Map<string, InstanceInfo>();
  readonly groups = new Map<string, FakeGroup>();
  /** Other fakes' resources tag() reaches (FakeBatchCloud's launch templates), by id. */
  readonly taggable = new Map<string, { tags: Record<string, string> }>();
  readonly calls: { op: CloudOp; args: unknown[] }[] = [];
  readonly noted = new Set<string>();
  private readonly injections = new Map<CloudOp, Injection[]>();
  private readonly booting = new Map<string, number>();
  private readonly byToken = new Map<string, string>();
  private next = 1;

  /** The next call(s) of `op` fail with `code` (see the header). */
  fail(op: CloudOp, injection: string | Injection): this {
    const i = typeof injection === 'string' ? { code: injection } : injection;
    this.injections.set(op, [...(this.injections.get(op) ?? []), { times: 1, ...i }]);
    return this;
  }

  /** The LaunchSpecs sent, failed attempts included. */
  get launches(): LaunchSpec[] {
    return this.callsOf('launch').map((args) => args[0] as LaunchSpec);
  }

  callsOf(op: CloudOp): unknown[][] {
    return this.calls.filter((c) => c.op === op).map((c) => c.args);
  }

  /** Seeds an instance (running with an address unless said otherwise). */
  add(i: Partial<InstanceInfo> & { tags: Record<string, string> }): InstanceInfo {
    const id = i.id ?? this.id('i');
    const instance: InstanceInfo = {
      id,
      state: 'running',
      type: 'g4dn.xlarge',
      publicIp: i.state === undefined || i.state === 'running' ? '203.0.113.10' : undefined,
      privateIp: '10.0.0.10',
      launchTime: new Date(),
      az: 'eu-central-1a',
      vpcId: this.vpcId ?? 'vpc-1',
      securityGroups: [{ id: 'sg-ssh', name: SECURITY_GROUP_NAME }],
      ...i,
    };
    this.instances.set(id, instance);
    return instance;
  }

  /** An instance as it is now (not a copy): undefined if it never existed. */
  get(id: string): InstanceInfo | undefined {
    return this.instances.get(id);
  }

  // --- the port ---

  caller(): Promise<CallerIdentity> {
    return this.call('caller', [], () => ({ ...this.identity }));
  }

  findInstances(tags: Record<string, string>, states: readonly string[] = LIVE_STATES, filters: InstanceFilter[] = []) {
    return this.call('findInstances', [tags, states, filters], () =>
      [...this.instances.values()]
        .filter(
          (i) =>
            states.includes(i.state) &&
            Object.entries(tags).every(([k, v]) => i.tags[k] === v) &&
            filters.every((f) => f.Values.some((v) => this.filterValues(i, f.Name).includes(v))),
        )
        .map(copy),
    );
  }

  describeInstance(id: string) {
    return this.call('describeInstance', [id], () => {
      const i = this.instances.get(id);
      if (i?.state === 'pending') this.boot(i);
      return i && copy(i);
    });
  }

  /** What enabledRegions answers (default: this cloud's region only). */
  enabledRegionNames: string[] | undefined;
  /** What taggedResources answers besides the ssh-ec2 security groups (volumes, key pairs, templates). */
  resources: TaggedResource[] = [];

  enabledRegions() {
    return this.call('enabledRegions', [], () => [...(this.enabledRegionNames ?? [this.region])]);
  }

  /** The listings a policy refuses, as their actions (ec2:DescribeVolumes, …): taggedResources leaves them out. */
  refusedListings: string[] = [];

  taggedResources() {
    const kindOf: Record<string, TaggedResource['kind']> = {
      'ec2:DescribeVolumes': 'volume',
      'ec2:DescribeSecurityGroups': 'security-group',
      'ec2:DescribeKeyPairs': 'key-pair',
      'ec2:DescribeLaunchTemplates': 'launch-template',
    };
    const refusedKinds = new Set(this.refusedListings.map((a) => kindOf[a]));
    return this.call('taggedResources', [], () => ({
      resources: [
        ...this.resources.map((r) => ({ ...r, tags: { ...r.tags } })),
        ...[...this.groups.values()]
          .filter((g) => 'ssh-ec2' in g.tags)
          .map((g): TaggedResource => ({ kind: 'security-group', id: g.id, name: g.name, tags: { ...g.tags } })),
      ].filter((r) => !refusedKinds.has(r.kind)),
      refused: [...this.refusedListings].sort(),
    }));
  }

  resolveImage(query: Parameters<Cloud['resolveImage']>[0]) {
    return this.call('resolveImage', [query], () => {
      const image = query.imageId
        ? { ...this.images.x86_64!, id: query.imageId }
        : this.images[query.architecture ?? ''];
      if (!image) throw new CloudError(`no ${query.architecture} image (fake)`, 'Set --image-name.', NO_IMAGE);
      return { ...image };
    });
  }

  describeInstanceType(type: string) {
    return this.call('describeInstanceType', [type], () => {
      const architectures = this.instanceTypes[type];
      if (!architectures) throw new ConfigError(`unknown instance type "${type}" in ${this.region}`);
      return { type, architectures: [...architectures] };
    });
  }

  instanceTypeDetails(types?: readonly string[]) {
    return this.call('instanceTypeDetails', [types], () =>
      (types ?? Object.keys(this.instanceTypes))
        .filter((t) => this.instanceTypes[t])
        .map((type) => ({
          type,
          architectures: [...(this.instanceTypes[type] ?? [])],
          ...(this.typeDetails[type] ?? { vcpus: 0, memoryMiB: 0, gpus: 0 }),
        })),
    );
  }

  private zonesOffering(type: string): string[] {
    return this.offeredIn[type] ?? this.zones.map((z) => z.name);
  }

  typeOfferings(location: 'region' | 'availability-zone', types?: readonly string[]) {
    return this.call('typeOfferings', [location, types], () =>
      (types ?? Object.keys(this.instanceTypes))
        .filter((t) => this.instanceTypes[t])
        .flatMap((type) => {
          const zones = this.zonesOffering(type);
          if (location === 'region') return zones.length > 0 ? [{ type, location: this.region }] : [];
          return zones.map((z) => ({ type, location: z }));
        }),
    );
  }

  spotPrices(types: readonly string[], zones?: readonly string[]) {
    return this.call('spotPrices', [types, zones], () =>
      types.flatMap((type) =>
        this.zonesOffering(type)
          .filter((z) => !zones || zones.includes(z))
          .flatMap((zone) => {
            const usd = this.spotPriceTable[`${type} ${zone}`];
            return usd === undefined ? [] : [{ type, zone, usd, at: new Date(0) }];
          }),
      ),
    );
  }

  defaultNetwork() {
    return this.call('defaultNetwork', [], () => {
      if (!this.vpcId) throw new ConfigError(`no default VPC in ${this.region} (fake)`);
      return { vpcId: this.vpcId, zones: this.zones.map((z) => ({ ...z })) };
    });
  }

  subnet(id: string) {
    return this.call('subnet', [id], () => {
      const s = this.subnets[id];
      if (!s) throw new ConfigError(`subnet ${id} not found in ${this.region}`);
      return { vpcId: s.vpcId, zone: { ...s.zone } };
    });
  }

  givenSecurityGroup(idOrName: string, vpcId: string) {
    return this.call('givenSecurityGroup', [idOrName, vpcId], () => {
      const g = [...this.groups.values()].find((x) => (x.id === idOrName || x.name === idOrName) && x.vpcId === vpcId);
      if (!g) throw new ConfigError(`security group ${idOrName} not found in ${vpcId} (fake)`);
      return g.id;
    });
  }

  ensureSecurityGroup(vpcId: string, cidr: string, tags: Record<string, string>) {
    return this.call('ensureSecurityGroup', [vpcId, cidr, tags], () => this.sshGroup(vpcId, cidr, tags)!);
  }

  allowSsh(vpcId: string, cidr: string) {
    return this.call('allowSsh', [vpcId, cidr], () => this.sshGroup(vpcId, cidr, undefined));
  }

  findSshSecurityGroup(vpcId: string) {
    return this.call('findSshSecurityGroup', [vpcId], () => {
      const g = [...this.groups.values()].find((x) => x.vpcId === vpcId && x.name === SECURITY_GROUP_NAME);
      if (g && !('ssh-ec2' in g.tags))
        throw new ConfigError(`the security group named ${SECURITY_GROUP_NAME} in ${vpcId} was not made by ssh-ec2`);
      return g && { groupId: g.id, cidrs: [...g.cidrs] };
    });
  }

  removeUnusedSecurityGroups() {
    return this.call('removeUnusedSecurityGroups', [], () => {
      let deleted = 0;
      let inUse = 0;
      for (const g of [...this.groups.values()].filter((x) => x.name === SECURITY_GROUP_NAME && 'ssh-ec2' in x.tags)) {
        const used = [...this.instances.values()].some(
          (i) => i.state !== 'terminated' && i.securityGroups?.some((s) => s.id === g.id),
        );
        if (used) inUse++;
        else deleted += Number(this.groups.delete(g.id));
      }
      return { deleted, inUse };
    });
  }

  launch(spec: LaunchSpec) {
    return this.call('launch', [spec], () => {
      // A retried RunInstances with the same token never makes a second instance (EC2's idempotency).
      const again = this.byToken.get(spec.clientToken);
      if (again) return copy(this.instances.get(again)!);
      const zone = this.zones.find((z) => z.subnetId === spec.subnetId) ?? this.subnets[spec.subnetId ?? '']?.zone;
      const instance = this.add({
        state: 'pending',
        publicIp: undefined,
        type: spec.instanceType,
        az: zone?.name ?? `${this.region}a`,
        vpcId: this.subnets[spec.subnetId ?? '']?.vpcId ?? this.vpcId,
        securityGroups: spec.securityGroupIds.map((id) => ({ id, name: this.groups.get(id)?.name ?? id })),
        tags: { ...spec.tags },
      });
      if (spec.spot) {
        instance.spotRequestId = this.id('sir');
        const type = spec.spot.oneTime ? 'one-time' : 'persistent';
        this.spotRequests.set(instance.spotRequestId, { type, state: 'active', instanceId: instance.id });
      }
      this.byToken.set(spec.clientToken, instance.id);
      this.booting.set(instance.id, this.bootDescribes);
      if (this.endWhilePending !== undefined) {
        instance.stateReason = this.endWhilePending;
        this.endWhilePending = undefined;
        this.booting.set(instance.id, -1);
      }
      return copy(instance);
    });
  }

  start(id: string) {
    return this.call('start', [id], () => {
      const i = this.known('start', id);
      if (i.state === 'running' || i.state === 'pending') return;
      if (i.state !== 'stopped') throw awsFailure('start', { code: 'IncorrectInstanceState' });
      i.state = 'pending';
      this.booting.set(id, this.bootDescribes);
    });
  }

  stop(id: string) {
    return this.call('stop', [id], () => {
      const i = this.known('stop', id);
      if (i.spotRequestId && this.spotRequests.get(i.spotRequestId)?.type === 'one-time')
        throw awsFailure('stop', { code: 'UnsupportedOperation' });
      if (i.state === 'terminated' || i.state === 'shutting-down')
        throw awsFailure('stop', { code: 'IncorrectInstanceState' });
      i.state = 'stopped';
      i.stoppedAt = new Date();
      i.publicIp = undefined;
    });
  }

  /** Spot requests made by spot launches, by id (EC2's: a persistent one not cancelled is fulfilled again). */
  spotRequests = new Map<string, { type: 'one-time' | 'persistent'; state: string; instanceId?: string }>();
  /** Instances terminated while their persistent request was still active: EC2 would launch another. */
  relaunchedFor: string[] = [];

  cancelSpotRequests(ids: readonly string[]) {
    return this.call('cancelSpotRequests', [ids], () => {
      for (const id of ids) {
        const r = this.spotRequests.get(id);
        if (r) r.state = 'cancelled';
      }
    });
  }

  terminate(id: string) {
    return this.call('terminate', [id], () => {
      const i = this.known('terminate', id);
      const request = i.spotRequestId ? this.spotRequests.get(i.spotRequestId) : undefined;
      if (request?.type === 'persistent' && request.state !== 'cancelled') this.relaunchedFor.push(id);
      i.state = 'terminated';
      i.publicIp = undefined;
    });
  }

  consoleOutput(id: string, latest?: boolean, bounds?: unknown) {
    return this.call('consoleOutput', [id, latest, bounds], () => this.console[this.known('consoleOutput', id).id]);
  }

  setInstanceType(id: string, type: string) {
    return this.call('setInstanceType', [id, type], () => {
      const i = this.known('setInstanceType', id);
      if (i.state !== 'stopped') throw awsFailure('setInstanceType', { code: 'IncorrectInstanceState' });
      i.type = type;
    });
  }

  /** Data volumes (--volume), by id. */
  readonly volumes = new Map<string, VolumeInfo>();

  findVolumes(tags: Record<string, string>) {
    return this.call('findVolumes', [tags], () =>
      [...this.volumes.values()]
        .filter((v) => Object.entries(tags).every(([k, x]) => v.tags[k] === x))
        .map((v) => ({ ...v, tags: { ...v.tags } })),
    );
  }

  createVolume(spec: { zone: string; sizeGiB: number; tags: Record<string, string> }) {
    return this.call('createVolume', [spec], () => {
      const v: VolumeInfo = {
        id: `vol-${String(this.next++).padStart(8, '0')}`,
        name: spec.tags['ssh-ec2:data-volume'] ?? '',
        sizeGiB: spec.sizeGiB,
        zone: spec.zone,
        state: 'available',
        createdAt: new Date(),
        tags: { ...spec.tags },
      };
      this.volumes.set(v.id, v);
      return { ...v, tags: { ...v.tags } };
    });
  }

  attachVolume(volumeId: string, instanceId: string, device: string) {
    return this.call('attachVolume', [volumeId, instanceId, device], () => {
      const v = this.volumes.get(volumeId);
      if (!v) throw awsFailure('attachVolume', { code: 'InvalidVolume.NotFound' });
      if (v.attachedTo) throw awsFailure('attachVolume', { code: 'VolumeInUse' });
      Object.assign(v, { state: 'in-use', attachedTo: instanceId, attachState: 'attached' });
      const i = this.instances.get(instanceId);
      if (i) i.devices = [...(i.devices ?? []), device];
    });
  }

  deleteVolume(id: string) {
    return this.call('deleteVolume', [id], () => {
      if (this.volumes.get(id)?.attachedTo) throw awsFailure('deleteVolume', { code: 'VolumeInUse' });
      this.volumes.delete(id);
    });
  }

  tag(id: string, tags: Record<string, string>) {
    return this.call('tag', [id, tags], () => {
      const target = this.instances.get(id) ?? this.groups.get(id) ?? this.volumes.get(id) ?? this.taggable.get(id);
      if (!target) throw awsFailure('tag', { code: 'InvalidInstanceID.NotFound' });
      Object.assign(target.tags, tags);
    });
  }

  pushSshKey(req: Parameters<Cloud['pushSshKey']>[0], bounds?: unknown) {
    return this.call('pushSshKey', [req, bounds], () => void this.known('pushSshKey', req.instanceId));
  }

  noteNew(id: string): void {
    this.calls.push({ op: 'noteNew', args: [id] });
    this.noted.add(id);
  }

  // --- the machinery ---

  private call<T>(op: CloudOp, args: unknown[], effect: () => T): Promise<T> {
    this.calls.push({ op, args });
    this.onCall?.(op, args);
    return answer(this.injections, op, args, effect);
  }

  /** The instance `op` names; EC2's NotFound for one it does not know. */
  private known(op: CloudOp, id: string): InstanceInfo {
    const i = this.instances.get(id);
    if (!i) throw awsFailure(op, { code: 'InvalidInstanceID.NotFound' });
    return i;
  }

  dryRun(call: DryRunCall) {
    return this.call('dryRun', [call], () =>
      this.deniedActions.has(call.action)
        ? {
            allowed: false as const,
            message: `You are not authorized to perform this operation. User: ${this.identity.arn} is not authorized to perform: ec2:${call.action} (fake)`,
          }
        : { allowed: true as const },
    );
  }

  describeSecurityGroup(vpcId: string, idOrName = SECURITY_GROUP_NAME) {
    return this.call('describeSecurityGroup', [vpcId, idOrName], () => {
      const g = [...this.groups.values()].find((x) => (x.id === idOrName || x.name === idOrName) && x.vpcId === vpcId);
      return g && { id: g.id, name: g.name, vpcId, tags: { ...g.tags }, sshFrom: [...g.cidrs] };
    });
  }

  keyPair(name: string) {
    return this.call('keyPair', [name], () => this.keyPairs[name]);
  }

  private boot(i: InstanceInfo): void {
    const left = this.booting.get(i.id) ?? 0;
    if (left < 0) {
      i.state = 'terminated';
    } else if (left > 0) {
      this.booting.set(i.id, left - 1);
    } else {
      i.state = 'running';
      i.publicIp = '203.0.113.10';
    }
  }

  private filterValues(i: InstanceInfo, name: string): string[] {
    if (name.startsWith('tag:')) return i.tags[name.slice(4)] === undefined ? [] : [i.tags[name.slice(4)]!];
    if (name === 'instance.group-id') return (i.securityGroups ?? []).map((g) => g.id);
    if (name === 'instance-state-name') return [i.state];
    throw new Error(`fake cloud: filter ${name} not played`);
  }

  /** ssh-ec2's group of the VPC letting `cidr` in; created when missing if `tags` are given. */
  private sshGroup(vpcId: string, cidr: string, tags: Record<string, string> | undefined): string | undefined {
    let g = [...this.groups.values()].find((x) => x.vpcId === vpcId && x.name === SECURITY_GROUP_NAME);
    if (g && !('ssh-ec2' in g.tags))
      throw new ConfigError(`the security group named ${SECURITY_GROUP_NAME} in ${vpcId} was not made by ssh-ec2`);
    if (!g && tags) {
      g = { id: this.id('sg'), name: SECURITY_GROUP_NAME, vpcId, tags: { ...tags }, cidrs: new Set() };
      this.groups.set(g.id, g);
    }
    g?.cidrs.add(cidr);
    return g?.id;
  }

  private id(prefix: string): string {
    return `${prefix}-${(this.next++).toString(16).padStart(8, '0')}`;
  }
}

function copy(i: InstanceInfo): InstanceInfo {
  return structuredClone(i);
}
