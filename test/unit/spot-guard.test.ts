// The spot side of the guardrails (issue #13): the MaxPrice a cost limit sends, prices written as
// --budget takes them, and a pinned zone checked before any call or anything made.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/args.js';
import { checkSpotOptions, spotMaxPrice } from '../../src/cloud/spot-market.js';
import { launchWithFallback, planAttempts } from '../../src/cloud/capacity.js';
import { mapAwsError } from '../../src/cloud/errors.js';
import { budgetHourly } from '../../src/session/type-check.js';
import { ExitCode } from '../../src/errors.js';
import { volumeKeyTags } from '../../src/cloud/volume-rules.js';
import { resolveOptions, type FlagValues } from '../../src/options.js';
import { createLogger } from '../../src/ui/logger.js';
import { FakeCloud } from '../fakes/cloud.js';
import { provisionRun } from '../fakes/provision-run.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'spot-guard-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const run = (cloud: FakeCloud, flags: FlagValues = {}) => provisionRun(dir, cloud, flags).go;

async function options(argv: string[]) {
  const a = await parseArgs(argv);
  return resolveOptions({ flags: a.flags, env: {}, dotenv: {}, command: a.command });
}

describe('--spot under --max-hourly-cost', () => {
  it('the MaxPrice sent is the limit (or --max-price, if lower): a later spot price cannot pass it', async () => {
    expect(spotMaxPrice({ maxHourlyCost: 1 })).toBe('1');
    expect(spotMaxPrice({ maxHourlyCost: 1, maxPrice: '0.4' })).toBe('0.4');
    expect(spotMaxPrice({ maxHourlyCost: 0.3, maxPrice: '0.4' })).toBe('0.3');
    expect(spotMaxPrice({})).toBeUndefined();
    const cloud = new FakeCloud();
    cloud.spotPriceTable = { 'g4dn.xlarge eu-central-1a': 0.25, 'g4dn.xlarge eu-central-1b': 0.25 };
    await run(cloud, { spot: true, maxHourlyCost: '1' })();
    expect(cloud.launches.map((s) => s.spot)).toEqual([{ oneTime: false, maxPrice: '1' }]);
  });

  it('a price written ".5" is taken, as --budget takes it', async () => {
    expect((await options(['--spot', '--max-price', '.5'])).maxPrice).toBe('0.5');
  });
});

describe('the zones a launch will use, checked before anything is made', () => {
  it('a zone of another region: exit 2 before any AWS call', () => {
    expect(() =>
      checkSpotOptions({
        spot: false,
        spotFallback: false,
        maxPrice: undefined,
        availabilityZone: 'us-east-1a',
        region: 'eu-central-1',
      }),
    ).toThrow('--availability-zone us-east-1a is a zone of us-east-1, not of eu-central-1');
    expect(() =>
      checkSpotOptions({
        spot: false,
        spotFallback: false,
        maxPrice: undefined,
        availabilityZone: 'eu-central-1b',
        region: 'eu-central-1',
      }),
    ).not.toThrow();
  });

  it('a zone of another region, the region from the profile: exit 2 before the security group is made', async () => {
    const cloud = new FakeCloud();
    await expect(run(cloud, { availabilityZone: 'us-east-1a' })()).rejects.toMatchObject({ exitCode: ExitCode.usage });
    expect(cloud.callsOf('ensureSecurityGroup')).toEqual([]);
  });

  it('a type not offered in --availability-zone: refused (exit 4) before the security group is made', async () => {
    const cloud = new FakeCloud();
    cloud.offeredIn['g4dn.xlarge'] = ['eu-central-1a'];
    const err = await run(cloud, { availabilityZone: 'eu-central-1b' })().then(
      () => undefined,
      (e: unknown) => e as Error & { exitCode: number },
    );
    expect(err).toMatchObject({ exitCode: ExitCode.cloud });
    expect(err!.message).toMatch(
      'g4dn.xlarge is not offered in eu-central-1b (--availability-zone); offered in eu-central-1a',
    );
    expect(cloud.callsOf('ensureSecurityGroup')).toEqual([]);
    expect(cloud.launches).toEqual([]);
  });

  it("a type not offered in the data volume's zone: refused before the security group is made", async () => {
    const cloud = new FakeCloud();
    cloud.offeredIn['g4dn.xlarge'] = ['eu-central-1b'];
    cloud.volumes.set('vol-9', {
      id: 'vol-9',
      name: 'data',
      sizeGiB: 20,
      zone: 'eu-central-1a',
      state: 'available',
      tags: { ...volumeKeyTags('alice', 'data'), Name: 'data' },
    });
    await expect(run(cloud, { volume: 'data:20' })()).rejects.toThrow(
      'g4dn.xlarge is not offered in eu-central-1a (the zone of data volume data); offered in eu-central-1b',
    );
    expect(cloud.callsOf('ensureSecurityGroup')).toEqual([]);
  });

  it("the spot cost guard reads the pinned zone's price, not the region's dearest", async () => {
    const cloud = new FakeCloud();
    cloud.spotPriceTable = { 'g4dn.xlarge eu-central-1a': 0.25, 'g4dn.xlarge eu-central-1b': 2 };
    await run(cloud, { spot: true, maxHourlyCost: '1', availabilityZone: 'eu-central-1a' })();
    expect(cloud.launches.map((s) => s.subnetId)).toHaveLength(1);
  });
});

describe('--max-price and --budget', () => {
  const zones = ['eu-central-1a', 'eu-central-1b'].map((name, i) => ({ name, subnetId: `subnet-${i}` }));
  const failing = (code: string) => async () => {
    throw mapAwsError(Object.assign(new Error('no'), { name: code }), 'launch the instance');
  };
  const fallback = (markets: ('spot' | 'on-demand')[], code: string) =>
    launchWithFallback(planAttempts(['g5.xlarge'], zones, markets), failing(code), {
      log: createLogger({ stream: { write: () => true } as never, env: {} }),
      region: 'eu-central-1',
    }).catch((e: unknown) => e as Error & { hint?: string });

  it('every spot attempt above --max-price: said so, raising it suggested (no capacity, no quota)', async () => {
    const err = await fallback(['spot'], 'SpotMaxPriceTooLow');
    expect(err.message).toMatch(/^spot price above --max-price for every instance type tried: /);
    expect(err.hint).toMatch(/Raise --max-price/);
  });

  it("a spot launch's quota hint names the spot quota", async () => {
    const err = await fallback(['spot'], 'InsufficientInstanceCapacity');
    expect(err.hint).toMatch(/"All G and VT Spot Instance Requests"/);
    expect(err.hint).not.toMatch(/On-Demand/);
  });

  it("the boot-time budget limit is counted at the spot MaxPrice where there is one, else the table's", () => {
    const o = {
      spot: true,
      spotFallback: false,
      maxHourlyCost: 0.4,
      maxPrice: undefined,
      instanceTypes: ['g5.xlarge'],
    };
    expect(budgetHourly(o, 'eu-central-1')).toBe(0.4);
    expect(budgetHourly({ ...o, maxHourlyCost: undefined }, 'eu-central-1')).toBe(1.258);
    expect(budgetHourly({ ...o, spotFallback: true }, 'eu-central-1')).toBe(1.258);
  });
});
