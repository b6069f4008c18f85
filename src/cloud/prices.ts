/**
 * Hourly on-demand Linux list prices (shared tenancy, USD) and gp3 storage per GiB-month, per
 * region, to tell a user what an instance costs. A dated table shipped with the tool
 * (price-table.json, written by scripts/refresh-prices.ts from AWS's public price list, or entered
 * by hand where that list could not be reached: its `source` says which, and so do the words) rather than
 * the Pricing API, which needs its own permissions and lives in us-east-1 only; prices change, so
 * the words that show them say the table's date or "about".
 */
import TABLE from './price-table.json' with { type: 'json' };

/** The shape of price-table.json (scripts/refresh-prices.ts writes it). */
export interface PriceTable {
  /**
   * Where the prices come from: "aws-price-list" (scripts/refresh-prices.ts, from AWS's Price List
   * Bulk API), or "hand-entered" (typed from AWS's pages: no date of AWS's to name).
   */
  source: string;
  /** What the prices are (on-demand, Linux, shared tenancy, USD per hour; gp3 per GiB-month). */
  what: string;
  /** aws-price-list: the price list's own publicationDate (ISO), not the day the script ran. */
  publicationDate?: string;
  /** hand-entered: the month they were entered (YYYY-MM). */
  entered?: string;
  note?: string;
  regions: Record<string, { gp3PerGiBMonth?: number; hourly: Record<string, number> }>;
}

const PRICES: PriceTable = TABLE;

/** Prices typed by hand are never presented as AWS's list of a date AWS never gave. */
const HAND_ENTERED = PRICES.source === 'hand-entered';

export function hourlyPrice(region: string, type: string): number | undefined {
  return PRICES.regions[region]?.hourly[type];
}

/** The day of the price list the table was made from (YYYY-MM-DD); hand-entered: the month entered (YYYY-MM). */
export function priceListDate(): string {
  return HAND_ENTERED ? (PRICES.entered ?? '?') : (PRICES.publicationDate ?? '?').slice(0, 10);
}

/** Where a line's on-demand price comes from: "AWS list of 2026-11-01", or "list prices entered by hand, 2025-06". */
export function priceListWords(date = priceListDate()): string {
  return HAND_ENTERED ? `list prices entered by hand, ${date}` : `AWS list of ${date}`;
}

/** The types the table prices in a region (none: an unknown region). */
export function pricedTypes(region: string): string[] {
  return Object.keys(PRICES.regions[region]?.hourly ?? {});
}

/** USD as the price words write it: up to 4 decimals, at least 2 ($1.006, $0.4213, $5.60). */
export function usd(n: number): string {
  const s = n.toFixed(4).replace(/0{1,2}$/, '');
  return `$${s}`;
}

export function describePrice(region: string, type: string): string {
  const p = hourlyPrice(region, type);
  return p === undefined
    ? `see https://aws.amazon.com/ec2/pricing/on-demand/ for the price of ${type} in ${region}`
    : `about $${p < 0.1 ? p.toFixed(4) : p.toFixed(2)}/hour on demand`;
}

/**
 * What a stopped instance or a kept volume still costs: EBS gp3 (the volume type ssh-ec2 makes:
 * cloud/ec2.ts), per GiB-month. IOPS and throughput above gp3's baseline are not used by ssh-ec2's
 * volumes, so not counted.
 */
export function volumeMonthlyPrice(region: string, sizeGiB: number): number | undefined {
  const p = PRICES.regions[region]?.gp3PerGiBMonth;
  return p === undefined ? undefined : p * sizeGiB;
}
