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

/** What an hour of this instance costs: the spot price it was launched at (its tag), else the table's. */
export function instanceHourly(region: string, i: Pick<InstanceInfo, 'type' | 'tags'>): number | undefined {
  return Number(i.tags[SPOT_PRICE_TAG]) || hourlyPrice(region, i.type);
}

export interface CostFacts {
  region: string;
  type: string;
  /** How long this run took. */
  ms: number;
  /** Spot: the price it runs at (the on-demand table's otherwise). */
  spotHourly?: number;
  /** The root volume's size when the instance is left stopped: its disk still costs. */
  stoppedRootGiB?: number;
  /** The sizes of data volumes kept after the session (they outlive the instance). */
  keptVolumesGiB?: readonly number[];
}

export function sessionCost(f: CostFacts): string | undefined {
  const price = f.spotHourly ?? hourlyPrice(f.region, f.type);
  const spent = formatDuration(Math.max(1000, f.ms));
  const of = `${f.type}${f.spotHourly === undefined ? '' : ' (spot)'}`;
  const running = price === undefined ? undefined : `${dollars((price * f.ms) / 3_600_000)} for ${spent} of ${of}`;
  const kept = storageWords(f);
  if (!running && !kept) return undefined;
  return [running ?? `${spent} of ${of} (no list price here)`, kept].filter(Boolean).join('; ');
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
