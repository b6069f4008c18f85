// Cleans up after test runs that died without stop() or their 'exit' handler (SIGKILL, crash):
// their throwaway users (one per instance), moto/sshd daemons (and all their instances' sessions)
// and temp dirs. A sandbox is stale when the process named in its users' comment (see sshd.ts) is
// gone; live runs, also other vitest runs, are left alone.
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, sep } from 'node:path';
import { isRoot } from './prerequisites.js';
import { removeUser, USER_PREFIX } from './sshd.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Kills the daemons of a sandbox dir: moto carries SSH_EC2_SANDBOX=<dir> in its environment,
 * sshd names its config below <dir> on its command line (it overwrites its environ with its title).
 * What an instance's sshd started goes with the instance's user (removeUser).
 */
async function killDaemonsOf(dir: string): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = (await readFile(`/proc/${entry}/environ`, 'latin1')).split('\0');
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'latin1');
      if (environ.includes(`SSH_EC2_SANDBOX=${dir}`) || cmdline.includes(`${dir}/`))
        process.kill(Number(entry), 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

/** The sandbox dir a home lies in: its ancestor right below the temp dir (homes are <dir>/m/<n>/home). */
function sandboxDirOf(home: string): string | undefined {
  const root = tmpdir();
  if (!home.startsWith(root + sep)) return undefined;
  const first = home.slice(root.length + 1).split(sep)[0];
  return first ? `${root}${sep}${first}` : undefined;
}

export async function reapStaleSandboxes(): Promise<string[]> {
  if (!isRoot()) return [];
  const reaped: string[] = [];
  for (const line of (await readFile('/etc/passwd', 'utf8')).split('\n')) {
    const [user, , uid, , comment, home] = line.split(':');
    if (!user?.startsWith(USER_PREFIX) || !home) continue;
    const owner = /ssh-ec2 test sandbox pid=(\d+)/.exec(comment ?? '')?.[1];
    if (!owner || alive(Number(owner))) continue;
    const dir = sandboxDirOf(home);
    const ours = dir !== undefined && basename(dir).startsWith(USER_PREFIX);
    if (ours) await killDaemonsOf(dir);
    await removeUser(user, Number(uid));
    if (ours && dir) await rm(dir, { recursive: true, force: true });
    reaped.push(user);
  }
  return reaped;
}
