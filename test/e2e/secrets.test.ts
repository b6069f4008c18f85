import { execa } from 'execa';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, makeProject, remotePath, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();

const SECRETS = {
  '.env': 'TOKEN=1\n',
  '.aws/credentials': '[default]\n',
  'key.pem': 'PRIVATE\n',
  '.ssh/id_ed25519': 'PRIVATE\n',
};

describe('secrets', () => {
  it('never leave with the sync up, and the run says so in one line', async () => {
    const dir = makeProject(sb, 'secrets', {
      ...SECRETS,
      '.ssh/id_ed25519.pub': 'ssh-ed25519 AAAA\n',
      'train.py': 'print(1)\n',
    });
    const r = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const remote = remotePath(sb, 'secrets');
    expect(readFileSync(join(remote, 'train.py'), 'utf8')).toBe('print(1)\n');
    for (const path of [...Object.keys(SECRETS), '.ssh']) expect(existsSync(join(remote, path)), path).toBe(false);
    const warnings = r.stderr.split('\n').filter((l) => /held back/.test(l));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /held back 4 file\(s\) that may hold secrets, not sent: \.aws\/, \.env, \.ssh\/, and 1 more \(to send one, add `!\.aws\/` to \.rsyncignore; to silence this, add `\.aws\/` to it\)/,
    );
    await cli(sb, ['true'], { cwd: dir });
  });

  it('are said once per project, again when another appears, never once .rsyncignore names them (issue #10)', async () => {
    const dir = makeProject(sb, 'secrets-once', { '.env': 'TOKEN=1\n', 'train.py': 'print(1)\n' });
    const first = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/held back 1 file\(s\) .*: \.env \(.*to silence this, add `\.env` to it\)/);
    const second = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stderr).not.toMatch(/held back/);
    writeFileSync(join(dir, 'key.pem'), 'PRIVATE\n');
    const third = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(third.stderr).toMatch(/held back 2 file\(s\) that may hold secrets, not sent: \.env, key\.pem/);
    writeFileSync(join(dir, '.rsyncignore'), '.env\nkey.pem\n');
    writeFileSync(join(dir, 'id_rsa'), 'PRIVATE\n'); // a new one: said, and only it
    const fourth = await cli(sb, ['true'], { cwd: dir });
    expect(fourth.exitCode, fourth.stderr).toBe(0);
    expect(fourth.stderr).toMatch(/held back 1 file\(s\) that may hold secrets, not sent: id_rsa /);
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

  it('nor through a link to a directory outside the project, which rsync sends as that directory', async () => {
    const outside = join(sb.dir, 'outside-linked');
    const files = { ...SECRETS, 'data.csv': 'a,b\n', 'more/.netrc': 'machine x\n', 'more/notes.txt': 'notes\n' };
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(outside, 'shared', path)), { recursive: true });
      writeFileSync(join(outside, 'shared', path), content);
    }
    // Absolute, so unsafe from where it is sent too: copied as content as well.
    symlinkSync(join(outside, 'shared', 'more'), join(outside, 'shared', 'nested'));
    const dir = makeProject(sb, 'secrets-linked', { '.env': 'TOKEN=1\n', 'train.py': 'print(1)\n' });
    symlinkSync('../../outside-linked/shared', join(dir, 'shared'));
    const r = await cli(sb, ['--leave', 'true'], { cwd: dir }); // left, to look at what arrived
    expect(r.exitCode, r.stderr).toBe(0);
    const remote = remotePath(sb, 'secrets-linked');
    expect(readFileSync(join(remote, 'shared', 'data.csv'), 'utf8')).toBe('a,b\n');
    expect(readFileSync(join(remote, 'shared', 'nested', 'notes.txt'), 'utf8')).toBe('notes\n');
    expect(lstatSync(join(remote, 'shared')).isDirectory()).toBe(true);
    const held = [
      '.env',
      ...Object.keys(SECRETS).map((p) => `shared/${p}`),
      'shared/.ssh',
      'shared/more/.netrc',
      'shared/nested/.netrc',
    ];
    for (const path of held) expect(existsSync(join(remote, path)), path).toBe(false);
    expect(r.stderr).toMatch(/held back 7 file\(s\) that may hold secrets/);
    // The sync back leaves the local link a link.
    expect(lstatSync(join(dir, 'shared')).isSymbolicLink()).toBe(true);
    await cli(sb, ['true'], { cwd: dir });
  });

  it('with nothing secret-looking, nothing is said', async () => {
    const dir = makeProject(sb, 'no-secrets', { 'id_rsa.pub': 'ssh-rsa AAAA\n', 'id_maps/users.csv': 'x' });
    const r = await cli(sb, ['true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/held back/);
  });

  it('AWS credentials in the environment never reach the instance, even with `SendEnv AWS_*` (sshd accepts them)', async () => {
    const creds = { AWS_SECRET_ACCESS_KEY: 'secret-3f9c1e7a5b2d', AWS_SESSION_TOKEN: 'token-8e4a2c6f0d1b' };
    const secret = sb.env(creds).AWS_SECRET_ACCESS_KEY!;
    // Every ssh session on the instance (plumbing, rsync both ways, the command) logs its
    // environment: ~/.ssh/rc runs with what sshd accepted, before the session's command.
    // Put in every new instance's home (the image's skeleton), so the instance launched below has it.
    mkdirSync(join(sb.homeSkeleton, '.ssh'), { recursive: true });
    writeFileSync(join(sb.homeSkeleton, '.ssh', 'rc'), '{ echo ---; env; } >> "$HOME/sessions.env"\n');
    try {
      // ssh -F reads this file only (never ~/.ssh/config): SendEnv for every host, then the sandbox's lines.
      const config = join(sb.dir, 'ssh_config_sendenv');
      writeFileSync(config, `Host *\n  SendEnv AWS_*\nInclude ${sb.sshConfig}\n`);
      const dir = makeProject(sb, 'no-creds');
      // Left running, to look at its home afterwards; ended below.
      const r = await cli(sb, ['--leave', '--ssh-config', config, 'env > env.txt'], { cwd: dir, env: creds });
      expect(r.exitCode, r.stderr).toBe(0);
      const env = readFileSync(join(dir, 'env.txt'), 'utf8');
      expect(env).toMatch(/^SSH_CONNECTION=/m);
      expect(env).not.toMatch(/^AWS_/m);
      const home = sb.machine(reportedInstance(r.stderr)).home;
      const sessions = readFileSync(join(home, 'sessions.env'), 'utf8');
      expect(sessions.split('---\n').length).toBeGreaterThan(4);
      expect(sessions).not.toMatch(/^AWS_/m);
      const found = await execa('grep', ['-rlF', '--', secret, home], { reject: false });
      expect(found.stdout, found.stderr).toBe('');
      expect(found.exitCode).toBe(1);
      expect((await cli(sb, ['true'], { cwd: dir })).exitCode).toBe(0);
    } finally {
      rmSync(join(sb.homeSkeleton, '.ssh'), { recursive: true, force: true });
    }
  });
});
