import { describe, expect, it } from 'vitest';
import {
  checkDefaultImageSupports,
  DEFAULT_IMAGE_PATTERNS,
  DLAMI_FAMILIES,
  familyOf,
  isAccelerated,
  unsupportedByDefaultImage,
} from '../../src/cloud/dlami.js';
import { UsageError } from '../../src/errors.js';

/** EC2's name filter: `*` any run of characters, `?` one; everything else literal; the whole name. */
function ec2NameMatches(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's').test(name);
}
const matchesDefault = (name: string) => DEFAULT_IMAGE_PATTERNS.some((p) => ec2NameMatches(p, name));

describe('the default image patterns', () => {
  // Names as the DLAMI release notes give them (2025–2026).
  it.each([
    'Deep Learning OSS Nvidia Driver AMI GPU PyTorch 2.9 (Ubuntu 24.04) 20260317',
    'Deep Learning OSS Nvidia Driver AMI GPU PyTorch 2.7 (Ubuntu 22.04) 20250601',
    'Deep Learning ARM64 AMI OSS Nvidia Driver GPU PyTorch 2.9 (Ubuntu 24.04) 20260317',
    'Deep Learning ARM64 AMI OSS Nvidia Driver GPU PyTorch 2.6.0 (Ubuntu 22.04) 20260102',
  ])('match the current DLAMI %j', (name) => {
    expect(matchesDefault(name)).toBe(true);
  });

  it.each([
    // Another distribution (another login user): not the default.
    'Deep Learning OSS Nvidia Driver AMI GPU PyTorch 2.11 (Amazon Linux 2023) 20260905',
    'Deep Learning ARM64 AMI OSS Nvidia Driver GPU PyTorch 2.11 (Amazon Linux 2023) 20261009',
    // The proprietary-driver and plain images.
    'Deep Learning AMI GPU PyTorch 2.3 (Ubuntu 20.04) 20240611',
    'ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20250101',
  ])('do not match %j', (name) => {
    expect(matchesDefault(name)).toBe(false);
  });

  it('each pattern is one EC2 filter value (EC2 ORs the values; a comma would be literal)', () => {
    expect(DEFAULT_IMAGE_PATTERNS).toHaveLength(2);
    for (const p of DEFAULT_IMAGE_PATTERNS) expect(p).not.toContain(',');
  });
});

describe('instance types and the default image', () => {
  it.each([
    ['g4dn.xlarge', 'g4dn'],
    ['p6-b200.48xlarge', 'p6-b200'],
    ['G5G.XLARGE', 'g5g'],
    ['t3.micro', 't3'],
  ])('%s is of the family %s', (type, family) => {
    expect(familyOf(type)).toBe(family);
  });

  it.each([
    'g4dn.xlarge',
    'g5g.xlarge',
    'g4ad.xlarge',
    'p3dn.24xlarge',
    'p2.xlarge',
    'g3s.xlarge',
    'gr6.4xlarge',
    'inf2.xlarge',
    'trn1.2xlarge',
    'dl1.24xlarge',
    'f1.2xlarge',
    'vt1.3xlarge',
    'p6e-gb200.36xlarge',
  ])('%s has an accelerator', (type) => {
    expect(isAccelerated(type)).toBe(true);
  });

  it.each([
    't3.micro',
    'c7i.large',
    'm7g.medium',
    't4g.medium',
    'd3.xlarge',
    'i4i.large',
    'hpc7g.4xlarge',
    'mac2.metal',
    'x2gd.large',
    'u-6tb1.metal',
  ])('%s has none', (type) => {
    expect(isAccelerated(type)).toBe(false);
  });

  it('supports the families of the OSS-driver DLAMI, x86_64 and ARM64; CPU types boot it too', () => {
    const ok = [
      'g4dn.xlarge',
      'g5.2xlarge',
      'g5g.xlarge',
      'g6.xlarge',
      'g6e.xlarge',
      'gr6.4xlarge',
      'p4d.24xlarge',
      'p4de.24xlarge',
      'p5.48xlarge',
      'p5e.48xlarge',
      'p5en.48xlarge',
      'p6-b200.48xlarge',
      't3.micro',
      'c7i.large',
    ];
    expect(unsupportedByDefaultImage(ok)).toEqual([]);
    const no = [
      'p2.xlarge',
      'p3.2xlarge',
      'p3dn.24xlarge',
      'g3s.xlarge',
      'g4ad.xlarge',
      'inf2.xlarge',
      'trn1.2xlarge',
      'dl1.24xlarge',
      'f1.2xlarge',
    ];
    expect(unsupportedByDefaultImage(no)).toEqual(no);
    for (const f of DLAMI_FAMILIES) expect(isAccelerated(`${f}.xlarge`), f).toBe(true);
  });

  it('refuses an unsupported type with the default image (exit 2, naming the supported families), even last in a fallback list', () => {
    let err: unknown;
    try {
      checkDefaultImageSupports({ instanceTypes: ['g5.xlarge', 'g4ad.xlarge'] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).toBe(
      `the default image (Deep Learning OSS Nvidia Driver AMI) does not support g4ad.xlarge: its NVIDIA driver supports the families ${DLAMI_FAMILIES.join(', ')}`,
    );
    expect((err as UsageError).hint).toMatch(/--image-name .*--image-id/);
  });

  it("a user's own image is their choice", () => {
    expect(() =>
      checkDefaultImageSupports({ instanceTypes: ['g4ad.xlarge'], imageName: 'my-rocm-image-*' }),
    ).not.toThrow();
    expect(() => checkDefaultImageSupports({ instanceTypes: ['p3.2xlarge'], imageId: 'ami-0123' })).not.toThrow();
    expect(() => checkDefaultImageSupports({ instanceTypes: ['t3.micro', 'g5g.xlarge'] })).not.toThrow();
  });
});
