// The test bench itself: fake AWS (moto behind the proxy) and fake instance (local sshd).
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  RegisterImageCommand,
  RunInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { Instance, RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import { EC2InstanceConnectClient, SendSSHPublicKeyCommand } from '@aws-sdk/client-ec2-instance-connect';
import { startSandbox } from '../sandbox/index.js';
import type { Sandbox } from '../sandbox/index.js';
import { DEFAULT_IMAGE_PATTERNS } from '../../src/cloud/dlami.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

describe('test sandbox', () => {
  let sb: Sandbox;
  let ec2: EC2Client;
  let connect: EC2InstanceConnectClient;

  beforeAll(async () => {
    // These tests check the sandbox's own mechanics (keys reaching sshd, addresses, IMDS) with the
    // CLI's key, one call each, without the product's retries: EC2's lag after a launch and
    // Instance Connect's refusal of the first push after a boot (AWS behaviours the product copes
    // with, tested end to end in consistency.test.ts) are not theirs.
    sb = await startSandbox({ aws: { eventualConsistency: false, connectAfterBoot: false } });
    ec2 = new EC2Client({ region: sb.region, endpoint: sb.endpoint, credentials });
    connect = new EC2InstanceConnectClient({ region: sb.region, endpoint: sb.endpoint, credentials });
  });

  afterAll(async () => {
    ec2?.destroy();
    connect?.destroy();
    await sb?.stop();
  });

  /** A client key pair in the sandbox dir. */
  async function keyPair(name: string): Promise<{ key: string; pub: string }> {
    const key = join(sb.dir, name);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
    return { key, pub: readFileSync(`${key}.pub`, 'utf8').trim() };
  }

  const sshArgs = (key: string): string[] => [
    '-F', sb.sshConfig,
    '-i', key,
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${join(sb.dir, 'kh')}`,
    '-o', 'StrictHostKeyChecking=accept-new',
    '-o', 'BatchMode=yes',
    '-o', 'LogLevel=ERROR',
  ];
  // 54.1.2.3 is only a name: the sandbox's ssh_config sends every host to 127.0.0.1.
  const ssh = (key: string, command: string) =>
    execa('ssh', [...sshArgs(key), '-l', sb.user, '54.1.2.3', command], { reject: false, stdin: 'ignore' });

  async function launch(tag: string, extra: Partial<RunInstancesCommandInput> = {}): Promise<Instance> {
    const out = await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-0d1a00000000a0004',
        InstanceType: 'g4dn.xlarge',
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'test', Value: tag }] }],
        ...extra,
      }),
    );
    const instance = out.Instances?.[0];
    if (!instance) throw new Error('RunInstances returned no instance');
    return instance;
  }

  async function tagged(tag: string): Promise<Instance[]> {
    const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:test', Values: [tag] }] }));
    return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  }

  it('starts with a private user, dir and ports', () => {
    expect(sb.user).toMatch(/^sshec2-[0-9a-f]{6}$/);
    expect(sb.home.startsWith(sb.dir)).toBe(true);
    expect(sb.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(readFileSync(sb.sshConfig, 'utf8')).toBe(`Host *\n  HostName 127.0.0.1\n  Port ${sb.sshPort}\n`);
    const env = sb.env({ NO_COLOR: undefined, EXTRA: 'x' });
    expect(env).toMatchObject({ AWS_ENDPOINT_URL: sb.endpoint, AWS_REGION: 'eu-central-1', AWS_INSTANCE_USER: sb.user, EXTRA: 'x' });
    expect(env.HOME).toBe(join(sb.dir, 'local-home'));
    expect('NO_COLOR' in env).toBe(false);
  });

  it('finds the Deep Learning images by owner alias, but not a decoy registered by another account', async () => {
    // ssh-ec2's default: the x86_64 and ARM64 names, as values of one filter (EC2 ORs them).
    const byName = [{ Name: 'name', Values: [...DEFAULT_IMAGE_PATTERNS] }];
    const decoy = await ec2.send(new RegisterImageCommand({ Name: 'Deep Learning OSS Nvidia Driver AMI GPU PyTorch 9.9 (Ubuntu 22.04) 20991231', Architecture: 'x86_64', RootDeviceName: '/dev/sda1' }));
    const amazon = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: byName }))).Images ?? [];
    expect(amazon.map((i) => i.ImageId)).not.toContain(decoy.ImageId);
    expect(new Set(amazon.map((i) => i.Architecture))).toEqual(new Set(['x86_64', 'arm64']));
    expect(amazon.length).toBeGreaterThanOrEqual(5);
    expect(new Set(amazon.map((i) => i.OwnerId))).toEqual(new Set(['898082745236']));
    expect(new Set(amazon.map((i) => i.CreationDate)).size).toBe(amazon.length);
    const newest = [...amazon].sort((a, b) => String(b.CreationDate).localeCompare(String(a.CreationDate)))[0];
    expect(newest?.Architecture).toBe('arm64'); // a trap for code that forgets the architecture filter

    const everyone = (await ec2.send(new DescribeImagesCommand({ Filters: byName }))).Images ?? [];
    expect(everyone.find((i) => i.ImageId === decoy.ImageId)?.OwnerId).toBe('123456789012');
    const others = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'name', Values: ['ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*', 'al2023-ami-*'] }] }));
    expect(others.Images?.length).toBe(2);
  });

  it('RunInstances is idempotent by ClientToken, also when the first answer was lost', async () => {
    sb.clearCalls();
    sb.inject({ action: 'RunInstances', afterForward: true }); // moto launches, the client sees a 500
    const instance = await launch('idem', { ClientToken: 'token-X' });
    expect(await tagged('idem')).toHaveLength(1);
    expect((await tagged('idem'))[0]?.InstanceId).toBe(instance.InstanceId);
    expect(instance.PublicIpAddress).toMatch(/^127\./); // the replayed answer is rewritten too
    const calls = sb.calls('RunInstances');
    expect(calls.map((c) => [c.status, Boolean(c.injected), Boolean(c.replayed)])).toEqual([[500, true, false], [200, false, true]]);
    expect(calls[0]?.params.ClientToken).toBe('token-X');
    expect(calls[0]?.params['TagSpecification.1.Tag.1.Value']).toBe('idem');
    const logged = readFileSync(join(sb.dir, 'api-calls.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string });
    expect(logged.some((c) => c.action === 'RunInstances')).toBe(true);
  });

  it("AWS's behaviours, counted in calls, for the CLI's key only: a new instance unknown to its first calls by id; a launch dying while pending with its StateReason", async () => {
    const observer = new EC2Client({ region: sb.region, endpoint: sb.endpoint, credentials: { ...credentials, accessKeyId: 'observer' } });
    const byId = (client: EC2Client, id: string) =>
      client.send(new DescribeInstancesCommand({ InstanceIds: [id] })).then(
        (r) => r.Reservations?.[0]?.Instances?.[0],
        (err: Error) => err.name,
      );
    try {
      sb.aws.setEventualConsistency({ calls: 2 });
      const id = (await launch('lagging')).InstanceId!;
      expect(await byId(observer, id)).toMatchObject({ InstanceId: id }); // the observer sees moto's truth
      expect([await byId(ec2, id), await byId(ec2, id)]).toEqual(['InvalidInstanceID.NotFound', 'InvalidInstanceID.NotFound']);
      expect(await byId(ec2, id)).toMatchObject({ InstanceId: id });
      sb.aws.setEventualConsistency(false);
      sb.aws.terminateNextLaunch({ code: 'Server.InsufficientInstanceCapacity', message: 'Server.InsufficientInstanceCapacity: Insufficient capacity.' });
      const dying = await launch('dying');
      expect(dying.State?.Name).toBe('pending');
      const seen = (await byId(ec2, dying.InstanceId!)) as Instance;
      expect([seen.State?.Name, seen.StateReason?.Code, seen.StateReason?.Message]).toEqual(['terminated', 'Server.InsufficientInstanceCapacity', 'Server.InsufficientInstanceCapacity: Insufficient capacity.']);
    } finally {
      sb.aws.setEventualConsistency(false);
      observer.destroy();
    }
  });

  it('rejects an unknown instance type and surfaces injected capacity errors', async () => {
    await expect(launch('bad-type', { InstanceType: 'g9zz.huge' as never })).rejects.toThrow(/g9zz\.huge/);
    sb.inject({ action: 'RunInstances', code: 'InsufficientInstanceCapacity', message: 'We currently do not have sufficient g4dn.xlarge capacity.', times: Infinity });
    await expect(launch('no-capacity')).rejects.toMatchObject({ name: 'InsufficientInstanceCapacity' });
    sb.clearFaults();
    expect(await tagged('no-capacity')).toHaveLength(0);
    expect(sb.calls('RunInstances').filter((c) => c.injected).length).toBeGreaterThanOrEqual(1);
  });

  it('rewrites every instance address onto loopback', async () => {
    const launched = await launch('ip');
    expect(launched.PublicIpAddress).toMatch(/^127\./);
    const [instance] = await tagged('ip');
    expect(instance?.PublicIpAddress).toMatch(/^127\.0\.\d+\.\d+$/);
    expect(instance?.PublicIpAddress).not.toBe('127.0.0.1');
    expect(instance?.PrivateIpAddress).toMatch(/^127\./);
    expect(instance?.PublicDnsName).toBe('localhost');
    expect(instance?.NetworkInterfaces?.[0]?.Association?.PublicIp ?? instance?.PublicIpAddress).toMatch(/^127\./);
    // Filters quoting a rewritten address still find the instance.
    const found = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'ip-address', Values: [String(instance?.PublicIpAddress)] }] }));
    expect(found.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(instance?.InstanceId);
  });

  it('logs in with a permanently authorized key, runs commands, rsync, tmux and screen', async () => {
    const { key, pub } = await keyPair('static');
    sb.authorizeKey(pub);
    const hi = await ssh(key, 'echo hi; pwd');
    expect(hi.stderr).toBe('');
    expect(hi.stdout).toBe(`hi\n${sb.home}`);

    const src = join(sb.dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub', 'file.txt'), 'payload\n');
    const rsync = await execa('rsync', ['-e', `ssh ${sshArgs(key).join(' ')}`, '-r', `${src}/`, `${sb.user}@whatever:dst/`], { reject: false });
    expect(rsync.stderr).toBe('');
    const remote = await sb.runAsUser('cat dst/sub/file.txt; stat -c %U dst/sub/file.txt');
    expect(remote).toEqual({ stdout: `payload\n${sb.user}`, stderr: '', exitCode: 0 });

    const tools = await ssh(key, 'tmux -V && screen -v; tmux new-session -d -s t "sleep 600" && tmux ls');
    expect(tools.stdout).toMatch(/^tmux \d/m);
    expect(tools.stdout).toMatch(/^Screen version/m);
    expect(tools.stdout).toMatch(/^t: 1 windows/m); // left running on purpose: stop() must kill it
  });

  it('Instance Connect keys reach sshd, for the instance user only, and expire', async () => {
    const [instance] = await tagged('ip');
    const id = String(instance?.InstanceId);
    const pushed = await keyPair('pushed');
    expect((await ssh(pushed.key, 'true')).exitCode).toBe(255);

    const out = await connect.send(new SendSSHPublicKeyCommand({ InstanceId: id, InstanceOSUser: sb.user, SSHPublicKey: pushed.pub, AvailabilityZone: instance?.Placement?.AvailabilityZone }));
    expect(out.Success).toBe(true);
    expect((await ssh(pushed.key, 'whoami')).stdout).toBe(sb.user);
    const [entry] = sb.instanceConnectKeys();
    expect(entry).toMatchObject({ key: pushed.pub, instanceId: id, osUser: sb.user });
    expect(entry!.expiresAt - Date.now()).toBeGreaterThan(50_000);
    expect(readFileSync(join(sb.dir, 'sshd', 'authorized_keys'), 'utf8')).toMatch(/^expiry-time="\d{14}Z" ssh-ed25519 /m);
    const call = sb.calls('SendSSHPublicKey')[0];
    expect(call).toMatchObject({ service: 'ec2-instance-connect', status: 200, params: { InstanceId: id, InstanceOSUser: sb.user } });

    // AWS accepts any user name; only the instance's user gets in.
    const other = await keyPair('other-user');
    await connect.send(new SendSSHPublicKeyCommand({ InstanceId: id, InstanceOSUser: 'ubuntu', SSHPublicKey: other.pub }));
    expect((await ssh(other.key, 'true')).exitCode).toBe(255);

    // sshd itself refuses a key past its expiry-time.
    const old = await keyPair('expired');
    sb.addInstanceConnectKey(old.pub, Date.now() - 60_000, id);
    expect(readFileSync(join(sb.dir, 'sshd', 'authorized_keys'), 'utf8')).toContain(old.pub);
    expect((await ssh(old.key, 'true')).exitCode).toBe(255);
    expect(readFileSync(join(sb.dir, 'sshd', 'sshd.log'), 'utf8')).toMatch(/Refused by key options/); // the expiry-time option

    // Like AWS: unknown instances and malformed keys are refused.
    await expect(connect.send(new SendSSHPublicKeyCommand({ InstanceId: 'i-0123456789abcdef0', InstanceOSUser: sb.user, SSHPublicKey: pushed.pub }))).rejects.toMatchObject({ name: 'EC2InstanceNotFoundException' });
    await expect(connect.send(new SendSSHPublicKeyCommand({ InstanceId: id, InstanceOSUser: sb.user, SSHPublicKey: `${pushed.pub}\nssh-ed25519 AAAA injected` }))).rejects.toMatchObject({ name: 'InvalidArgsException' });
    sb.inject({ action: 'SendSSHPublicKey', code: 'AuthException', status: 403, message: 'not authorized' });
    await expect(connect.send(new SendSSHPublicKeyCommand({ InstanceId: id, InstanceOSUser: sb.user, SSHPublicKey: other.pub }))).rejects.toMatchObject({ name: 'AuthException', message: 'not authorized' });
    sb.clearFaults();
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await expect(connect.send(new SendSSHPublicKeyCommand({ InstanceId: id, InstanceOSUser: sb.user, SSHPublicKey: pushed.pub }))).rejects.toMatchObject({ name: 'EC2InstanceStateInvalidException' });
  });

  it('stop() removes the user, its processes and the dir', async () => {
    const { user, dir } = sb;
    const uid = (await execa('id', ['-u', user])).stdout;
    await sb.stop();
    await sb.stop(); // idempotent
    expect((await execa('id', [user], { reject: false })).exitCode).not.toBe(0);
    // The tmux server from above is gone (at most a zombie is left, if PID 1 does not reap).
    const states = (await execa('ps', ['-U', uid, '-o', 'stat='], { reject: false })).stdout.split('\n').filter(Boolean);
    expect(states.filter((s) => !s.startsWith('Z'))).toEqual([]);
    expect((await execa('ls', [dir], { reject: false })).exitCode).not.toBe(0);
  });
});
