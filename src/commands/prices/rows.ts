/** ssh-ec2 prices: the rows (one per type and zone, cheapest first) and their table. Pure. */
import type { InstanceTypeDetails, SpotPrice } from '../../cloud/port.js';
import { usd } from '../../cloud/prices.js';
import { table } from '../ls/table.js';

export interface PriceRow {
  type: string;
  /** None: the type has no spot price in any zone (the on-demand price is the region's). */
  zone: string | null;
  spot: number | null;
  onDemand: number | null;
  gpus: number;
  gpuName: string | null;
  vcpus: number;
  memoryMiB: number;
}

/** Every zone that offers a type, with its spot price there; cheapest first (spot, else on demand). */
export function priceRows(
  details: readonly InstanceTypeDetails[],
  zonesOf: (type: string) => readonly string[],
  spot: readonly SpotPrice[],
  onDemand: (type: string) => number | undefined,
): PriceRow[] {
  const rows = details.flatMap((d): PriceRow[] => {
    const base = {
      type: d.type,
      onDemand: onDemand(d.type) ?? null,
      gpus: d.gpus,
      gpuName: d.gpuName ?? null,
      vcpus: d.vcpus,
      memoryMiB: d.memoryMiB,
    };
    const zones = zonesOf(d.type);
    const inZone = (z: string) => spot.find((p) => p.type === d.type && p.zone === z)?.usd ?? null;
    return zones.length > 0
      ? zones.map((zone) => ({ ...base, zone, spot: inZone(zone) }))
      : [{ ...base, zone: null, spot: null }];
  });
  const cost = (r: PriceRow) => r.spot ?? r.onDemand ?? Infinity;
  return rows.sort(
    (a, b) => cost(a) - cost(b) || a.type.localeCompare(b.type) || (a.zone ?? '').localeCompare(b.zone ?? ''),
  );
}

export function priceTable(rows: readonly PriceRow[]): string {
  const money = (n: number | null) => (n === null ? '-' : `${usd(n)}/h`);
  return table([
    ['TYPE', 'ZONE', 'SPOT NOW', 'ON DEMAND', 'GPUS', 'VCPUS', 'MEMORY'],
    ...rows.map((r) => [
      r.type,
      r.zone ?? '-',
      money(r.spot),
      money(r.onDemand),
      r.gpus > 0 ? `${r.gpus}${r.gpuName ? ` × ${r.gpuName}` : ''}` : '-',
      String(r.vcpus),
      `${Math.round((r.memoryMiB / 1024) * 10) / 10} GiB`,
    ]),
  ]);
}
