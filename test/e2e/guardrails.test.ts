/**
 * Issue #13's guardrails against the sandbox: instance type sanity (a typo, a type not offered in
 * the region, a GPU-less type with the GPU image) refused before anything is launched or made,
 * --max-hourly-cost refusing, and --budget stopping an instance once the results are home.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeInstanceTypesCommand } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { isAccelerated } from '../../src/cloud/dlami.js';
import { KNOWN_FAMILIES } from '../../src/cloud/instance-types.js';
import { cli, ec2Client, makeProject, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();
const NO_PROFILE = ['--iam-profile', ''];

/** Nothing written: no launch, no security group made or opened, no key pushed. */
const WRITES = ['RunInstances', 'CreateSecurityGroup', 'AuthorizeSecurityGroupIngress', 'SendSSHPublicKey'];
const writes = () => sb.calls().filter((c) => WRITES.includes(c.action));

/**
 * A run with a cache of its own (so a launch would create ssh-ec2's group first, as on a new
 * machine: a refusal checked after it would leave that call in the recording).
 */
async function run(name: string, args: string[], env: Record<string, string> = {}) {
  sb.clearCalls();
  return cli(sb, [...NO_PROFILE, ...args], {
    cwd: makeProject(sb, name),
    env: { SSH_EC2_CACHE_DIR: join(sb.dir, 'guard-caches', name), ...env },
  });
}

describe('instance type sanity, before anything is launched or made', () => {
  it('a typo, last in a fallback list: refused with the nearest names (exit 4), nothing written', async () => {
    const r = await run('typo', ['--instance-type', 'g4dn.xlarge,g5.xlarg', 'true']);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toMatch(
      /^ssh-ec2: error: --instance-type: g5\.xlarg is not an instance type EC2 offers in eu-central-1; did you mean g5\.xlarge\b/m,
    );
    expect(writes()).toEqual([]);
    // --dry-run refuses it the same way.
    const dry = await run('typo-dry', ['--dry-run', '--instance-type', 'g5.xlarg', 'true']);
    expect(dry.exitCode).toBe(4);
    expect(dry.stderr).toMatch(/g5\.xlarg is not an instance type EC2 offers in eu-central-1; did you mean g5\.xlarge/);
  });

  it('a GPU-less type with the GPU image: refused with GPU types of a similar size, nothing written', async () => {
    const r = await run('cpu', ['--instance-type', 't3.micro', 'true']);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toMatch(
      /t3\.micro has no GPU, and the image \(the Deep Learning OSS Nvidia Driver AMI\) is a GPU image; GPU types of a similar size: g\S+ \(\d+ vCPUs, \d+ GiB, 1 GPU [^)]+\)/,
    );
    expect(writes()).toEqual([]);
  });

  it('a type not offered in the region: refused alone (exit 4); skipped in a fallback list, saying why', async () => {
    const env = { AWS_REGION: 'eu-west-3' };
    const r = await run('not-offered', ['--instance-type', 'g5.xlarge', 'true'], env);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/--instance-type: g5\.xlarge is not offered in eu-west-3\n/);
    expect(writes()).toEqual([]);
    const dry = await run('not-offered-list', ['--dry-run', '--instance-type', 'g5.xlarge,g4dn.xlarge', 'true'], env);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stderr).toMatch(/skipping g5\.xlarge is not offered in eu-west-3/);
    expect(dry.stdout).toMatch(/g4dn\.xlarge/);
    expect(dry.stdout).not.toMatch(/g5\.xlarge/);
  });
});

describe('the table of known types (no DescribeInstanceTypes for them)', () => {
  it('has a GPU by its family letters exactly where EC2 says it has one', async () => {
    for (const [family, { sizes }] of Object.entries(KNOWN_FAMILIES)) {
      const types = sizes.map((s) => `${family}.${s}`);
      const r = await ec2Client(sb).send(new DescribeInstanceTypesCommand({ InstanceTypes: types as never }));
      for (const t of r.InstanceTypes ?? [])
        expect(isAccelerated(t.InstanceType!), t.InstanceType).toBe((t.GpuInfo?.Gpus?.length ?? 0) > 0);
    }
  });
});

describe('--max-hourly-cost', () => {
  it('a type above it refused (exit 11), nothing written; in a list, skipped', async () => {
    // eu-central-1, on demand (src/cloud/prices.ts): g4dn.xlarge $0.658, g5.xlarge $1.258.
    const r = await run('over', ['true'], { SSH_EC2_MAX_HOURLY_COST: '0.5' });
    expect(r.exitCode, r.stderr).toBe(11);
    expect(r.stderr).toMatch(/g4dn\.xlarge costs \$0\.66\/hour \(on demand\), above --max-hourly-cost \$0\.50/);
    expect(writes()).toEqual([]);
    const dry = await run('over-list', [
      '--dry-run',
      '--max-hourly-cost',
      '1',
      '--instance-type',
      'g5.xlarge,g4dn.xlarge',
      'true',
    ]);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stderr).toMatch(
      /skipping g5\.xlarge costs \$1\.26\/hour \(on demand\), above --max-hourly-cost \$1\.00/,
    );
  });
});

describe('--budget', () => {
  it('over it (a budget any run exceeds): said, the results home, then the instance stopped, not left running', async () => {
    const dir = makeProject(sb, 'budget');
    sb.clearCalls();
    const r = await cli(sb, [...NO_PROFILE, '--leave', '--budget', '0.000001', 'echo done > result.txt; exit 3'], {
      cwd: dir,
    });
    // The command's own status: it ran to its end, and its results are home.
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/over --budget \$0\.0000: this session cost about \$\d/);
    expect(r.stderr).toMatch(/stopped i-\w+, not left running \(over --budget\)/);
    const result = join(dir, 'result.txt');
    expect(existsSync(result) && readFileSync(result, 'utf8')).toBe('done\n');
    const id = reportedInstance(r.stderr);
    const stops = sb.calls('StopInstances').filter((c) => c.status === 200);
    expect(stops.map((c) => c.params['InstanceId.1'])).toEqual([id]);
    // Home before the stop was asked (the file's inode changed when rsync put it there).
    expect(statSync(result).ctimeMs).toBeLessThanOrEqual(stops[0]!.time);
    expect(sb.calls('TerminateInstances')).toEqual([]);
  });
});
