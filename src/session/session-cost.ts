/**
 * What a session cost, for its closing line: the instance's hourly price (the on-demand list
 * price of cloud/prices.ts' table, or the spot price it was launched at) times the time this run
 * took, and what keeps costing once it ends — a stopped instance's root volume, kept data volumes —
 * by the month. A type or region without a price says no figure: a guess would be read as one.
 */
import { hourlyPrice, usd, volumeMonthlyPrice } from '../cloud/prices.js';
import type { InstanceInfo } from '../cloud/port.js';
import { formatDuration } from './limits.js';
import { SPOT_PRICE_TAG } from './volume-tag.js';
import { MARKET_TAG } from '../cloud/spot-market.js';

/** A spot instance, by its market tag (spot-market.ts): its price is its tag's, never the on-demand table's. */
export const isSpot = (i: Pick<InstanceInfo, 'tags'>): boolean => (i.tags[MARKET_TAG] ?? '').startsWith('spot');

/**
 * What an hour of this instance costs: the spot price it was launched at (its tag), else the
 * table's on-demand price. A spot instance without the tag (the price lookup failed) has no figure:
 * the on-demand price would be about three times too much, shown as fact.
 */
export function instanceHourly(region: string, i: Pick<InstanceInfo, 'type' | 'tags'>): number | undefined {
  const spot = Number(i.tags[SPOT_PRICE_TAG]) || undefined;
  return isSpot(i) ? spot : (spot ?? hourlyPrice(region, i.type));
}

/**
 * The most an hour may cost, for --budget's clock: the price where known, else for spot the
 * on-demand price (EC2 charges a spot instance no more without --max-price) — an unknown price
 * must not lift the budget's limit.
 */
export const budgetHourly = (region: string, i: Pick<InstanceInfo, 'type' | 'tags'>): number | undefined =>
  instanceHourly(region, i) ?? hourlyPrice(region, i.type);

/** The words for a spot instance whose price is not known. */
export const SPOT_PRICE_UNKNOWN = 'spot, price unknown';

export interface CostFacts {
  region: string;
  type: string;
  /** How long this run took. */
  ms: number;
  /** Spot: the price it runs at (the on-demand table's otherwise). */
  spotHourly?: number;
  /** A spot instance (its market tag): without spotHourly its price is unknown, never the table's. */
  spot?: boolean;
  /** The root volume's size when the instance is left stopped: its disk still costs. */
  stoppedRootGiB?: number;
  /** The sizes of data volumes kept after the session (they outlive the instance). */
  keptVolumesGiB?: readonly number[];
}

export function sessionCost(f: CostFacts): string | undefined {
  const spot = f.spot || f.spotHourly !== undefined;
  const price = spot ? f.spotHourly : hourlyPrice(f.region, f.type);
  const spent = formatDuration(Math.max(1000, f.ms));
  const of = `${f.type}${spot ? ' (spot)' : ''}`;
  const running = price === undefined ? undefined : `${dollars((price * f.ms) / 3_600_000)} for ${spent} of ${of}`;
  const kept = storageWords(f);
  // An on-demand type the table lacks says nothing; a spot instance says its price is not known.
  if (!running && !kept && !spot) return undefined;
  const unknown = spot ? `${spent} of ${f.type} (${SPOT_PRICE_UNKNOWN})` : `${spent} of ${of} (no list price here)`;
  return [running ?? unknown, kept].filter(Boolean).join('; ');
}

const dollars = (n: number) => (n < 0.01 ? 'under $0.01' : `≈ $${n.toFixed(2)}`);

/** What is left costing by the month, or nothing. */
function storageWords(f: CostFacts): string | undefined {
  const parts: string[] = [];
  const sizes: number[] = [];
  if (f.stoppedRootGiB) {
    parts.push(`its ${f.stoppedRootGiB} GiB disk (stopped)`);
    sizes.push(f.stoppedRootGiB);
  }
  const kept = f.keptVolumesGiB ?? [];
  if (kept.length > 0) {
    const total = kept.reduce((s, n) => s + n, 0);
    parts.push(`${kept.length === 1 ? 'the' : kept.length} kept volume${kept.length === 1 ? '' : 's'} (${total} GiB)`);
    sizes.push(total);
  }
  if (parts.length === 0) return undefined;
  const month = volumeMonthlyPrice(
    f.region,
    sizes.reduce((s, n) => s + n, 0),
  );
  const cost = month === undefined ? 'at the gp3 price of the region' : `${usd(month)}/month`;
  return `storage: ${parts.join(' + ')} ${cost}`;
}
