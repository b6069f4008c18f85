import { describe, expect, it } from 'vitest';
import { agree, findMtime, remoteChanged } from '../../src/sync/base.js';
import { besideName, nameList } from '../../src/sync/three-way.js';

describe('the three-way rules: names and signatures', () => {
  it.each([
    ['train.py', 'train.ec2-S.py'],
    ['src/model/net.py', 'src/model/net.ec2-S.py'],
    ['Makefile', 'Makefile.ec2-S'],
    ['.bashrc', '.bashrc.ec2-S'],
    ['data/archive.tar.gz', 'data/archive.tar.ec2-S.gz'],
    ['dir.v2/README', 'dir.v2/README.ec2-S'],
  ])("the instance's version of %s goes beside it as %s", (path, beside) => {
    expect(besideName(path, 'S')).toBe(beside);
  });

  it("find's times are read to the nanosecond; rsync's measure is size and second", () => {
    expect(findMtime('1796024290.4128135460')).toBe('1796024290.412813546');
    expect(findMtime('1796024290')).toBe('1796024290.000000000');
    expect(agree({ s: 8, m: '1796024290.412813546' }, { s: 8, m: '1796024290.000000000' })).toBe(true);
    expect(agree({ s: 8, m: '1796024290.4' }, { s: 9, m: '1796024290.4' })).toBe(false);
  });

  it('on the instance, a whole-second time as late as the base cannot be told from an edit: changed', () => {
    const r = { s: 8, m: '1796024290.000000000' };
    expect(remoteChanged(r, { r, t: 1796024290 })).toBe(true);
    expect(remoteChanged(r, { r, t: 1796024300 })).toBe(false);
    expect(remoteChanged({ s: 8, m: '1796024290.5' }, { r: { s: 8, m: '1796024290.5' }, t: 1796024290 })).toBe(false);
    expect(remoteChanged(r, undefined)).toBe(true);
  });

  it('unless its file system keeps finer times: a whole second there was set by rsync, an edit leaves a fraction', () => {
    const r = { s: 8, m: '1796024290.000000000' };
    expect(remoteChanged(r, { r, t: 1796024290 }, true)).toBe(false);
    expect(remoteChanged({ s: 8, m: '1796024290.25' }, { r, t: 1796024290 }, true)).toBe(true);
    expect(remoteChanged({ s: 9, m: r.m }, { r, t: 1796024290 }, true)).toBe(true);
    expect(remoteChanged(r, undefined, true)).toBe(true);
  });

  it('names a long list in one line', () => {
    expect(nameList(['a', 'b', 'c'], 2)).toBe('a, b, and 1 more');
  });
});
