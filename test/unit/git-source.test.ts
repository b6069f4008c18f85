/**
 * A run from git (issue #14): the checks of the local repository against real temporary git
 * repositories (clean, dirty, untracked, unpushed, detached, no remote, a local-path remote), the
 * URL rules, the instance's checkout script and its output, and the base a checkout records.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkoutBeside, checkoutForRun, checkoutScript, parseCheckout } from '../../src/session/git-checkout.js';
import type { Connection } from '../../src/remote/connection.js';
import { loadBase, saveBase } from '../../src/sync/base.js';
import { statRemote } from '../../src/sync/remote-tree.js';
import {
  checkGitSettings,
  gitSource,
  isLocalPath,
  parseStatus,
  pushArgv,
  shownUrl,
  sshHost,
  type GitSettings,
} from '../../src/session/git-source.js';
import { blobId, checkoutBase, withGitLeftOut, markGitCheckout } from '../../src/sync/git-base.js';
import { masterStartArgv, remoteArgv, type SshTarget } from '../../src/remote/ssh.js';
import { createLogger } from '../../src/ui/logger.js';

const root = mkdtempSync(join(tmpdir(), 'git-source-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const env = { PATH: process.env.PATH, HOME: root, GIT_CONFIG_NOSYSTEM: '1' };
const git = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', env }).trim();

let n = 0;
/** A repository with one commit on main, pushed to a bare one (unless `remote: false`). */
function repo(o: { remote?: boolean } = {}): { dir: string; bare: string } {
  const dir = join(root, `r${++n}`);
  const bare = join(root, `r${n}.git`);
  mkdirSync(dir);
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'config', 'user.email', 't@example.com');
  git(dir, 'config', 'user.name', 'T');
  writeFileSync(join(dir, 'a.txt'), 'a\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'one');
  if (o.remote !== false) {
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare], { env });
    git(dir, 'remote', 'add', 'origin', bare);
    git(dir, 'push', '-q', '-u', 'origin', 'main');
  }
  return { dir, bare };
}

const lines: string[] = [];
const log = createLogger({ stream: { write: (s: string) => lines.push(s.trimEnd()) > 0 } as never, env: {} });
const settings = (o: Partial<GitSettings> = {}): GitSettings => ({
  git: true,
  gitUrl: undefined,
  branch: undefined,
  gitPush: false,
  gitLocalPaths: true,
  ...o,
});
const source = (dir: string, o: Partial<GitSettings> = {}) => gitSource(settings(o), dir, env, log);

