// The table of known instance types (src/cloud/instance-types.ts): what it answers without EC2,
// and what it leaves to EC2. That it agrees with EC2's own data: test/e2e/round-trips.test.ts.
import { describe, expect, it } from 'vitest';
import { gravitonByName, KNOWN_FAMILIES, knownArchitecture } from '../../src/cloud/instance-types.js';

describe('knownArchitecture', () => {
  it('the types the table holds, exactly', () => {
    const known = {
      'g4dn.xlarge': 'x86_64',
      'g5.48xlarge': 'x86_64',
      'g5g.xlarge': 'arm64',
      'p5.48xlarge': 'x86_64',
      'p6-b200.48xlarge': 'x86_64',
      't3.micro': 'x86_64',
      't4g.medium': 'arm64',
      'c7i.metal-24xl': 'x86_64',
      'm8g.medium': 'arm64',
    };
    for (const [type, arch] of Object.entries(known)) expect(knownArchitecture(type), type).toBe(arch);
  });

  it.each([
    'g5.xlargee', // a typo: EC2 says so before anything is launched
    'g4dn.48xlarge', // no such size
    'g5g.medium',
    'x2gd.large', // a family not in the table
    'g5',
    '.xlarge',
    'G5.xlarge',
    '',
    'constructor.large', // not the table's own keys
    '__proto__.xlarge',
    'toString.x',
  ])('%s: not known, asked of EC2', (type) => {
    expect(knownArchitecture(type)).toBeUndefined();
  });
});

describe('the table follows AWS naming rule', () => {
  it('a g after the generation digit is Graviton (arm64), for every family', () => {
    for (const [family, { architecture }] of Object.entries(KNOWN_FAMILIES))
      expect(gravitonByName(family) ? 'arm64' : 'x86_64', family).toBe(architecture);
  });

  it.each([
    ['g5g', true],
    ['g5', false],
    ['g4dn', false],
    ['x2gd', true],
    ['c7gn', true],
    ['hpc7g', true],
    ['gr6', false],
    ['p6e-gb200', false],
  ])('%s: %s', (family, graviton) => {
    expect(gravitonByName(family)).toBe(graviton);
  });
});
