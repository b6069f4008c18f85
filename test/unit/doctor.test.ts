// ssh-ec2 doctor's pieces (issue #12): the line and JSON formats README documents, what the
// instance's answer means, and the AWS checks through the real entry against the in-memory cloud
// (the end-to-end tier breaks each thing for real: test/e2e/doctor.test.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DryRunCall, InstanceInfo } from '../../src/cloud/port.js';
import { LOGIN_TAG } from '../../src/options.js';
import { loginFix, within } from '../../src/commands/doctor/aws-checks.js';
import { readProbe } from '../../src/commands/doctor/instance-checks.js';
import { nodeCheck } from '../../src/commands/doctor/local-checks.js';
import { fail, formatCheck, formatJson, ok, warn } from '../../src/commands/doctor/report.js';
import { ExitCode } from '../../src/errors.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';

describe('the report', () => {
  it('one line a check (status, name, what was found), the fix on the next line', () => {
    expect(formatCheck(ok('node', 'v24.1.0'))).toBe(`ok    ${'node'.padEnd(30)} v24.1.0\n`);
    expect(formatCheck(fail('rsync', 'rsync not found on PATH', 'Install rsync.'))).toBe(
      `FAIL  ${'rsync'.padEnd(30)} rsync not found on PATH\n      fix: Install rsync.\n`,
    );
    expect(formatCheck(warn('gpu', 'x'))).toMatch(/^warn  gpu /);
  });

  it('--json: an array of {check, status, detail, fix}, in that order, fix null when it passes', () => {
    const parsed = JSON.parse(formatJson([ok('node', 'v24'), fail('ssh', 'missing', 'Install it.')])) as object[];
    expect(parsed).toEqual([
      { check: 'node', status: 'ok', detail: 'v24', fix: null },
      { check: 'ssh', status: 'fail', detail: 'missing', fix: 'Install it.' },
    ]);
    expect(Object.keys(parsed[0]!)).toEqual(['check', 'status', 'detail', 'fix']);
  });
});

describe('the checks', () => {
  it.each([
    ['20.19.0', 'ok'],
    ['20.18.3', 'fail'],
    ['22.12.0', 'fail'],
    ['24.0.0', 'ok'],
  ])('node %s: %s (package.json engines)', (v, status) => {
    expect(nodeCheck(v).status).toBe(status);
  });

  it('expired credentials: the fix names the profile to log in with', () => {
    expect(loginFix({ AWS_PROFILE: 'research' })).toContain('aws sso login --profile research');
    expect(loginFix({})).toContain('aws sso login');
  });

  it.each([
    ['203.0.113.7/32', '203.0.113.7/32', true],
    ['203.0.113.7/32', '203.0.113.0/24', true],
    ['203.0.113.7/32', '0.0.0.0/0', true],
    ['203.0.113.7/32', '203.0.114.0/24', false],
    ['203.0.113.0/24', '203.0.113.7/32', false],
  ])('%s within %s: %s', (cidr, range, inside) => {
    expect(within(cidr, range)).toBe(inside);
  });

  const gpuInstance = { id: 'i-1', type: 'g4dn.xlarge', state: 'running', tags: {} } as InstanceInfo;
  const answer = (lines: string[]) => ['tmux:/usr/bin/tmux', 'screen:', ...lines].join('\n');
  const DF = 'df:/dev/root 101430960 20000000 81430960 20% /';

  it('on the instance: a GPU nvidia-smi lists, disk free, tmux', () => {
    const checks = readProbe(answer([DF, 'gpu-status:0', 'gpu:GPU 0: Tesla T4 (UUID: x)']), gpuInstance, 'p');
    expect(checks.map((c) => [c.check, c.status, c.detail])).toEqual([
      ['multiplexer', 'ok', 'tmux (/usr/bin/tmux)'],
      ['disk', 'ok', '77.7 GiB free of 96.7 GiB in ~/p'],
      ['gpu', 'ok', 'GPU 0: Tesla T4 (UUID: x)'],
    ]);
  });

  it('on the instance: no nvidia-smi on a GPU type, a full disk, no multiplexer: each with its fix', () => {
    const probe = ['tmux:', 'screen:', 'df:/dev/root 101430960 100430960 1000000 99% /', 'gpu-status:127'].join('\n');
    const checks = readProbe(probe, gpuInstance, '/data/p');
    expect(checks.map((c) => [c.check, c.status])).toEqual([
      ['multiplexer', 'warn'],
      ['disk', 'fail'],
      ['gpu', 'fail'],
    ]);
    expect(checks[1]!.detail).toBe('1.0 GiB free of 96.7 GiB in /data/p');
    expect(checks[2]!.detail).toMatch(/nvidia-smi not found on i-1 \(g4dn\.xlarge\)/);
    for (const c of checks) expect(c.fix).toBeTruthy();
  });

  it('no GPU on a type without one is no failure', () => {
    const t3 = { ...gpuInstance, type: 't3.large' };
    const [, , gpu] = readProbe(answer([DF, 'gpu-status:127']), t3, 'p');
    expect(gpu).toMatchObject({ status: 'ok', detail: 'none (t3.large has no GPU)' });
  });
});

