// DescribeSpotPriceHistory as EC2 answers it, played by the proxy: moto's answer is useless
// (0.00001 USD dated 2006, and nothing at all for a StartTime of now). A deterministic price per
// type × zone — one a test sets (sb.setSpotPrice), else derived from ssh-ec2's on-demand table (a
// third of it, a little more in each later zone) — in force since before the sandbox started, or
// since it was set. The answer has EC2's XML shape and honours its filters: InstanceType.N,
// ProductDescription.N, AvailabilityZone, Filter.N (instance-type, availability-zone,
// product-description, spot-price, timestamp), StartTime/EndTime (EC2 gives the price in force at
// StartTime and any change after), MaxResults/NextToken (pages of MaxResults, default 1000).
import { hourlyPrice, pricedTypes } from '../../src/cloud/prices.js';
import { escapeXml, type Reply } from './proxy.js';

/** Linux's price as set; the others EC2 lists (so that a product filter is needed). */
const PRODUCTS: Record<string, number> = { 'Linux/UNIX': 1, 'Red Hat Enterprise Linux': 1.05, Windows: 1.4 };

export interface SpotPrices {
  /** The proxy's hook: an answer for DescribeSpotPriceHistory, else undefined. */
  answer(action: string, params: Record<string, string>, region: string): Promise<Reply | undefined>;
  set(type: string, zone: string, usd: number): void;
}

interface Entry {
  type: string;
  zone: string;
  product: string;
  usd: number;
  at: Date;
}

/** Param.1, Param.2, … as a list. */
function listOf(params: Record<string, string>, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 1; params[`${prefix}.${i}`] !== undefined; i++) out.push(params[`${prefix}.${i}`]!);
  return out;
}

/** Filter.N.Name → its values (Filter.N.Value.M). */
function filtersOf(params: Record<string, string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 1; params[`Filter.${i}.Name`] !== undefined; i++)
    out.set(params[`Filter.${i}.Name`]!, listOf(params, `Filter.${i}.Value`));
  return out;
}

/** EC2's filter values take * and ? wildcards. */
const matches = (values: string[] | undefined, v: string) =>
  !values ||
  values.some((w) =>
    new RegExp(
      `^${w
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    ).test(v),
  );

export function spotPrices(zonesOf: (region: string) => Promise<string[]>): SpotPrices {
  const set = new Map<string, { usd: number; at: Date }>();
  // Defaults are in force since well before any test's StartTime.
  const since = new Date(Date.now() - 3_600_000);

  function entries(region: string, zones: string[], types: string[]): Entry[] {
    return types.flatMap((type) =>
      zones.flatMap((zone, n) => {
        const own = set.get(`${type} ${zone}`);
        const onDemand = hourlyPrice(region, type);
        const linux = own ?? (onDemand === undefined ? undefined : { usd: onDemand * (0.3 + 0.02 * n), at: since });
        if (!linux) return [];
        return Object.entries(PRODUCTS).map(([product, k]) => ({
          type,
          zone,
          product,
          usd: linux.usd * k,
          at: linux.at,
        }));
      }),
    );
  }

  return {
    set: (type, zone, usd) => set.set(`${type} ${zone}`, { usd, at: new Date() }),
    async answer(action, params, region) {
      if (action !== 'DescribeSpotPriceHistory') return undefined;
      const f = filtersOf(params);
      const named = listOf(params, 'InstanceType');
      const types = named.length > 0 ? named : pricedTypes(region);
      const zone = params.AvailabilityZone;
      const zones = (await zonesOf(region)).filter((z) => !zone || z === zone);
      const products = listOf(params, 'ProductDescription');
      const end = params.EndTime ? new Date(params.EndTime) : undefined;
      const found = entries(region, zones, types).filter(
        (e) =>
          matches(f.get('instance-type'), e.type) &&
          matches(f.get('availability-zone'), e.zone) &&
          matches(f.get('product-description'), e.product) &&
          (products.length === 0 || products.includes(e.product)) &&
          matches(f.get('spot-price'), e.usd.toFixed(6)) &&
          // The price in force at StartTime has a timestamp before it: it is in; none after EndTime.
          (!end || e.at <= end),
      );
      const max = Math.min(Number(params.MaxResults) || 1000, 1000);
      const from = params.NextToken ? Number(Buffer.from(params.NextToken, 'base64').toString('utf8')) : 0;
      const page = found.slice(from, from + max);
      const next = from + max < found.length ? Buffer.from(String(from + max)).toString('base64') : undefined;
      const items = page.map(
        (e) =>
          `<item><instanceType>${escapeXml(e.type)}</instanceType>` +
          `<productDescription>${escapeXml(e.product)}</productDescription>` +
          `<spotPrice>${e.usd.toFixed(6)}</spotPrice><timestamp>${e.at.toISOString()}</timestamp>` +
          `<availabilityZone>${escapeXml(e.zone)}</availabilityZone></item>`,
      );
      const body =
        '<?xml version="1.0" encoding="UTF-8"?>\n' +
        '<DescribeSpotPriceHistoryResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' +
        `<requestId>${crypto.randomUUID()}</requestId><spotPriceHistorySet>${items.join('')}</spotPriceHistorySet>` +
        `<nextToken>${next ?? ''}</nextToken></DescribeSpotPriceHistoryResponse>`;
      return { status: 200, headers: { 'content-type': 'text/xml;charset=UTF-8' }, body: Buffer.from(body) };
    },
  };
}

/** The zones of a region, as moto lists them (asked once per region). */
export function zoneLister(ec2Call: (region: string, p: Record<string, string>) => Promise<Reply>) {
  const known = new Map<string, Promise<string[]>>();
  return (region: string): Promise<string[]> => {
    if (!known.has(region))
      known.set(
        region,
        ec2Call(region, { Action: 'DescribeAvailabilityZones' }).then((r) =>
          [...r.body.toString('utf8').matchAll(/<zoneName>([^<]+)<\/zoneName>/g)].map((m) => m[1]!),
        ),
      );
    return known.get(region)!;
  };
}
