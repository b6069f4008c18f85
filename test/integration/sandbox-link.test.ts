// The sandbox's link with latency and its booting machines (options the bench turns on; off in
// every other test): bytes get through intact both ways, and the delay is there. Only lower bounds
// on time: a busy machine makes everything slower, never faster.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { DescribeRegionsCommand, EC2Client, GetConsoleOutputCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { DELAY_RELAY, startSandbox, type Sandbox } from '../sandbox/index.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** Runs the relay to an echo server: what goes in must come back out, byte for byte. */
function throughRelay(port: number, delayMs: number, input: Buffer): Promise<{ output: Buffer; firstByteMs: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let firstByteMs = -1;
    const relay = spawn(process.execPath, [DELAY_RELAY, String(port), String(delayMs)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const chunks: Buffer[] = [];
    relay.stdout.on('data', (c: Buffer) => {
      if (firstByteMs < 0) firstByteMs = performance.now() - start;
      chunks.push(c);
      if (Buffer.concat(chunks).length >= input.length) relay.stdin.end();
    });
    relay.on('error', reject);
    relay.on('exit', () => resolve({ output: Buffer.concat(chunks), firstByteMs }));
    relay.stdin.write(input);
  });
}

describe('delay relay (the ssh ProxyCommand of a link with latency)', () => {
  let echo: Server;
  let port: number;
  beforeAll(async () => {
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    port = (echo.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => echo.close(() => r())));

  it('carries bytes intact both ways, each way late', async () => {
    const small = await throughRelay(port, 25, Buffer.from('ping\n'));
    expect(small.output.toString()).toBe('ping\n');
    // There and back again: two delays, plus Node's start-up.
    expect(small.firstByteMs).toBeGreaterThanOrEqual(40);

    const big = randomBytes(8 << 20); // more than the relay keeps in flight: its pausing is exercised
    const r = await throughRelay(port, 25, big);
    expect(r.output.length).toBe(big.length);
    expect(r.output.equals(big)).toBe(true);
  });
});

describe('sandbox with linkDelayMs and bootDelayMs', () => {
  let sb: Sandbox;
  let ec2: EC2Client;
  beforeAll(async () => {
    sb = await startSandbox({
      linkDelayMs: 25,
      bootDelayMs: 1500,
      aws: { eventualConsistency: false, connectAfterBoot: false, lateConsole: false },
    });
    ec2 = new EC2Client({ region: sb.region, endpoint: sb.endpoint, credentials, maxAttempts: 1 });
  });
  afterAll(async () => {
    ec2?.destroy();
    await sb?.stop();
  });

  it('delays each API request and its answer, which arrives intact', async () => {
    await ec2.send(new DescribeRegionsCommand({})); // the SDK's own first-call costs out of the way
    const start = performance.now();
    const out = await ec2.send(new DescribeRegionsCommand({}));
    expect(performance.now() - start).toBeGreaterThanOrEqual(40);
    expect(out.Regions?.map((r) => r.RegionName)).toContain(sb.region);
    expect(sb.calls('DescribeRegions')).toHaveLength(2);
  });

  it('answers RunInstances at once, holds sshd back, then reaches it through the relay', async () => {
    const image = { ImageId: 'ami-0d1a00000000a0004', InstanceType: 'g4dn.xlarge' } as const;
    // The hold starts once the request is in: sshd comes up no sooner than bootDelayMs after this
    // (a lower bound only; 100 ms of slack for timer rounding, none needed for a busy machine).
    const sentAt = Date.now();
    const out = await ec2.send(new RunInstancesCommand({ ...image, MinCount: 1, MaxCount: 1 }));
    const id = out.Instances![0]!.InstanceId!;
    const m = sb.machine(id);
    // Booting: no host keys on the console yet (if sshd is still held back when the answer is read).
    const early = await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }));
    if (m.sshReachableAt === undefined)
      expect(Buffer.from(early.Output ?? '', 'base64').toString()).not.toMatch(/BEGIN SSH HOST KEY/);

    while (m.sshReachableAt === undefined) await new Promise((r) => setTimeout(r, 50));
    expect(m.sshReachableAt - sentAt).toBeGreaterThanOrEqual(1400);
    const late = await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }));
    expect(Buffer.from(late.Output ?? '', 'base64').toString()).toMatch(/BEGIN SSH HOST KEY/);

    const config = readFileSync(sb.sshConfig, 'utf8');
    expect(config).toContain(`ProxyCommand ${process.execPath} ${DELAY_RELAY} ${m.sshPort()} 25`);

    const key = join(sb.dir, 'link-key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    sb.authorizeKey(readFileSync(`${key}.pub`, 'utf8'));
    const data = randomBytes(2 << 20).toString('base64');
    const r = await execa(
      'ssh',
      [
        ...['-F', sb.sshConfig, '-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes'],
        ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'],
        ...['-l', sb.user, m.addresses[0]!, 'cat'],
      ],
      { input: data, reject: false },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(data);
  });
});
