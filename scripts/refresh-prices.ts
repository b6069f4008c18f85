/**
 * Refreshes src/cloud/price-table.json from AWS's public price list (the Price List Bulk API: no
 * credentials, no SDK): the EC2 region index, then each wanted region's offer file, keeping the
 * on-demand hourly price of Linux, shared tenancy, no pre-installed software, for the families
 * below, and gp3 storage per GiB-month. The table is dated by the price list's publicationDate.
 *
 *   npx tsx scripts/refresh-prices.ts [--from URL-or-directory] [--out FILE]
 *
 * --from is the base the offers/… paths hang off: AWS's endpoint by default, a directory laid out
 * the same way (or a loopback server) in the tests, which never reach the internet. A region's
 * offer file is large (us-east-1: hundreds of MB): it is read whole, once.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PriceTable } from '../src/cloud/prices.js';

export const DEFAULT_BASE = 'https://pricing.us-east-1.amazonaws.com';
export const REGION_INDEX = '/offers/v1.0/aws/AmazonEC2/current/region_index.json';

/** The regions our users launch in. */
export const REGIONS = [
  'us-east-1',
  'us-east-2',
  'us-west-2',
  'ca-central-1',
  'eu-west-1',
  'eu-west-2',
  'eu-central-1',
  'eu-north-1',
  'ap-northeast-1',
  'ap-south-1',
  'ap-southeast-1',
  'ap-southeast-2',
];

/** GPU families first (what ssh-ec2 is for), then the common general-purpose and compute ones. */
export const FAMILIES = [
  ...['g4dn', 'g5', 'g5g', 'g6', 'g6e', 'gr6', 'p3', 'p4d', 'p5'],
  ...['t3', 't3a', 't4g', 'm5', 'm6i', 'm7i', 'm7g', 'c5', 'c6i', 'c7i', 'c7g', 'r5', 'r6i'],
];

interface Offer {
  publicationDate: string;
  products: Record<string, { sku: string; productFamily?: string; attributes: Record<string, string> }>;
  terms: { OnDemand: Record<string, Record<string, { priceDimensions: Record<string, Dimension> }>> };
}
interface Dimension {
  unit: string;
  pricePerUnit: { USD?: string };
}
interface RegionIndex {
  publicationDate: string;
  regions: Record<string, { regionCode: string; currentVersionUrl: string }>;
}

async function readJson<T>(base: string, path: string): Promise<T> {
  if (/^https?:\/\//.test(base)) {
    const res = await fetch(new URL(path, base));
    if (!res.ok) throw new Error(`${res.url}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }
  return JSON.parse(await readFile(join(base, path), 'utf8')) as T;
}

/** The on-demand USD price of a SKU in the unit asked (Hrs, GB-Mo); none when it has no such term. */
function onDemandUsd(offer: Offer, sku: string, unit: string): number | undefined {
  for (const term of Object.values(offer.terms.OnDemand[sku] ?? {}))
    for (const d of Object.values(term.priceDimensions)) {
      const usd = Number(d.pricePerUnit.USD);
      if (d.unit === unit && usd > 0) return usd;
    }
  return undefined;
}

/** What a region's offer file says: the families' Linux on-demand prices and gp3's. */
export function regionPrices(offer: Offer, families: readonly string[]): PriceTable['regions'][string] {
  const hourly: Record<string, number> = {};
  let gp3: number | undefined;
  for (const p of Object.values(offer.products)) {
    const a = p.attributes;
    if (p.productFamily === 'Storage' && a.volumeApiName === 'gp3') gp3 = onDemandUsd(offer, p.sku, 'GB-Mo') ?? gp3;
    const linux =
      p.productFamily === 'Compute Instance' &&
      a.operatingSystem === 'Linux' &&
      a.tenancy === 'Shared' &&
      a.preInstalledSw === 'NA' &&
      a.capacitystatus === 'Used' &&
      a.licenseModel === 'No License required';
    const type = a.instanceType ?? '';
    if (!linux || !families.includes(type.split('.')[0]!)) continue;
    const price = onDemandUsd(offer, p.sku, 'Hrs');
    if (price !== undefined) hourly[type] = price;
  }
  const sorted = Object.fromEntries(Object.entries(hourly).sort(([a], [b]) => byType(a, b)));
  return { ...(gp3 === undefined ? {} : { gp3PerGiBMonth: gp3 }), hourly: sorted };
}

/** By family in FAMILIES' order, then by size (vCPUs grow with the size's number). */
function byType(a: string, b: string): number {
  const [fa = '', sa = ''] = a.split('.');
  const [fb = '', sb = ''] = b.split('.');
  return FAMILIES.indexOf(fa) - FAMILIES.indexOf(fb) || sizeRank(sa) - sizeRank(sb) || a.localeCompare(b);
}
const SIZES = ['nano', 'micro', 'small', 'medium', 'large', 'xlarge'];
const sizeRank = (s: string) => (SIZES.includes(s) ? SIZES.indexOf(s) : 5 + (parseInt(s, 10) || 1000));

export async function refreshPrices(opts: {
  from: string;
  regions?: readonly string[];
  families?: readonly string[];
}): Promise<PriceTable> {
  const index = await readJson<RegionIndex>(opts.from, REGION_INDEX);
  const wanted = (opts.regions ?? REGIONS).filter((r) => index.regions[r]);
  const regions: PriceTable['regions'] = {};
  for (const r of wanted) {
    const offer = await readJson<Offer>(opts.from, index.regions[r]!.currentVersionUrl);
    regions[r] = regionPrices(offer, opts.families ?? FAMILIES);
  }
  return {
    source: 'aws-price-list',
    what: 'AWS Price List Bulk API, AmazonEC2: on-demand, Linux, shared tenancy, USD per hour; gp3 USD per GiB-month',
    publicationDate: index.publicationDate,
    regions,
  };
}

/** One type a line: a refresh's diff reads as the prices that changed. */
export function tableText(t: PriceTable): string {
  const regions = Object.entries(t.regions).map(([r, p]) => {
    const hourly = Object.entries(p.hourly).map(([type, usd]) => `        ${JSON.stringify(type)}: ${usd}`);
    const gp3 = p.gp3PerGiBMonth === undefined ? [] : [`      "gp3PerGiBMonth": ${p.gp3PerGiBMonth},`];
    return [`    ${JSON.stringify(r)}: {`, ...gp3, '      "hourly": {', hourly.join(',\n'), '      }', '    }'].join(
      '\n',
    );
  });
  const head = Object.entries(t)
    .filter(([k]) => k !== 'regions')
    .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},`);
  return `{\n${head.join('\n')}\n  "regions": {\n${regions.join(',\n')}\n  }\n}\n`;
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const out = arg('--out') ?? new URL('../src/cloud/price-table.json', import.meta.url).pathname;
  const table = await refreshPrices({ from: arg('--from') ?? DEFAULT_BASE });
  await writeFile(out, tableText(table));
  const n = Object.values(table.regions).reduce((s, r) => s + Object.keys(r.hourly).length, 0);
  process.stdout.write(
    `${out}: ${n} prices in ${Object.keys(table.regions).length} regions, list of ${table.publicationDate}\n`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main(process.argv.slice(2));
