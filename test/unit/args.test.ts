import { describe, expect, it } from 'vitest';
import { parseArgs, splitAttachedValues } from '../../src/args.js';
import { UsageError } from '../../src/errors.js';
import { resolveOptions } from '../../src/options.js';
import { typesToStart } from '../../src/session/start-stopped.js';

async function options(argv: string[], env: Record<string, string> = {}, dotenv: Record<string, string> = {}) {
  const a = await parseArgs(argv);
  return resolveOptions({ flags: a.flags, env, dotenv, command: a.command });
}

describe('command line', () => {
  it.each([
    [
      ['who', 'am', 'i'],
      ['who', 'am', 'i'],
    ],
    [
      ['--', 'ls', '-l'],
      ['ls', '-l'],
    ],
    // doctor is a verb (issue #12) only as the first word.
    [
      ['--', 'doctor', '--json'],
      ['doctor', '--json'],
    ],
    [['-v', 'doctor'], ['doctor']],
    [
      ['--', 'ssh-config', '--yes'],
      ['ssh-config', '--yes'],
    ],
    [
      ['--', 'proxy-connect', 'i-0123'],
      ['proxy-connect', 'i-0123'],
    ],
    // prices is a verb (issue #13) only as the first word.
    [
      ['--', 'prices', 'g5.xlarge'],
      ['prices', 'g5.xlarge'],
    ],
    [['-v', 'prices'], ['prices']],
    // volumes and push are verbs (issue #13) only as the first word.
    [
      ['--', 'volumes', 'rm', 'x'],
      ['volumes', 'rm', 'x'],
    ],
    [
      ['--', 'push', 'data/'],
      ['push', 'data/'],
    ],
    [['-v', 'push'], ['push']],
    // batch is a verb (issue #14) only as the first word.
    [
      ['--', 'batch', 'jobs.csv'],
      ['batch', 'jobs.csv'],
    ],
    [
      ['python', 'train.py', '--epochs', '3'],
      ['python', 'train.py', '--epochs', '3'],
    ],
    [
      ['-v', 'make', '--', 'x'],
      ['make', '--', 'x'],
    ],
    [
      ['echo', '0123', '1e3'],
      ['echo', '0123', '1e3'],
    ],
    [['source activate x ; make train'], ['source activate x ; make train']],
    [[], []],
    [['--terminate', 'true'], ['true']],
    [
      ['-d', 'false', '-x'],
      ['false', '-x'],
    ],
  ])('%j runs %j remotely', async (argv, command) => {
    expect((await options(argv)).command).toEqual(command);
  });

  it('reads the original short flags and groups', async () => {
    const o = await options(['-lv', '--no-rsync', 'x']);
    expect(o.finalState).toBe('leave');
    expect(o.verbose).toBe(true);
    expect(o.rsync).toBe(false);
    expect((await options(['-s'])).finalState).toBe('stop');
    expect((await options(['--terminate'])).finalState).toBe('terminate');
    expect((await options(['--no-quiet'])).verbose).toBe(true);
  });

  it('takes ssh-style forwards, attached or not, repeatable', async () => {
    const o = await options([
      '-L',
      '8888:localhost:8888',
      '-L6006:localhost:6006',
      '-R9000:localhost:9000',
      '-D1080',
      'jupyter',
      '-L',
      'x',
    ]);
    expect(o.localForwards).toEqual(['8888:localhost:8888', '6006:localhost:6006']);
    expect(o.remoteForwards).toEqual(['9000:localhost:9000']);
    expect(o.dynamicForwards).toEqual(['1080']);
    expect(o.command).toEqual(['jupyter', '-L', 'x']);
  });

  it('splits attached values only before the command', () => {
    expect(splitAttachedValues(['-ikey.pem', '--region', '-Lx', 'cmd', '-L1:a:1'])).toEqual([
      '-i',
      'key.pem',
      '--region',
      '-Lx',
      'cmd',
      '-L1:a:1',
    ]);
  });

  it.each([
    [['--bogus']],
    [['--region']],
    [['-l', '-t']],
    [['-L', 'nonsense']],
    [['--ssh-cidr', '0.0.0.0/0']],
    [['--ssh-cidr', '0.0.0.0/1']],
    [['--ssh-cidr', '10.0.0.0/7']],
    [['--ssh-cidr', '10.0.0.300/32']],
    [['--volume-size', 'big']],
    [['--multi', 'zellij']],
  ])('%j is a usage error', async (argv) => {
    await expect(options(argv)).rejects.toBeInstanceOf(UsageError);
  });

  it('--ssh-cidr takes an address or a network range down to /8, and says why a wider one is refused', async () => {
    expect((await options(['--ssh-cidr', '10.0.0.0/8'])).sshCidr).toBe('10.0.0.0/8');
    expect((await options(['--ssh-cidr', '203.0.113.7/32'])).sshCidr).toBe('203.0.113.7/32');
    await expect(options(['--ssh-cidr', '0.0.0.0/1'])).rejects.toThrow(
      'refusing to open ssh to 1/2 of the internet (0.0.0.0/1)',
    );
  });
});

