/**
 * Where ssh-ec2 keeps its own files: state (known hosts, locks) under the XDG state directory,
 * what it may forget (cache.ts) under the XDG cache directory, and short-lived sockets and keys in a private runtime directory (unix socket paths must stay
 * short, so names there are hashes).
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ExitCode, UserError } from '../errors.js';

export interface Paths {
  state: string;
  runtime: string;
  /** What may be thrown away: ids of the network and images looked up before (cache.ts). */
  cache: string;
  knownHosts(instanceId: string): string;
  controlPath(instanceId: string): string;
  lock(projectId: string): string;
  /** The journal of one run (its pid) in a project directory: what it has done, what it owes. */
  journal(projectId: string, pid?: number): string;
}

export function shortHash(text: string, length = 12): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

export function resolvePaths(env: Readonly<Record<string, string | undefined>>): Paths {
  const state =
    env.SSH_EC2_STATE_DIR || join(env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state'), 'ssh-ec2');
  const runtime = plainDir(
    env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'ssh-ec2') : join(tmpdir(), `ssh-ec2-${userInfo().uid}`),
  );
  const cache = env.SSH_EC2_CACHE_DIR || join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'ssh-ec2');
  return {
    state,
    runtime,
    cache,
    knownHosts: (id) => join(state, 'known_hosts', id),
    controlPath: (id) => join(runtime, `${shortHash(`${state}:${id}`)}.sock`),
    lock: (projectId) => join(state, 'locks', `${projectId}.lock`),
    journal: (projectId, pid = process.pid) => join(state, 'journals', `${projectId}.${pid}.json`),
  };
}

/** Creates a directory only we can use; refuses one someone else made (squatting in /tmp, a link planted there). */
export function privateDir(dir: string): string {
  let why: string | undefined;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== userInfo().uid || (st.mode & 0o077) !== 0)
      why = 'it must be a directory owned by you with mode 700';
  } catch (err) {
    why = (err as Error).message;
  }
  if (why === undefined) return dir;
  throw new UserError(
    `cannot use ${dir}: ${why}`,
    ExitCode.config,
    'Remove it if it is not yours, or point ssh-ec2 elsewhere: SSH_EC2_STATE_DIR, or an XDG_RUNTIME_DIR ' +
      '(or TMPDIR) without spaces, quotes, backslashes or %.',
  );
}

/**
 * What ssh (a ControlPath, an -o value) and openrsync (-e, the rsh wrapper's path) split a path at,
 * whatever the quotes, and `%`, which ssh expands in a ControlPath (%h, %p...): an XDG_RUNTIME_DIR
 * or TMPDIR holding one cannot hold our sockets and wrappers.
 */
const SPLIT = /[\s'"\\%]/;

/** `dir`, or when ssh or rsync could not name a file in it, the private /tmp/ssh-ec2-<uid> (privateDir makes it). */
export function plainDir(dir: string, uid = userInfo().uid): string {
  return SPLIT.test(dir) ? join('/tmp', `ssh-ec2-${uid}`) : dir;
}

/**
 * A new private directory (0700, a random name nobody can have made first) in `tmp`, or in /tmp when
 * ssh or rsync could not name a file in `tmp`: never the fixed /tmp/ssh-ec2-<uid>, which another
 * user may own (then every caller would fail, and no setting of ours would move it).
 */
export function plainTempDir(prefix: string, tmp = tmpdir()): string {
  return mkdtempSync(join(SPLIT.test(tmp) ? '/tmp' : tmp, prefix));
}
