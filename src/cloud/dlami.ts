/**
 * The default image: AWS's Deep Learning AMI with the open-source NVIDIA driver (Ubuntu).
 * Pure: no AWS call, so an instance type it cannot drive is refused before anything is asked.
 *
 * The x86_64 and ARM64 editions are named differently ("Deep Learning OSS Nvidia Driver AMI GPU
 * PyTorch 2.9 (Ubuntu 24.04) 20260317", "Deep Learning ARM64 AMI OSS Nvidia Driver GPU PyTorch
 * 2.9 (Ubuntu 24.04) 20260317"), so no single EC2 name pattern matches both. EC2 ORs the values
 * of one filter: both patterns go in one DescribeImages, and the architecture filter chooses.
 */
import { UsageError } from '../errors.js';

export const DEFAULT_IMAGE_PATTERNS: readonly string[] = [
  'Deep Learning OSS Nvidia Driver AMI GPU PyTorch * (Ubuntu *',
  'Deep Learning ARM64 AMI OSS Nvidia Driver GPU PyTorch * (Ubuntu *',
];

/**
 * The families the default image's NVIDIA driver supports, from the DLAMI release notes'
 * `supported_ec2_instances` (Ubuntu editions, PyTorch 2.9–2.11, 2026): x86_64 "G4dn, G5, G6,
 * Gr6, G6e, P4(d), P4de, P5, P5e, P5en, P6-B200"; ARM64 "G5g, P6e-GB200". Not P2/P3 (driver too
 * new for K80/V100), G3 (M60), G4ad (AMD), Inf/Trn/DL (other accelerators, other AMIs).
 */
export const DLAMI_FAMILIES: readonly string[] = [
  'g4dn',
  'g5',
  'g5g',
  'g6',
  'g6e',
  'gr6',
  'p4d',
  'p4de',
  'p5',
  'p5e',
  'p5en',
  'p6-b200',
  'p6e-gb200',
];

/** "g5g.xlarge" → "g5g"; "p6-b200.48xlarge" → "p6-b200". */
export function familyOf(instanceType: string): string {
  return instanceType.split('.')[0]!.toLowerCase();
}

/**
 * A type with an accelerator (GPU, FPGA, Inferentia, Trainium, Gaudi, video transcoder), by the
 * family letters EC2 reserves for them. A CPU type (t3, c7i, m7g, …) has none: the DLAMI boots
 * there too (no GPU to drive), so it is allowed.
 */
export function isAccelerated(instanceType: string): boolean {
  return /^(p|g|gr|f|inf|trn|dl|vt)\d/.test(familyOf(instanceType));
}

/** The types of `types` the default image cannot drive (their accelerator has no driver there). */
export function unsupportedByDefaultImage(types: readonly string[]): string[] {
  return types.filter((t) => isAccelerated(t) && !DLAMI_FAMILIES.includes(familyOf(t)));
}

/**
 * With the default image, an accelerated type it has no driver for is refused before anything is
 * asked of AWS (exit 2): launched, it would boot with a GPU nothing can use, silently. Every type
 * of a fallback list is checked, as a typo would be. A user's own image (--image-name,
 * --image-id) is their choice.
 */
export function checkDefaultImageSupports(o: {
  imageId?: string;
  imageName?: string;
  instanceTypes: readonly string[];
  /** Where the types came from, to say so (options.ts). */
  origins?: { instanceTypes?: string };
}): void {
  if (o.imageId || o.imageName) return;
  const refused = unsupportedByDefaultImage(o.instanceTypes);
  if (refused.length === 0) return;
  const from = o.origins?.instanceTypes ? `${o.origins.instanceTypes}: ` : '';
  throw new UsageError(
    `${from}the default image (Deep Learning OSS Nvidia Driver AMI) does not support ${refused.join(', ')}: its NVIDIA driver supports the families ${DLAMI_FAMILIES.join(', ')}`,
    'Choose a type of those families (--instance-type), or an image made for this one (--image-name PATTERN or --image-id AMI).',
  );
}
