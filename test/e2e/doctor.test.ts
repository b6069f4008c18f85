/**
 * ssh-ec2 doctor (issue #12): one line per check, each failure with its fix, exit 0 only when every
 * needed check passes; --json the same as data. Each broken thing is broken for real in the
 * sandbox: expired credentials, an action the policy refuses (EC2's DryRun answered
 * UnauthorizedOperation), a subnet that does not exist, a key pair that does not, an instance
 * whose nvidia-smi sees no GPU, no rsync on PATH. And doctor changes nothing: every call EC2 could
 * act on is a DryRun.
 */
import { execa } from 'execa';
import { ImportKeyPairCommand } from '@aws-sdk/client-ec2';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/state/paths.js';
import type { ApiCall } from '../sandbox/proxy.js';
import { cli, ec2Client, makeProject, pathWithout, REPO, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();

/**
 * AWS actions that change something. doctor may ask EC2's only with DryRun; the one it makes for
 * real is SendSSHPublicKey (a key the instance accepts for 60 s), to reach a running instance
 * without a connection already open: each test says which it allows.
 */
const MUTATING =
  /^(RunInstances|StartInstances|StopInstances|TerminateInstances|CreateSecurityGroup|AuthorizeSecurityGroupIngress|RevokeSecurityGroupIngress|DeleteSecurityGroup|CreateTags|DeleteTags|ModifyInstanceAttribute|ImportKeyPair|SendSSHPublicKey)$/;
const changes = (calls: ApiCall[]) =>
  calls.filter((c) => MUTATING.test(c.action) && c.params.DryRun !== 'true').map((c) => c.action);

/** Every file under `dir`, relative to it (none: the directory does not exist). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** The line of one check, and the fix line after it (if any). */
function lineOf(stdout: string, check: string): { status: string; detail: string; fix?: string } {
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => new RegExp(`^(ok|FAIL|warn)\\s+${check}\\s`).test(l));
  if (at < 0) throw new Error(`no line for ${check} in:\n${stdout}`);
  const m = /^(\S+)\s+\S+\s+(.*)$/.exec(lines[at]!)!;
  const fix = /^\s+fix: (.*)$/.exec(lines[at + 1] ?? '')?.[1];
  return { status: m[1]!, detail: m[2]!, fix };
}

/** EC2 refusing `action`'s DryRun as AWS words it: `permission` (ec2:… or iam:PassRole) not allowed on `resource`. */
function refuseDryRun(
  action: string,
  permission: string,
  resource: string,
  when: (params: Record<string, string>) => boolean = () => true,
): void {
  sb.inject({
    action,
    status: 403,
    code: 'UnauthorizedOperation',
    message: `You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/moto is not authorized to perform: ${permission} on resource: ${resource} because no identity-based policy allows the ${permission} action.`,
    times: Infinity,
    when: (p) => p.DryRun === 'true' && when(p),
  });
}

afterEach(() => {
  sb.clearFaults();
  sb.aws.expireCredentials(false);
  sb.setGpuVisible(true);
});

