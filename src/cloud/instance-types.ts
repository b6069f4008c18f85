/**
 * The architecture of the instance types people launch most, known without asking EC2: the image
 * is chosen by it, and a DescribeInstanceTypes is a round trip before the launch (issue #11). Pure.
 *
 * AWS names a Graviton (arm64) family with a `g` after its generation digit (t4g, c7g, m8g, g5g:
 * the first letter is the family, so g5 is x86_64 and g5g arm64); every family here follows that
 * rule (a unit test holds it). Each family lists its sizes exactly, as AWS's instance type data
 * has them (moto ships a copy), so a typo (`g5.xlargee`, `g4dn.48xlarge`) is not in the table and is
 * still checked with EC2 before anything is launched, as is every type of a family not listed.
 */

const x86 = (sizes: string) => ({ architecture: 'x86_64', sizes: sizes.split(' ') });
const arm = (sizes: string) => ({ architecture: 'arm64', sizes: sizes.split(' ') });

const BURSTABLE = 'nano micro small medium large xlarge 2xlarge';
const GEN5_GPU = 'xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge';
const GEN6_CPU = 'large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 32xlarge metal';
const GEN7_CPU = 'large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge metal-24xl metal-48xl';
const GRAVITON = 'medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal';
const GRAVITON4 =
  'medium large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge 48xlarge metal-24xl metal-48xl';

/** Family → its architecture and sizes (the default image's GPU families, and common CPU ones). */
export const KNOWN_FAMILIES: Readonly<Record<string, { architecture: string; sizes: readonly string[] }>> = {
  g4dn: x86('xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge metal'),
  g5: x86(GEN5_GPU),
  g5g: arm('xlarge 2xlarge 4xlarge 8xlarge 16xlarge metal'),
  g6: x86(GEN5_GPU),
  g6e: x86(GEN5_GPU),
  gr6: x86('4xlarge 8xlarge'),
  p4d: x86('24xlarge'),
  p4de: x86('24xlarge'),
  p5: x86('4xlarge 48xlarge'),
  p5e: x86('48xlarge'),
  p5en: x86('48xlarge'),
  'p6-b200': x86('48xlarge'),
  t2: x86(BURSTABLE),
  t3: x86(BURSTABLE),
  t3a: x86(BURSTABLE),
  t4g: arm(BURSTABLE),
  m5: x86('large xlarge 2xlarge 4xlarge 8xlarge 12xlarge 16xlarge 24xlarge metal'),
  c5: x86('large xlarge 2xlarge 4xlarge 9xlarge 12xlarge 18xlarge 24xlarge metal'),
  c6i: x86(GEN6_CPU),
  m6i: x86(GEN6_CPU),
  r6i: x86(GEN6_CPU),
  c7i: x86(GEN7_CPU),
  m7i: x86(GEN7_CPU),
  c6g: arm(GRAVITON),
  m6g: arm(GRAVITON),
  c7g: arm(GRAVITON),
  m7g: arm(GRAVITON),
  r7g: arm(GRAVITON),
  c8g: arm(GRAVITON4),
  m8g: arm(GRAVITON4),
};

/** The architecture of `type` when the table knows the type exactly; otherwise undefined (ask EC2). */
export function knownArchitecture(type: string): string | undefined {
  const dot = type.indexOf('.');
  const name = type.slice(0, dot);
  // Own keys only: `constructor.large` is no family.
  const family = Object.hasOwn(KNOWN_FAMILIES, name) ? KNOWN_FAMILIES[name] : undefined;
  return dot > 0 && family?.sizes.includes(type.slice(dot + 1)) ? family.architecture : undefined;
}

/** AWS's naming rule: a `g` among the letters after the generation digit means Graviton (arm64). */
export function gravitonByName(family: string): boolean {
  return /^[a-z]+\d+[a-z]*g/.test(family.split('-')[0]!);
}
