// Prices and cost (issue #13): the shipped table's shape, the refresh script against a recorded
// price-list fixture (from files and over a loopback server), the price line, the session's cost
// words, ls's COST cell and `ssh-ec2 prices` against the in-memory cloud.
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import TABLE from '../../src/cloud/price-table.json' with { type: 'json' };
import { hourlyPrice, priceListDate, priceListWords, usd, volumeMonthlyPrice } from '../../src/cloud/prices.js';
import { costCell } from '../../src/commands/ls/cost.js';
import { priceLine } from '../../src/session/price-line.js';
import { sessionCost } from '../../src/session/session-cost.js';
import { VOLUME_TAG } from '../../src/session/volume-tag.js';
import { FAMILIES, refreshPrices, tableText } from '../../scripts/refresh-prices.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';

const FIXTURE = join(import.meta.dirname, '../fixtures/price-list');

/** What the fixture's offer files say: Linux, shared, no software, used capacity, on demand. */
const FROM_FIXTURE = {
  source: 'aws-price-list',
  what: expect.stringContaining('AWS Price List Bulk API'),
  publicationDate: '2026-11-01T18:02:41Z',
  regions: {
    'us-east-1': {
      gp3PerGiBMonth: 0.08,
      hourly: { 'g4dn.xlarge': 0.526, 'g5.xlarge': 1.006, 'p4d.24xlarge': 32.7726, 't3.micro': 0.0104 },
    },
    'eu-central-1': { gp3PerGiBMonth: 0.0952, hourly: { 'g4dn.xlarge': 0.658, 'g5.xlarge': 1.258, 't3.micro': 0.012 } },
  },
};

describe('the shipped table', () => {
  it('is dated, and prices GPU and common types in more regions than the two of before', () => {
    // Entered by hand (no AWS list reached): its words say so, with the month, and claim no AWS date.
    const t = TABLE as { source: string; entered?: string; publicationDate?: string };
    if (t.source === 'hand-entered') {
      expect(t.entered).toMatch(/^\d{4}-\d\d$/);
      expect(t.publicationDate).toBeUndefined();
      expect(priceListWords()).toBe(`list prices entered by hand, ${t.entered}`);
    } else {
      expect(t.source).toBe('aws-price-list');
      expect(t.publicationDate).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(priceListWords()).toBe(`AWS list of ${t.publicationDate!.slice(0, 10)}`);
    }
    const regions = Object.keys(TABLE.regions);
    expect(regions.length).toBeGreaterThan(2);
    expect(regions).toEqual(expect.arrayContaining(['us-east-1', 'us-west-2', 'eu-central-1', 'eu-west-1']));
    for (const [region, r] of Object.entries(TABLE.regions) as [string, { gp3PerGiBMonth: number; hourly: object }][]) {
      expect(r.gp3PerGiBMonth, region).toBeGreaterThan(0);
      for (const [type, price] of Object.entries(r.hourly)) {
        expect(FAMILIES, type).toContain(type.split('.')[0]);
        expect(price, `${region} ${type}`).toBeGreaterThan(0);
      }
      expect(Object.keys(r.hourly), region).toEqual(expect.arrayContaining(['g4dn.xlarge', 't3.micro']));
    }
    expect(hourlyPrice('us-east-1', 'g5.xlarge')).toBe(1.006);
    expect(volumeMonthlyPrice('eu-central-1', 100)).toBeCloseTo(9.52);
    expect(hourlyPrice('us-east-1', 'x9.none')).toBeUndefined();
  });

  it('is written as the refresh script writes it (a refresh diff is the prices that changed)', async () => {
    const text = await readFile(join(import.meta.dirname, '../../src/cloud/price-table.json'), 'utf8');
    expect(tableText(JSON.parse(text))).toBe(text);
  });
});

