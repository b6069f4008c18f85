// Figures from repeated runs: the median and the spread, never a mean (one slow run on a shared
// machine would move it).

export interface Stats {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function stats(xs: readonly number[]): Stats {
  const sorted = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return { median: NaN, min: NaN, max: NaN, runs: 0 };
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)!, runs: sorted.length };
}

export type Unit = 'ms' | 'MB' | 'calls';

export function format(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return '—';
  if (unit === 'MB') return `${value.toFixed(0)} MB`;
  if (unit === 'calls') return Number.isInteger(value) ? String(value) : value.toFixed(1);
  return value < 1000 ? `${value.toFixed(0)} ms` : `${(value / 1000).toFixed(2)} s`;
}

/** "1.23 s (1.10–1.40 s)": the median, then min–max. */
export function formatStats(s: Stats | undefined, unit: Unit): string {
  if (!s || s.runs === 0) return '—';
  if (s.min === s.max) return format(s.median, unit);
  return `${format(s.median, unit)} (${format(s.min, unit)}–${format(s.max, unit)})`;
}
