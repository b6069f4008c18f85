/**
 * A sync's progress for the status line (issue #12): the names rsync prints as it transfers
 * (--out-format=%n, or -v where that is all it has: a Mac's 2.6.9, openrsync), counted as they
 * come. Every supported rsync prints names; only rsync 3 could say bytes and rate (--info=progress2),
 * and its output would then no longer be the list the sync reads afterwards.
 */
const HEADER =
  /^(building file list|receiving file list|receiving incremental file list|sending incremental file list|Transfer starting:)/;

/** A handler for an rsync's stdout chunks that says "N files" to `update`; none without one. */
export function fileCounter(update?: (detail: string) => void): ((chunk: string) => void) | undefined {
  if (!update) return undefined;
  let files = 0;
  let partial = '';
  // -v ends its list with a blank line, then its totals ("sent 1,234 bytes …"): not names.
  let done = false;
  return (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '' && files > 0) done = true;
      if (done || line === '' || line.endsWith('/') || HEADER.test(line)) continue;
      files++;
    }
    if (files > 0) update(`${files} file${files === 1 ? '' : 's'}`);
  };
}
