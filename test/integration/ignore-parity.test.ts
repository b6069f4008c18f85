import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { excludeList, ignoredInListing, IgnoreRules, walkLocal, type Entry } from '../../src/sync/ignore-rules.js';
import { gitKeeps, listFiles, makeTrickyTree } from '../fixtures/tricky-tree.js';

function rsyncWithExcludes(src: string, excludes: Entry[]): string {
  const dst = mkdtempSync(join(tmpdir(), 'dst-'));
  const file = join(dst, '..', `${Date.now()}-${Math.random()}.exclude`);
  writeFileSync(file, excludeList(excludes));
  execFileSync('rsync', ['-rlt', '--from0', `--exclude-from=${file}`, `${src}/`, `${dst}/`]);
  return dst;
}

describe('.rsyncignore has exactly gitignore semantics', () => {
  it('the local walk + anchored excludes keep what git keeps (real rsync)', () => {
    const root = makeTrickyTree();
    const oracle = gitKeeps(root);
    const dst = rsyncWithExcludes(root, walkLocal(root).ignored);
    expect([...listFiles(dst)].sort()).toEqual([...oracle].sort());
    // The tree really is tricky: both outcomes occur for look-alike names.
    expect(oracle.has('keep.log') && !oracle.has('x.log')).toBe(true);
    expect(oracle.has('sub/y.log') && oracle.has('sub/deeper/local_only') && !oracle.has('sub/local_only')).toBe(true);
    expect(oracle.has('trailing') && !oracle.has('trailing ')).toBe(true);
  });

  it('a listing of the other side is classified the same way', () => {
    const root = makeTrickyTree();
    const rules = new IgnoreRules(root);
    // As `find . -printf '%y %P\\0'` lists it: parents first, everything.
    const entries: Entry[] = execFileSync('find', ['.', '-mindepth', '1', '-printf', '%y %P\\0'], { cwd: root })
      .toString()
      .split('\0')
      .filter(Boolean)
      .map((r) => ({ path: r.slice(2), type: r[0] === 'd' ? 'dir' : r[0] === 'l' ? 'link' : 'file' }));
    const dst = rsyncWithExcludes(root, ignoredInListing(entries, rules));
    expect([...listFiles(dst)].sort()).toEqual([...gitKeeps(root)].sort());
  });
});
