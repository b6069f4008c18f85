/**
 * The sync back's plan (issue #10): nothing here is ever replaced by a different kind, and the
 * transfer is told exactly what to bring (an include-only filter, as rsync reads it).
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BaseFiles, Sig } from '../../src/sync/base.js';
import { includeOnlyList } from '../../src/sync/ignore-rules.js';
import { planned } from '../../src/sync/pull.js';
import { planBack, planUp, type Sides } from '../../src/sync/three-way.js';

const sig = (s: number, m = '1796000000.500000000'): Sig => ({ s, m });

/** A local tree (files; `dir/` a directory; `name -> target` a link) and the instance's listing. */
function sides(local: string[], remote: Record<string, Sig>, remoteDirs: string[], base: BaseFiles = new Map()): Sides {
  const root = mkdtempSync(join(tmpdir(), 'plan-'));
  const sigs = new Map<string, Sig>();
  for (const entry of local) {
    const [path, target] = entry.split(' -> ') as [string, string?];
    if (path.endsWith('/')) mkdirSync(join(root, path), { recursive: true });
    else if (target !== undefined) symlinkSync(target, join(root, path));
    else {
      writeFileSync(join(root, path), 'here');
      sigs.set(path, sig(4, '1796000001.250000000'));
    }
  }
  return { root, local: sigs, remote: new Map(Object.entries(remote)), remoteDirs, base };
}

describe('the sync back plan: never a different kind in place of something here', () => {
  it('a directory there where a file is here: the whole directory goes beside, nothing in it is brought in place', () => {
    const plan = planBack(sides(['out'], { 'out/a.txt': sig(1), 'out/sub/b.txt': sig(2) }, ['out', 'out/sub']));
    expect(plan.dirConflicts).toEqual(['out']);
    expect(plan.bring).toEqual([]);
    expect(plan.exclude).toEqual(['out']);
    expect(plan.clashed.sort()).toEqual(['out/a.txt', 'out/sub/b.txt']);
    expect(plan.newDirs).toEqual([]);
  });

  it('a directory there where a link is here (even one to a directory): the same', () => {
    const plan = planBack(sides(['real/', 'latest -> real'], { 'latest/ckpt.pt': sig(1) }, ['latest']));
    expect(plan.dirConflicts).toEqual(['latest']);
    expect(plan.bring).toEqual([]);
  });

  it('a file there where a directory is here: the file goes beside, the directory stays', () => {
    const plan = planBack(sides(['ckpt/', 'ckpt/mine.txt'], { ckpt: sig(1) }, []));
    expect(plan.conflicts).toEqual(['ckpt']);
    expect(plan.exclude).toEqual(['ckpt']);
    expect(plan.bring).toEqual([]);
  });

  it('already beside and unchanged there since: not copied again (the base holds its side)', () => {
    const base: BaseFiles = new Map([
      ['out/a.txt', { r: sig(1), t: 1796000000 }],
      ['ckpt', { r: sig(1), t: 1796000000 }],
    ]);
    const plan = planBack(sides(['out', 'ckpt/'], { 'out/a.txt': sig(1), ckpt: sig(1) }, ['out'], base));
    expect(plan.dirConflicts).toEqual([]);
    expect(plan.conflicts).toEqual([]);
    expect(plan.exclude.sort()).toEqual(['ckpt', 'out']);
    // One file changed there since: the directory goes beside again, whole.
    const changed = planBack(sides(['out'], { 'out/a.txt': sig(9) }, ['out'], base));
    expect(changed.dirConflicts).toEqual(['out']);
  });

  it('directories made there with nothing here by that name are made here (empty ones too); one here is left alone', () => {
    const plan = planBack(sides(['src/'], { 'logs/run/x.log': sig(1) }, ['src', 'logs', 'logs/run', 'empty']));
    expect(plan.newDirs).toEqual(['logs', 'empty', 'logs/run']);
    expect(plan.bring).toEqual(['logs/run/x.log']);
  });
});

describe('what the sync back hands rsync: only what it brings', () => {
  it('each file, each directory leading to it, once, parents first', () => {
    const entries = planned(['a/b/c.txt', 'a/b/d.txt', 'top.txt'], ['a/new']);
    expect(entries.map((e) => `${e.type} ${e.path}`)).toEqual([
      'dir a',
      'dir a/new',
      'dir a/b',
      'file a/b/c.txt',
      'file a/b/d.txt',
      'file top.txt',
    ]);
  });

  it("as rsync's filter rules: ours out, each entry in (anchored, wildcards escaped), then everything else out", () => {
    const text = includeOnlyList(planned(['r[1]/x*.pt', 'm.bin'], []));
    expect(text.split('\0')).toEqual(['- /.ssh-ec2/', '+ /r\\[1]/', '+ /r\\[1]/x\\*.pt', '+ /m.bin', '- *', '']);
  });
});

describe('the sync up plan: the same kinds', () => {
  it('a file here where the instance has a directory: not sent (rsync would have to delete the directory)', () => {
    const plan = planUp(sides(['out'], { 'out/a.txt': sig(1) }, ['out']));
    expect(plan.notSent).toEqual(['out']);
    expect(plan.exclude).toEqual(['out']);
  });

  it("a directory here where the instance has a file: the instance's file goes beside first (unless it did already)", () => {
    expect(planUp(sides(['ckpt/', 'ckpt/m.txt'], { ckpt: sig(1) }, [])).conflicts).toEqual(['ckpt']);
    const base: BaseFiles = new Map([['ckpt', { r: sig(1), t: 1796000000 }]]);
    const plan = planUp(sides(['ckpt/', 'ckpt/m.txt'], { ckpt: sig(1) }, [], base));
    expect(plan.conflicts).toEqual([]);
    expect(plan.remove).toEqual([]);
  });
});
