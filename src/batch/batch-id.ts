/** A batch's id: `<slug>-<yyyymmdd>-<hhmmss>` (UTC), the slug from the jobs file's name (docs/BATCH.md: Names). */
import { basename, extname } from 'node:path';

export function batchSlug(jobsFile: string): string {
  const base = basename(jobsFile, extname(jobsFile));
  const slug = base
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 20)
    .replace(/-+$/, '');
  return slug || 'batch';
}

export function batchId(jobsFile: string, now: Date): string {
  const iso = now.toISOString(); // 2026-11-30T19:24:00.000Z
  const day = iso.slice(0, 10).replaceAll('-', '');
  const time = iso.slice(11, 19).replaceAll(':', '');
  return `${batchSlug(jobsFile)}-${day}-${time}`;
}
