// Planning which results to set aside when the local file system folds names (the folding is
// given, as the platform adapter would answer on a Mac), and what the side fetch leaves out.
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/sync/ignore-rules.js';
import { planCollisions, sideExcludes, type LocalDir } from '../../src/sync/name-collisions.js';

const MAC = { caseInsensitive: true, normalisationInsensitive: true };
const f = (path: string): Entry => ({ path, type: 'file' });
const d = (path: string): Entry => ({ path, type: 'dir' });
const nothingHere: LocalDir = () => undefined;

describe('planCollisions (case- and normalisation-insensitive file system simulated through the platform adapter)', () => {
  it('a directory set aside takes what is under it along: its own look-alikes are not planned again', () => {
    const listing = [f('B'), d('b'), f('b/x'), f('b/X')];
    expect(planCollisions(listing, { folding: MAC, excluded: [], local: nothingHere })).toEqual([[d('b')]]);
  });

  it('directories differing only in case merge; files in them that would meet are set aside', () => {
    const listing = [d('out'), d('Out'), f('out/a'), f('Out/b'), f('Out/a')];
    expect(planCollisions(listing, { folding: MAC, excluded: [], local: nothingHere })).toEqual([[f('out/a')]]);
  });

  it('what the sync back leaves out anyway (ignored) is not planned', () => {
    const listing = [d('logs'), f('logs/A'), f('logs/a')];
    expect(planCollisions(listing, { folding: MAC, excluded: [d('logs')], local: nothingHere })).toEqual([]);
  });

  it('a local file spelled otherwise is never written through another spelling; one spelled the same wins', () => {
    const local: LocalDir = (dir) =>
      dir === ''
        ? [
            { name: 'Report.pdf', isDir: false },
            { name: 'Data', isDir: true },
          ]
        : dir === 'Data'
          ? [{ name: 'x.csv', isDir: false }]
          : undefined;
    const listing = [f('report.pdf'), f('REPORT.pdf'), d('data'), f('data/X.csv'), f('data/x.csv')];
    expect(planCollisions(listing, { folding: MAC, excluded: [], local })).toEqual([
      [f('REPORT.pdf'), f('data/X.csv')],
      [f('report.pdf')],
    ]);
  });

  it('a file system that folds nothing sets nothing aside', () => {
    expect(
      planCollisions([f('A'), f('a')], {
        folding: { caseInsensitive: false, normalisationInsensitive: false },
        excluded: [],
        local: nothingHere,
      }),
    ).toEqual([]);
  });
});

describe('sideExcludes', () => {
  it('leaves out everything beside the paths leading to what is set aside, as high up as possible', () => {
    const listing = [d('a'), d('a/b'), f('a/b/c'), f('a/b/d'), d('a/e'), f('a/e/deep'), f('f'), d('g'), f('g/h')];
    const base = [f('ignored')];
    expect(sideExcludes(listing, [f('a/b/c'), d('g')], base)).toEqual([...base, f('a/b/d'), d('a/e'), f('f')]);
  });
});
