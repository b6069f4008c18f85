// Node's compile cache (src/compile-cache.ts): under the user's cache directory, and never a
// reason for a run to fail.
import { describe, expect, it } from 'vitest';
import { compileCacheDir, enableCompileCache } from '../../src/compile-cache.js';

describe('the compile cache', () => {
  it('lives under XDG_CACHE_HOME, else ~/.cache', () => {
    expect(compileCacheDir({ XDG_CACHE_HOME: '/c', HOME: '/h' })).toBe('/c/ssh-ec2/compile-cache');
    expect(compileCacheDir({ XDG_CACHE_HOME: '', HOME: '/h' })).toBe('/h/.cache/ssh-ec2/compile-cache');
  });

  it('is asked for that directory, and a Node without one is no error', () => {
    const asked: string[] = [];
    enableCompileCache({ XDG_CACHE_HOME: '/c' }, (dir) => asked.push(dir));
    expect(asked).toEqual(['/c/ssh-ec2/compile-cache']);
    expect(() => enableCompileCache({}, undefined)).not.toThrow();
  });

  it('failing to start never fails the run', () => {
    expect(() =>
      enableCompileCache({ XDG_CACHE_HOME: '/c' }, () => {
        throw new Error('EROFS');
      }),
    ).not.toThrow();
  });
});
