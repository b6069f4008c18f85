/** The data volumes as `volumes` shows them, and as `down --orphans` names them (never deleting one). */
import { volumeMonthlyPrice } from '../../cloud/prices.js';
import type { TaggedResource, VolumeInfo } from '../../cloud/port.js';
import { DATA_VOLUME_TAG, LAST_USE_TAG } from '../../cloud/volume-rules.js';
import { since, table } from '../ls/table.js';

export function volumeTable(region: string, all: readonly VolumeInfo[], now: Date): string {
  const rows = [...all]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((v) => [
      v.name,
      v.id,
      `${v.sizeGiB} GiB`,
      v.zone,
      v.state,
      v.attachedTo ?? '-',
      monthly(region, v),
      lastUse(v, now),
    ]);
  return table([['NAME', 'ID', 'SIZE', 'ZONE', 'STATE', 'ATTACHED TO', 'COST', 'LAST USE'], ...rows]);
}

export function monthly(region: string, v: Pick<VolumeInfo, 'sizeGiB'>): string {
  const m = volumeMonthlyPrice(region, v.sizeGiB);
  return m === undefined ? '-' : `$${m.toFixed(2)}/month`;
}

function lastUse(v: VolumeInfo, now: Date): string {
  const t = v.tags[LAST_USE_TAG];
  const d = t ? new Date(t) : undefined;
  if (!d || Number.isNaN(d.getTime())) return '-';
  return `${since(d, now)} ago`;
}

/** down --orphans' line for a data volume (undefined: not one): what it costs, and the one command that deletes it. */
export function dataVolumeLine(region: string, x: TaggedResource): string | undefined {
  const name = x.tags[DATA_VOLUME_TAG];
  if (x.kind !== 'volume' || name === undefined) return undefined;
  const cost = monthly(region, { sizeGiB: x.sizeGiB ?? 0 });
  return (
    `  data volume ${name} ${x.id} (${region}, ${x.sizeGiB ?? '?'} GiB, ${cost === '-' ? 'cost unknown' : cost}` +
    `${x.attachedTo ? `, on ${x.attachedTo}` : ''}): kept, never deleted unless named — ssh-ec2 volumes rm ${name} --region ${region}`
  );
}
