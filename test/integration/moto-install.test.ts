/**
 * The sandbox's moto_server (test/sandbox/moto-install.ts, issue #12): the README's set-up commands
 * must work on a fresh machine where moto is missing. The decision by table; then one real virtual
 * environment made and moto installed in it, offline: the venv sees this machine's Python packages
 * (--system-site-packages), so pip finds moto there where no index is reachable.
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installMoto, MOTO_VENV, motoPlan } from '../sandbox/moto-install.js';

describe('moto_server for the sandbox', () => {
  it('on PATH first (CI), then the venv of the project, else installed with python3, else says what is missing', () => {
    expect(motoPlan({ onPath: '/usr/bin/moto_server', inVenv: '/v/bin/moto_server', python: '/p' })).toEqual({
      use: '/usr/bin/moto_server',
    });
    expect(motoPlan({ inVenv: '/v/bin/moto_server', python: '/p' })).toEqual({ use: '/v/bin/moto_server' });
    expect(motoPlan({ python: '/usr/bin/python3' })).toEqual({
      install: { python: '/usr/bin/python3', venv: MOTO_VENV },
    });
    expect(MOTO_VENV).toMatch(/[\\/]\.cache[\\/]moto-venv$/);
    const missing = motoPlan({});
    expect('missing' in missing && missing.missing).toMatch(/no python3.*apt-get install python3 python3-venv/);
  });

  const tmp = mkdtempSync(join(tmpdir(), 'ssh-ec2-moto-venv-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('a real venv: made, moto installed by pip, its moto_server runs', async (t) => {
    const probe = await execa('python3', ['-c', 'import moto, sys; print(sys.executable)'], { reject: false });
    if (probe.exitCode !== 0) t.skip('no python3 with moto here to install from offline');
    const program = await installMoto(probe.stdout.trim(), join(tmp, 'venv'), { systemSitePackages: true });
    expect(program).toBe(join(tmp, 'venv', 'bin', 'moto_server'));
    const help = await execa(program, ['--help'], { reject: false });
    expect(help.exitCode, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/usage: .*-H HOST/);
  });

  it("pip's failure is reported with its last line", async (t) => {
    const probe = await execa('python3', ['-c', 'import sys; print(sys.executable)'], { reject: false });
    if (probe.exitCode !== 0) t.skip('no python3 here');
    // Without the system's packages and with no index, moto cannot be found.
    process.env.PIP_NO_INDEX = '1';
    process.env.PIP_FIND_LINKS = join(tmp, 'nothing');
    try {
      const failed = await installMoto(probe.stdout.trim(), join(tmp, 'bare')).catch((e: Error) => e.message);
      expect(failed).toMatch(/pip install 'moto\[server\]' in .*bare failed: .*moto/i);
    } finally {
      delete process.env.PIP_NO_INDEX;
      delete process.env.PIP_FIND_LINKS;
    }
  });
});