describe('the local repository, before any launch', () => {
  it('clean and pushed: the current commit of the upstream branch, the same here', async () => {
    const { dir, bare } = repo();
    const s = await source(dir);
    expect(s).toEqual({
      url: bare,
      branch: 'main',
      commit: git(dir, 'rev-parse', 'HEAD'),
      knownHosts: [],
      sharedPath: bare,
    });
  });

  it('untracked files: allowed, said in one line (ssh-ec2 own directory not counted)', async () => {
    const { dir } = repo();
    writeFileSync(join(dir, 'out.csv'), '1\n');
    mkdirSync(join(dir, '.ssh-ec2'));
    writeFileSync(join(dir, '.ssh-ec2', 'x'), '');
    lines.length = 0;
    await expect(source(dir)).resolves.toBeDefined();
    expect(lines.join('\n')).toMatch(/1 untracked file\(s\) here stay here, not on the instance \(out\.csv\)/);
  });

  it('uncommitted changes, staged or not: refused, also with --git-push (which says it pushes commits only)', async () => {
    const { dir } = repo();
    writeFileSync(join(dir, 'a.txt'), 'changed\n');
    await expect(source(dir)).rejects.toThrow(
      /^--git: the instance would not have your uncommitted changes \(M a\.txt\)$/,
    );
    git(dir, 'add', 'a.txt');
    await expect(source(dir)).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/\(M a\.txt\)/) });
    await expect(source(dir, { gitPush: true })).rejects.toThrow(/--git-push pushes commits, not uncommitted changes/);
  });

  it('a commit not pushed: refused; --git-push pushes it to the upstream, then it is the source', async () => {
    const { dir, bare } = repo();
    writeFileSync(join(dir, 'a.txt'), 'two\n');
    git(dir, 'commit', '-q', '-am', 'two');
    const head = git(dir, 'rev-parse', 'HEAD');
    await expect(source(dir)).rejects.toThrow(`--git: HEAD ${head.slice(0, 12)} is not pushed to origin/main`);
    const s = await source(dir, { gitPush: true });
    expect(s?.commit).toBe(head);
    expect(git(bare, 'rev-parse', 'main')).toBe(head);
  });

  it('a detached HEAD, no remote, a local path remote, not the top directory: one line each (exit 2)', async () => {
    const { dir } = repo();
    await expect(source(dir, { gitLocalPaths: false })).rejects.toThrow(
      /^--git: the remote origin is a path on this machine \(.*\), which the instance cannot reach$/,
    );
    mkdirSync(join(dir, 'sub'));
    await expect(source(join(dir, 'sub'))).rejects.toThrow(/run from the repository's top directory/);
    git(dir, 'checkout', '-q', '--detach');
    await expect(source(dir)).rejects.toThrow('--git: HEAD is detached: no branch to fetch it from');
    const alone = repo({ remote: false });
    await expect(source(alone.dir)).rejects.toThrow(
      '--git: the branch main has no upstream and there is no remote origin',
    );
    const none = join(root, 'not-a-repo');
    mkdirSync(none);
    await expect(source(none)).rejects.toMatchObject({
      exitCode: 2,
      message: `--git: ${none} is not in a git repository`,
    });
  });

  it('--git-url: no local repository needed; a local path refused unless the instance shares it', async () => {
    const dir = join(root, 'plain');
    mkdirSync(dir);
    const url = 'https://user:t0ken@example.com/x.git';
    expect(await source(dir, { git: false, gitUrl: url, branch: 'dev' })).toEqual({
      url,
      branch: 'dev',
      knownHosts: [],
    });
    await expect(source(dir, { git: false, gitUrl: '../x.git', branch: 'dev', gitLocalPaths: false })).rejects.toThrow(
      /--git-url is a path on this machine/,
    );
    expect((await source(dir, { git: false, gitUrl: '../x.git', branch: 'dev' }))?.url).toBe(join(root, 'x.git'));
  });

  it('settings that do not go together', () => {
    expect(() => checkGitSettings(settings({ gitUrl: 'u', branch: 'b' }))).toThrow('--git and --git-url both given');
    expect(() => checkGitSettings(settings({ git: false, gitUrl: 'u' }))).toThrow('--git-url needs --branch B');
    expect(() => checkGitSettings(settings({ git: false, branch: 'b' }))).toThrow('--branch is for --git-url');
    expect(() => checkGitSettings(settings({ git: false, gitPush: true }))).toThrow('--git-push is for --git');
    expect(() => checkGitSettings(settings({ git: false }))).not.toThrow();
  });
});

describe('URLs', () => {
  it.each([
    ['/srv/x.git', true],
    ['../x.git', true],
    ['x.git', true],
    ['file:///srv/x.git', true],
    ['./a:b', true],
    ['git@github.com:me/x.git', false],
    ['ssh://git@host:2222/x.git', false],
    ['https://github.com/me/x.git', false],
  ])('%s is a local path: %s', (url, local) => expect(isLocalPath(url)).toBe(local));

  it.each([
    ['git@github.com:me/x.git', 'github.com'],
    ['ssh://git@host:2222/x.git', '[host]:2222'],
    ['ssh://host:22/x.git', 'host'],
    ['git+ssh://git@[::1]:2200/x', '[::1]:2200'],
    ['https://github.com/me/x.git', undefined],
    ['/srv/x.git', undefined],
  ])('the ssh server of %s: %s', (url, host) => expect(sshHost(url)).toBe(host));

  it('a token in an https URL is never shown', () => {
    expect(shownUrl('https://user:t0ken@example.com/x.git')).toBe('https://***@example.com/x.git');
    expect(shownUrl("fatal: unable to access 'https://t0ken@h/x/': 403")).toBe(
      "fatal: unable to access 'https://***@h/x/': 403",
    );
    expect(shownUrl('git@github.com:me/x.git')).toBe('git@github.com:me/x.git');
  });

  it('parses git status, renames included', () => {
    expect(parseStatus(' M a.txt\0A  b.txt\0R  new\0old\0?? out/\0?? .ssh-ec2/\0')).toEqual({
      tracked: ['M a.txt', 'A b.txt', 'R new'],
      untracked: ['out/'],
    });
  });

  it('pushes HEAD to the upstream branch by its full name', () => {
    expect(pushArgv('origin', 'main')).toEqual(['push', '--', 'origin', 'HEAD:refs/heads/main']);
  });
});