describe('scripts/refresh-prices.ts against the recorded price list', () => {
  it('from a directory: the table is what the fixture says (other OS, tenancy, software, reserved terms, gp2 and unlisted families left out; unwanted regions not read)', async () => {
    // af-south-1 is in the region index but has no file in the fixture: reading it would fail.
    expect(await refreshPrices({ from: FIXTURE, regions: ['us-east-1', 'eu-central-1'] })).toEqual(FROM_FIXTURE);
  });

  describe('over HTTP (the Bulk API is plain GETs)', () => {
    let server: Server;
    const asked: string[] = [];
    beforeAll(async () => {
      server = createServer((req, res) => {
        asked.push(req.url ?? '');
        readFile(join(FIXTURE, req.url ?? '')).then(
          (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(body),
          () => res.writeHead(404).end(),
        );
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    });
    afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

    it('reads the region index, then each wanted region’s current offer file', async () => {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect(await refreshPrices({ from: base, regions: ['eu-central-1', 'us-east-1', 'mars-1'] })).toEqual({
        ...FROM_FIXTURE,
        regions: {
          'eu-central-1': FROM_FIXTURE.regions['eu-central-1'],
          'us-east-1': FROM_FIXTURE.regions['us-east-1'],
        },
      });
      expect(asked).toEqual([
        '/offers/v1.0/aws/AmazonEC2/current/region_index.json',
        '/offers/v1.0/aws/AmazonEC2/20261101000000/eu-central-1/index.json',
        '/offers/v1.0/aws/AmazonEC2/20261101000000/us-east-1/index.json',
      ]);
    });
  });
});

describe('the price line', () => {
  // The shipped table's words for a list of that date (hand-entered or AWS's: the table says which).
  const LIST = priceListWords('2026-11-01');
  const base = { region: 'us-east-1', type: 'g5.xlarge', zone: 'us-east-1b' } as const;
  it.each([
    [
      { ...base, market: 'spot' as const, prices: { onDemand: 1.006, listDate: '2026-11-01', spot: 0.4213 } },
      `launching g5.xlarge (spot) in us-east-1b: $0.4213/h spot now (on-demand $1.006/h, ${LIST})`,
    ],
    [
      { ...base, market: 'spot' as const, maxPrice: 0.6, prices: { onDemand: 1.006, listDate: '2026-11-01' } },
      `launching g5.xlarge (spot) in us-east-1b: spot price not known now (on-demand $1.006/h, ${LIST}, max $0.60/h)`,
    ],
    [
      { ...base, zone: undefined, market: 'spot' as const, prices: { listDate: '2026-11-01', spot: 0.31 } },
      'launching g5.xlarge (spot) in us-east-1: from $0.31/h spot now in us-east-1 (no on-demand list price)',
    ],
    [
      {
        ...base,
        market: 'on-demand' as const,
        image: 'DLAMI (ami-1)',
        prices: { onDemand: 1.006, listDate: '2026-11-01' },
      },
      `launching g5.xlarge (on-demand) from DLAMI (ami-1) in us-east-1b: $1.006/h on demand (${LIST})`,
    ],
    [
      { ...base, region: 'mars-1', zone: undefined, market: 'on-demand' as const, prices: { listDate: '2026-11-01' } },
      'launching g5.xlarge (on-demand) in mars-1: no list price for g5.xlarge in mars-1 (see https://aws.amazon.com/ec2/pricing/on-demand/)',
    ],
  ])('%#', (facts, line) => expect(priceLine(facts)).toBe(line));

  it('writes dollars with 2 to 4 decimals', () => {
    expect([1.006, 0.4213, 5.6, 0.0104, 32.7726].map(usd)).toEqual([
      '$1.006',
      '$0.4213',
      '$5.60',
      '$0.0104',
      '$32.7726',
    ]);
  });
});

describe("the session's cost", () => {
  const hour = 3_600_000;
  it.each([
    [{ region: 'us-east-1', type: 'g5.xlarge', ms: 2 * hour }, '≈ $2.01 for 2h of g5.xlarge'],
    [{ region: 'us-east-1', type: 't3.micro', ms: 20_000 }, 'under $0.01 for 20s of t3.micro'],
    [{ region: 'us-east-1', type: 'g5.xlarge', ms: hour, spotHourly: 0.4 }, '≈ $0.40 for 1h of g5.xlarge (spot)'],
    [
      { region: 'us-east-1', type: 'g5.xlarge', ms: hour, stoppedRootGiB: 100 },
      '≈ $1.01 for 1h of g5.xlarge; storage: its 100 GiB disk (stopped) $8.00/month',
    ],
    [
      { region: 'eu-central-1', type: 'g5.xlarge', ms: hour, stoppedRootGiB: 100, keptVolumesGiB: [50, 50] },
      '≈ $1.26 for 1h of g5.xlarge; storage: its 100 GiB disk (stopped) + 2 kept volumes (100 GiB) $19.04/month',
    ],
    [
      { region: 'mars-1', type: 'g5.xlarge', ms: hour, keptVolumesGiB: [10] },
      '1h of g5.xlarge (no list price here); storage: the kept volume (10 GiB) at the gp3 price of the region',
    ],
  ])('%#', (facts, words) => expect(sessionCost(facts)).toBe(words));

  it('says nothing without a price or anything kept', () => {
    expect(sessionCost({ region: 'mars-1', type: 'g5.xlarge', ms: 1000 })).toBeUndefined();
  });
});

describe("ls's COST cell", () => {
  const now = new Date('2026-11-30T12:00:00Z');
  const at = (min: number) => new Date(now.getTime() - min * 60_000);
  it.each([
    [{ state: 'running', type: 'g5.xlarge', launchTime: at(90) }, '$1.51 so far, $1.006/h'],
    [{ state: 'running', type: 'x9.none', launchTime: at(90) }, 'no list price'],
    [{ state: 'stopped', type: 'g5.xlarge', tags: { [VOLUME_TAG]: '100' } }, 'disk 100 GiB: $8.00/month'],
    [{ state: 'stopped', type: 'g5.xlarge' }, 'stopped: disk only'],
    [{ state: 'pending', type: 'g5.xlarge' }, '-'],
  ])('%#', (i, cell) => expect(costCell('us-east-1', { id: 'i-1', tags: {}, ...i }, now)).toBe(cell));
});

describe('ssh-ec2 prices', () => {
  let m: Machine;
  beforeEach(() => {
    m = machine();
  });
  afterEach(() => m.cleanup());

  function pricedCloud(): FakeCloud {
    const cloud = new FakeCloud();
    const [a, b] = cloud.zones.map((z) => z.name);
    cloud.spotPriceTable = { [`g5.xlarge ${a}`]: 0.45, [`g5.xlarge ${b}`]: 0.39, [`g4dn.xlarge ${a}`]: 0.2 };
    cloud.offeredIn = { 'g5.xlarge': [a!, b!], 'g4dn.xlarge': [a!] };
    return cloud;
  }

  it('lists each type in each zone offering it, cheapest first, with GPUs, vCPUs and memory', async () => {
    const cloud = pricedCloud();
    const [a, b] = cloud.zones.map((z) => z.name);
    const r = await cli(m, cloud, ['prices', 'g5.xlarge', 'g4dn.xlarge', 't3.large']);
    expect(r.status, r.lines.join('\n')).toBe(0);
    const rows = r.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^TYPE +ZONE +SPOT NOW +ON DEMAND +GPUS +VCPUS +MEMORY$/);
    const od = (t: string) => usd(hourlyPrice(cloud.region, t)!);
    // t3.large has no spot price here: its on-demand $0.096 is its cost, the cheapest of all.
    expect(rows.slice(1).map((l) => l.split(/ {2,}/))).toEqual([
      ...cloud.zones.map((z) => ['t3.large', z.name, '-', `${od('t3.large')}/h`, '-', '2', '8 GiB']),
      ['g4dn.xlarge', a, '$0.20/h', `${od('g4dn.xlarge')}/h`, '1 × T4', '4', '16 GiB'],
      ['g5.xlarge', b, '$0.39/h', `${od('g5.xlarge')}/h`, '1 × A10G', '4', '16 GiB'],
      ['g5.xlarge', a, '$0.45/h', `${od('g5.xlarge')}/h`, '1 × A10G', '4', '16 GiB'],
    ]);
    expect(r.lines.join('\n')).toContain(priceListWords());
  });

  it('a type the region lacks: one line saying so; --json', async () => {
    const cloud = pricedCloud();
    const r = await cli(m, cloud, ['prices', 'x9.none']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.lines).toEqual([
      `ssh-ec2: warning: x9.none is not offered in ${cloud.region} (or is no instance type EC2 knows)`,
    ]);
    const j = await cli(m, cloud, ['prices', 'g4dn.xlarge', 'x9.none', '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({
      region: cloud.region,
      listDate: priceListDate(),
      notOffered: ['x9.none'],
      prices: [{ type: 'g4dn.xlarge', spot: 0.2, gpus: 1, gpuName: 'T4', vcpus: 4, memoryMiB: 16384 }],
    });
  });

  it('without TYPE: the GPU types of the table (smallest of each family)', async () => {
    const cloud = pricedCloud();
    const r = await cli(m, cloud, ['prices', '--json']);
    const types = new Set((JSON.parse(r.stdout) as { prices: { type: string }[] }).prices.map((p) => p.type));
    // The fake knows g4dn.xlarge, g5.xlarge and g5g.xlarge of the table's smallest GPU sizes; t3.large has no GPU.
    expect([...types].sort()).toEqual(
      ['g4dn.xlarge', 'g5.xlarge', 'g5g.xlarge'].filter((t) => hourlyPrice(cloud.region, t)),
    );
  });
});
