/**
 * The ssh rules of the shared security group. Each run lets its caller's address in (a /32,
 * described "ssh-ec2 <day of the last run from it>"); a rule of ours whose day is more than
 * STALE_DAYS old is an address nobody has come from for that long (a café, last month's home
 * address) and is revoked, so the group never collects every address its users ever had (EC2
 * allows 60 rules per group). Rules someone else wrote (another description) are never touched.
 */
import type { IpPermission } from '@aws-sdk/client-ec2';

/**
 * The name of ssh-ec2's own security group (one per VPC). Here, not in security-groups.ts, so code
 * on the start-up path can name it without loading the SDK.
 */
export const SECURITY_GROUP_NAME = 'ssh-ec2';

export const STALE_DAYS = 30;
const OURS = /^ssh-ec2 (\d{4}-\d{2}-\d{2})$/;

export const ruleDescription = (today: Date): string => `ssh-ec2 ${today.toISOString().slice(0, 10)}`;

export interface RuleChanges {
  /** `cidr` is not let in yet. */
  authorize: boolean;
  /** `cidr`'s rule is ours but not of today: its day is moved to today. */
  refresh: boolean;
  /** Our rules for other addresses, unused for more than STALE_DAYS. */
  revoke: string[];
}

export function sshRuleChanges(permissions: readonly IpPermission[], cidr: string, today: Date): RuleChanges {
  const ranges = permissions
    .filter((p) => p.IpProtocol === 'tcp' && p.FromPort === 22 && p.ToPort === 22)
    .flatMap((p) => p.IpRanges ?? []);
  const mine = ranges.find((r) => r.CidrIp === cidr);
  const day = (d: string | undefined) => OURS.exec(d ?? '')?.[1];
  const staleBefore = new Date(today.getTime() - STALE_DAYS * 86_400_000).toISOString().slice(0, 10);
  return {
    authorize: !mine,
    refresh: !!mine && day(mine.Description) !== undefined && mine.Description !== ruleDescription(today),
    revoke: ranges
      .filter((r) => r.CidrIp !== cidr && (day(r.Description) ?? '9999') < staleBefore)
      .map((r) => r.CidrIp!),
  };
}
