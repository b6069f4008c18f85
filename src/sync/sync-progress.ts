/**
 * A sync's progress for the status line (issue #12): the names rsync prints as it transfers them,
 * counted as they come, with the bytes and the rate where each name comes with its size
 * (--out-format, rsync.ts SIZED_NAME). A Mac's own rsync 2.6.9 and openrsync may only list names
 * with -v: a count of files is what they can say. (rsync 3's --info=progress2 would say more, but
 * its lines would mix into the list the sync reads afterwards.)
 */
import { sizedName } from '../remote/rsync.js';

const HEADER =
  /^(building file list|receiving file list|receiving incremental file list|sending incremental file list|Transfer starting:)/;
/** -v lines that name no file sent (as verboseNames in rsync.ts skips them), and the totals. */
const NOT_A_FILE =
  /^(created directory |ignoring unsafe symlink |skipping non-regular file |Transfer complete|sent [\d,.]+ bytes|total size is )/;

/**
 * A handler for an rsync's stdout chunks that says "12 files · 3.4 MB · 1.1 MB/s" (`sized`: each
 * line is SIZED_NAME) or "12 files" (-v) to `update`; none without one.
 */
export function fileCounter(
  update: ((detail: string) => void) | undefined,
  sized: boolean,
  now: () => number = () => performance.now(),
): ((chunk: string) => void) | undefined {
  if (!update) return undefined;
  const start = now();
  let files = 0;
  let bytes = 0;
  let partial = '';
  // -v ends its list with a blank line (at once when nothing is sent), then its totals
  // ("sent 1,234 bytes …"): not names.
  let done = false;
  return (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '' && !sized) done = true;
      const entry = sized ? sizedName(line) : { name: line, size: 0 };
      if (done || !entry || entry.name === '' || entry.name.endsWith('/')) continue;
      if (!sized && (HEADER.test(line) || NOT_A_FILE.test(line))) continue;
      files++;
      bytes += entry.size;
    }
    if (files === 0) return;
    const count = `${files} file${files === 1 ? '' : 's'}`;
    const seconds = (now() - start) / 1000;
    update(sized ? `${count} · ${formatBytes(bytes)} · ${formatBytes(bytes / Math.max(seconds, 0.001))}/s` : count);
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}
