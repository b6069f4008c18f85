/**
 * The cloud port (port.ts) made with the AWS SDK: one client configuration (region: region.ts,
 * retries: retry.ts, user agent), pagination flattened inside, the SDK's shapes turned into the
 * port's (sdk-shapes.ts). Security groups are security-groups.ts's, Instance Connect
 * instance-connect.ts's. Loaded lazily so --help and --version never pay for the AWS SDK.
 */
import './quiet-sdk.js';
import {
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeInstanceTypesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  GetConsoleOutputCommand,
  EC2Client,
  ModifyInstanceAttributeCommand,
  paginateDescribeInstances,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { ConfigError } from '../errors.js';
import { NewResources } from './consistency.js';
import { aws, errorCode } from './errors.js';
import { instanceConnect } from './instance-connect.js';
import { inventory } from './inventory.js';
import { rememberedCaller, type CallerMemory } from './caller-memory.js';
import type { CallerIdentity } from './identity.js';
import { pickImage } from './image.js';
import { readOnlyCalls } from './read-only.js';
import { type Cloud, type InstanceInfo, LIVE_STATES } from './port.js';
import { resolveRegion } from './region.js';
import { clientConfig } from './retry.js';
import { toInfo, toTags } from './sdk-shapes.js';
import { runInstancesInput } from './run-instances.js';
import { securityGroups } from './security-groups.js';
import { spotRequestCalls } from './spot-requests.js';
import { typeLookups } from './type-lookups.js';
import { volumeCalls } from './volumes.js';

// The port's names, for the callers that import them from here.
export type { CallerMemory } from './caller-memory.js';
export type { Cloud, InstanceFilter, InstanceInfo, InstanceTypeInfo, LaunchSpec } from './port.js';
export { LIVE_STATES } from './port.js';

/** An instance launched less than this long ago may still be unknown to EC2 calls naming it. */
const JUST_LAUNCHED_MS = 10 * 60_000;

/**
 * `askCaller: false`: the owner is not asked ahead (a warm run loads the port for its final state
 * only). `callerMemory`: the identity of these credentials is taken from an earlier run (one STS
 * call fewer; issue #11), not asked.
 */
export async function createCloud(cfg: {
  region?: string;
  askCaller?: boolean;
  callerMemory?: CallerMemory;
}): Promise<Cloud> {
  const region = await resolveRegion(cfg.region);
  const config = clientConfig(region);
  const ec2 = new EC2Client(config);
  // One credential resolution for every client: a role profile is assumed once per run, so the
  // owner STS reports is the session the EC2 calls are made as (a session name the SDK makes up
  // would differ between two resolutions), and an SSO token is read once.
  const shared = { ...config, credentials: ec2.config.credentials };
  let caller: Promise<CallerIdentity> | undefined;
  // What this run created: EC2 may not know it yet (consistency.ts).
  const created = new NewResources();

  const defaultVpc = async (): Promise<string> => {
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
  };
  const endpoint = ec2.config.endpoint ? await ec2.config.endpoint() : undefined;

  const cloud: Cloud = {
    region,
    endpoint:
      endpoint &&
      `${endpoint.protocol}//${endpoint.hostname}${endpoint.port ? `:${endpoint.port}` : ''}${endpoint.path}`,

    caller() {
      // The STS client is loaded only now; the answer cannot change within a run. Across runs it
      // is kept by access key id (CallerMemory): the credentials may change between two runs (a
      // profile, an SSO login), and changed credentials are another key.
      caller ??= rememberedCaller(cfg.callerMemory, shared.credentials, cloud.endpoint, async () =>
        (await import('./sts.js')).callerIdentity(shared),
      );
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

    async defaultNetwork() {
      // The default subnets are the default VPC's: one call says both (the VPC is asked for only
      // when it has none, to tell "no default VPC" from "no default subnets").
      const r = await aws('list the default subnets', () =>
        ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'default-for-az', Values: ['true'] }] })),
      );
      const subnets = (r.Subnets ?? []).filter((s) => s.SubnetId && s.AvailabilityZone && s.VpcId);
      const vpcId = subnets[0]?.VpcId ?? (await defaultVpc());
      const zones = subnets
        .filter((s) => s.VpcId === vpcId)
        .map((s) => ({ name: s.AvailabilityZone!, subnetId: s.SubnetId! }))
        .sort((a, b) => a.name.localeCompare(b.name));
      return { vpcId, zones };
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

    ...securityGroups(ec2, created, region, (...args) => cloud.findInstances(...args)),
    ...inventory(ec2),
    ...readOnlyCalls(ec2),
    ...typeLookups(ec2),
    ...spotRequestCalls(ec2),
    ...volumeCalls(ec2),

    async launch(spec) {
      // The security group this run just created may not be known yet where instances are launched.
      const r = await aws('launch the instance', () =>
        created.settle(spec.securityGroupIds, () => ec2.send(new RunInstancesCommand(runInstancesInput(spec)))),
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

    pushSshKey: instanceConnect(shared),
  };
  // Every command that builds a Cloud needs the owner: asked now, it overlaps with what comes
  // before the first lookup (the lock, the journal). A failure is reported where it is awaited.
  if (cfg.askCaller !== false) cloud.caller().catch(() => undefined);
  return cloud;
}