describe('settings', () => {
  it('merge flags > environment > .env > defaults', async () => {
    const env = { AWS_INSTANCE_TYPE: 'g5.xlarge', AWS_REGION: 'us-east-1' };
    const dotenv = { AWS_INSTANCE_TYPE: 'p3.2xlarge', AWS_RSYNC_DIR: 'work', AWS_REGION: 'eu-west-1' };
    const o = await options(['--region', 'us-west-2'], env, dotenv);
    expect(o.region).toBe('us-west-2');
    expect(o.instanceTypes).toEqual(['g5.xlarge']);
    expect(o.remoteDir).toBe('work');
    expect(o.imageName).toBeUndefined(); // the default image (cloud/dlami.ts)
    expect(o.imageOwners).toEqual(['amazon']);
    expect(o.finalState).toBe('terminate');
  });

  it("keeps the original's variables", async () => {
    const o = await options([], {
      AWS_FINAL_STATE: 'leave',
      AWS_PEM: '/k.pem',
      AWS_NAME_INSTANCE: 'n',
      AWS_IAM_INSTANCE_PROFILE: '',
      AWS_KEY_NAME: 'ppr',
      AWS_INSTANCE_USER: 'ec2-user',
      AWS_USER_DATA: 'echo hi',
      AWS_IMAGE_ID: 'ami-1',
      AWS_DEFAULT_REGION: 'eu-west-3',
      MULTIPLEX: '',
    });
    expect(o).toMatchObject({
      finalState: 'leave',
      identity: '/k.pem',
      name: 'n',
      iamProfile: undefined,
      keyName: 'ppr',
      user: 'ec2-user',
      userData: 'echo hi',
      imageId: 'ami-1',
      region: 'eu-west-3',
      multiplex: undefined,
    });
  });

  it('--subnet-id takes a subnet id (or SSH_EC2_SUBNET_ID); --security-group an id or a name, as given', async () => {
    expect((await options(['--subnet-id', 'subnet-0123456789abcdef0'])).subnetId).toBe('subnet-0123456789abcdef0');
    expect((await options([], { SSH_EC2_SUBNET_ID: 'subnet-12345678' })).subnetId).toBe('subnet-12345678');
    expect((await options([], { SSH_EC2_SUBNET_ID: '' })).subnetId).toBeUndefined();
    await expect(options(['--subnet-id', 'vpc-0123456789abcdef0'])).rejects.toThrow(
      '--subnet-id: expected a subnet id such as subnet-0123456789abcdef0, got "vpc-0123456789abcdef0"',
    );
    await expect(options([], { SSH_EC2_SUBNET_ID: 'default' })).rejects.toThrow(
      /^SSH_EC2_SUBNET_ID: expected a subnet id/,
    );
    expect((await options(['--security-group', 'sg-0123456789abcdef0'])).securityGroup).toBe('sg-0123456789abcdef0');
    expect((await options([], { SSH_EC2_SECURITY_GROUP: 'launch-wizard-1' })).securityGroup).toBe('launch-wizard-1');
    expect((await options([])).securityGroup).toBeUndefined();
  });

  it('reports which variable is wrong', async () => {
    await expect(options([], { AWS_FINAL_STATE: 'explode' })).rejects.toThrow(/AWS_FINAL_STATE/);
    await expect(options([], {}, { AWS_FINAL_STATE: 'explode' })).rejects.toThrow(/in \.env/);
  });
});

describe('waiting for a host key and for capacity', () => {
  it('--host-key-timeout and --capacity-timeout take durations (off: no wait), from flags or the environment', async () => {
    expect(await options([])).toMatchObject({ hostKeyTimeout: 60_000, capacityTimeout: 300_000 });
    expect(await options(['--host-key-timeout', '30s', '--capacity-timeout', '1h'])).toMatchObject({
      hostKeyTimeout: 30_000,
      capacityTimeout: 3_600_000,
    });
    expect(await options(['--host-key-timeout', 'off'], { SSH_EC2_CAPACITY_TIMEOUT: '0' })).toMatchObject({
      hostKeyTimeout: 0,
      capacityTimeout: 0,
    });
    expect(await options([], { SSH_EC2_HOST_KEY_TIMEOUT: '2m' }, { SSH_EC2_CAPACITY_TIMEOUT: '90s' })).toMatchObject({
      hostKeyTimeout: 120_000,
      capacityTimeout: 90_000,
    });
    await expect(options(['--host-key-timeout', 'soon'])).rejects.toThrow('--host-key-timeout: expected a duration');
    await expect(options([], { SSH_EC2_CAPACITY_TIMEOUT: '-1' })).rejects.toThrow(
      /SSH_EC2_CAPACITY_TIMEOUT: expected a duration/,
    );
  });

  it('a stopped instance is started as the types given on the command line, else as its own type (environment and .env name new instances only)', async () => {
    const stopped = { id: 'i-1', state: 'stopped', type: 'g4dn.xlarge', tags: {} };
    expect(typesToStart(await options(['--instance-type', 'g5.xlarge,g6.xlarge,g5.xlarge']), stopped)).toEqual([
      'g5.xlarge',
      'g6.xlarge',
    ]);
    expect(
      typesToStart(await options([], { AWS_INSTANCE_TYPE: 'g5.xlarge' }, { AWS_INSTANCE_TYPE: 'p3.2xlarge' }), stopped),
    ).toEqual(['g4dn.xlarge']);
    expect(typesToStart(await options([]), stopped)).toEqual(['g4dn.xlarge']);
    expect(typesToStart(undefined, stopped)).toEqual(['g4dn.xlarge']);
  });
});
