/** ssh-ec2 ls --all-regions as text: one row per instance and per other resource, region by region. */
import { volumeMonthlyPrice } from '../../cloud/prices.js';
import type { TaggedResource } from '../../cloud/port.js';
import { costCell } from './cost.js';
import type { Findings } from './regions.js';
import { since, table, whereCell } from './table.js';

/** `jobs`: the JOB cell of each instance, in the order the regions list them; undefined: nothing found. */
export function inventoryTable(found: Findings, jobs: string[]): string | undefined {
  let n = 0;
  const rows = found.regions.flatMap((r) => [
    ...r.instances.map((i) => [
      r.region,
      'instance',
      i.id,
      i.tags.Name ?? '-',
      i.state,
      i.launchTime ? since(i.launchTime) : '-',
      costCell(r.region, i),
      jobs[n++]!,
      whereCell(i.tags),
    ]),
    ...r.resources.map((x) => [
      r.region,
      x.kind,
      x.id,
      x.name ?? x.tags.Name ?? '-',
      x.state ?? (x.attachedTo ? `on ${x.attachedTo}` : '-'),
      x.createdAt ? since(x.createdAt) : '-',
      resourceCost(r.region, x),
      '-',
      whereCell(x.tags),
    ]),
  ]);
  if (rows.length === 0) return undefined;
  return table([['REGION', 'KIND', 'ID', 'NAME', 'STATE', 'AGE', 'COST', 'JOB', 'DIRECTORY'], ...rows]);
}

function resourceCost(region: string, x: TaggedResource): string {
  if (x.kind !== 'volume' || !x.sizeGiB) return '-';
  const month = volumeMonthlyPrice(region, x.sizeGiB);
  return month === undefined ? `${x.sizeGiB} GiB` : `${x.sizeGiB} GiB: $${month.toFixed(2)}/month`;
}
