/**
 * Node's compile cache (Node ≥ 22.1): the bytecode of the modules a run loads is kept on disk, so
 * the next run skips compiling them — most of what loading costs once they are bundled (issue
 * #11). Kept under the user's cache directory, never in a project. A cache that cannot be used
 * (a read-only or missing directory, an older Node, NODE_DISABLE_COMPILE_CACHE) only costs that
 * saving: it never fails a run.
 */
import * as nodeModule from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

type Enable = (dir: string) => unknown;

/** Where the cache lives: $XDG_CACHE_HOME/ssh-ec2/compile-cache, by default ~/.cache/ssh-ec2/compile-cache. */
export function compileCacheDir(env: Readonly<Record<string, string | undefined>>): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'ssh-ec2', 'compile-cache');
}

/** Turns the cache on for every module loaded from now on, where this Node has one. */
export function enableCompileCache(
  env: Readonly<Record<string, string | undefined>> = process.env,
  enable: Enable | undefined = (nodeModule as { enableCompileCache?: Enable }).enableCompileCache,
): void {
  if (!enable) return;
  try {
    // Node reports a directory it cannot create or write in its answer (status FAILED); it does
    // not throw. The catch is for what it might throw all the same (e.g. no home directory).
    enable(compileCacheDir(env));
  } catch {
    // no cache: the run loads as without one
  }
}
