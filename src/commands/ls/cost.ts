/**
 * What an instance costs, for ls's TYPE column: a running one by the hour, a stopped one its disk
 * by the month (issue #10: ls showed nothing for stopped instances, as if they were free).
 */
import { hourlyPrice, volumeMonthlyPrice } from '../../cloud/prices.js';
import type { InstanceInfo } from '../../cloud/port.js';
import { VOLUME_TAG } from '../../session/volume-tag.js';

export function costCell(region: string, i: InstanceInfo): string {
  if (i.state === 'running') {
    const price = hourlyPrice(region, i.type);
    return price === undefined ? i.type : `${i.type} ($${price.toFixed(2)}/h)`;
  }
  if (i.state !== 'stopped' && i.state !== 'stopping') return i.type;
  const size = Number(i.tags[VOLUME_TAG]);
  const month = size > 0 ? volumeMonthlyPrice(region, size) : undefined;
  // Launched before the size was recorded, or a region without a price: said so, not guessed.
  if (month === undefined) return `${i.type} (stopped: disk only)`;
  return `${i.type} (disk ${size} GiB: $${month.toFixed(2)}/month)`;
}
