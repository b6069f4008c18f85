import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeVpcsCommand,
  RegisterImageCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootConsole } from '../sandbox/index.js';
import {
  cli,
  closeMaster,
  ec2Client,
  instances,
  instanceState,
  launches,
  makeProject,
  remotePath,
  reportedInstance,
  sshSecurityGroups,
  useSandbox,
} from './helpers.js';

const sb = useSandbox();

describe('mistakes the user can make', () => {
  it.each([[['--bogus', 'ls']], [['--ssh-cidr', '0.0.0.0/0', 'ls']], [['-l', '-s', 'ls']], [['--region']]])(
    '%j: one line, exit 2, no AWS call',
    async (args) => {
      const dir = makeProject(sb, 'usage');
      sb.clearCalls();
      const r = await cli(sb, args, { cwd: dir });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/^ssh-ec2: error: .+\nssh-ec2: .+\n$/);
      expect(sb.calls()).toHaveLength(0);
    },
  );

  it('--help and --version answer without any AWS call', async () => {
    const dir = makeProject(sb, 'help');
    sb.clearCalls();
    const help = await cli(sb, ['--help'], { cwd: dir });
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^Usage: ssh-ec2 \[options\] \[--\] \[command words\.\.\.\]/);
    for (const flag of [
      '--leave',
      '--stop',
      '--terminate',
      '--no-rsync',
      '--ssh-config',
      '--ssh-cidr',
      '--user',
      '--identity',
      '--remote-dir',
      '--iam-profile',
      '--user-data',
      '--volume-size',
      '--image-owner',
    ]) {
      expect(help.stdout).toContain(flag.replace('--no-rsync', '--rsync'));
    }
    const version = await cli(sb, ['--version'], { cwd: dir });
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(sb.calls()).toHaveLength(0);
  });

  it('missing credentials: says how to configure them, launches nothing', async () => {
    const dir = makeProject(sb, 'nocreds');
    sb.clearCalls();
    const r = await cli(sb, ['ls'], {
      cwd: dir,
      env: { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined },
    });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/no AWS credentials found/);
    expect(r.stderr).toMatch(/aws configure|aws sso login/);
    expect(sb.calls('RunInstances')).toHaveLength(0);
  });

  it('missing identity file: exit 3 before any AWS call', async () => {
    const dir = makeProject(sb, 'nokey');
    sb.clearCalls();
    const r = await cli(sb, ['-i', '/nonexistent.pem', 'ls'], { cwd: dir });
    expect(r.exitCode).toBe(3);
    // Where the path came from, as for every bad value (issue #10).
    expect(r.stderr).toMatch(/error: --identity: identity file \/nonexistent\.pem not found/);
    expect(sb.calls()).toHaveLength(0);
  });

  it('unknown instance type: one clear line, nothing launched', async () => {
    const dir = makeProject(sb, 'badtype');
    sb.clearCalls();
    // Not a GPU family's name (the default image's check would refuse that before asking AWS: images.test.ts).
    const r = await cli(sb, ['--instance-type', 'c9zz.huge', 'ls'], { cwd: dir });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toMatch(/c9zz\.huge/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(sb.calls('RunInstances')).toHaveLength(0);
  });
});

