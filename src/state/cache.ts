/**
 * What rarely changes in a region, kept between runs so a launch asks EC2 less (issue #11): the
 * default network, ssh-ec2's security group, the image chosen for a name pattern, an instance
 * type's architectures. One small JSON file per scope (account, region, endpoint) in the user's
 * cache directory. Every entry expires (an hour for the network, a day for an image); a value EC2
 * rejects is forgotten by its user (launch.ts), never trusted twice. The cache is only ever an
 * accelerator: a file that cannot be read, parsed or written is as good as an empty cache, and
 * nothing fails for it.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallerIdentity } from '../cloud/identity.js';
import { shortHash } from './paths.js';

export const NETWORK_TTL_MS = 60 * 60_000;
export const IMAGE_TTL_MS = 24 * 60 * 60_000;
/** Who an access key belongs to: a day (an IAM user renamed since is seen the next day, or with --no-cache). */
export const CALLER_TTL_MS = 24 * 60 * 60_000;

export interface Cache {
  get<T>(key: string): T | undefined;
  /** Kept for `ttlMs` from now (written at once; a failed write is ignored). */
  set(key: string, value: unknown, ttlMs: number): void;
  forget(key: string): void;
  /** The keys read with a value since this cache was opened (what a rejected launch may blame). */
  readonly used: ReadonlySet<string>;
}

interface Entry {
  value: unknown;
  /** Epoch ms. */
  expires: number;
}

/** A cache that keeps nothing (--no-cache, or no scope known). */
export function noCache(): Cache {
  return { get: () => undefined, set: () => {}, forget: () => {}, used: new Set() };
}

/** `cache` read, never written (a dry run); `used` still says which values came from it. */
export function readOnly(cache: Cache): Cache {
  return { get: (key) => cache.get(key), set: () => {}, forget: () => {}, used: cache.used };
}

/** The file of one scope: a hash of what the cached ids are valid for, so no two accounts or endpoints mix. */
export function cacheFile(dir: string, scope: { account: string; region: string; endpoint?: string }): string {
  return join(dir, `${shortHash(`${scope.account}\n${scope.region}\n${scope.endpoint ?? 'aws'}`, 16)}.json`);
}

/** The cache kept in `file`; `now` for the tests. */
export function openCache(file: string, now: () => number = Date.now): Cache {
  let entries: Record<string, Entry> = read(file);
  const used = new Set<string>();
  const save = () => {
    const live = Object.fromEntries(Object.entries(entries).filter(([, e]) => e.expires > now()));
    try {
      mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
      // Whole or not at all: two runs writing at once leave one of them, never a mix.
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(live), { mode: 0o600 });
      renameSync(tmp, file);
    } catch {
      // Unwritable (read-only home, full disk): the next run asks EC2, as without a cache.
    }
  };
  return {
    get<T>(key: string): T | undefined {
      const e = entries[key];
      if (!e || e.expires <= now()) return undefined;
      used.add(key);
      return e.value as T;
    },
    set(key, value, ttlMs) {
      // Another run may have written since: the file as it is now, with only this key changed (a
      // value this run read earlier, maybe since forgotten there as stale, is never written back).
      entries = { ...read(file), [key]: { value, expires: now() + ttlMs } };
      save();
    },
    forget(key) {
      entries = read(file);
      delete entries[key];
      used.delete(key);
      save();
    },
    used,
  };
}

function read(file: string): Record<string, Entry> {
  try {
    const data: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return {};
    return Object.fromEntries(
      Object.entries(data as Record<string, unknown>).filter(
        (e): e is [string, Entry] =>
          typeof e[1] === 'object' && e[1] !== null && typeof (e[1] as Entry).expires === 'number',
      ),
    );
  } catch {
    // Missing or corrupt: empty (a corrupt file is replaced at the next write).
    return {};
  }
}

/**
 * Who each access key was to AWS (cloud/ec2.ts CallerMemory), in one file for every account; the
 * key ids hashed, not written out.
 */
export function callerMemory(dir: string): {
  get(key: string): CallerIdentity | undefined;
  set(key: string, identity: CallerIdentity): void;
} {
  const cache = openCache(join(dir, 'callers.json'));
  const name = (key: string) => `caller:${shortHash(key, 16)}`;
  return {
    get: (key) => cache.get<CallerIdentity>(name(key)),
    set: (key, identity) => cache.set(name(key), identity, CALLER_TTL_MS),
  };
}
