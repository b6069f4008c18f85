/**
 * ssh-ec2's security groups: the one per VPC named ssh-ec2 and tagged ssh-ec2 (the tag is what
 * makes it ours: a group of that name without it is someone else's and never used or changed),
 * its tcp/22 rules dated and aged out (ssh-rules.ts), the cleanup of groups no instance uses, and
 * the group a user names (--security-group), which is only read.
 */
import './quiet-sdk.js';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupIngressCommand,
  UpdateSecurityGroupRuleDescriptionsIngressCommand,
  type EC2Client,
  type Filter,
  type IpPermission,
  type IpRange,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { ConfigError, UserError } from '../errors.js';
import { type NewResources, retrying } from './consistency.js';
import { kindOf } from './aws-codes.js';
import { aws, errorCode, mapAwsError } from './errors.js';
import { type Cloud, LIVE_STATES } from './port.js';
import { toTags } from './sdk-shapes.js';
import { ruleDescription, SECURITY_GROUP_NAME, sshRuleChanges } from './ssh-rules.js';

/** The tag key every security group ssh-ec2 creates carries (and the only ones it uses or deletes). */
const SECURITY_GROUP_TAG = 'ssh-ec2';

export type SecurityGroupCalls = Pick<
  Cloud,
  'givenSecurityGroup' | 'ensureSecurityGroup' | 'allowSsh' | 'removeUnusedSecurityGroups' | 'findSshSecurityGroup'
>;

/** The port's security-group calls, made with the client `ec2`; `created`: what this run created. */
export function securityGroups(
  ec2: EC2Client,
  created: NewResources,
  region: string,
  findInstances: Cloud['findInstances'],
): SecurityGroupCalls {
  /** The groups matching `filters`; `doing` completes "could not …". */
  const described = async (doing: string, filters: Filter[]): Promise<SecurityGroup[]> =>
    (await aws(doing, () => ec2.send(new DescribeSecurityGroupsCommand({ Filters: filters })))).SecurityGroups ?? [];

  /** The VPC's group named ssh-ec2, if it is ssh-ec2's (someone else's by that name: ConfigError). */
  const findGroup = async (vpcId: string): Promise<SecurityGroup | undefined> => {
    const [group] = await described('find the security group', [
      { Name: 'vpc-id', Values: [vpcId] },
      { Name: 'group-name', Values: [SECURITY_GROUP_NAME] },
    ]);
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
      // Not allowed to create groups (an administrator made ssh-ec2's): theirs, if it is there.
      const allowedNot = kindOf(errorCode(err)) === 'denied' && (await findGroup(vpcId));
      if (allowedNot) return allowedNot;
      if (errorCode(err) !== 'InvalidGroup.Duplicate') throw mapAwsError(err, 'create the security group');
      // There already (created without a lookup first), or two first runs at once (two terminals,
      // two directories): the other one's group is used.
      const listed = () => findGroup(vpcId).then((g) => g ?? Promise.reject(new Error('not listed yet')));
      const theirs = await retrying(listed, (e) => !(e instanceof UserError)).catch((e: unknown) => {
        throw e instanceof UserError ? e : mapAwsError(err, 'create the security group');
      });
      // Perhaps just created: EC2 may not know it yet where its rules are changed either.
      created.add(theirs.GroupId!);
      return theirs;
    }
  };

  /**
   * The VPC's ssh-ec2 group, letting `cidr` in; created with `tags` when missing (no tags:
   * undefined). `createFirst`: created at once, found only if it exists (createGroup).
   */
  const sshGroup = async (
    vpcId: string,
    cidr: string,
    tags: Record<string, string> | undefined,
    createFirst = false,
  ): Promise<string | undefined> => {
    const group =
      tags && createFirst
        ? await createGroup(vpcId, tags)
        : ((await findGroup(vpcId)) ?? (tags && (await createGroup(vpcId, tags))));
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

  return {
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

    async removeUnusedSecurityGroups() {
      const groups = await described('find the security groups', [
        { Name: 'group-name', Values: [SECURITY_GROUP_NAME] },
        { Name: 'tag-key', Values: [SECURITY_GROUP_TAG] },
      ]);
      let deleted = 0;
      let inUse = 0;
      for (const g of groups) {
        const users = await findInstances(
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

    async ensureSecurityGroup(vpcId, cidr, tags, how) {
      return (await sshGroup(vpcId, cidr, tags, how?.createFirst))!;
    },

    allowSsh: (vpcId, cidr) => sshGroup(vpcId, cidr, undefined),

    async findSshSecurityGroup(vpcId) {
      const group = await findGroup(vpcId);
      if (!group?.GroupId) return undefined;
      const ssh = (group.IpPermissions ?? []).filter((p) => p.IpProtocol === 'tcp' && p.FromPort === 22);
      return { groupId: group.GroupId, cidrs: ssh.flatMap((p) => (p.IpRanges ?? []).map((r) => r.CidrIp!)) };
    },
  };
}
