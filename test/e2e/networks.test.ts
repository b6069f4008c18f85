import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteSubnetCommand,
  DeleteVpcCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  ec2Client,
  instances,
  instanceState,
  launches,
  makeProject,
  reportedInstance,
  sshSecurityGroups,
  useSandbox,
} from './helpers.js';

const sb = useSandbox();
let ec2: EC2Client;
let defaultVpc: string;
beforeAll(async () => {
  ec2 = ec2Client(sb);
  defaultVpc = (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] })))
    .Vpcs![0]!.VpcId!;
});

// No instance profile: the sandbox has none (the relaunch without one adds RunInstances calls).
const NO_PROFILE = ['--iam-profile', ''];

/** A VPC of the user's own (not the default) with one subnet in `zone`. */
async function ownNetwork(client: EC2Client, cidr: string, zone: string): Promise<{ vpcId: string; subnetId: string }> {
  const vpcId = (await client.send(new CreateVpcCommand({ CidrBlock: cidr }))).Vpc!.VpcId!;
  const subnetId = (
    await client.send(
      new CreateSubnetCommand({
        VpcId: vpcId,
        CidrBlock: cidr.replace(/\.0\.0\/16$/, '.1.0/24'),
        AvailabilityZone: zone,
      }),
    )
  ).Subnet!.SubnetId!;
  return { vpcId, subnetId };
}

/** An administrator's group: its own rule, tagged ssh-ec2:usable as the policy asks. */
async function adminGroup(name: string, vpcId: string): Promise<string> {
  const { GroupId } = await ec2.send(
    new CreateSecurityGroupCommand({
      GroupName: name,
      Description: 'made by the administrator',
      VpcId: vpcId,
      TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'ssh-ec2:usable', Value: 'yes' }] }],
    }),
  );
  await ec2.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId,
      IpPermissions: [
        {
          IpProtocol: 'tcp',
          FromPort: 22,
          ToPort: 22,
          IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'office VPN' }],
        },
      ],
    }),
  );
  return GroupId!;
}

async function rulesOf(groupId: string): Promise<IpPermission[] | undefined> {
  return (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }))).SecurityGroups?.[0]
    ?.IpPermissions;
}

const GROUP_CHANGES = [
  'CreateSecurityGroup',
  'AuthorizeSecurityGroupIngress',
  'RevokeSecurityGroupIngress',
  'UpdateSecurityGroupRuleDescriptionsIngress',
  'DeleteSecurityGroup',
];

