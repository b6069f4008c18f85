// The test bench itself: fake AWS (moto behind the proxy) and fake instances (each its own
// sshd, host key, user, home and metadata answers).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  GetConsoleOutputCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { Instance, RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import { EC2InstanceConnectClient, SendSSHPublicKeyCommand } from '@aws-sdk/client-ec2-instance-connect';
import { INSTANCE_CONNECT_TTL_MS, startSandbox } from '../sandbox/index.js';
import type { Machine, Sandbox } from '../sandbox/index.js';
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
    sb = await startSandbox({ aws: { eventualConsistency: false, connectAfterBoot: false, lateConsole: false } });
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
    '-F',
    sb.sshConfig,
    '-i',
    key,
    '-o',
    'IdentitiesOnly=yes',
    // One known-hosts file for all: each instance's key is recorded under its own address.
    '-o',
    `UserKnownHostsFile=${join(sb.dir, 'kh')}`,
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
  ];
  /** ssh to an address (the sandbox's ssh_config sends each instance's addresses to its own sshd). */
  const ssh = (key: string, address: string, command: string, extra: string[] = []) =>
    execa('ssh', [...extra, ...sshArgs(key), '-o', `HostKeyAlias=${address}`, '-l', sb.user, address, command], {
      reject: false,
      stdin: 'ignore',
    });
  const ipOf = (i: Instance | undefined): string => String(i?.PublicIpAddress);

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

  it('starts with a private login name, dir and ports, and no instance', () => {
    expect(sb.user).toMatch(/^sshec2-[0-9a-f]{6}$/);
    expect(sb.remoteHome.startsWith(sb.dir)).toBe(true);
    expect(sb.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // No instance yet: every name goes to a refused port.
    expect(readFileSync(sb.sshConfig, 'utf8')).toMatch(/^Host \*\n  HostName 127\.0\.0\.1\n  Port 9\n$/m);
    expect(sb.machines()).toEqual([]);
    expect(() => sb.latestMachine()).toThrow(/no instance/);
    const env = sb.env({ NO_COLOR: undefined, EXTRA: 'x' });
    expect(env).toMatchObject({
      AWS_ENDPOINT_URL: sb.endpoint,
      AWS_REGION: 'eu-central-1',
      AWS_INSTANCE_USER: sb.user,
      EXTRA: 'x',
    });
    expect(env.HOME).toBe(join(sb.dir, 'local-home'));
    expect('NO_COLOR' in env).toBe(false);
  });

  it('finds the Deep Learning images by owner alias, but not a decoy registered by another account', async () => {
    // ssh-ec2's default: the x86_64 and ARM64 names, as values of one filter (EC2 ORs them).
    const byName = [{ Name: 'name', Values: [...DEFAULT_IMAGE_PATTERNS] }];
    const decoy = await ec2.send(
      new RegisterImageCommand({
        Name: 'Deep Learning OSS Nvidia Driver AMI GPU PyTorch 9.9 (Ubuntu 22.04) 20991231',
        Architecture: 'x86_64',
        RootDeviceName: '/dev/sda1',
      }),
    );
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
    const others = await ec2.send(
      new DescribeImagesCommand({
        Owners: ['amazon'],
        Filters: [
          { Name: 'name', Values: ['ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*', 'al2023-ami-*'] },
        ],
      }),
    );
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
    expect(calls.map((c) => [c.status, Boolean(c.injected), Boolean(c.replayed)])).toEqual([
      [500, true, false],
      [200, false, true],
    ]);
    expect(calls[0]?.params.ClientToken).toBe('token-X');
    expect(calls[0]?.params['TagSpecification.1.Tag.1.Value']).toBe('idem');
    const logged = readFileSync(join(sb.dir, 'api-calls.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string });
    expect(logged.some((c) => c.action === 'RunInstances')).toBe(true);
  });

  it("AWS's behaviours, counted in calls, for the CLI's key only: a new instance unknown to its first calls by id; a launch dying while pending with its StateReason", async () => {
    const observer = new EC2Client({
      region: sb.region,
      endpoint: sb.endpoint,
      credentials: { ...credentials, accessKeyId: 'observer' },
    });
    const byId = (client: EC2Client, id: string) =>
      client.send(new DescribeInstancesCommand({ InstanceIds: [id] })).then(
        (r) => r.Reservations?.[0]?.Instances?.[0],
        (err: Error) => err.name,
      );
    try {
      sb.aws.setEventualConsistency({ calls: 2 });
      const id = (await launch('lagging')).InstanceId!;
      expect(await byId(observer, id)).toMatchObject({ InstanceId: id }); // the observer sees moto's truth
      expect([await byId(ec2, id), await byId(ec2, id)]).toEqual([
        'InvalidInstanceID.NotFound',
        'InvalidInstanceID.NotFound',
      ]);
      expect(await byId(ec2, id)).toMatchObject({ InstanceId: id });
      sb.aws.setEventualConsistency(false);
      sb.aws.terminateNextLaunch({
        code: 'Server.InsufficientInstanceCapacity',
        message: 'Server.InsufficientInstanceCapacity: Insufficient capacity.',
      });
      const dying = await launch('dying');
      expect(dying.State?.Name).toBe('pending');
      const seen = (await byId(ec2, dying.InstanceId!)) as Instance;
      expect([seen.State?.Name, seen.StateReason?.Code, seen.StateReason?.Message]).toEqual([
        'terminated',
        'Server.InsufficientInstanceCapacity',
        'Server.InsufficientInstanceCapacity: Insufficient capacity.',
      ]);
    } finally {
      sb.aws.setEventualConsistency(false);
      observer.destroy();
    }
  });

  it('rejects an unknown instance type and surfaces injected capacity errors', async () => {
    await expect(launch('bad-type', { InstanceType: 'g9zz.huge' as never })).rejects.toThrow(/g9zz\.huge/);
    sb.inject({
      action: 'RunInstances',
      code: 'InsufficientInstanceCapacity',
      message: 'We currently do not have sufficient g4dn.xlarge capacity.',
      times: Infinity,
    });
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
    const found = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'ip-address', Values: [String(instance?.PublicIpAddress)] }] }),
    );
    expect(found.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(instance?.InstanceId);
  });

  it('logs in with a permanently authorized key, runs commands, rsync, tmux and screen', async () => {
    const { key, pub } = await keyPair('static');
    sb.authorizeKey(pub);
    const [instance] = await tagged('ip');
    const m = sb.machine(String(instance?.InstanceId));
    const hi = await ssh(key, ipOf(instance), 'echo hi; pwd; whoami');
    expect(hi.stderr).toBe('');
    expect(hi.stdout).toBe(`hi\n${sb.remoteHome}\n${sb.user}`); // the same name and home path on every instance

    const src = join(sb.dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub', 'file.txt'), 'payload\n');
    const e = `ssh ${sshArgs(key).join(' ')} -o HostKeyAlias=${ipOf(instance)}`;
    const rsync = await execa('rsync', ['-e', e, '-r', `${src}/`, `${sb.user}@${ipOf(instance)}:dst/`], {
      reject: false,
    });
    expect(rsync.stderr).toBe('');
    const remote = await m.runAsUser('cat dst/sub/file.txt; stat -c %U dst/sub/file.txt; pwd');
    expect(remote).toEqual({ stdout: `payload\n${sb.user}\n${sb.remoteHome}`, stderr: '', exitCode: 0 });
    expect(readFileSync(join(m.home, 'dst', 'sub', 'file.txt'), 'utf8')).toBe('payload\n'); // where it really is

    // `screen -dmS` returns before its daemon has made its socket: listed once it has (at most 10 s).
    const screenUp = 'i=0; until screen -ls | grep -q "\\.s\\s" || [ $i -ge 200 ]; do sleep 0.05; i=$((i+1)); done';
    const tools = await ssh(
      key,
      ipOf(instance),
      `tmux -V && screen -v; tmux new-session -d -s t "sleep 600" && tmux ls; screen -dmS s sleep 600 && ${screenUp}; screen -ls`,
    );
    expect(tools.stdout).toMatch(/^tmux \d/m);
    expect(tools.stdout).toMatch(/^Screen version/m);
    expect(tools.stdout).toMatch(/^t: 1 windows/m); // left running on purpose: stop() must kill it
    expect(tools.stdout).toMatch(/\.s\t/m);
  });

  it("an address that is no running instance's is refused, and so is every one while unreachable", async () => {
    const { key } = await keyPair('nowhere');
    const [instance] = await tagged('ip');
    expect((await ssh(key, '127.0.9.9', 'true')).stderr).toMatch(/Connection refused/);
    await sb.setReachable(false);
    try {
      expect((await ssh(key, ipOf(instance), 'true')).stderr).toMatch(/Connection refused/);
    } finally {
      await sb.setReachable(true);
    }
    expect((await ssh(key, ipOf(instance), 'true')).stderr).not.toMatch(/Connection refused/);
  });

  it('two instances at once are separate machines: own sshd, host key, home, processes and IMDS answers', async () => {
    const { key } = await keyPair('two'); // authorized below, after both launched: reaches both
    const [a, b] = [await launch('two-a'), await launch('two-b')];
    const [ma, mb] = [sb.machine(String(a.InstanceId)), sb.machine(String(b.InstanceId))];
    sb.authorizeKey(readFileSync(`${key}.pub`, 'utf8'));
    expect(sb.latestMachine()).toBe(mb);
    expect(ma.uid).not.toBe(mb.uid);
    expect(ma.home).not.toBe(mb.home);
    expect(ma.sshPort()).not.toBe(mb.sshPort());
    expect(ma.hostKeyFingerprint).not.toBe(mb.hostKeyFingerprint);
    expect(ma.addresses).toContain(ipOf(a));

    // What ssh sees of each: its own host key (the fingerprint its console prints), its own home.
    const seen = async (i: Instance, m: Machine): Promise<void> => {
      const hostKey = await execa('ssh-keyscan', ['-p', String(m.sshPort()), '-t', 'ed25519', '127.0.0.1'], {
        reject: false,
      });
      const fp = await execa('ssh-keygen', ['-l', '-f', '-'], { input: hostKey.stdout });
      expect(fp.stdout.split(' ')[1]).toBe(m.hostKeyFingerprint.split(' ')[1]);
      const out = await ec2.send(new GetConsoleOutputCommand({ InstanceId: i.InstanceId }));
      expect(Buffer.from(String(out.Output), 'base64').toString()).toContain(m.hostKeyFingerprint.split(' ')[1]);
    };
    await seen(a, ma);
    await seen(b, mb);
    const r0 = await ssh(key, ipOf(a), 'echo A > where.txt; pwd');
    expect(r0.stdout).toBe(sb.remoteHome);
    expect((await ssh(key, ipOf(b), 'cat where.txt 2>&1; echo B > where.txt')).stdout).toMatch(/No such file/);
    expect(readFileSync(join(ma.home, 'where.txt'), 'utf8')).toBe('A\n');
    expect(readFileSync(join(mb.home, 'where.txt'), 'utf8')).toBe('B\n');

    // IMDS answers each instance its own id; a token of one is no good on the other; off any instance, nothing.
    const imds = `${sb.imdsUrl}/latest`;
    const ask = (m: Machine) =>
      m.runAsUser(
        `t=$(curl -sS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' ${imds}/api/token) && echo "$t" > token && curl -sS -H "X-aws-ec2-metadata-token: $t" ${imds}/meta-data/instance-id`,
      );
    expect((await ask(ma)).stdout).toBe(a.InstanceId);
    expect((await ask(mb)).stdout).toBe(b.InstanceId);
    const tokenOfA = readFileSync(join(ma.home, 'token'), 'utf8').trim();
    expect(
      (
        await mb.runAsUser(
          `curl -sS -o /dev/null -w '%{http_code}' -H 'X-aws-ec2-metadata-token: ${tokenOfA}' ${imds}/meta-data/instance-id`,
        )
      ).stdout,
    ).toBe('401');
    mb.setImdsInstance('i-0fedcba9876543210');
    expect((await ask(mb)).stdout).toBe('i-0fedcba9876543210');
    mb.setImdsInstance(undefined);
    const token = await (
      await fetch(`${imds}/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })
    ).text();
    expect(
      (await fetch(`${imds}/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': token } })).status,
    ).toBe(404);
    expect(
      sb
        .imdsRequests()
        .filter((r) => r.instanceId)
        .map((r) => r.instanceId),
    ).toEqual([a.InstanceId, b.InstanceId, 'i-0fedcba9876543210']);

    // Processes are per machine: a poweroff on B (kill -9 -1 as its user) leaves A's sessions alone.
    await ma.runAsUser('sleep 600 >/dev/null 2>&1 & echo $! > sleeper');
    const sleeper = Number(readFileSync(join(ma.home, 'sleeper'), 'utf8'));
    await mb.runAsUser(`SSH_EC2_INSTANCE_ID=${String(a.InstanceId)} ${sb.poweroffCommand}`); // names A, yet powers off where it runs
    expect(sb.poweroffs().at(-1)).toMatchObject({ instanceId: b.InstanceId, status: 200 });
    expect(mb.state()).toBe('stopped');
    expect(ma.state()).toBe('running');
    expect(() => process.kill(sleeper, 0)).not.toThrow();
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [String(a.InstanceId), String(b.InstanceId)] }));
  });

  it('a stopped instance keeps its files but no process and no sshd; started again, the same host key; terminated, its files and user are gone', async () => {
    const { key, pub } = await keyPair('life');
    sb.authorizeKey(pub);
    const i = await launch('life');
    const id = String(i.InstanceId);
    const m = sb.machine(id);
    expect(
      (await ssh(key, ipOf(i), 'echo kept > kept.txt; sleep 600 >/dev/null 2>&1 & echo $! > sleeper; echo ok')).stdout,
    ).toBe('ok');
    const sleeper = readFileSync(join(m.home, 'sleeper'), 'utf8').trim();
    expect(
      (await execa('ps', ['-u', String(m.uid), '-o', 'pid='], { reject: false })).stdout
        .split('\n')
        .map((p) => p.trim()),
    ).toContain(sleeper);

    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    expect(m.state()).toBe('stopped');
    expect(m.sshPort()).toBeUndefined();
    expect(
      (await execa('ps', ['-u', String(m.uid), '-o', 'stat='], { reject: false })).stdout
        .split('\n')
        .filter((s) => s && !s.startsWith('Z')),
    ).toEqual([]);
    expect((await ssh(key, ipOf(i), 'true')).stderr).toMatch(/Connection refused/);
    expect(readFileSync(join(m.home, 'kept.txt'), 'utf8')).toBe('kept\n');

    const fingerprint = m.hostKeyFingerprint;
    await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    expect(m.state()).toBe('running');
    // Same host key: the known-hosts entry from before still matches (StrictHostKeyChecking would refuse a change).
    const [again] = await tagged('life'); // (its address may have changed, as on EC2)
    expect(m.addresses).toContain(ipOf(again));
    const back = await ssh(key, ipOf(again), 'cat kept.txt', [
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `HostKeyAlias=${ipOf(i)}`,
    ]);
    expect(back.stdout, back.stderr).toBe('kept');
    expect(m.hostKeyFingerprint).toBe(fingerprint);

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(m.state()).toBe('terminated');
    expect(existsSync(m.home)).toBe(false);
    expect(readFileSync(join(String(m.homeAtTermination), 'kept.txt'), 'utf8')).toBe('kept\n'); // for tests to check, root-only
    expect(statSync(dirname(String(m.homeAtTermination))).mode & 0o777).toBe(0o700);
    expect((await execa('id', [m.unixUser], { reject: false })).exitCode).not.toBe(0);
    await expect(m.runAsUser('true')).rejects.toThrow(/terminated/);
    expect((await ssh(key, ipOf(i), 'true')).stderr).toMatch(/Connection refused/);
  });

  it("a new instance's home starts as a copy of the skeleton, owned by its user", async () => {
    await mkdir(join(sb.homeSkeleton, '.ssh'), { recursive: true });
    await writeFile(join(sb.homeSkeleton, '.ssh', 'rc'), 'true\n');
    try {
      const m = sb.machine(String((await launch('skel')).InstanceId));
      expect(await m.runAsUser('cat .ssh/rc; stat -c %U .ssh/rc')).toMatchObject({
        stdout: `true\n${sb.user}`,
        exitCode: 0,
      });
    } finally {
      await execa('rm', ['-rf', join(sb.homeSkeleton, '.ssh')]);
    }
  });

  it("Instance Connect keys reach that instance's sshd only, for the login user only, and expire", async () => {
    const [instance] = await tagged('ip');
    const id = String(instance?.InstanceId);
    const m = sb.machine(id);
    const other = await launch('ic-other');
    const pushed = await keyPair('pushed');
    expect((await ssh(pushed.key, ipOf(instance), 'true')).exitCode).toBe(255);

    const asked = Date.now();
    const out = await connect.send(
      new SendSSHPublicKeyCommand({
        InstanceId: id,
        InstanceOSUser: sb.user,
        SSHPublicKey: pushed.pub,
        AvailabilityZone: instance?.Placement?.AvailabilityZone,
      }),
    );
    const answered = Date.now();
    expect(out.Success).toBe(true);
    expect((await ssh(pushed.key, ipOf(instance), 'whoami')).stdout).toBe(sb.user);
    expect((await ssh(pushed.key, ipOf(other), 'whoami')).exitCode).toBe(255); // another instance: not there
    const [entry] = sb.instanceConnectKeys();
    expect(entry).toMatchObject({ key: pushed.pub, instanceId: id, osUser: sb.user });
    // Its 60 s count from the push, not from this line: the ssh runs above take seconds on a loaded machine.
    expect(entry!.expiresAt).toBeGreaterThanOrEqual(asked + INSTANCE_CONNECT_TTL_MS);
    expect(entry!.expiresAt).toBeLessThanOrEqual(answered + INSTANCE_CONNECT_TTL_MS);
    const authorized = (): string => readFileSync(join(dirname(m.sshdLog), 'authorized_keys'), 'utf8');
    expect(authorized()).toMatch(/^expiry-time="\d{14}Z" ssh-ed25519 /m);
    const call = sb.calls('SendSSHPublicKey')[0];
    expect(call).toMatchObject({
      service: 'ec2-instance-connect',
      status: 200,
      params: { InstanceId: id, InstanceOSUser: sb.user },
    });

    // AWS accepts any user name; only the instance's user gets in.
    const otherUser = await keyPair('other-user');
    await connect.send(
      new SendSSHPublicKeyCommand({ InstanceId: id, InstanceOSUser: 'ubuntu', SSHPublicKey: otherUser.pub }),
    );
    expect((await ssh(otherUser.key, ipOf(instance), 'true')).exitCode).toBe(255);

    // sshd itself refuses a key past its expiry-time.
    const old = await keyPair('expired');
    m.addInstanceConnectKey(old.pub, Date.now() - 60_000);
    expect(authorized()).toContain(old.pub);
    expect((await ssh(old.key, ipOf(instance), 'true')).exitCode).toBe(255);
    expect(readFileSync(m.sshdLog, 'utf8')).toMatch(/Refused by key options/); // the expiry-time option

    // Like AWS: unknown instances and malformed keys are refused.
    await expect(
      connect.send(
        new SendSSHPublicKeyCommand({
          InstanceId: 'i-0123456789abcdef0',
          InstanceOSUser: sb.user,
          SSHPublicKey: pushed.pub,
        }),
      ),
    ).rejects.toMatchObject({ name: 'EC2InstanceNotFoundException' });
    await expect(
      connect.send(
        new SendSSHPublicKeyCommand({
          InstanceId: id,
          InstanceOSUser: sb.user,
          SSHPublicKey: `${pushed.pub}\nssh-ed25519 AAAA injected`,
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidArgsException' });
    sb.inject({ action: 'SendSSHPublicKey', code: 'AuthException', status: 403, message: 'not authorized' });
    await expect(
      connect.send(
        new SendSSHPublicKeyCommand({ InstanceId: id, InstanceOSUser: sb.user, SSHPublicKey: otherUser.pub }),
      ),
    ).rejects.toMatchObject({ name: 'AuthException', message: 'not authorized' });
    sb.clearFaults();
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await expect(
      connect.send(new SendSSHPublicKeyCommand({ InstanceId: id, InstanceOSUser: sb.user, SSHPublicKey: pushed.pub })),
    ).rejects.toMatchObject({ name: 'EC2InstanceStateInvalidException' });
    await ec2.send(new StartInstancesCommand({ InstanceIds: [id] })); // its tmux from above is gone; stop() below checks the rest
  });

  it("stop() removes every instance's user, its processes and the dir", async () => {
    const { dir } = sb;
    const users = sb.machines().map((m) => [m.unixUser, String(m.uid)] as const);
    expect(users.length).toBeGreaterThanOrEqual(5);
    const sleeper = (await sb.latestMachine().runAsUser('sleep 600 >/dev/null 2>&1 & echo $!')).stdout.trim();
    expect(sleeper).toMatch(/^\d+$/);
    await sb.stop();
    await sb.stop(); // idempotent
    // Nothing of it is left (at most a zombie, if PID 1 does not reap): its own process by pid...
    const state = (await execa('ps', ['-p', sleeper, '-o', 'stat=,comm='], { reject: false })).stdout.trim();
    expect(state === '' || state.startsWith('Z') || !state.endsWith('sleep')).toBe(true);
    for (const [user, uid] of users) {
      expect((await execa('id', [user], { reject: false })).exitCode).not.toBe(0);
      // ...and by uid, unless that uid has been given to a new user meanwhile (another test
      // file's instance: useradd takes the next free one), whose processes are not ours.
      if ((await execa('getent', ['passwd', uid], { reject: false })).exitCode === 0) continue;
      const states = (await execa('ps', ['-U', uid, '-o', 'stat='], { reject: false })).stdout
        .split('\n')
        .filter(Boolean);
      expect(states.filter((s) => !s.startsWith('Z'))).toEqual([]);
    }
    expect((await execa('ls', [dir], { reject: false })).exitCode).not.toBe(0);
  });
});
