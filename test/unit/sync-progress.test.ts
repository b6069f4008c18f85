import { describe, expect, it } from 'vitest';
import { fileCounter } from '../../src/sync/sync-progress.js';

function counted(chunks: string[]): string[] {
  const said: string[] = [];
  const onChunk = fileCounter((d) => said.push(d))!;
  for (const c of chunks) onChunk(c);
  return said;
}

describe('fileCounter: the names an rsync prints, counted as they come', () => {
  it('--out-format=%n, a name split across chunks counted once, directories not', () => {
    expect(counted(['a.txt\nsub/\nsub/b', '.txt\n', 'c.txt\n'])).toEqual(['1 file', '2 files', '3 files']);
  });

  it('-v (a Mac rsync 2.6.9, openrsync): the header and the totals are not names', () => {
    const v = 'building file list ... done\na.txt\nb.txt\n\nsent 1,234 bytes  received 42 bytes\ntotal size is 9\n';
    expect(counted([v]).at(-1)).toBe('2 files');
    expect(counted(['Transfer starting: 3 files\n', 'x\n\n', 'sent 10 bytes\n']).at(-1)).toBe('1 file');
  });

  it('nothing to say without a listener', () => {
    expect(fileCounter(undefined)).toBeUndefined();
  });
});
