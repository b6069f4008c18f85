/**
 * Letting the caller's address reach port 22: the ssh-ec2 security group's rule for it (added
 * at launch, and again for a reused instance or after a dropped connection).
 */
import type { Cloud, InstanceInfo } from '../cloud/port.js';
import { SECURITY_GROUP_NAME } from '../cloud/ssh-rules.js';
import { ConfigError } from '../errors.js';
import type { Options } from '../options.js';
import type { Logger } from '../ui/logger.js';

const allowed = new Map<string, Promise<void>>();

/**
 * A reused instance may be reached from another address than the one it was launched from (the
 * laptop moved), and so may any instance after a dropped connection: the caller's address is let
 * into the ssh-ec2 group of the instance's VPC while ssh connects. Once per VPC and run, unless
 * `fresh` (after a drop: the address may have changed). It never fails the run: the address may
 * already be let in some other way. An instance that is not in ssh-ec2's group (launched with
 * --security-group, an administrator's) is left alone: that group's rules are not ours to change.
 */
export function letCallerIn(
  o: Options,
  cloud: Cloud,
  instance: InstanceInfo,
  log: Logger,
  fresh = false,
): Promise<void> {
  const vpcId = instance.vpcId;
  if (!vpcId || !inSshEc2Group(instance)) return Promise.resolve();
  let done = fresh ? undefined : allowed.get(vpcId);
  if (!done) {
    done = sshCidr(o)
      .then((cidr) => cloud.allowSsh(vpcId, cidr))
      .then(
        () => undefined,
        (err: unknown) =>
          log.detail(
            `could not let your address into the ssh-ec2 security group of ${vpcId}: ${(err as Error).message}`,
          ),
      );
    allowed.set(vpcId, done);
  }
  return done;
}

/**
 * Whether the instance is in a group named as ssh-ec2's (allowSsh then checks it is ssh-ec2's).
 * Unknown groups: assumed so, as before.
 */
export function inSshEc2Group(instance: InstanceInfo): boolean {
  return !instance.securityGroups || instance.securityGroups.some((g) => g.name === SECURITY_GROUP_NAME);
}

/** Who may reach port 22: the given CIDR, else this machine's public address as a /32. */
export async function sshCidr(o: Options): Promise<string> {
  if (o.sshCidr) return o.sshCidr;
  try {
    const r = await fetch(o.ipUrl, { signal: AbortSignal.timeout(5000) });
    const ip = (await r.text()).trim();
    if (!r.ok || !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new Error(`unexpected answer "${ip.slice(0, 40)}"`);
    return `${ip}/32`;
  } catch (err) {
    throw new ConfigError(
      `could not find your public address from ${o.ipUrl} (${(err as Error).message})`,
      'Pass --ssh-cidr with the address ssh comes from, e.g. --ssh-cidr 203.0.113.7/32.',
    );
  }
}
