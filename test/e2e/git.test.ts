/**
 * Runs from git (issue #14) against the sandbox, with a LOCAL BARE repository as the remote. A
 * remote that is a path on this machine is refused (the instance could not reach it) unless
 * SSH_EC2_GIT_LOCAL_PATHS says the instance shares this file system, which the sandbox's do
 * (each instance is a user of this machine): the tests set it, and one checks the refusal
 * without it. The bare repositories lie under the sandbox's directory, readable by every user.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, launches, makeProject, remotePath, useSandbox } from './helpers.js';

const sb = useSandbox();
const LOCAL_OK = { SSH_EC2_GIT_LOCAL_PATHS: '1' };

/**
 * A real ssh agent, and an ssh config asking every connection to forward it: only a checkout's own
 * connection (for an ssh URL) may, never the master the command runs over.
 */
let agentPid: string | undefined;
function forwardingAgent(): Record<string, string> {
  const sock = join(sb.dir, 'agent.sock');
  const out = execFileSync('ssh-agent', ['-s', '-a', sock], { encoding: 'utf8' });
  agentPid = /SSH_AGENT_PID=(\d+)/.exec(out)![1];
  const config = join(sb.dir, 'forwarding_ssh_config');
  writeFileSync(config, `Host *\n  ForwardAgent yes\n\nInclude ${sb.sshConfig}\n`);
  return { ...LOCAL_OK, SSH_AUTH_SOCK: sock, SSH_EC2_SSH_CONFIG: config };
}
afterAll(() => {
  if (agentPid) process.kill(Number(agentPid));
});

const git = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_DATE: '', GIT_CONFIG_NOSYSTEM: '1' },
  }).trim();

/** A project that is a git repository with one commit on main, pushed to a bare repository of its own. */
function repoProject(name: string, files: Record<string, string>): { dir: string; bare: string } {
  const repos = join(sb.dir, 'repos');
  mkdirSync(repos, { recursive: true });
  chmodSync(repos, 0o755);
  const bare = join(repos, `${name}.git`);
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  const dir = makeProject(sb, name, files);
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'config', 'user.email', 't@example.com');
  git(dir, 'config', 'user.name', 'T');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'first');
  git(dir, 'remote', 'add', 'origin', bare);
  git(dir, 'push', '-q', '-u', 'origin', 'main');
  return { dir, bare };
}

/** Every file under dir, relative, sorted (the local .git included: nothing may land there). */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .filter((p) => !p.startsWith('.ssh-ec2/'))
    .sort();
}