describe('ssh-ec2 doctor', () => {
  it("all well: every check ok, this directory's instance looked at, nothing changed; --json says the same", async () => {
    const dir = makeProject(sb, 'doctor-ok');
    const up = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(up.exitCode, up.stderr).toBe(0);
    const id = reportedInstance(up.stderr);
    sb.clearCalls();

    const r = await cli(sb, ['doctor'], { cwd: dir });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const checks = [
      'node',
      'ssh',
      'rsync',
      'credentials',
      'region',
      'network',
      'image',
      'security-group',
      'permission:RunInstances',
      'permission:StartInstances',
      'permission:StopInstances',
      'permission:TerminateInstances',
      'permission:CancelSpotInstanceRequests',
      'permission:AuthorizeSecurityGroupIngress',
      'instance',
      'multiplexer',
      'disk',
      'gpu',
    ];
    for (const c of checks) expect(lineOf(r.stdout, c).status, `${c}:\n${r.stdout}`).toBe('ok');
    expect(r.stdout).not.toMatch(/^(FAIL|warn)/m);
    expect(lineOf(r.stdout, 'ssh').detail).toMatch(/^OpenSSH_/);
    expect(lineOf(r.stdout, 'region').detail).toContain(sb.region);
    expect(lineOf(r.stdout, 'instance').detail).toContain(id);
    expect(lineOf(r.stdout, 'gpu').detail).toMatch(/^GPU 0: Tesla T4/);
    expect(lineOf(r.stdout, 'multiplexer').detail).toContain('tmux');
    expect(lineOf(r.stdout, 'image').detail).toMatch(/\(ami-\w+/);
    // In the order of the list above.
    const order = checks.map((c) => r.stdout.search(new RegExp(`^\\S+\\s+${c}\\s`, 'm')));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    // The permissions were asked with DryRun, and nothing else could change anything: the run's
    // ssh connection, still open, was used (no Instance Connect key pushed) and is left open.
    expect(sb.calls('RunInstances').map((c) => c.params.DryRun)).toEqual(['true']);
    expect(changes(sb.calls())).toEqual([]);
    expect(existsSync(resolvePaths(sb.env()).controlPath(id)), 'the run left its connection open').toBe(true);

    const j = await cli(sb, ['doctor', '--json'], { cwd: dir });
    expect(j.exitCode, j.stderr).toBe(0);
    const parsed = JSON.parse(j.stdout) as { check: string; status: string; detail: string; fix: string | null }[];
    expect(parsed.map((c) => c.check)).toEqual(checks);
    for (const c of parsed) {
      expect(Object.keys(c)).toEqual(['check', 'status', 'detail', 'fix']);
      expect(c.status).toBe('ok');
      expect(c.fix).toBeNull();
    }
    expect(changes(sb.calls())).toEqual([]);
  });

  it('no GPU visible on the instance: gpu FAIL with its fix, exit 9', async () => {
    const dir = makeProject(sb, 'doctor-no-gpu');
    const up = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(up.exitCode, up.stderr).toBe(0);
    sb.setGpuVisible(false);
    const r = await cli(sb, ['doctor'], { cwd: dir });
    expect(r.exitCode, r.stdout + r.stderr).toBe(9);
    const gpu = lineOf(r.stdout, 'gpu');
    expect(gpu.status).toBe('FAIL');
    expect(gpu.detail).toMatch(/nvidia-smi sees no GPU on i-\w+ \(g4dn\.xlarge\): NVIDIA-SMI has failed/);
    expect(gpu.fix).toMatch(/NVIDIA driver/);
    const j = JSON.parse((await cli(sb, ['doctor', '--json'], { cwd: dir })).stdout) as {
      check: string;
      status: string;
      fix: string;
    }[];
    expect(j.find((c) => c.check === 'gpu')).toMatchObject({ status: 'fail', fix: expect.stringMatching(/driver/) });
  });

  it('expired credentials: credentials FAIL saying how to log in again, nothing else asked', async () => {
    const dir = makeProject(sb, 'doctor-expired');
    sb.aws.expireCredentials({});
    const r = await cli(sb, ['doctor'], { cwd: dir });
    expect(r.exitCode, r.stdout + r.stderr).toBe(9);
    const c = lineOf(r.stdout, 'credentials');
    expect(c.status).toBe('FAIL');
    expect(c.detail).toMatch(/expired/);
    expect(c.fix).toMatch(/aws sso login/);
    expect(r.stdout).not.toMatch(/^\S+\s+(network|image|permission:)/m);
  });

  it('an action the policy refuses: that permission FAILs, naming the action and the policy file', async () => {
    const dir = makeProject(sb, 'doctor-denied');
    refuseDryRun('TerminateInstances', 'ec2:TerminateInstances', 'arn:aws:ec2:eu-central-1:123456789012:instance/*');
    const r = await cli(sb, ['doctor'], { cwd: dir });
    expect(r.exitCode, r.stdout + r.stderr).toBe(9);
    const p = lineOf(r.stdout, 'permission:TerminateInstances');
    expect(p).toMatchObject({ status: 'FAIL', detail: 'not allowed: ec2:TerminateInstances' });
    expect(p.fix).toMatch(/policy\/ssh-ec2-iam-policy\.json .*ec2:TerminateInstances/);
    expect(lineOf(r.stdout, 'permission:StopInstances').status).toBe('ok');
    expect(lineOf(r.stdout, 'instance').detail).toMatch(/^none for this directory/);
  });

  it('a named subnet that does not exist: network FAIL with its fix', async () => {
    const dir = makeProject(sb, 'doctor-subnet');
    const r = await cli(sb, ['doctor', '--subnet-id', 'subnet-0123456789abcdef0'], { cwd: dir });
    expect(r.exitCode, r.stdout + r.stderr).toBe(9);
    const n = lineOf(r.stdout, 'network');
    expect(n.status).toBe('FAIL');
    expect(n.detail).toContain('subnet-0123456789abcdef0 not found');
    expect(n.fix).toMatch(/--subnet-id/);
  });

  it('-i with a key pair that does not exist: key-pair FAIL saying how to import it; one that does: ok, matching', async () => {
    const dir = makeProject(sb, 'doctor-key');
    const key = join(sb.dir, 'doctor-key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const r = await cli(sb, ['doctor', '-i', key], { cwd: dir, env: { TRIGRAM: 'nokey' } });
    expect(r.exitCode, r.stdout + r.stderr).toBe(9);
    const k = lineOf(r.stdout, 'key-pair');
    expect(k).toMatchObject({ status: 'FAIL', detail: `no key pair named nokey in ${sb.region}` });
    expect(k.fix).toContain(`aws ec2 import-key-pair --region ${sb.region} --key-name nokey`);

    const pub = readFileSync(`${key}.pub`, 'utf8').trim();
    await ec2Client(sb).send(new ImportKeyPairCommand({ KeyName: 'dockey', PublicKeyMaterial: Buffer.from(pub) }));
    const good = await cli(sb, ['doctor', '-i', key], { cwd: dir, env: { TRIGRAM: 'dockey' } });
    expect(lineOf(good.stdout, 'key-pair')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('matching'),
    });
  });

  it.each([
    ['rsync-2.6.9', /rsync {2}version 2\.6\.9 .*: works, but cannot send the file list as it walks the tree/],
    ['openrsync', /openrsync.*: works, but cannot .*bring files back as a client \(it receives as a server instead\)/],
  ])("a Mac's own rsync (%s): a warning naming what it does without, and exit 0", async (tool, said) => {
    // Built for this machine (see ../shared/tools/README.md, as mac-rsync.test.ts): missing fails.
    const bin = join(REPO, '..', 'shared', 'tools', tool, 'bin');
    const dir = makeProject(sb, `doctor-${tool}`);
    const r = await cli(sb, ['doctor'], { cwd: dir, env: { PATH: `${bin}:${process.env.PATH}` } });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const c = lineOf(r.stdout, 'rsync');
    expect(c.status).toBe('warn');
    expect(c.detail).toMatch(said);
    expect(c.fix).toMatch(/brew install rsync/);
  });

  it('no rsync on PATH: rsync FAIL saying how to install it; the AWS checks still run', async () => {
    const dir = makeProject(sb, 'doctor-rsync');
    const r = await cli(sb, ['doctor'], { cwd: dir, env: { PATH: pathWithout(sb, 'rsync') } });
    expect(r.exitCode, r.stdout + r.stderr).toBe(9);
    const c = lineOf(r.stdout, 'rsync');
    expect(c.status).toBe('FAIL');
    expect(c.detail).toMatch(/rsync not found/);
    expect(c.fix).toMatch(/Install rsync/);
    expect(lineOf(r.stdout, 'credentials').status).toBe('ok');
  });
  it('RunInstances is asked as a launch sends it (instance profile, encrypted volume, IMDSv2, user data); the default profile missing here is asked again without it, as a run launches', async () => {
    const dir = makeProject(sb, 'doctor-launch-request');
    sb.clearCalls();
    // No cache: an earlier launch's note that the profile is missing is not read, EC2 is asked.
    const r = await cli(sb, ['doctor', '--no-cache'], { cwd: dir });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const asked = sb.calls('RunInstances');
    expect(asked.map((c) => [c.params.DryRun, c.params['IamInstanceProfile.Name']])).toEqual([
      ['true', 'EC2ReadOnlyAccessToS3'],
      ['true', undefined],
    ]);
    const p = asked[1]!.params;
    expect(p['MetadataOptions.HttpTokens']).toBe('required');
    expect(p['BlockDeviceMapping.1.Ebs.Encrypted']).toBe('true');
    expect(p.InstanceInitiatedShutdownBehavior).toBe('stop');
    expect(p.UserData).toBeTruthy();
    const line = lineOf(r.stdout, 'permission:RunInstances');
    expect(line.status).toBe('ok');
    expect(line.detail).toMatch(/without an instance profile: EC2ReadOnlyAccessToS3 does not exist here/);
    expect(changes(sb.calls())).toEqual([]);
  });

  it("an instance profile whose role the caller may not pass: permission:RunInstances FAILs on iam:PassRole, the fix names --iam-profile ''", async () => {
    const dir = makeProject(sb, 'doctor-pass-role');
    refuseDryRun(
      'RunInstances',
      'iam:PassRole',
      'arn:aws:iam::123456789012:role/lab-role',
      (p) => p['IamInstanceProfile.Name'] === 'lab-profile',
    );
    const r = await cli(sb, ['doctor', '--iam-profile', 'lab-profile'], { cwd: dir });
    expect(r.exitCode, r.stdout + r.stderr).toBe(9);
    const p = lineOf(r.stdout, 'permission:RunInstances');
    expect(p).toMatchObject({
      status: 'FAIL',
      detail: 'not allowed: iam:PassRole on the role of instance profile lab-profile',
    });
    expect(p.fix).toMatch(/iam:PassRole/);
    expect(p.fix).toContain("--iam-profile ''");
    expect(lineOf(r.stdout, 'permission:StartInstances').status).not.toBe('FAIL');
  });

  it('reaching a running instance from a fresh state: one Instance Connect key pushed, the host key pinned, and nothing else left here (no rsync probe cached, no ssh connection, no key)', async () => {
    const dir = makeProject(sb, 'doctor-fresh-state');
    const up = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(up.exitCode, up.stderr).toBe(0);
    const id = reportedInstance(up.stderr);
    const fresh = mkdtempSync(join(sb.dir, 'doctor-fresh-'));
    const env = {
      SSH_EC2_STATE_DIR: join(fresh, 'state'),
      SSH_EC2_CACHE_DIR: join(fresh, 'cache'),
      XDG_RUNTIME_DIR: join(fresh, 'run'),
    };
    sb.clearCalls();
    const r = await cli(sb, ['doctor'], { cwd: dir, env });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(lineOf(r.stdout, 'instance').detail).toContain(id);
    expect(lineOf(r.stdout, 'gpu').status).toBe('ok');
    // What it changed in AWS: the key that reached the instance, nothing else.
    expect(changes(sb.calls())).toEqual(['SendSSHPublicKey']);
    // What it left here: the host key it pinned (checked against the console), nothing else.
    expect(filesUnder(env.SSH_EC2_STATE_DIR)).toEqual([join('known_hosts', id)]);
    expect(filesUnder(env.SSH_EC2_CACHE_DIR)).toEqual([]);
    expect(filesUnder(join(env.XDG_RUNTIME_DIR, 'ssh-ec2'))).toEqual([]);
  });
});
