// Makes sure the programs the sandbox drives are present. As root (CI containers) it installs
// the missing Debian packages itself; otherwise it says exactly what to install.
import { constants } from 'node:fs';
import { access, chmod, mkdir } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { execa } from 'execa';
import { installMoto, MOTO_VENV, motoPlan } from './moto-install.js';

/** Program → Debian package that provides it. */
const DEBIAN_PROGRAMS: Record<string, string> = {
  '/usr/sbin/sshd': 'openssh-server',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  rsync: 'rsync',
  tmux: 'tmux',
  screen: 'screen',
  // The on-instance agent: ps finds ssh sessions, curl asks IMDS and the sandbox's poweroff.
  ps: 'procps',
  curl: 'curl',
  // Each instance's sshd runs in a mount namespace of its own (machine.ts).
  unshare: 'util-linux',
  runuser: 'util-linux',
  mount: 'mount',
  // The completion script's test (test/integration/completion-shells.test.ts) loads it in zsh.
  zsh: 'zsh',
  // The instances' AWS CLI (--results uploads; a DLAMI has one). Debian's, where an instance's user
  // can run it: the one on root's PATH may live in a home the instance users cannot enter (pyenv).
  '/usr/bin/aws': 'awscli',
};
const BASE_PACKAGES = [
  'openssh-server',
  'openssh-client',
  'rsync',
  'tmux',
  'screen',
  'procps',
  'curl',
  'util-linux',
  'mount',
  'zsh',
];

export const isRoot = (): boolean => process.getuid?.() === 0;

export async function findProgram(name: string): Promise<string | undefined> {
  const candidates = isAbsolute(name)
    ? [name]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, name));
  for (const path of candidates) {
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function missingPackages(): Promise<string[]> {
  const missing = new Set<string>();
  for (const [program, pkg] of Object.entries(DEBIAN_PROGRAMS)) if (!(await findProgram(program))) missing.add(pkg);
  return [...missing];
}

let aptUpdated = false;

async function install(packages: string[]): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    await execa('apt-get', ['update'], { env, stdin: 'ignore' });
    aptUpdated = true;
  }
  await execa('apt-get', ['install', '-y', ...packages], { env, stdin: 'ignore' });
}

let pending: Promise<void> | undefined;
let motoProgram: string | undefined;

/** The moto_server the sandbox runs: on PATH, else the project's own (moto-install.ts). */
export async function motoServer(): Promise<string> {
  await ensurePrerequisites();
  return motoProgram!;
}

async function findOrInstallMoto(): Promise<string> {
  const inVenv = join(MOTO_VENV, 'bin', 'moto_server');
  const plan = motoPlan({
    onPath: await findProgram('moto_server'),
    inVenv: (await findProgram(inVenv)) ? inVenv : undefined,
    python: await findProgram('python3'),
  });
  if ('missing' in plan) throw new Error(plan.missing);
  if ('use' in plan) return plan.use;
  process.stderr.write(`sandbox: installing moto[server] into ${plan.install.venv} (once)\n`);
  return installMoto(plan.install.python, plan.install.venv);
}

/** Idempotent and shared: parallel callers in one process wait for the same check. */
export function ensurePrerequisites(): Promise<void> {
  pending ??= check().catch((err: unknown) => {
    pending = undefined; // let a later call try again
    throw err;
  });
  return pending;
}

async function check(): Promise<void> {
  const missing = await missingPackages();
  if (missing.length > 0) {
    const packages = [...new Set([...BASE_PACKAGES, ...missing])];
    if (!isRoot()) {
      throw new Error(
        `The test sandbox needs ${missing.join(', ')}. Install with: sudo apt-get install -y ${packages.join(' ')}`,
      );
    }
    await install(packages);
    const still = await missingPackages();
    if (still.length > 0) throw new Error(`apt-get install did not provide: ${still.join(', ')}`);
  }
  motoProgram = await findOrInstallMoto();
  if (isRoot()) {
    // sshd refuses to start without its privilege-separation directory (normally made by systemd).
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    await chmod('/run/sshd', 0o755);
    await checkNamespaces();
  }
}

/** What machine.ts does for every instance, tried once: a container without CAP_SYS_ADMIN cannot. */
async function checkNamespaces(): Promise<void> {
  // The tmpfs hides /tmp in this namespace only: nothing is left behind.
  const script =
    'set -e; mount -t tmpfs t /tmp; mkdir /tmp/u /tmp/w; mount -t overlay o -o lowerdir=/etc,upperdir=/tmp/u,workdir=/tmp/w /etc; test -f /etc/passwd';
  const r = await execa('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script], {
    reject: false,
    stdin: 'ignore',
  });
  if (r.exitCode !== 0) {
    throw new Error(
      `The test sandbox plays each instance in a mount namespace of its own (unshare --mount, tmpfs and overlay mounts), which fails here: ${r.stderr.trim()}. A container needs CAP_SYS_ADMIN (docker run --privileged).`,
    );
  }
}
