// moto_server for the sandbox, found or installed: on PATH (CI images have it), else in the
// project's own virtual environment (.cache/moto-venv), which is made when Python 3 is there —
// never a system-wide pip install. pip downloads moto where PyPI is reachable, or takes it from
// the indexes pip is configured with. Otherwise the error says what is missing.
import { existsSync } from 'node:fs';
import { writeFile, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const MOTO_VENV = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.cache', 'moto-venv');
const PACKAGE = 'moto[server]';

export type MotoPlan = { use: string } | { install: { python: string; venv: string } } | { missing: string };

/** What to do, from what is there: a moto_server on PATH, one in the venv, a python3. */
export function motoPlan(found: { onPath?: string; inVenv?: string; python?: string }, venv = MOTO_VENV): MotoPlan {
  if (found.onPath) return { use: found.onPath };
  if (found.inVenv) return { use: found.inVenv };
  if (found.python) return { install: { python: found.python, venv } };
  return {
    missing:
      `moto_server not found, and no python3 to install it in ${venv}: install Python 3 with its venv module ` +
      `(Debian: apt-get install python3 python3-venv), or put moto_server on PATH (pip install '${PACKAGE}')`,
  };
}

const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';

/**
 * Makes the venv and installs moto in it; returns its moto_server. `systemSitePackages`: the venv
 * sees the python's own packages (a test uses it where moto is there but no index has it). pip
 * installs no moto_server script for a moto it finds already there: the venv gets one of its own
 * that runs `python -m moto.server`, so the program is always venv/bin/moto_server.
 */
export async function installMoto(
  python: string,
  venv = MOTO_VENV,
  opts: { systemSitePackages?: boolean } = {},
): Promise<string> {
  const made = await execa(
    python,
    ['-m', 'venv', ...(opts.systemSitePackages ? ['--system-site-packages'] : []), venv],
    { reject: false, all: true, stdin: 'ignore' },
  );
  if (made.exitCode !== 0) {
    throw new Error(
      `moto_server not found; making ${venv} failed (Debian: apt-get install python3-venv): ${lastLine(made.all ?? '')}`,
    );
  }
  const pip = await execa(join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', PACKAGE], {
    reject: false,
    all: true,
    stdin: 'ignore',
  });
  if (pip.exitCode !== 0) {
    throw new Error(`moto_server not found; pip install '${PACKAGE}' in ${venv} failed: ${lastLine(pip.all ?? '')}`);
  }
  const program = join(venv, 'bin', 'moto_server');
  if (!existsSync(program)) {
    await writeFile(program, '#!/bin/sh\nexec "$(dirname "$0")/python" -m moto.server "$@"\n');
    await chmod(program, 0o755);
  }
  return program;
}