describe('--git', () => {
  it('clones at the current commit, brings home what the command made or changed and never the checkout, never shows the command your ssh agent; the next run fetches', async () => {
    const { dir } = repoProject('git-run', { 'data.txt': 'data\n', 'README.md': 'readme\n', 'src/a.py': 'a\n' });
    writeFileSync(join(dir, 'notes.txt'), 'mine, untracked\n');
    const head = git(dir, 'rev-parse', 'HEAD');
    const before = tree(dir);
    const env = forwardingAgent();
    const r = await cli(
      sb,
      [
        '--leave',
        '--git',
        '--',
        'git rev-parse HEAD; echo made > result.txt; echo more >> data.txt; ls notes.txt 2>&1; true',
      ],
      { cwd: dir, env },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(head);
    expect(r.stdout).toMatch(/notes\.txt'?: No such file/); // untracked: stays here
    expect(r.stderr).toMatch(/1 untracked file\(s\) here stay here, not on the instance \(notes\.txt\)/);
    expect(r.stderr).toContain(`git: cloned ${join(sb.dir, 'repos', 'git-run.git')} at ${head.slice(0, 12)}\n`);
    expect(r.stderr).not.toMatch(/syncing up|sync up:/);
    // Home: the result and the tracked file the command changed; nothing else, nothing beside.
    expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('made\n');
    expect(readFileSync(join(dir, 'data.txt'), 'utf8')).toBe('data\nmore\n');
    expect(tree(dir)).toEqual([...before, 'result.txt'].sort());
    // ssh-ec2's own .ssh-ec2/ (the sync's base) is here as after any run.
    expect(git(dir, 'status', '--porcelain')).toBe('M data.txt\n?? .ssh-ec2/\n?? notes.txt\n?? result.txt');
    expect(r.stderr).toMatch(/brought back: (data\.txt, result\.txt|result\.txt, data\.txt)\n/);

    // A new commit, pushed: the next run fetches into the same checkout (the earlier result is still there).
    git(dir, 'checkout', '-q', '--', 'data.txt');
    writeFileSync(join(dir, 'src/a.py'), 'a2\n');
    git(dir, 'commit', '-q', '-am', 'second');
    git(dir, 'push', '-q');
    const second = git(dir, 'rev-parse', 'HEAD');
    const again = await cli(
      sb,
      ['--git', '--', 'git rev-parse HEAD; cat src/a.py; ls result.txt; printf "%s\\n" "${SSH_AUTH_SOCK:-no agent}"'],
      { cwd: dir, env },
    );
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe(`${second}\na2\nresult.txt\nno agent\n`);
    expect(again.stderr).toContain(`git: fetched ${join(sb.dir, 'repos', 'git-run.git')} at ${second.slice(0, 12)}\n`);
    expect(again.stderr).not.toMatch(/brought back/);
    // Ours (.ssh-ec2/) is not counted among yours.
    expect(again.stderr).toMatch(
      /2 untracked file\(s\) here stay here, not on the instance \(notes\.txt, result\.txt\)/,
    );
  });

  it('refuses a dirty tree, a detached HEAD, no remote, a local path, and an unpushed commit — before any launch (exit 2)', async () => {
    const { dir } = repoProject('git-refused', { 'a.txt': 'a\n' });
    sb.clearCalls();
    const refused = async (args: string[], line: RegExp, env: Record<string, string> = LOCAL_OK) => {
      const r = await cli(sb, [...args, 'true'], { cwd: dir, env });
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(line);
    };
    writeFileSync(join(dir, 'a.txt'), 'changed\n');
    await refused(
      ['--git'],
      /^ssh-ec2: error: --git: the instance would not have your uncommitted changes \(M a\.txt\)$/m,
    );
    await refused(['--git', '--git-push'], /--git-push pushes commits, not uncommitted changes \(M a\.txt\)/);
    git(dir, 'commit', '-q', '-am', 'unpushed');
    await refused(['--git'], /--git: HEAD [0-9a-f]{12} is not pushed to origin\/main\n/);
    await refused(
      ['--git'],
      /--git: the remote origin is a path on this machine \(.*git-refused\.git\), which the instance cannot reach/,
      {},
    );
    git(dir, 'checkout', '-q', '--detach');
    await refused(['--git'], /--git: HEAD is detached: no branch to fetch it from/);
    git(dir, 'checkout', '-q', 'main');
    git(dir, 'remote', 'remove', 'origin');
    await refused(['--git'], /--git: the branch main has no upstream and there is no remote origin/);
    expect(launches(sb)).toEqual([]);
    expect(sb.calls('RunInstances')).toEqual([]);
  });

  it('--git-push pushes the unpushed commit, then runs it', async () => {
    const { dir, bare } = repoProject('git-push', { 'a.txt': 'a\n' });
    writeFileSync(join(dir, 'a.txt'), 'b\n');
    git(dir, 'commit', '-q', '-am', 'unpushed');
    const head = git(dir, 'rev-parse', 'HEAD');
    const r = await cli(sb, ['--git', '--git-push', '--', 'git rev-parse HEAD; cat a.txt'], {
      cwd: dir,
      env: LOCAL_OK,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('--git-push: pushing main to origin/main');
    expect(git(bare, 'rev-parse', 'main')).toBe(head);
    expect(r.stdout).toBe(`${head}\nb\n`);
  });
});

describe('--git never overwrites work on the instance that did not come home', () => {
  it('a tracked file changed there and never brought home: refused (exit 6, nothing run) until `ssh-ec2 pull`', async () => {
    const { dir } = repoProject('git-unsaved', { 'a.txt': 'a\n' });
    const run = (...args: string[]) =>
      cli(sb, ['--leave', '--git', '--no-rsync', ...args], { cwd: dir, env: LOCAL_OK });
    const launched = launches(sb).length;
    const first = await run('--', 'echo there > a.txt');
    expect(first.exitCode, first.stderr).toBe(0);
    const refused = await run('--', 'echo ran');
    expect(refused.exitCode, refused.stderr).toBe(6);
    expect(refused.stderr).toMatch(/i-\w+ has changes not brought home: a\.txt — run `ssh-ec2 pull` first/);
    expect(refused.stdout).not.toContain('ran');
    expect(launches(sb)).toHaveLength(launched + 1);
    // Still there, as it was: pull brings it home; then the checkout goes on.
    const pulled = await cli(sb, ['pull'], { cwd: dir, env: LOCAL_OK });
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('there\n');
    git(dir, 'checkout', '-q', '--', 'a.txt');
    const again = await run('--', 'cat a.txt');
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe('a\n');
  });
});

describe('--git with a data volume (--volume)', () => {
  it('checks out once the volume is mounted; a repository that tracks data/ is refused (exit 3, nothing checked out)', async () => {
    const { dir } = repoProject('git-volume', { 'a.txt': 'a\n' });
    const ok = await cli(sb, ['--git', '--volume', 'gitvol', '--', 'cat a.txt; echo v > data/v.txt'], {
      cwd: dir,
      env: LOCAL_OK,
    });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('a\n');
    // Written onto the volume, mounted at data/ before the command (and the checkout) ran.
    const volId = /created data volume gitvol \((vol-[0-9a-f]+)/.exec(ok.stderr)![1]!;
    expect(readFileSync(join(sb.volumes.dirOf(volId), 'v.txt'), 'utf8')).toBe('v\n');
    const tracking = repoProject('git-volume-tracked', { 'data/x.txt': 'x\n' });
    const refused = await cli(sb, ['--git', '--volume', 'gitvol2', '--', 'echo ran'], {
      cwd: tracking.dir,
      env: LOCAL_OK,
    });
    expect(refused.exitCode, refused.stderr).toBe(3);
    expect(refused.stderr).toMatch(/tracks data\/, where the data volume \(--volume\) is mounted: nothing checked out/);
    expect(refused.stdout).not.toContain('ran');
  });
});

describe('--git-url URL --branch B', () => {
  it("checks out the branch's head into a directory that is no repository; the checkout never comes home", async () => {
    const { dir: source, bare } = repoProject('git-url-source', {
      'train.sh': 'echo trained > model.txt\n',
      'lib/x.txt': 'x\n',
    });
    git(source, 'checkout', '-q', '-b', 'exp');
    writeFileSync(join(source, 'lib/x.txt'), 'x on exp\n');
    git(source, 'commit', '-q', '-am', 'exp');
    git(source, 'push', '-q', 'origin', 'exp');
    const tip = git(source, 'rev-parse', 'HEAD');
    const dir = makeProject(sb, 'git-url-runs', { 'lib/x.txt': 'my own x\n' });
    const r = await cli(
      sb,
      ['--git-url', bare, '--branch', 'exp', '--', 'git rev-parse HEAD; sh train.sh; cat lib/x.txt'],
      {
        cwd: dir,
        env: LOCAL_OK,
      },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${tip}\nx on exp\n`);
    expect(r.stderr).toContain(`git: cloned ${bare} at ${tip.slice(0, 12)} (the head of exp)\n`);
    // The result comes home; the checkout (train.sh, .git) does not, and a different file here stays yours.
    expect(tree(dir)).toEqual(['lib/x.txt', 'model.txt']);
    expect(readFileSync(join(dir, 'model.txt'), 'utf8')).toBe('trained\n');
    expect(readFileSync(join(dir, 'lib/x.txt'), 'utf8')).toBe('my own x\n');
    expect(existsSync(join(dir, '.git'))).toBe(false);
  });

  it('--git-url without --branch, and --branch alone: refused (exit 2)', async () => {
    const dir = makeProject(sb, 'git-url-bad');
    const a = await cli(sb, ['--git-url', 'https://example.invalid/x.git', 'true'], { cwd: dir });
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toMatch(/--git-url needs --branch B/);
    const b = await cli(sb, ['--branch', 'main', 'true'], { cwd: dir });
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toMatch(/--branch is for --git-url/);
    void remotePath;
  });
});
