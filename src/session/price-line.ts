/**
 * The line said before a launch (and in --dry-run's plan): what will be launched, where, and what
 * it costs by the hour — the spot price in force now in that zone, or the on-demand list price of
 * the dated table shipped with ssh-ec2 (cloud/prices.ts), whose date the line says. The words are
 * pure (priceLine, priceWords); pricesFor looks the prices up.
 */
import type { Cloud, InstanceInfo } from '../cloud/port.js';
import { SPOT_PRICE_TAG } from './volume-tag.js';
import { hourlyPrice, priceListDate, priceListWords, usd } from '../cloud/prices.js';

import type { Market } from '../cloud/spot-market.js';
export type { Market };

export interface PriceFacts {
  region: string;
  type: string;
  /** None: EC2 chooses the zone. */
  zone?: string;
  market: Market;
  /** Spot: the most the launch would pay (--max-price). */
  maxPrice?: number;
  prices: {
    /** The table's on-demand price; none where the table has no price for the type there. */
    onDemand?: number;
    /** The table's date (YYYY-MM-DD). */
    listDate: string;
    /** Spot: the price now in that zone (the lowest of the region's zones when EC2 chooses). */
    spot?: number;
  };
  /** What it is launched from, e.g. "Deep Learning AMI … (ami-…)". */
  image?: string;
  /** A stopped instance being started (start-check.ts), rather than a launch. */
  starting?: string;
}

export function priceLine(f: PriceFacts): string {
  const from = f.image ? ` from ${f.image}` : '';
  const what = f.starting ? `starting ${f.starting} as` : 'launching';
  return `${what} ${f.type} (${f.market})${from} in ${f.zone ?? f.region}: ${priceWords(f)}`;
}

/** The price part of the line, also --dry-run's. */
export function priceWords(f: PriceFacts): string {
  const { onDemand, listDate, spot } = f.prices;
  const list = priceListWords(listDate);
  if (f.market === 'on-demand')
    return onDemand === undefined
      ? `no list price for ${f.type} in ${f.region} (see https://aws.amazon.com/ec2/pricing/on-demand/)`
      : `${usd(onDemand)}/h on demand (${list})`;
  const now =
    spot === undefined
      ? 'spot price not known now'
      : `${f.zone ? '' : 'from '}${usd(spot)}/h spot now${f.zone ? '' : ` in ${f.region}`}`;
  const odWords = onDemand === undefined ? 'no on-demand list price' : `on-demand ${usd(onDemand)}/h, ${list}`;
  const max = f.maxPrice === undefined ? '' : `, max ${usd(f.maxPrice)}/h`;
  return `${now} (${odWords}${max})`;
}

/**
 * The prices the line names, for one type and zone: the table's, and for spot the price now
 * (DescribeSpotPriceHistory). A price EC2 does not tell is left out rather than failing a launch.
 */
export async function pricesFor(
  cloud: Pick<Cloud, 'region' | 'spotPrices'>,
  type: string,
  zone: string | undefined,
  market: Market,
): Promise<PriceFacts['prices']> {
  const table = { onDemand: hourlyPrice(cloud.region, type), listDate: priceListDate() };
  if (market !== 'spot') return table;
  const now = await cloud.spotPrices([type], zone ? [zone] : undefined).catch(() => []);
  const lowest = now.length > 0 ? Math.min(...now.map((p) => p.usd)) : undefined;
  return { ...table, spot: lowest };
}

/**
 * A spot instance launched where EC2 chose the zone: the price said before was the region's
 * lowest, not its own. Its zone's price is tagged now (one lookup and one CreateTags, only on this
 * path); none known, or the tag refused: no tag, and its cost says "spot, price unknown" rather
 * than a figure that may be wrong (session-cost.ts).
 */
export async function tagZonePrice(
  cloud: Pick<Cloud, 'spotPrices' | 'tag'>,
  instance: InstanceInfo,
): Promise<InstanceInfo> {
  if (!instance.az) return instance;
  try {
    const [price] = await cloud.spotPrices([instance.type], [instance.az]);
    if (price === undefined) return instance;
    const tags = { [SPOT_PRICE_TAG]: String(price.usd) };
    await cloud.tag(instance.id, tags);
    return { ...instance, tags: { ...instance.tags, ...tags } };
  } catch {
    return instance;
  }
}
