/**
 * doctor's checks of AWS, each as the run would ask it, none changing anything: who the
 * credentials are, the region, the network, the image, the security group, the permissions a
 * run uses (EC2's DryRun), the key pair with -i. A check that fails stops only those that need
 * its answer (no image: no RunInstances to try).
 */
import { checkDefaultImageSupports, DEFAULT_IMAGE_PATTERNS } from '../../cloud/dlami.js';
import { isExpiredCredentials } from '../../cloud/errors.js';
import type { CallerIdentity } from '../../cloud/identity.js';
import { architectureFor, type ImageInfo } from '../../cloud/image.js';
import { knownArchitecture } from '../../cloud/instance-types.js';
import type { Zone } from '../../cloud/capacity.js';
import type { Cloud, DryRunCall, InstanceInfo } from '../../cloud/port.js';
import { UserError } from '../../errors.js';
import { originOf } from '../../options.js';
import type { LocalContext } from '../../session/context.js';
import { ownerOf } from '../../session/owner.js';
import { sshCidr } from '../../session/ssh-access.js';
import { keyPairCheck } from './key-pair.js';
import { failed, NO_INSTANCE, NO_SPOT_REQUEST, permissionCheck, runInstancesCheck } from './permissions.js';
import { fail, ok, warn, type Check } from './report.js';

export interface AwsFacts {
  identity: CallerIdentity;
  /** The instances could not be listed: the instance check's line. */
  lookupFailed?: Check;
}

type Add = (c: Check) => void;

/** How to log in again: with a profile, its own command. */
export function loginFix(env: Readonly<Record<string, string | undefined>>): string {
  const profile = env.AWS_PROFILE;
  return profile
    ? `Log in again: aws sso login --profile ${profile} (an SSO profile), or renew the keys of profile ${profile}.`
    : 'Log in again: aws sso login (--profile NAME for yours), or get new keys (AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN).';
}

export async function credentialsCheck(
  cloud: Cloud,
  env: Readonly<Record<string, string | undefined>>,
  add: Add,
): Promise<CallerIdentity | undefined> {
  try {
    const id = await cloud.caller();
    add(ok('credentials', `${id.arn} (account ${id.account})`));
    return id;
  } catch (err) {
    if (isExpiredCredentials(err)) add(fail('credentials', (err as Error).message, loginFix(env)));
    else add(failed('credentials', err));
    return undefined;
  }
}

export function regionCheck(local: LocalContext, cloud: Cloud): Check {
  const from = originOf(local.options, 'region');
  return ok('region', `${cloud.region} (${from ?? "your AWS profile's, or ssh-ec2's default"})`);
}

interface Network {
  vpcId: string;
  /** The zone a launch tries first: the named subnet's, or the first default subnet's. */
  zone?: Zone;
}

async function networkCheck(local: LocalContext, cloud: Cloud, add: Add): Promise<Network | undefined> {
  const { subnetId } = local.options;
  try {
    if (subnetId) {
      const s = await cloud.subnet(subnetId);
      add(ok('network', `subnet ${subnetId} in ${s.vpcId} (${s.zone.name})`));
      return { vpcId: s.vpcId, zone: s.zone };
    }
    const n = await cloud.defaultNetwork();
    const zones = n.zones.map((z) => z.name).join(', ');
    add(ok('network', `default VPC ${n.vpcId}${zones ? `, default subnets in ${zones}` : ', no default subnets'}`));
    return { vpcId: n.vpcId, zone: n.zones[0] };
  } catch (err) {
    add(failed('network', err));
    return undefined;
  }
}

/** The image the first instance type resolves to, as a launch looks it up (launch-lookups.ts). */
async function imageCheck(local: LocalContext, cloud: Cloud, add: Add): Promise<ImageInfo | undefined> {
  const o = local.options;
  try {
    checkDefaultImageSupports(o);
    const type = o.instanceTypes[0]!;
    const architectures = knownArchitecture(type)
      ? [knownArchitecture(type)!]
      : (await cloud.describeInstanceType(type)).architectures;
    const image = await cloud.resolveImage({
      imageId: o.imageId,
      namePatterns: o.imageName ? [o.imageName] : DEFAULT_IMAGE_PATTERNS,
      owners: o.imageOwners,
      architecture: o.imageId ? undefined : architectureFor(architectures),
      region: cloud.region,
    });
    const date = image.created ? `, made ${image.created.slice(0, 10)}` : '';
    add(ok('image', `${image.name} (${image.id}${date}) for ${type}`));
    return image;
  } catch (err) {
    add(failed('image', err));
    return undefined;
  }
}

/** Whether `cidr` (an address /32 or wider) lies within `range`. IPv4 only. */
export function within(cidr: string, range: string): boolean {
  const parse = (c: string): [number, number] | undefined => {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(c);
    if (!m) return undefined;
    const ip = m.slice(1, 5).reduce((a, p) => a * 256 + Number(p), 0);
    return [ip, Number(m[5] ?? 32)];
  };
  const [ip, bits] = parse(cidr) ?? [];
  const [net, netBits] = parse(range) ?? [];
  if (ip === undefined || net === undefined || bits! < netBits!) return false;
  const size = 2 ** (32 - netBits!);
  return Math.floor(ip / size) === Math.floor(net / size);
}