describe('an instance ssh-ec2 cannot prepare', () => {
  it("the agent's install failing there (a file where its directory goes): one line with what the instance said, exit 6, nothing run, the instance left as asked", async () => {
    const dir = makeProject(sb, 'unprepared');
    const first = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const id = reportedInstance(first.stderr);
    // What a full disk or a broken home does to the install: `mkdir -p ~/.ssh-ec2/jobs` fails.
    const jobs = join(remotePath(sb, '.ssh-ec2', id), 'jobs');
    rmSync(jobs, { recursive: true, force: true });
    writeFileSync(jobs, 'not a directory\n');
    await closeMaster(sb, id); // the API path: the warm one trusts a prepared instance
    const r = await cli(sb, ['--leave', 'touch', 'ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/error: could not install ssh-ec2's agent on i-\w+: .*jobs/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+|please report/);
    expect(existsSync(join(remotePath(sb, 'unprepared', id), 'ran'))).toBe(false);
    expect(await instanceState(sb, id)).toBe('running');
  });
});

describe('what is launched', () => {
  it('uses the newest image of the pinned owner, never a newer look-alike from anyone else', async () => {
    const ec2 = ec2Client(sb);
    const amazon = await ec2.send(
      new DescribeImagesCommand({
        Owners: ['amazon'],
        Filters: [
          { Name: 'name', Values: ['Deep Learning OSS Nvidia Driver AMI GPU PyTorch * (Ubuntu *'] },
          { Name: 'architecture', Values: ['x86_64'] },
        ],
      }),
    );
    const expected = [...(amazon.Images ?? [])].sort((a, b) =>
      (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''),
    )[0]!.ImageId;
    await ec2.send(
      new RegisterImageCommand({
        Name: 'Deep Learning OSS Nvidia Driver AMI GPU PyTorch 9.9 (Ubuntu 24.04) 20991231',
        Architecture: 'x86_64',
        RootDeviceName: '/dev/sda1',
      }),
    );
    const dir = makeProject(sb, 'image');
    sb.clearCalls();
    const r = await cli(sb, ['true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(launches(sb)[0]!.params.ImageId).toBe(expected);
  });

  it('requires IMDSv2, encrypts and tags its volume, sets an idempotency token and a shutdown behaviour that never deletes results', async () => {
    const dir = makeProject(sb, 'params');
    sb.clearCalls();
    // Even when the final state is terminate: a poweroff from inside only stops.
    expect((await cli(sb, ['true'], { cwd: dir })).exitCode).toBe(0);
    const p = launches(sb)[0]!.params;
    expect(p['MetadataOptions.HttpTokens']).toBe('required');
    expect(p['BlockDeviceMapping.1.Ebs.Encrypted']).toBe('true');
    expect(p['BlockDeviceMapping.1.Ebs.DeleteOnTermination']).toBe('true');
    expect(Number(p['BlockDeviceMapping.1.Ebs.VolumeSize'])).toBeGreaterThanOrEqual(100);
    expect(p.InstanceInitiatedShutdownBehavior).toBe('stop');
    expect(p.ClientToken).toMatch(/^[0-9a-f-]{36}$/);
    const tagged = Object.entries(p)
      .filter(([k, v]) => /TagSpecification\.\d+\.ResourceType/.test(k) && v)
      .map(([, v]) => v);
    expect(tagged.sort()).toEqual(['instance', 'volume']);
    const live = (await instances(sb)).find((i) => i.Tags?.some((t) => t.Key === 'ssh-ec2:dir' && t.Value === dir));
    expect(live?.Tags?.map((t) => t.Key).sort()).toEqual([
      'Name',
      'ssh-ec2',
      'ssh-ec2:deadline',
      'ssh-ec2:dir',
      'ssh-ec2:host',
      'ssh-ec2:idle-timeout',
      'ssh-ec2:job-grace',
      'ssh-ec2:login',
      'ssh-ec2:market', // on-demand, spot or spot-one-time (issue #13): what a later run may do with it
      'ssh-ec2:max-time',
      'ssh-ec2:remote-dir',
      'ssh-ec2:user',
      'ssh-ec2:volume-gib', // for ls to price a stopped instance's disk (issue #10)
    ]);
  });

  it('opens ssh only to the given address, never to the world', async () => {
    expect((await cli(sb, ['true'], { cwd: makeProject(sb, 'given-cidr') })).exitCode).toBe(0); // SSH_EC2_SSH_CIDR=127.0.0.1/32
    const ranges = (await sshSecurityGroups(sb))
      .flatMap((g) => g.IpPermissions ?? [])
      .flatMap((p) => (p.IpRanges ?? []).map((r) => `${p.FromPort}:${r.CidrIp}`));
    expect(ranges).toEqual(['22:127.0.0.1/32']);
  });

  it('without --ssh-cidr: your public address as a /32 (asked at SSH_EC2_IP_URL) is added to the one tagged group of the VPC', async () => {
    sb.setPublicAddress('127.0.0.9');
    try {
      const r = await cli(sb, ['true'], { cwd: makeProject(sb, 'discovered'), env: { SSH_EC2_SSH_CIDR: undefined } });
      expect(r.exitCode, r.stderr).toBe(0);
    } finally {
      sb.setPublicAddress('127.0.0.1');
    }
    const groups = await sshSecurityGroups(sb);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.Tags).toContainEqual({ Key: 'ssh-ec2', Value: 'shared' });
    const ranges = (groups[0]!.IpPermissions ?? []).flatMap((p) =>
      (p.IpRanges ?? []).map((x) => `${p.IpProtocol}/${p.FromPort}-${p.ToPort}:${x.CidrIp}`),
    );
    expect(ranges).toContain('tcp/22-22:127.0.0.9/32');
    for (const range of ranges) expect(range).toMatch(/^tcp\/22-22:127\.0\.0\.\d+\/32$/);
  });

  it("a reused instance reached from a new address: it is let in too; our rules unused for 30 days are revoked, nobody else's", async () => {
    const dir = makeProject(sb, 'moved');
    expect((await cli(sb, ['--stop', 'true'], { cwd: dir })).exitCode).toBe(0);
    const ec2 = ec2Client(sb);
    const group = async () => (await sshSecurityGroups(sb))[0]!;
    const ssh = (p: { IpRanges?: { CidrIp?: string; Description?: string }[] }[]) =>
      p.flatMap((x) => x.IpRanges ?? []).map((r) => `${r.CidrIp} ${r.Description}`);
    const GroupId = (await group()).GroupId!;
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId,
        IpPermissions: [
          {
            IpProtocol: 'tcp',
            FromPort: 22,
            ToPort: 22,
            IpRanges: [
              { CidrIp: '127.0.0.66/32', Description: 'ssh-ec2 2020-01-01' },
              { CidrIp: '127.0.0.67/32', Description: 'office VPN' },
            ],
          },
        ],
      }),
    );
    sb.setPublicAddress('127.0.0.5');
    sb.clearCalls();
    const before = new Date();
    try {
      const r = await cli(sb, ['true'], { cwd: dir, env: { SSH_EC2_SSH_CIDR: undefined } });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/starting stopped instance i-/);
    } finally {
      sb.setPublicAddress('127.0.0.1');
    }
    expect(launches(sb)).toEqual([]);
    const rules = ssh((await group()).IpPermissions ?? []);
    // The rule is dated the (UTC) day the run made it: in a run across midnight, either side of it.
    const days = new Set([before, new Date()].map((d) => `127.0.0.5/32 ssh-ec2 ${d.toISOString().slice(0, 10)}`));
    expect(rules.filter((r) => r.startsWith('127.0.0.5/'))).toEqual([expect.toBeOneOf([...days])]);
    expect(rules).toContain('127.0.0.67/32 office VPN');
    expect(rules.filter((r) => r.startsWith('127.0.0.66/'))).toEqual([]);
  });

  it('an answer that is not an address: one line saying to pass --ssh-cidr, nothing launched', async () => {
    sb.setPublicAddress('<html>captive portal</html>');
    sb.clearCalls();
    try {
      const r = await cli(sb, ['true'], { cwd: makeProject(sb, 'no-address'), env: { SSH_EC2_SSH_CIDR: undefined } });
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toMatch(
        /could not find your public address from .*\/checkip \(unexpected answer "<html>captive portal<\/html>"\)/,
      );
      expect(r.stderr).toMatch(/--ssh-cidr/);
    } finally {
      sb.setPublicAddress('127.0.0.1');
    }
    expect(sb.calls('RunInstances')).toEqual([]);
    expect(sb.calls('AuthorizeSecurityGroupIngress')).toEqual([]);
  });
});

