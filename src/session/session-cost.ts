/**
 * What a session cost, for its closing line: the instance type's list price (cloud/prices.ts) times
 * the time this run took. A type or region without a price says nothing: a guess would be read as
 * a figure.
 */
import { hourlyPrice } from '../cloud/prices.js';
import { formatDuration } from './limits.js';

export function sessionCost(region: string, type: string, ms: number): string | undefined {
  const price = hourlyPrice(region, type);
  if (price === undefined) return undefined;
  const dollars = (price * ms) / 3_600_000;
  const amount = dollars < 0.01 ? 'under $0.01' : `≈ $${dollars.toFixed(2)}`;
  return `${amount} for ${formatDuration(Math.max(1000, ms))} of ${type}`;
}
