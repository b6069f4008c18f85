import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheFile, openCache } from '../../src/state/cache.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'ssh-ec2-cache-'));

describe('the launch cache', () => {
  it('keeps a value for its time to live, across opens, and not a moment longer', () => {
    let now = 1_000;
    const file = join(tmp(), 'sub', 'c.json');
    openCache(file, () => now).set('network', { vpcId: 'vpc-1' }, 60_000);
    expect(openCache(file, () => now).get('network')).toEqual({ vpcId: 'vpc-1' });
    now += 59_999;
    expect(openCache(file, () => now).get('network')).toEqual({ vpcId: 'vpc-1' });
    now += 1;
    expect(openCache(file, () => now).get('network')).toBeUndefined();
  });

  it('forgets a value, and says which values were read', () => {
    const file = join(tmp(), 'c.json');
    const a = openCache(file);
    a.set('group:vpc-1', 'sg-1', 60_000);
    a.set('image:x', 'ami-1', 60_000);
    const b = openCache(file);
    expect(b.get('group:vpc-1')).toBe('sg-1');
    expect(b.get('missing')).toBeUndefined();
    expect([...b.used]).toEqual(['group:vpc-1']);
    b.forget('group:vpc-1');
    expect([...b.used]).toEqual([]);
    expect(openCache(file).get('group:vpc-1')).toBeUndefined();
    expect(openCache(file).get('image:x')).toBe('ami-1');
  });

  it('keeps what another run wrote meanwhile', () => {
    const file = join(tmp(), 'c.json');
    const a = openCache(file);
    const b = openCache(file);
    a.set('network', 1, 60_000);
    b.set('image:x', 2, 60_000);
    const c = openCache(file);
    expect([c.get('network'), c.get('image:x')]).toEqual([1, 2]);
  });

  it('a value another run forgot as stale meanwhile is never written back', () => {
    const file = join(tmp(), 'c.json');
    openCache(file).set('network', 'old', 60_000);
    const a = openCache(file);
    expect(a.get('network')).toBe('old');
    const b = openCache(file);
    b.forget('network');
    b.set('network', 'new', 60_000);
    a.set('image:x', 'ami-1', 60_000);
    expect(openCache(file).get('network')).toBe('new');
    expect(openCache(file).get('image:x')).toBe('ami-1');
  });

  it('a corrupt file is an empty cache, replaced at the next write', () => {
    for (const text of ['{not json', '[1,2]', 'null', '{"network": 3, "image:x": {"value": 1}}']) {
      const file = join(tmp(), 'c.json');
      writeFileSync(file, text);
      const c = openCache(file);
      expect(c.get('network')).toBeUndefined();
      expect(c.get('image:x')).toBeUndefined();
      c.set('network', 'ok', 60_000);
      expect(openCache(file).get('network')).toBe('ok');
      expect(() => JSON.parse(readFileSync(file, 'utf8'))).not.toThrow();
    }
  });

  it.skipIf(userInfo().uid === 0)('an unwritable directory: works without keeping anything', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'ro'));
    chmodSync(join(dir, 'ro'), 0o500);
    const c = openCache(join(dir, 'ro', 'c.json'));
    expect(() => c.set('network', 1, 60_000)).not.toThrow();
    expect(() => c.forget('network')).not.toThrow();
    expect(openCache(join(dir, 'ro', 'c.json')).get('network')).toBeUndefined();
  });

  it('a path that cannot be a directory (a file in the way): works without keeping anything', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'file'), '');
    const c = openCache(join(dir, 'file', 'c.json'));
    expect(() => c.set('network', 1, 60_000)).not.toThrow();
    expect(c.get('network')).toBe(1); // this run still has it
    expect(openCache(join(dir, 'file', 'c.json')).get('network')).toBeUndefined();
  });

  it('one file per account, region and endpoint', () => {
    const f = (account: string, region: string, endpoint?: string) => cacheFile('/c', { account, region, endpoint });
    const files = new Set([
      f('1', 'eu-central-1'),
      f('2', 'eu-central-1'),
      f('1', 'us-east-1'),
      f('1', 'eu-central-1', 'http://127.0.0.1:5000'),
    ]);
    expect(files.size).toBe(4);
    expect(f('1', 'eu-central-1')).toBe(f('1', 'eu-central-1'));
  });
});