/** The group a launch would use: the named one (only read), or ssh-ec2's (created if missing). */
async function securityGroupCheck(
  local: LocalContext,
  cloud: Cloud,
  vpcId: string,
  add: Add,
): Promise<{ groupId?: string; cidr?: string }> {
  const o = local.options;
  let cidr: string | undefined;
  try {
    cidr = await sshCidr(o);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    add(warn('security-group', err.message, err.hint));
  }
  try {
    const g = await cloud.describeSecurityGroup(vpcId, o.securityGroup);
    if (o.securityGroup) {
      if (!g)
        add(
          fail(
            'security-group',
            `${o.securityGroup} not found in ${vpcId}`,
            "Check --security-group / SSH_EC2_SECURITY_GROUP (an id sg-… or a name of that VPC), or drop it to use ssh-ec2's own group.",
          ),
        );
      else if (cidr && !g.sshFrom.some((r) => within(cidr, r)))
        add(
          fail(
            'security-group',
            `${g.id} (${g.name}) does not let ${cidr} in on port 22 (it lets ${g.sshFrom.join(', ') || 'nobody'})`,
            `Ask its administrator to allow tcp/22 from ${cidr}, or drop --security-group (ssh-ec2 then lets you in through its own).`,
          ),
        );
      else add(ok('security-group', `${g.id} (${g.name})${cidr ? ` lets ${cidr} in on port 22` : ''}`));
      return { groupId: g?.id, cidr };
    }
    if (!g) {
      add(ok('security-group', `ssh-ec2 would be created in ${vpcId}${cidr ? `, letting ${cidr} in on port 22` : ''}`));
      return { cidr };
    }
    if (!('ssh-ec2' in g.tags)) {
      add(
        fail(
          'security-group',
          `the group named ssh-ec2 in ${vpcId} (${g.id}) was not made by ssh-ec2 (no ssh-ec2 tag)`,
          'Rename or delete it; or, if it is meant for ssh-ec2, tag it ssh-ec2=shared.',
        ),
      );
      return { cidr };
    }
    const letIn = cidr && g.sshFrom.some((r) => within(cidr, r));
    add(
      ok(
        'security-group',
        `${g.id} (ssh-ec2) exists${cidr ? (letIn ? `, lets ${cidr} in` : `; ${cidr} will be let in at the next run`) : ''}`,
      ),
    );
    return { groupId: g.id, cidr };
  } catch (err) {
    add(failed('security-group', err));
    return { cidr };
  }
}

/** Every check that needs AWS, in order; undefined: the credentials failed, nothing else was asked. */
export async function awsChecks(
  local: LocalContext,
  cloud: Cloud,
  env: Readonly<Record<string, string | undefined>>,
  add: Add,
  instances: () => Promise<InstanceInfo[]>,
): Promise<AwsFacts | undefined> {
  const identity = await credentialsCheck(cloud, env, add);
  if (!identity) return undefined;
  add(regionCheck(local, cloud));
  // Asked at once, said in order.
  const [net, img]: Check[][] = [[], []];
  const [network, image] = await Promise.all([
    networkCheck(local, cloud, (c) => net.push(c)),
    imageCheck(local, cloud, (c) => img.push(c)),
  ]);
  for (const c of [...net, ...img]) add(c);
  const group = network ? await securityGroupCheck(local, cloud, network.vpcId, add) : {};
  let lookupFailed: Check | undefined;
  const found = await instances().catch((err: unknown) => ((lookupFailed = failed('instance', err)), []));
  const instance = found[0];
  const o = local.options;
  // A call that failed (the network, credentials) is its check's line.
  const asked = (check: string, p: Promise<Check>) => p.catch((err: unknown) => failed(check, err));
  const checks: Promise<Check>[] = [];
  if (image && network) {
    const owner = await ownerOf(cloud, local.log);
    const a = { image, zone: network.zone, groupId: group.groupId, owner };
    checks.push(asked('permission:RunInstances', runInstancesCheck(local, cloud, identity, a)));
  }
  const calls: DryRunCall[] = [];
  for (const action of ['StartInstances', 'StopInstances', 'TerminateInstances'] as const)
    calls.push({ action, instanceId: instance?.id ?? NO_INSTANCE });
  // A spot instance is terminated only once its request is cancelled (session/finish.ts): a policy
  // without the cancel is found here, before a spot run ends stopped instead of terminated.
  calls.push({ action: 'CancelSpotInstanceRequests', requestId: instance?.spotRequestId ?? NO_SPOT_REQUEST });
  if (network && !o.securityGroup) {
    if (!group.groupId)
      calls.push({ action: 'CreateSecurityGroup', vpcId: network.vpcId, tags: { 'ssh-ec2': 'shared' } });
    else if (group.cidr)
      calls.push({ action: 'AuthorizeSecurityGroupIngress', groupId: group.groupId, cidr: group.cidr });
  }
  checks.push(...calls.map((c) => asked(`permission:${c.action}`, permissionCheck(cloud, c, identity))));
  for (const check of await Promise.all(checks)) add(check);
  if (o.identity) add(await keyPairCheck(local, cloud).catch((err: unknown) => failed('key-pair', err)));
  return { identity, lookupFailed };
}