describe('the checkout on the instance', () => {
  const base = { url: 'git@github.com:me/x y.git', branch: 'main', knownHosts: [] };

  it('fetches the branch, checks out the commit, accepts a new ssh host key for that fetch only', () => {
    const script = checkoutScript({ ...base, commit: 'abc' }, 'proj dir');
    expect(script).toContain("mkdir -p -- 'proj dir' && cd -- 'proj dir'");
    expect(script).toContain("git config remote.origin.url 'git@github.com:me/x y.git'");
    expect(script).toContain("export GIT_SSH_COMMAND='ssh -o StrictHostKeyChecking=accept-new'");
    expect(script).toContain("git fetch -q origin '+refs/heads/main:refs/remotes/origin/main'");
    expect(script).toContain("checkout -q -f --detach 'abc'");
  });

  it('your known_hosts lines for the server, when you have them: checked strictly against those', () => {
    const script = checkoutScript({ ...base, knownHosts: ['github.com ssh-ed25519 AAAA'] }, 'p');
    expect(script).toContain("printf '%s\\n' 'github.com ssh-ed25519 AAAA' >\"$kh\"");
    expect(script).toContain('StrictHostKeyChecking=yes -o UserKnownHostsFile=$kh');
    expect(script).toContain("checkout -q -f --detach 'refs/remotes/origin/main'");
  });

  it('an https URL gets no ssh settings; a shared path is trusted by its own upload-pack', () => {
    expect(checkoutScript({ ...base, url: 'https://h/x.git' }, 'p')).not.toContain('GIT_SSH_COMMAND');
    const shared = checkoutScript({ ...base, url: '/srv/x.git', sharedPath: '/srv/x.git' }, 'p');
    expect(shared).toContain(`git fetch --upload-pack='git -c safe.directory='\\''/srv/x.git'\\'' upload-pack' -q`);
  });

  it('parses how, the commit and the checked-out files (no submodule)', () => {
    const out = 'fetched 0123\n100644 aaa 0\ta b.txt\x00160000 bbb 0\tsub\x00120000 ccc 0\tlink\x00';
    expect(parseCheckout(out)).toEqual({
      how: 'fetched',
      commit: '0123',
      files: [
        { path: 'a b.txt', blob: 'aaa' },
        { path: 'link', blob: 'ccc' },
      ],
    });
  });
});

describe('the base a checkout records', () => {
  it('the same here: agreeing; different here: the instance side only; absent here: deleted here, made there', () => {
    const { dir } = repo({ remote: false });
    writeFileSync(join(dir, 'b.txt'), 'mine\n');
    symlinkSync('a.txt', join(dir, 'l'));
    const blobs = Object.fromEntries(
      git(dir, 'ls-files', '-s', 'a.txt')
        .split('\n')
        .map((l) => [l.split('\t')[1], l.split(' ')[1]]),
    );
    expect(blobId(dir, 'a.txt')).toBe(blobs['a.txt']);
    expect(blobId(dir, 'l')).toBe(
      execFileSync('git', ['hash-object', '--stdin'], { input: 'a.txt' }).toString().trim(),
    );
    const sig = { s: 2, m: '1700000000.123456789' };
    const files = [
      { path: 'a.txt', blob: blobs['a.txt']!, sig },
      { path: 'b.txt', blob: 'ffff', sig: { s: 5, m: sig.m } },
      { path: 'gone.txt', blob: 'eeee', sig },
    ];
    const b = checkoutBase(dir, 'i-1', files, { now: 1_700_000_100_000 });
    expect(b.get('a.txt')).toMatchObject({ r: sig, l: { s: 2 } });
    expect(b.get('b.txt')).toEqual({ r: { s: 5, m: sig.m }, t: 1_700_000_100 });
    expect(b.get('gone.txt')).toEqual({ l: sig, r: sig, t: 1_700_000_100, o: 'instance' });
  });

  it('an instance that had a checkout: its .git is left out of both syncs', () => {
    const { dir } = repo({ remote: false });
    const p = { localDir: dir, instanceId: 'i-2', mounts: ['data'] };
    expect(withGitLeftOut(p).mounts).toEqual(['data']);
    markGitCheckout(dir, 'i-2');
    expect(withGitLeftOut(p).mounts).toEqual(['data', '.git']);
    expect(withGitLeftOut({ ...p, instanceId: 'i-3' }).mounts).toEqual(['data']);
  });
});

/** An "instance" whose home is a local directory: each command runs in sh there (what ssh would run). */
function localInstance(): { home: string; conn: Connection; calls: string[] } {
  const home = mkdtempSync(join(root, 'home-'));
  const calls: string[] = [];
  const run = async (command: string, o: { input?: string } = {}) => {
    calls.push(o.input ?? command);
    const r = spawnSync('sh', ['-c', command], { cwd: home, input: o.input, encoding: 'utf8', env });
    if (r.status !== 0) throw new Error(`${command}: ${r.stderr}`);
    return { stdout: r.stdout, stderr: r.stderr, exitCode: 0 };
  };
  return { home, conn: { exec: run, execLong: run } as unknown as Connection, calls };
}

