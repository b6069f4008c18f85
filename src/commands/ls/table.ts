/** The plain-text table of ssh-ec2 ls. */
import { hostname } from 'node:os';
import { TAG } from '../../session/plan.js';

/** How long ago: "42m", "3h05m". */
export function since(d: Date, now = new Date()): string {
  const minutes = Math.max(0, Math.round((now.getTime() - d.getTime()) / 60_000));
  return minutes < 60 ? `${minutes}m` : `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** Columns padded to their widest cell; the last one is not padded. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return (
    rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n') +
    '\n'
  );
}

/** The DIRECTORY column: the path its tags name, behind the machine's name when another made it. */
export function whereCell(tags: Record<string, string>): string {
  const host = tags[TAG.host];
  const dir = tags[TAG.dir];
  if (host === undefined && dir === undefined) return '-'; // shared: the security group
  return `${host === hostname() ? '' : `${host ?? '?'}:`}${dir ?? '?'}`;
}