describe('ssh-ec2 doctor against the in-memory cloud', () => {
  let m: Machine;
  beforeEach(() => {
    m = machine();
  });
  afterEach(() => m.cleanup());
  const CIDR = ['--ssh-cidr', '198.51.100.7/32'];
  const status = (stdout: string, check: string) => new RegExp(`^(\\S+)\\s+${check}\\s`, 'm').exec(stdout)?.[1];

  it('asks every permission a launch needs with DryRun, changes nothing, exits 0', async () => {
    const cloud = new FakeCloud();
    const r = await cli(m, cloud, ['doctor', ...CIDR]);
    expect(r.status, r.stdout + r.lines.join('\n')).toBe(ExitCode.ok);
    // In any order: RunInstances' is sent once its request is made (after the account's cache is read).
    expect(
      cloud
        .callsOf('dryRun')
        .map(([c]) => (c as { action: string }).action)
        .sort(),
    ).toEqual([
      'CancelSpotInstanceRequests',
      'CreateSecurityGroup',
      'RunInstances',
      'StartInstances',
      'StopInstances',
      'TerminateInstances',
    ]);
    const changing = ['launch', 'start', 'stop', 'terminate', 'tag', 'ensureSecurityGroup', 'allowSsh', 'pushSshKey'];
    expect(cloud.calls.filter((c) => changing.includes(c.op))).toEqual([]);
    expect(status(r.stdout, 'security-group')).toBe('ok');
    expect(r.stdout).toContain('ssh-ec2 would be created in vpc-default, letting 198.51.100.7/32 in on port 22');
    expect(r.stdout).toMatch(/^ok\s+instance\s+none for this directory/m);
    expect(m.sshStarts().filter((s) => !s.startsWith('ssh -V'))).toEqual([]);
  });

  it('CancelSpotInstanceRequests is asked too: a policy without it fails here, not at the end of a spot run', async () => {
    const cloud = new FakeCloud();
    cloud.deniedActions.add('CancelSpotInstanceRequests');
    const r = await cli(m, cloud, ['doctor', ...CIDR]);
    const asked = cloud.callsOf('dryRun').map(([c]) => c as DryRunCall);
    expect(
      asked.map((c) => c.action),
      r.stdout + r.lines.join('\n'),
    ).toContain('CancelSpotInstanceRequests');
    const call = asked.find((c) => c.action === 'CancelSpotInstanceRequests');
    expect(call).toEqual({ action: 'CancelSpotInstanceRequests', requestId: 'sir-00000000' });
    expect(status(r.stdout, 'permission:CancelSpotInstanceRequests')).toBe('FAIL');
    expect(r.stdout).toContain('not allowed: ec2:CancelSpotInstanceRequests');
    expect(r.status).not.toBe(ExitCode.ok);
  });

  it("RunInstances' DryRun is the launch's own request: instance profile, user data, volume, shutdown behaviour, login tag", async () => {
    const cloud = new FakeCloud();
    const r = await cli(m, cloud, ['doctor', ...CIDR, '--iam-profile', 'lab-profile', '--volume-size', '150']);
    expect(r.status, r.stdout + r.lines.join('\n')).toBe(ExitCode.ok);
    const [call] = cloud.callsOf('dryRun').find(([c]) => (c as DryRunCall).action === 'RunInstances')!;
    const { spec } = call as Extract<DryRunCall, { action: 'RunInstances' }>;
    expect(spec).toMatchObject({ iamProfile: 'lab-profile', volumeSizeGiB: 150, shutdownBehavior: 'stop' });
    expect(spec.userData).toMatch(/cloud-boothook/);
    expect(Object.keys(spec.tags)).toContain(LOGIN_TAG);
  });

  it('a refused action: FAIL naming it and the policy for this kind of caller; exit 9', async () => {
    const cloud = new FakeCloud();
    cloud.identity = { account: '1', arn: 'arn:aws:sts::1:assumed-role/Dev/alice', userId: 'AROA1:alice' };
    cloud.deniedActions.add('RunInstances');
    const r = await cli(m, cloud, ['doctor', ...CIDR]);
    expect(r.status).toBe(ExitCode.checkFailed);
    expect(r.stdout).toMatch(
      /^FAIL\s+permission:RunInstances\s+not allowed: ec2:RunInstances\n\s+fix: .*policy\/ssh-ec2-role-policy\.json/m,
    );
  });

  it('an expired SSO login (the SDK says so before any call): credentials FAIL, the fix logs in with the profile', async () => {
    const cloud = new FakeCloud();
    cloud.fail('caller', {
      code: 'CredentialsProviderError',
      message:
        'The SSO session associated with this profile has expired. To refresh this SSO session run aws sso login with the corresponding profile.',
      status: null,
    });
    const r = await cli(m, cloud, ['doctor', ...CIDR], { env: { AWS_PROFILE: 'research' } });
    expect(r.status).toBe(ExitCode.checkFailed);
    expect(r.stdout).toMatch(
      /^FAIL\s+credentials\s+your AWS credentials have expired .*\n\s+fix: Log in again: aws sso login --profile research /m,
    );
    expect(r.stdout).not.toMatch(/^\S+\s+(region|network|permission:)/m);
    expect(cloud.calls.map((c) => c.op)).toEqual(['caller']);
  });

  it('instances that cannot be listed: the instance line says why (DescribeInstances refused), not that there are none', async () => {
    const cloud = new FakeCloud();
    cloud.fail('findInstances', { code: 'UnauthorizedOperation', times: Infinity });
    const r = await cli(m, cloud, ['doctor', ...CIDR]);
    expect(r.status).toBe(ExitCode.checkFailed);
    expect(r.stdout).toMatch(/^FAIL\s+instance\s+not allowed to list instances\n\s+fix: .*policy/m);
  });

  it('a named security group that does not let this address in: FAIL with its fix', async () => {
    const cloud = new FakeCloud();
    cloud.groups.set('sg-admin', {
      id: 'sg-admin',
      name: 'admins',
      vpcId: 'vpc-default',
      tags: {},
      cidrs: new Set(['10.0.0.0/8']),
    });
    const r = await cli(m, cloud, ['doctor', ...CIDR, '--security-group', 'admins']);
    expect(r.status).toBe(ExitCode.checkFailed);
    expect(r.stdout).toMatch(
      /^FAIL\s+security-group\s+sg-admin \(admins\) does not let 198\.51\.100\.7\/32 in on port 22 \(it lets 10\.0\.0\.0\/8\)\n\s+fix: Ask its administrator/m,
    );
    // The group is the administrator's: neither created nor changed, so neither is asked.
    expect(r.stdout).not.toMatch(/permission:(CreateSecurityGroup|AuthorizeSecurityGroupIngress)/);
  });
});
