/**
 * The port's calls that only look (ssh-ec2 doctor): EC2's DryRun of each call a run makes, a
 * security group's tcp/22 rules, a key pair. None of them changes anything: a DryRun is answered
 * DryRunOperation (allowed) or UnauthorizedOperation (not) before EC2 does any of it.
 */
import './quiet-sdk.js';
import {
  AuthorizeSecurityGroupIngressCommand,
  CancelSpotInstanceRequestsCommand,
  CreateSecurityGroupCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { kindOf } from './aws-codes.js';
import { aws, errorCode, mapAwsError } from './errors.js';
import type { Cloud, DryRunAnswer, DryRunCall } from './port.js';
import { runInstancesInput } from './run-instances.js';
import { toTags } from './sdk-shapes.js';
import { SECURITY_GROUP_NAME } from './ssh-rules.js';

export type ReadOnlyCalls = Pick<Cloud, 'dryRun' | 'describeSecurityGroup' | 'keyPair'>;

/**
 * Sends a permission's DryRun: the same request as the real call (RunInstances: the launch's own,
 * run-instances.ts), so that iam:PassRole, KMS and conditions on tags are asked about too.
 */
function sendDryRun(ec2: EC2Client, c: DryRunCall): Promise<unknown> {
  const DryRun = true;
  switch (c.action) {
    case 'RunInstances':
      return ec2.send(new RunInstancesCommand({ ...runInstancesInput(c.spec), DryRun }));
    case 'StartInstances':
      return ec2.send(new StartInstancesCommand({ DryRun, InstanceIds: [c.instanceId] }));
    case 'StopInstances':
      return ec2.send(new StopInstancesCommand({ DryRun, InstanceIds: [c.instanceId] }));
    case 'TerminateInstances':
      return ec2.send(new TerminateInstancesCommand({ DryRun, InstanceIds: [c.instanceId] }));
    case 'CancelSpotInstanceRequests':
      return ec2.send(new CancelSpotInstanceRequestsCommand({ DryRun, SpotInstanceRequestIds: [c.requestId] }));
    case 'CreateSecurityGroup':
      return ec2.send(
        new CreateSecurityGroupCommand({
          DryRun,
          GroupName: SECURITY_GROUP_NAME,
          Description: 'ssh-ec2: ssh from its users addresses only',
          VpcId: c.vpcId,
          TagSpecifications: [{ ResourceType: 'security-group', Tags: toTags(c.tags) }],
        }),
      );
    case 'AuthorizeSecurityGroupIngress':
      return ec2.send(
        new AuthorizeSecurityGroupIngressCommand({
          DryRun,
          GroupId: c.groupId,
          IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: c.cidr }] }],
        }),
      );
  }
}

/** The CIDRs a group's rules let reach tcp/22. */
function sshFrom(rules: readonly IpPermission[]): string[] {
  const reaches22 = (p: IpPermission) =>
    p.IpProtocol === '-1' || (p.IpProtocol === 'tcp' && (p.FromPort ?? 0) <= 22 && (p.ToPort ?? 65535) >= 22);
  return rules.filter(reaches22).flatMap((p) => (p.IpRanges ?? []).map((r) => r.CidrIp ?? ''));
}

export function readOnlyCalls(ec2: EC2Client): ReadOnlyCalls {
  return {
    async dryRun(call): Promise<DryRunAnswer> {
      try {
        await sendDryRun(ec2, call);
        return { allowed: true }; // EC2 ignores DryRun for no call; an endpoint that did: it was allowed
      } catch (err) {
        const code = errorCode(err);
        if (code === 'DryRunOperation') return { allowed: true };
        if (kindOf(code) === 'denied') return { allowed: false, message: (err as Error).message ?? code };
        // Credentials, the network: said as any other call says them.
        if (['expired', 'rejected'].includes(kindOf(code) ?? '') || !code || /Error$/.test(code))
          throw mapAwsError(err, `check ${call.action}`);
        return { allowed: 'unknown', code, message: (err as Error).message ?? code };
      }
    },

    async describeSecurityGroup(vpcId, idOrName) {
      const which = idOrName ?? SECURITY_GROUP_NAME;
      const r = await aws('find the security group', () =>
        ec2.send(
          new DescribeSecurityGroupsCommand({
            Filters: [
              { Name: 'vpc-id', Values: [vpcId] },
              { Name: /^sg-[0-9a-f]+$/.test(which) ? 'group-id' : 'group-name', Values: [which] },
            ],
          }),
        ),
      );
      const g = r.SecurityGroups?.[0];
      if (!g?.GroupId) return undefined;
      return {
        id: g.GroupId,
        name: g.GroupName ?? '',
        vpcId: g.VpcId ?? vpcId,
        tags: Object.fromEntries((g.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
        sshFrom: sshFrom(g.IpPermissions ?? []),
      };
    },

    async keyPair(name) {
      return aws('find the key pair', async () => {
        try {
          const r = await ec2.send(new DescribeKeyPairsCommand({ KeyNames: [name] }));
          const k = r.KeyPairs?.[0];
          return k ? { name, fingerprint: k.KeyFingerprint, type: k.KeyType } : undefined;
        } catch (err) {
          if (errorCode(err) === 'InvalidKeyPair.NotFound') return undefined;
          throw err;
        }
      });
    },
  };
}
