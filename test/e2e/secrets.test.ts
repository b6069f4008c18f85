import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../sandbox/index.js';
import { cli, makeProject, remotePath, useSandbox } from './helpers.js';

const sandbox = useSandbox();
let sb: Sandbox;
beforeAll(() => {
  sb = sandbox();
});

const SECRETS = { '.env': 'TOKEN=1\n', '.aws/credentials': '[default]\n', 'key.pem': 'PRIVATE\n', '.ssh/id_ed25519': 'PRIVATE\n' };

describe('secrets', () => {
  it('never leave with the sync up, and the run says so in one line', async () => {
    const dir = makeProject(sb, 'secrets', { ...SECRETS, '.ssh/id_ed25519.pub': 'ssh-ed25519 AAAA\n', 'train.py': 'print(1)\n' });
    const r = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const remote = remotePath(sb, 'secrets');
    expect(readFileSync(join(remote, 'train.py'), 'utf8')).toBe('print(1)\n');
    for (const path of [...Object.keys(SECRETS), '.ssh']) expect(existsSync(join(remote, path)), path).toBe(false);
    const warnings = r.stderr.split('\n').filter((l) => /held back/.test(l));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/held back 4 file\(s\) that may hold secrets, not sent: \.aws\/, \.env, \.ssh\/, and 1 more \(to send one, add `!\.aws\/` to \.rsyncignore\)/);
    await cli(sb, ['true'], { cwd: dir });
  });

  it('are sent when .rsyncignore re-includes them by name; files made on the instance still come back', async () => {
    const dir = makeProject(sb, 'secrets-sent', { ...SECRETS, '.rsyncignore': '!key.pem\n' });
    const r = await cli(sb, ['cat key.pem; echo made > .env.remote; ls -A'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^PRIVATE\n/);
    expect(r.stdout).not.toMatch(/^\.(env|aws|ssh)$/m);
    expect(r.stderr).toMatch(/held back 3 file\(s\)/);
    expect(readFileSync(join(dir, '.env.remote'), 'utf8')).toBe('made\n');
    expect(readFileSync(join(dir, '.env'), 'utf8')).toBe('TOKEN=1\n');
  });

  it('with nothing secret-looking, nothing is said', async () => {
    const dir = makeProject(sb, 'no-secrets', { 'id_rsa.pub': 'ssh-rsa AAAA\n', 'id_maps/users.csv': 'x' });
    const r = await cli(sb, ['true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/held back/);
  });
});
