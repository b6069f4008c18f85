import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { excludeList, ignoredInListing, IgnoreRules, walkLocal, type Entry } from '../../src/sync/ignore-rules.js';
import { gitKeeps, listFiles, makeTrickyTree } from '../fixtures/tricky-tree.js';

// This machine's rsync, and a Mac's (../shared/tools: rsync 2.6.9, openrsync; a missing one fails).
const TOOLS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'tools');
const RSYNCS = [
  ['rsync', 'rsync'],
  ['rsync 2.6.9', join(TOOLS, 'rsync-2.6.9', 'bin', 'rsync')],
  ['openrsync', join(TOOLS, 'openrsync', 'bin', 'rsync')],
] as const;

function rsyncWithExcludes(src: string, excludes: Entry[], rsync: string): string {
  if (rsync !== 'rsync') expect(existsSync(rsync), `${rsync} is needed`).toBe(true);
  const dst = mkdtempSync(join(tmpdir(), 'dst-'));
  const file = join(dst, '..', `${Date.now()}-${Math.random()}.exclude`);
  writeFileSync(file, excludeList(excludes));
  execFileSync(rsync, ['-rlt', '--from0', `--exclude-from=${file}`, `${src}/`, `${dst}/`]);
  return dst;
}

describe.each(RSYNCS)('.rsyncignore has exactly gitignore semantics (%s)', (_name, rsync) => {
  it('the local walk + anchored excludes keep what git keeps (real rsync)', () => {
    const root = makeTrickyTree();
    const oracle = gitKeeps(root);
    const dst = rsyncWithExcludes(root, walkLocal(root).ignored, rsync);
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
    const dst = rsyncWithExcludes(root, ignoredInListing(entries, rules), rsync);
    expect([...listFiles(dst)].sort()).toEqual([...gitKeeps(root)].sort());
  });
});