describe('--subnet-id', () => {
  it('launches in that subnet, in a VPC that is not the default one (its VPC follows from it; its zone is the only one tried)', async () => {
    const { vpcId, subnetId } = await ownNetwork(ec2, '10.42.0.0/16', 'eu-central-1b');
    const dir = makeProject(sb, 'own-subnet');
    sb.clearCalls();
    const r = await cli(sb, [...NO_PROFILE, '--subnet-id', subnetId, 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(r.stderr).toMatch(/launching g4dn\.xlarge \(on-demand\) from .* in eu-central-1b: /);
    expect(sb.calls('RunInstances').map((c) => c.params.SubnetId)).toEqual([subnetId]);
    const id = reportedInstance(r.stderr);
    const instance = (await instances(sb)).find((i) => i.InstanceId === id)!;
    expect([instance.VpcId, instance.SubnetId]).toEqual([vpcId, subnetId]);
    // ssh-ec2's own group, made in that VPC.
    const group = (await sshSecurityGroups(sb)).find((g) => g.VpcId === vpcId);
    expect(instance.SecurityGroups?.map((g) => g.GroupId)).toEqual([group?.GroupId]);
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('with no capacity in its zone: no other zone is tried (exit 5, that zone named)', async () => {
    const { subnetId } = await ownNetwork(ec2, '10.43.0.0/16', 'eu-central-1c');
    sb.clearCalls();
    sb.inject({
      action: 'RunInstances',
      status: 500,
      code: 'InsufficientInstanceCapacity',
      message: 'Insufficient capacity.',
      times: Infinity,
    });
    try {
      const r = await cli(sb, [...NO_PROFILE, '--subnet-id', subnetId, 'true'], {
        cwd: makeProject(sb, 'own-subnet-full'),
      });
      expect(r.exitCode).toBe(5);
      expect(r.stderr).toContain(
        'no capacity for any instance type tried: g4dn.xlarge in eu-central-1c (InsufficientInstanceCapacity)\n',
      );
    } finally {
      sb.clearFaults();
    }
    expect(sb.calls('RunInstances').map((c) => c.params.SubnetId)).toEqual([subnetId]);
  });

  it('a subnet that does not exist: exit 3, one line, nothing launched', async () => {
    sb.clearCalls();
    const r = await cli(sb, ['--subnet-id', 'subnet-0000000000000dead', 'true'], { cwd: makeProject(sb, 'no-subnet') });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(
      /^ssh-ec2: error: --subnet-id: subnet subnet-0000000000000dead not found in eu-central-1\nssh-ec2: .*describe-subnets/m,
    );
    expect(sb.calls('RunInstances')).toEqual([]);
  });
});

describe('--security-group', () => {
  it('by id: the instance is launched in it alone; its rules are never changed, no address is asked, no ssh-ec2 group made', async () => {
    const groupId = await adminGroup('admin-ssh-by-id', defaultVpc);
    const before = await rulesOf(groupId);
    const ownGroups = (await sshSecurityGroups(sb)).length;
    sb.clearCalls();
    // Were the public address asked, this unreachable address would fail the run (exit 3).
    const env = { SSH_EC2_SSH_CIDR: undefined, SSH_EC2_IP_URL: 'http://127.0.0.1:9/' };
    const r = await cli(sb, [...NO_PROFILE, '--security-group', groupId, 'echo ran'], {
      cwd: makeProject(sb, 'group-by-id'),
      env,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    const p = launches(sb)[0]!.params;
    expect(
      Object.entries(p)
        .filter(([k]) => k.startsWith('SecurityGroupId.'))
        .map(([, v]) => v),
    ).toEqual([groupId]);
    for (const action of GROUP_CHANGES) expect(sb.calls(action), action).toEqual([]);
    expect(await rulesOf(groupId)).toEqual(before);
    expect(await sshSecurityGroups(sb)).toHaveLength(ownGroups);
    expect(await instanceState(sb, reportedInstance(r.stderr))).toBe('terminated');
  });

  it('by name (SSH_EC2_SECURITY_GROUP): a later run on that instance, and down, leave the group as it is', async () => {
    const groupId = await adminGroup('launch-wizard-1', defaultVpc);
    const before = await rulesOf(groupId);
    // ssh-ec2's own group exists in that VPC (other instances use it): the address could be let in there.
    if (!(await sshSecurityGroups(sb)).some((g) => g.VpcId === defaultVpc)) {
      await ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: 'ssh-ec2',
          Description: 'ssh-ec2',
          VpcId: defaultVpc,
          TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'ssh-ec2', Value: 'shared' }] }],
        }),
      );
    }
    const dir = makeProject(sb, 'group-by-name');
    sb.clearCalls();
    const first = await cli(sb, [...NO_PROFILE, '--leave', 'true'], {
      cwd: dir,
      env: { SSH_EC2_SECURITY_GROUP: 'launch-wizard-1' },
    });
    expect(first.exitCode, first.stderr).toBe(0);
    const id = reportedInstance(first.stderr);
    expect((await instances(sb)).find((i) => i.InstanceId === id)?.SecurityGroups?.map((g) => g.GroupId)).toEqual([
      groupId,
    ]);
    // A reused instance is normally let in from the caller's (new) address: not into this group.
    sb.setPublicAddress('127.0.0.7');
    try {
      const second = await cli(sb, ['--leave', 'true'], { cwd: dir, env: { SSH_EC2_SSH_CIDR: undefined } });
      expect(second.exitCode, second.stderr).toBe(0);
      expect(second.stderr).toContain(`using instance ${id}`);
    } finally {
      sb.setPublicAddress('127.0.0.1');
    }
    const down = await cli(sb, ['down', '--yes'], { cwd: dir });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await instanceState(sb, id)).toBe('terminated');
    for (const action of GROUP_CHANGES)
      expect(
        sb.calls(action).filter((c) => c.params.GroupId === groupId || c.params.GroupName === 'launch-wizard-1'),
        action,
      ).toEqual([]);
    expect(sb.calls('AuthorizeSecurityGroupIngress')).toEqual([]);
    expect(await rulesOf(groupId)).toEqual(before);
  });

  it("a group of another VPC than the instance's: exit 3 saying where it is, nothing launched", async () => {
    const { vpcId } = await ownNetwork(ec2, '10.44.0.0/16', 'eu-central-1a');
    const groupId = await adminGroup('elsewhere', vpcId);
    for (const given of [groupId, 'elsewhere']) {
      sb.clearCalls();
      const r = await cli(sb, ['--security-group', given, 'true'], { cwd: makeProject(sb, 'group-elsewhere') });
      expect(r.exitCode, given).toBe(3);
      expect(r.stderr).toContain(
        `error: --security-group: security group ${given} is not in the instance's VPC ${defaultVpc} (${groupId} in ${vpcId})\n`,
      );
      expect(r.stderr).toMatch(/--subnet-id chooses the VPC/);
      expect(sb.calls('RunInstances')).toEqual([]);
    }
  });

  it('a group that does not exist: exit 3, nothing launched', async () => {
    sb.clearCalls();
    const r = await cli(sb, ['--security-group', 'no-such-group', 'true'], { cwd: makeProject(sb, 'group-missing') });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('error: --security-group: security group no-such-group not found in eu-central-1\n');
    expect(sb.calls('RunInstances')).toEqual([]);
  });
});

describe('a region without a default VPC (as many enterprise accounts are)', () => {
  // Another region of the sandbox, whose default VPC is deleted: the others' tests keep theirs.
  const REGION = 'eu-west-3';

  it('says to name a subnet (exit 3, nothing launched); with --subnet-id the session runs there', async () => {
    const regional = new EC2Client({
      region: REGION,
      endpoint: sb.endpoint,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    const vpc = (await regional.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] })))
      .Vpcs![0]!.VpcId!;
    for (const s of (await regional.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] })))
      .Subnets ?? []) {
      await regional.send(new DeleteSubnetCommand({ SubnetId: s.SubnetId }));
    }
    await regional.send(new DeleteVpcCommand({ VpcId: vpc }));
    expect(
      (await regional.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }))).Vpcs,
    ).toEqual([]);

    const dir = makeProject(sb, 'no-default-vpc');
    sb.clearCalls();
    const refused = await cli(sb, ['--region', REGION, 'true'], { cwd: dir });
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toMatch(
      /^ssh-ec2: error: no default VPC in eu-west-3: ssh-ec2 does not know where to launch\nssh-ec2: Name a subnet to launch in: --subnet-id subnet-… \(or SSH_EC2_SUBNET_ID\)/m,
    );
    expect(sb.calls('RunInstances')).toEqual([]);

    const { subnetId } = await ownNetwork(regional, '10.50.0.0/16', `${REGION}a`);
    const r = await cli(sb, [...NO_PROFILE, '--region', REGION, 'echo ran'], {
      cwd: dir,
      env: { SSH_EC2_SUBNET_ID: subnetId },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(launches(sb).map((c) => c.params.SubnetId)).toEqual([subnetId]);
  });
});
