/**
 * What a run makes for itself in the runtime and state directories goes when nothing needs it any
 * more (issue #10: after ~250 runs, 1,126 exclude lists, 242 empty ssh logs and the private keys of
 * instances long ended). Two rules, so a long-lived user keeps only what live instances need:
 * - a run's own scratch files (`<what>-<pid>….exclude|.sh`) go when it ends, or when the next run
 *   finds their process gone (a run killed before it could clean up);
 * - an instance's files (its pinned host key, its ssh log, an Instance Connect key a killed run
 *   left) go when ssh-ec2 learns it has ended: it terminated it, or a listing shows it terminated.
 *   A pinned host key of an ended instance is useless: ids are never reused. Its ssh alias goes too
 *   (aliases.ts): aliases of ended instances disappear.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { forgetAlias } from './aliases.js';
import { shortHash, type Paths } from './paths.js';
import { processAlive } from './process.js';

/** A run's scratch file: its pid after the first dash (sync/: push-123.exclude, pull-123x.exclude, rsh-123.sh). */
const SCRATCH = /^[a-z]+-(\d+)(?:\D[^/]*)?\.(?:exclude|sh)$/;
/** An ssh log left empty this long ago is not one a run is writing (an attempt lasts at most 30 s). */
const EMPTY_LOG_AGE_MS = 10 * 60_000;

const entries = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

/** The instance's ssh log (connect.ts names it so). */
export const sshLog = (paths: Paths, instanceId: string): string =>
  join(paths.runtime, `${shortHash(instanceId)}.ssh.log`);

/** Everything kept here for an instance that has ended. */
export function forgetInstance(paths: Paths, instanceId: string): void {
  rmSync(paths.knownHosts(instanceId), { force: true });
  rmSync(sshLog(paths, instanceId), { force: true });
  forgetAlias(paths, instanceId);
  // Instance Connect keys are named by a hash; their public half's comment names the instance (keys.ts).
  for (const name of entries(paths.runtime).filter((n) => n.endsWith('.key.pub'))) {
    const pub = join(paths.runtime, name);
    let text = '';
    try {
      text = readFileSync(pub, 'utf8');
    } catch {
      continue;
    }
    if (text.trim().endsWith(` ssh-ec2-${instanceId}`)) {
      rmSync(pub.slice(0, -'.pub'.length), { force: true });
      rmSync(pub, { force: true });
    }
  }
}

/**
 * Removes the scratch files of this process (it has ended its command) and of processes gone,
 * and ssh logs left empty. Never fails the command: a file it cannot remove stays.
 */
export function sweepRuntime(paths: Paths, now = Date.now()): void {
  for (const name of entries(paths.runtime)) {
    const file = join(paths.runtime, name);
    try {
      const scratch = SCRATCH.exec(name);
      if (scratch) {
        const pid = Number(scratch[1]);
        if (pid === process.pid || !processAlive(pid)) rmSync(file, { force: true });
      } else if (name.endsWith('.ssh.log')) {
        const st = statSync(file);
        if (st.size === 0 && now - st.mtimeMs > EMPTY_LOG_AGE_MS) rmSync(file, { force: true });
      }
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
}
