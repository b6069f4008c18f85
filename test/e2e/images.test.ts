import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, ec2Client, instances, launches, makeProject, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();
/** The newest image of each architecture among the sandbox's ARM64 / x86_64 OSS-driver DLAMIs, read from the API. */
let newest: Record<'arm64' | 'x86_64', string>;
beforeAll(async () => {
  const ec2 = ec2Client(sb);
  const of = async (architecture: string, name: string) => {
    const r = await ec2.send(
      new DescribeImagesCommand({
        Owners: ['amazon'],
        Filters: [
          { Name: 'name', Values: [name] },
          { Name: 'architecture', Values: [architecture] },
        ],
      }),
    );
    return [...(r.Images ?? [])].sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0]!
      .ImageId!;
  };
  newest = {
    arm64: await of('arm64', 'Deep Learning ARM64 AMI OSS Nvidia Driver GPU PyTorch *'),
    x86_64: await of('x86_64', 'Deep Learning OSS Nvidia Driver AMI GPU PyTorch *'),
  };
});

const NO_PROFILE = ['--iam-profile', ''];
/** A user's own pattern that matches the x86_64 DLAMI only: an arm64 type has no image with it. */
const X86_ONLY = 'Deep Learning OSS Nvidia Driver AMI GPU PyTorch * (Ubuntu *';

describe('the default image', () => {
  it('an arm64 GPU type (g5g.xlarge) gets the ARM64 DLAMI', async () => {
    const dir = makeProject(sb, 'arm64');
    sb.clearCalls();
    const r = await cli(sb, [...NO_PROFILE, '--instance-type', 'g5g.xlarge', 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(r.stderr).toMatch(
      /launching g5g\.xlarge \(on-demand\) from Deep Learning ARM64 AMI OSS Nvidia Driver GPU PyTorch .* \(ami-/,
    );
    expect(launches(sb).map((c) => [c.params.InstanceType, c.params.ImageId])).toEqual([['g5g.xlarge', newest.arm64]]);
    // One lookup, both patterns as values of one name filter, the architecture choosing.
    const [lookup, ...more] = sb.calls('DescribeImages');
    expect(more).toEqual([]);
    expect(
      Object.entries(lookup!.params)
        .filter(([k]) => /^Filter\.\d+\.Value\.\d+$/.test(k))
        .map(([, v]) => v),
    ).toEqual(
      expect.arrayContaining([
        'Deep Learning OSS Nvidia Driver AMI GPU PyTorch * (Ubuntu *',
        'Deep Learning ARM64 AMI OSS Nvidia Driver GPU PyTorch * (Ubuntu *',
        'arm64',
      ]),
    );
  });

  it('a type the DLAMI has no driver for (g4ad: AMD; p3dn: V100) is refused before any AWS call, even last in a fallback list: exit 2 with the supported families', async () => {
    for (const types of ['g4ad.xlarge', 'g5.xlarge,p3dn.24xlarge']) {
      sb.clearCalls();
      const r = await cli(sb, ['--instance-type', types, 'true'], { cwd: makeProject(sb, 'unsupported') });
      expect(r.exitCode, types).toBe(2);
      expect(r.stderr).toMatch(
        /^ssh-ec2: error: --instance-type: the default image \(Deep Learning OSS Nvidia Driver AMI\) does not support (g4ad\.xlarge|p3dn\.24xlarge): its NVIDIA driver supports the families g4dn, g5, g5g, .*\nssh-ec2: .*--image-name PATTERN or --image-id AMI/,
      );
      expect(sb.calls()).toEqual([]);
    }
  });

  it("with the user's own image, such a type is their choice: launched", async () => {
    sb.clearCalls();
    const r = await cli(sb, [...NO_PROFILE, '--image-name', X86_ONLY, '--instance-type', 'g4ad.xlarge', 'true'], {
      cwd: makeProject(sb, 'own-image'),
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(launches(sb).map((c) => c.params.InstanceType)).toEqual(['g4ad.xlarge']);
  });

  // Issue #13: a CPU type with the default (GPU) image is refused, with GPU types of its size
  // (guardrails.test.ts); an image the user names by id is their choice.
  it('a CPU type boots the DLAMI too when the user names it by id (no GPU to drive): launched', async () => {
    sb.clearCalls();
    const r = await cli(sb, [...NO_PROFILE, '--image-id', newest.x86_64, '--instance-type', 't3.micro', 'true'], {
      cwd: makeProject(sb, 'cpu'),
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(launches(sb).map((c) => [c.params.InstanceType, c.params.ImageId])).toEqual([['t3.micro', newest.x86_64]]);
  });
});

describe('no image for an architecture in a fallback list', () => {
  it('g5g.xlarge,g5.xlarge where g5g has none: on to g5.xlarge, saying why; one instance', async () => {
    const dir = makeProject(sb, 'fallback-image');
    sb.clearCalls();
    const r = await cli(
      sb,
      [...NO_PROFILE, '--image-name', X86_ONLY, '--instance-type', 'g5g.xlarge,g5.xlarge', 'echo ran'],
      { cwd: dir },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(r.stderr).toContain(
      `g5g.xlarge: --image-name: no arm64 image named "${X86_ONLY}" owned by amazon in eu-central-1; trying g5.xlarge in eu-central-1a\n`,
    );
    expect(sb.calls('RunInstances').map((c) => [c.params.InstanceType, c.params.ImageId])).toEqual([
      ['g5.xlarge', newest.x86_64],
    ]);
    const id = reportedInstance(r.stderr);
    expect((await instances(sb)).find((i) => i.InstanceId === id)?.State?.Name).toBe('terminated');
  });

  it('no image for any type: exit 4 naming every type tried, nothing launched', async () => {
    sb.clearCalls();
    const r = await cli(sb, ['--image-name', 'No Such Image *', '--instance-type', 'g5g.xlarge,g5.xlarge', 'true'], {
      cwd: makeProject(sb, 'no-image'),
    });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toContain(
      'error: no image for any instance type tried: g5g.xlarge: --image-name: no arm64 image named "No Such Image *" owned by amazon in eu-central-1; g5.xlarge: --image-name: no x86_64 image named "No Such Image *" owned by amazon in eu-central-1\n',
    );
    expect(r.stderr).toMatch(/--image-name/);
    expect(sb.calls('RunInstances')).toEqual([]);
  });
});
