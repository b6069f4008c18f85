/**
 * What an instance costs, for ls's COST column: a running one so far (since its launch or last
 * start: EC2's LaunchTime) and by the hour, at the table's on-demand price or the spot price it was
 * launched at (its tag); a stopped one its disk by the month (issue #10: ls showed nothing for stopped instances, as if they were free).
 */
import { usd, volumeMonthlyPrice } from '../../cloud/prices.js';
import type { InstanceInfo } from '../../cloud/port.js';
import { instanceHourly, isSpot, SPOT_PRICE_UNKNOWN } from '../../session/session-cost.js';
import { VOLUME_TAG } from '../../session/volume-tag.js';

export function costCell(region: string, i: InstanceInfo, now = new Date()): string {
  if (i.state === 'running') {
    const price = instanceHourly(region, i);
    if (price === undefined) return isSpot(i) ? SPOT_PRICE_UNKNOWN : 'no list price';
    if (!i.launchTime) return `${usd(price)}/h`;
    const hours = Math.max(0, now.getTime() - i.launchTime.getTime()) / 3_600_000;
    return `$${(price * hours).toFixed(2)} so far, ${usd(price)}/h`;
  }
  if (i.state !== 'stopped' && i.state !== 'stopping') return '-';
  const size = Number(i.tags[VOLUME_TAG]);
  const month = size > 0 ? volumeMonthlyPrice(region, size) : undefined;
  // Launched before the size was recorded, or a region without a price: said so, not guessed.
  if (month === undefined) return 'stopped: disk only';
  return `disk ${size} GiB: ${usd(month)}/month`;
}