describe('the checkout never overwrites what did not come home (against a local "instance")', () => {
  const setUp = async (o: { mounts?: string[] } = {}) => {
    const { dir } = repo();
    const s = (await source(dir))!;
    const inst = localInstance();
    const p = { conn: inst.conn, localDir: dir, remoteDir: 'proj', instanceId: `i-${n}`, log, ...o };
    return { dir, s, p, inst, there: (f: string) => join(inst.home, 'proj', f) };
  };

  it('a tracked file changed there since the last checkout: refused (exit 6), left as it is', async () => {
    const { s, p, there } = await setUp();
    await checkoutForRun(p, s, false);
    writeFileSync(there('a.txt'), 'changed there\n');
    await expect(checkoutForRun(p, s, false)).rejects.toMatchObject({
      exitCode: 6,
      message: `${p.instanceId} has changes not brought home: a.txt — run \`ssh-ec2 pull\` first`,
    });
    expect(readFileSync(there('a.txt'), 'utf8')).toBe('changed there\n');
    // Once home (a sync back records what it saw there), the checkout goes on.
    const base = loadBase(p.localDir, p.instanceId);
    const sig = (await statRemote(p, ['a.txt'])).get('a.txt')!;
    base.set('a.txt', { r: sig, t: 1 });
    saveBase(p.localDir, p.instanceId, base, { rules: new Map() });
    await checkoutForRun(p, s, false);
    expect(readFileSync(there('a.txt'), 'utf8')).toBe('a\n');
  });

  it('the first checkout over an untracked file at a tracked path: refused; the same content is not a change', async () => {
    const { s, p, there } = await setUp();
    mkdirSync(there('.'));
    writeFileSync(there('a.txt'), 'made there\n');
    await expect(checkoutForRun(p, s, false)).rejects.toMatchObject({ exitCode: 6 });
    expect(readFileSync(there('a.txt'), 'utf8')).toBe('made there\n');
    writeFileSync(there('a.txt'), 'a\n');
    await checkoutForRun(p, s, false);
    expect(readFileSync(there('a.txt'), 'utf8')).toBe('a\n');
  });

  it('a repository that tracks the mount point (--volume): refused before any checkout', async () => {
    const { dir, s: first, p, there } = await setUp({ mounts: ['data'] });
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'x'), 'x\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'data');
    git(dir, 'push', '-q');
    const s = { ...first, commit: git(dir, 'rev-parse', 'HEAD') };
    await expect(checkoutForRun(p, s, false)).rejects.toThrow(/tracks data\/, where the data volume/);
    expect(() => readFileSync(there('a.txt'))).toThrow();
  });

  it('with a mount, the checkout waits for the agent (which mounts it); without, it runs beside', async () => {
    for (const mounts of [['data'], []]) {
      const { s, p, inst } = await setUp({ mounts });
      let mounted!: () => void;
      const prepared = new Promise<void>((resolve) => (mounted = resolve));
      const done = checkoutBeside(prepared, p, { source: s, agent: false });
      await new Promise((r) => setImmediate(r));
      expect(inst.calls.length > 0).toBe(mounts.length === 0);
      mounted();
      await done;
      expect(inst.calls.length).toBeGreaterThan(0);
    }
  });

  it('a local file edited after the clean-tree check, same size: yours, never recorded as agreeing', async () => {
    const { dir, s, p } = await setUp();
    writeFileSync(join(dir, 'a.txt'), 'b\n');
    await checkoutForRun(p, s, false);
    expect(loadBase(dir, p.instanceId).get('a.txt')?.l).toBeUndefined();
  });
});

describe('your ssh agent: forwarded for the checkout only', () => {
  const t: SshTarget = { host: 'h', user: 'u', hostKeyAlias: 'i-1', knownHostsFile: '/k', controlPath: 'none' };
  /** ssh takes the first value of an option: the first ForwardAgent decides. */
  const forwardAgent = (argv: string[]) => argv[argv.findIndex((a) => a.startsWith('ForwardAgent='))]?.split('=')[1];

  it('the master never forwards it, whatever a config says', () => {
    expect(forwardAgent(masterStartArgv(t))).toBe('no');
  });

  it("the checkout's own connection forwards it; no other command asks for it", () => {
    expect(forwardAgent(remoteArgv(t, 'sh -s', { forwardAgent: true }))).toBe('yes');
    expect(forwardAgent(remoteArgv(t, 'ls'))).toBeUndefined();
  });
});
