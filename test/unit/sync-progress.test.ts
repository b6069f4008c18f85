import { describe, expect, it } from 'vitest';
import { fileCounter, formatBytes } from '../../src/sync/sync-progress.js';

/** What the status line is told, the clock at 2 s from the start for every chunk. */
function counted(chunks: string[], sized: boolean): string[] {
  const said: string[] = [];
  let t = 0;
  const onChunk = fileCounter(
    (d) => said.push(d),
    sized,
    () => t,
  )!;
  t = 2000;
  for (const c of chunks) onChunk(c);
  return said;
}

describe('fileCounter: the names an rsync prints, counted as they come', () => {
  it('--out-format with sizes: files, bytes and rate; a name split across chunks counted once, directories not', () => {
    expect(counted(['100 a.txt\n4096 sub/\n2000', '000 sub/b.txt\n', '0 c d\n'], true)).toEqual([
      '1 file · 100 B · 50 B/s',
      '2 files · 2.0 MB · 1.0 MB/s',
      '3 files · 2.0 MB · 1.0 MB/s',
    ]);
  });

  it('-v (a Mac rsync 2.6.9, openrsync): a count of files; the header and the totals are not names', () => {
    const v = 'building file list ... done\na.txt\nb.txt\n\nsent 1,234 bytes  received 42 bytes\ntotal size is 9\n';
    expect(counted([v], false).at(-1)).toBe('2 files');
    expect(counted(['Transfer starting: 3 files\n', '12 x\n\n', 'sent 10 bytes\n'], false).at(-1)).toBe('1 file');
  });

  it('-v: nothing sent is no file (its blank line comes first); created directories and the closing words are no files', () => {
    expect(
      counted(['building file list ... done\n\nsent 100 bytes  received 20 bytes\ntotal size is 0\n'], false),
    ).toEqual([]);
    expect(counted(['created directory proj\n./\na.txt\n\nsent 9 bytes\n'], false).at(-1)).toBe('1 file');
    expect(counted(['Transfer starting: 1 files\na.txt\nTransfer complete: 5 B\n'], false).at(-1)).toBe('1 file');
  });

  it('nothing to say without a listener', () => {
    expect(fileCounter(undefined, true)).toBeUndefined();
  });

  it.each([
    [999, '999 B'],
    [1500, '1.5 kB'],
    [2_500_000_000, '2.5 GB'],
  ])('formatBytes(%d) = %s', (n, s) => expect(formatBytes(n)).toBe(s));
});
