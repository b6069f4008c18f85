// Instance type sanity and --max-hourly-cost (issue #13): the alternatives (pure), and the checks
// against the in-memory cloud — which calls they cost, what they refuse, what a list skips.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CloudError, CostGuardError, ExitCode } from '../../src/errors.js';
import type { Options } from '../../src/options.js';
import { noCache, openCache } from '../../src/state/cache.js';
import { checkedTypes, gpuImage, launchHourly } from '../../src/session/type-check.js';
import {
  editDistance,
  nearestNames,
  problemLine,
  sameFamily,
  similarGpuTypes,
} from '../../src/session/type-check-words.js';
import { FakeCloud } from '../fakes/cloud.js';

const REGION_TYPES = ['g5.xlarge', 'g5.2xlarge', 'g4dn.xlarge', 't3.large', 't3.xlarge', 'g6.xlarge', 'm5.xlarge'];

describe('the alternatives', () => {
  it('edit distance', () => {
    expect(editDistance('g5.xlarg', 'g5.xlarge')).toBe(1);
    expect(editDistance('g5.xlarge', 'g5.xlarge')).toBe(0);
    expect(editDistance('g4dn.xlarge', 'g5.xlarge')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it("a typo's nearest names, nearest first; nothing for a name like no type", () => {
    expect(nearestNames('g5.xlarg', REGION_TYPES)).toEqual(['g5.xlarge', 'g5.2xlarge', 'g6.xlarge']);
    expect(nearestNames('G5.XLARGE', REGION_TYPES)[0]).toBe('g5.xlarge');
    expect(nearestNames('banana', REGION_TYPES)).toEqual([]);
  });

  it('the offered types of the same family, smallest first', () => {
    expect(sameFamily('g5.48xlarge', ['g5.12xlarge', 'g5.xlarge', 'g6.xlarge', 'g5.2xlarge'])).toEqual([
      'g5.xlarge',
      'g5.2xlarge',
      'g5.12xlarge',
    ]);
  });

  it('the GPU types nearest in size to a GPU-less one', () => {
    const t = (type: string, vcpus: number, gib: number, gpus: number) => ({
      type,
      architectures: ['x86_64'],
      vcpus,
      memoryMiB: gib * 1024,
      gpus,
    });
    const candidates = [t('g5.xlarge', 4, 16, 1), t('g5.12xlarge', 48, 192, 4), t('g4dn.2xlarge', 8, 32, 1)];
    expect(similarGpuTypes({ vcpus: 8, memoryMiB: 32768 }, candidates, 2).map((c) => c.type)).toEqual([
      'g4dn.2xlarge',
      'g5.xlarge',
    ]);
    expect(similarGpuTypes({ vcpus: 2, memoryMiB: 8192 }, [t('t3.large', 2, 8, 0)])).toEqual([]);
  });

  it('the lines', () => {
    const r = 'eu-central-1';
    expect(problemLine({ kind: 'unknown', type: 'g5.xlarg', nearest: ['g5.xlarge'] }, r)).toBe(
      'g5.xlarg is not an instance type EC2 offers in eu-central-1; did you mean g5.xlarge',
    );
    expect(problemLine({ kind: 'over cost', type: 'g5.xlarge', hourly: 1.258, limit: 1, market: 'on demand' }, r)).toBe(
      'g5.xlarge costs $1.26/hour (on demand), above --max-hourly-cost $1.00',
    );
    expect(
      problemLine({ kind: 'price unknown', type: 'x1.large', guard: '--budget $5.00', market: 'spot' }, r),
    ).toMatch(
      /x1\.large's spot price in eu-central-1 is unknown to ssh-ec2 \(EC2 gave none for its zones\), so --budget \$5\.00 cannot vouch for it; --max-price caps what it pays/,
    );
    // The table lacking a type is said, with how to refresh it or cap a spot price instead.
    expect(
      problemLine({ kind: 'price unknown', type: 'x1.large', guard: '--budget $5.00', market: 'on demand' }, r),
    ).toBe(
      "x1.large's on demand price in eu-central-1 is unknown to ssh-ec2 (its price table lacks it), so --budget $5.00 cannot vouch for it; `npx tsx scripts/refresh-prices.ts` refreshes the table, or --spot with --max-price caps what it pays",
    );
  });

  it('a GPU image: the default one, or a name that says GPU; an image id is the user’s choice', () => {
    expect(gpuImage({})).toMatch(/Deep Learning/);
    expect(gpuImage({ imageName: 'Deep Learning * GPU *' })).toBe('Deep Learning * GPU *');
    expect(gpuImage({ imageName: 'al2023-ami-*' })).toBeUndefined();
    expect(gpuImage({ imageId: 'ami-1' })).toBeUndefined();
  });
});

const opts = (o: Partial<Options>) =>
  ({ instanceTypes: ['g4dn.xlarge'], origins: { instanceTypes: '--instance-type' }, ...o }) as Options;
const network = (cloud: FakeCloud, zones = cloud.zones) => Promise.resolve({ vpcId: 'vpc-default', zones });

async function refused(p: Promise<unknown>) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as Error & { exitCode: number },
  );
  expect(err, 'refused').toBeDefined();
  return err!;
}

describe('checkedTypes', () => {
  it('types the table knows: one DescribeInstanceTypeOfferings, no DescribeInstanceTypes; cached for the next run', async () => {
    const cloud = new FakeCloud();
    const cache = openCache(join(mkdtempSync(join(tmpdir(), 'type-check-')), 'c.json'));
    const o = opts({ instanceTypes: ['g4dn.xlarge', 'g5.xlarge'] });
    const got = await checkedTypes({ options: o, cloud }, cache, network(cloud));
    expect(got).toEqual([
      { type: 'g4dn.xlarge', architectures: ['x86_64'] },
      { type: 'g5.xlarge', architectures: ['x86_64'] },
    ]);
    expect(cloud.calls.map((c) => c.op)).toEqual(['typeOfferings']);
    cloud.calls.length = 0;
    await checkedTypes({ options: o, cloud }, cache, network(cloud));
    expect(cloud.calls).toEqual([]);
  });

  it('a typo anywhere in a list: refused with the nearest names (exit 4), nothing else asked but the region’s types', async () => {
    const cloud = new FakeCloud();
    const err = await refused(
      checkedTypes({ options: opts({ instanceTypes: ['g4dn.xlarge', 'g5.xlarg'] }), cloud }, noCache(), network(cloud)),
    );
    expect(err).toBeInstanceOf(CloudError);
    expect(err.exitCode).toBe(ExitCode.cloud);
    expect(err.message).toMatch(
      /g5\.xlarg is not an instance type EC2 offers in eu-central-1; did you mean g5\.xlarge/,
    );
  });

  it('a GPU-less type with the default image: refused with GPU types of a similar size', async () => {
    const cloud = new FakeCloud();
    const err = await refused(
      checkedTypes({ options: opts({ instanceTypes: ['t3.large'] }), cloud }, noCache(), network(cloud)),
    );
    expect(err.message).toMatch(
      /t3\.large has no GPU, and the image \(the Deep Learning .*\) is a GPU image; GPU types/,
    );
    expect(err.message).toMatch(/g4dn\.xlarge \(4 vCPUs, 16 GiB, 1 GPU T4\)/);
    // With a CPU image it is launched.
    const ok = await checkedTypes(
      { options: opts({ instanceTypes: ['t3.large'], imageName: 'al2023-ami-*' }), cloud },
      noCache(),
      network(cloud),
    );
    expect(ok.map((t) => t.type)).toEqual(['t3.large']);
  });

  it('not offered in the region: refused alone, with its family offered there; skipped in a list, saying why', async () => {
    const cloud = new FakeCloud();
    cloud.offeredIn['g5.2xlarge'] = [];
    const err = await refused(
      checkedTypes({ options: opts({ instanceTypes: ['g5.2xlarge'] }), cloud }, noCache(), network(cloud)),
    );
    expect(err.message).toBe(
      '--instance-type: g5.2xlarge is not offered in eu-central-1; offered there of its family: g5.xlarge',
    );
    const warned: string[] = [];
    const log = { warn: (s: string) => warned.push(s) } as never;
    const ok = await checkedTypes(
      { options: opts({ instanceTypes: ['g5.2xlarge', 'g5.xlarge'] }), cloud, log },
      noCache(),
      network(cloud),
    );
    expect(ok.map((t) => t.type)).toEqual(['g5.xlarge']);
    expect(warned).toEqual(['skipping g5.2xlarge is not offered in eu-central-1']);
  });

  it("not offered in a pinned subnet's zone: the zones that offer it", async () => {
    const cloud = new FakeCloud();
    cloud.offeredIn['g5.xlarge'] = [cloud.zones[1]!.name];
    const err = await refused(
      checkedTypes(
        { options: opts({ instanceTypes: ['g5.xlarge'], subnetId: cloud.zones[0]!.subnetId }), cloud },
        noCache(),
        network(cloud, [cloud.zones[0]!]),
      ),
    );
    expect(err.message).toContain(
      `g5.xlarge is not offered in ${cloud.zones[0]!.name} (the zone of --subnet-id ${cloud.zones[0]!.subnetId}); offered in ${cloud.zones[1]!.name}`,
    );
  });

  it('--max-hourly-cost: a type above it skipped, none left refused (exit 11); an unknown price is refused', async () => {
    const cloud = new FakeCloud();
    const check = (types: string[], maxHourlyCost: number) =>
      checkedTypes({ options: opts({ instanceTypes: types, maxHourlyCost }), cloud }, noCache(), network(cloud));
    // eu-central-1 on demand: g4dn.xlarge $0.658, g5.xlarge $1.258.
    expect((await check(['g5.xlarge', 'g4dn.xlarge'], 1)).map((t) => t.type)).toEqual(['g4dn.xlarge']);
    const err = await refused(check(['g5.xlarge'], 1));
    expect(err).toBeInstanceOf(CostGuardError);
    expect(err.exitCode).toBe(11);
    expect(err.message).toBe('--instance-type: g5.xlarge costs $1.26/hour (on demand), above --max-hourly-cost $1.00');
    const unknown = await refused(check(['g5g.xlarge'], 100));
    expect(unknown.exitCode).toBe(11);
    expect(unknown.message).toMatch(/g5g\.xlarge's on demand price in eu-central-1 is unknown/);
  });

  it('the spot price: --max-price when given, else the highest of the zones', async () => {
    const cloud = new FakeCloud();
    const [a, b] = cloud.zones.map((z) => z.name);
    cloud.spotPriceTable[`g5.xlarge ${a}`] = 0.4;
    cloud.spotPriceTable[`g5.xlarge ${b}`] = 0.5;
    expect(await launchHourly(cloud, 'g5.xlarge', [a!, b!], { spot: true })).toBe(0.5);
    expect(await launchHourly(cloud, 'g5.xlarge', [a!], { spot: true, maxPrice: 0.3 })).toBe(0.3);
    expect(await launchHourly(cloud, 'g5.xlarge', [a!], { spot: false })).toBe(1.258);
  });
});