describe('whose instance', () => {
  it("an instance carrying this directory's tags but another ssh-ec2:user is never taken as this directory's", async () => {
    const dir = makeProject(sb, 'planted');
    const first = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const planted = reportedInstance(first.stderr);
    // The same tags but the user, as someone else's look-alike would carry (the IAM policy lets
    // nobody launch one naming another user).
    await ec2Client(sb).send(
      new CreateTagsCommand({ Resources: [planted], Tags: [{ Key: 'ssh-ec2:user', Value: 'mallory' }] }),
    );
    // Its master closed: a warm start would use the instance it connected to as itself (warm.ts);
    // what is held here is the API path's owner check, which a look-alike meets.
    await closeMaster(sb, planted);
    const next = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(next.exitCode, next.stderr).toBe(0);
    const own = reportedInstance(next.stderr);
    expect(own).not.toBe(planted);
    expect(await instanceState(sb, planted)).toBe('running');
    expect((await cli(sb, ['down', '--yes'], { cwd: dir })).exitCode).toBe(0);
    expect(await instanceState(sb, own)).toBe('terminated');
    await ec2Client(sb).send(new TerminateInstancesCommand({ InstanceIds: [planted] }));
  });
});

describe('host keys against the console output', () => {
  it('a new instance whose host key matches its console fingerprints is used', async () => {
    const dir = makeProject(sb, 'console-ok');
    sb.clearCalls();
    const r = await cli(sb, ['-v', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/host key of i-\w+ matches its console output \(SHA256:/);
    // The sandbox's console shows the fingerprints from its second call after boot on: asked until then.
    expect(sb.calls('GetConsoleOutput').map((c) => c.params.Latest)).toEqual(['true', 'true']);
  });

  it('a host key that matches none of them: nothing is sent, exit 255, the instance is terminated', async () => {
    const dir = makeProject(sb, 'console-mitm', { 'secret-code.py': 'x' });
    sb.setConsoleOutput(bootConsole('256 SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA no (ED25519)'));
    try {
      const r = await cli(sb, ['touch ran.txt'], { cwd: dir });
      expect(r.exitCode).toBe(255);
      expect(r.stderr).toMatch(/host key of i-\w+ .* matches none of the fingerprints in its console output/);
      expect(existsSync(remotePath(sb, 'console-mitm', reportedInstance(r.stderr)))).toBe(false);
      expect(await instanceState(sb, reportedInstance(r.stderr))).toBe('terminated');
    } finally {
      sb.setConsoleOutput(undefined);
    }
  });
});

describe('a security group named ssh-ec2 that ssh-ec2 did not make', () => {
  it('is neither used nor changed: exit 3, one line saying what to do, nothing launched', async () => {
    const ec2 = ec2Client(sb);
    for (const g of await sshSecurityGroups(sb)) await ec2.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId }));
    const vpc = (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] })))
      .Vpcs![0]!.VpcId!;
    const { GroupId } = await ec2.send(
      new CreateSecurityGroupCommand({ GroupName: 'ssh-ec2', Description: 'somebody else', VpcId: vpc }),
    );
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
      }),
    );
    sb.clearCalls();
    try {
      const r = await cli(sb, ['true'], { cwd: makeProject(sb, 'foreign-group') });
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toContain(
        `the security group named ssh-ec2 in ${vpc} (${GroupId}) was not made by ssh-ec2 (it has no ssh-ec2 tag)`,
      );
      expect(r.stderr).toMatch(/tag it ssh-ec2=shared/);
      // Nothing launched, and never in that group (a launch with the deleted group's cached id is
      // refused: InvalidGroup.NotFound).
      expect(launches(sb)).toEqual([]);
      expect(sb.calls('RunInstances').map((c) => c.params['SecurityGroupId.1'])).not.toContain(GroupId);
      expect(sb.calls('AuthorizeSecurityGroupIngress')).toEqual([]);
      const [group] = await sshSecurityGroups(sb);
      expect(group?.IpPermissions?.flatMap((p) => p.IpRanges?.map((x) => x.CidrIp))).toEqual(['0.0.0.0/0']);
    } finally {
      await ec2.send(new DeleteSecurityGroupCommand({ GroupId }));
    }
  });
});
