/**
 * A Mac's own rsync as the local rsync (issue #8): rsync 2.6.9 (macOS ≤ 14) and openrsync
 * (macOS 15+), built for this machine in ../shared/tools, first on PATH. The instance's rsync is
 * the sandbox's Debian rsync 3.x, as on a real instance. A missing binary fails the test.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitKeeps, listFiles, makeTrickyTree } from '../fixtures/tricky-tree.js';
import {
  arrivedBefore,
  cli,
  instanceState,
  launches,
  linksStayHome,
  localState,
  makeProject,
  pathWithout,
  REPO,
  remotePath,
  reportedInstance,
  useSandbox,
} from './helpers.js';

const TOOLS = join(REPO, '..', 'shared', 'tools');
const sb = useSandbox();

/** The environment with this Mac rsync first on PATH; fails (not skips) when it is not there. */
function macPath(tool: 'rsync-2.6.9' | 'openrsync'): Record<string, string> {
  const bin = join(TOOLS, tool, 'bin');
  expect(existsSync(join(bin, 'rsync')), `${bin}/rsync is needed (see ../shared/tools/README.md)`).toBe(true);
  return { PATH: `${bin}:${process.env.PATH}` };
}

/** The capability answers ssh-ec2 cached: which rsyncs it really probed and used. */
function probedRsyncs(): { path: string; version: string; pull: boolean }[] {
  const dir = localState(sb, 'rsync');
  return existsSync(dir)
    ? readdirSync(dir).map(
        (f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { path: string; version: string; pull: boolean },
      )
    : [];
}

// Names a Mac user has: spaces, quotes, leading dashes, é composed (NFC) and decomposed (NFD, as
// macOS writes names) side by side, a line break.
const NFC = 'caf\u00e9';
const NFD = 'cafe\u0301';
const TRICKY_LOCAL = [
  '-dash.txt',
  'sp ace/q\'uo"te.txt',
  `${NFC}.txt`,
  `${NFD}.txt`,
  'new\nline.txt',
  'ignored-nfd/x.log',
];
const TRICKY_RESULTS = ['-r dash', 'it\'s "here"', `${NFC}.out`, `${NFD}.out`, 'two\nlines', '$HOME *'];

describe.each([
  ['rsync-2.6.9', 'rsync  version 2.6.9  protocol version 29'],
  ['openrsync', 'openrsync: protocol version 27'],
] as const)('%s as the local rsync', (tool, version) => {
  it('a session with tricky names both ways: exactly what git keeps goes up, the results come back byte for byte, no local edit lost, nothing local deleted, the exit status', async () => {
    const env = macPath(tool);
    const name = `mac proj 'ü' $HOME ${tool}`;
    const dir = makeTrickyTree(join(sb.dir, 'projects', name));
    for (const f of TRICKY_LOCAL) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), `local ${f}\n`);
    }
    writeFileSync(join(dir, 'model.txt'), 'local version\n');
    const before = new Map(
      [...listFiles(dir)]
        .filter((f) => !f.startsWith('link'))
        .map((f) => [f, readFileSync(join(dir, f), 'utf8')] as const),
    );
    const kept = gitKeeps(dir);
    // On the instance: new results with tricky names (some ignored), a local file changed and one deleted.
    const names = TRICKY_RESULTS.map(
      (n) => `"$(printf '%s' ${JSON.stringify(Buffer.from(n).toString('base64'))} | base64 -d)"`,
    ).join(' ');
    const command = [
      'mkdir -p out build',
      `for n in ${names}; do printf '%s\\n' "$n" > "out/$n"; done`,
      'echo ignored > out/result.log; echo ignored > build/remote.o',
      'echo remote version > model.txt; rm -f keep.log',
      'rsync --version | head -1 > remote-rsync.txt',
      'exit 3',
    ].join('; ');
    const r = await cli(sb, [command], { cwd: dir, env });
    expect(r.exitCode, r.stderr).toBe(3);
    expect(probedRsyncs().map((c) => c.version)).toContain(version);
    const id = reportedInstance(r.stderr);
    // Up: the instance got exactly what git keeps for the same rules, names byte for byte.
    const arrived = listFiles(
      remotePath(sb, name, id),
      (p) => p.startsWith('out/') || p.startsWith('build/') || p === 'model.txt' || p === 'remote-rsync.txt',
    );
    expect([...arrived].sort()).toEqual([...kept].filter((p) => p !== 'model.txt' && p !== 'keep.log').sort());
    expect(readFileSync(join(dir, 'remote-rsync.txt'), 'utf8')).toMatch(/^rsync {2}version 3\./);
    // Back: every result, names as the instance wrote them (NFC and NFD both, distinct).
    for (const n of TRICKY_RESULTS) expect(readFileSync(join(dir, 'out', n), 'utf8')).toBe(`${n}\n`);
    expect(readdirSync(join(dir, 'out')).sort()).toEqual([...TRICKY_RESULTS].sort());
    expect(existsSync(join(dir, 'build', 'remote.o'))).toBe(false);
    // Changed on the instance only: brought home and listed, no backups (issue #10); nothing local deleted
    // (keep.log, deleted on the instance, stays here).
    expect(readFileSync(join(dir, 'model.txt'), 'utf8')).toBe('remote version\n');
    expect(existsSync(join(dir, '.ssh-ec2', 'backups'))).toBe(false);
    for (const [f, content] of before)
      if (f !== 'model.txt') expect(readFileSync(join(dir, f), 'utf8'), f).toBe(content);
    expect(r.stderr).toMatch(/brought back: .*model\.txt/);
    expect(r.stderr).not.toMatch(/replaced/);
    // Nothing of the sync is left behind on the instance (openrsync's sync back writes its excludes there).
    expect(readdirSync(remotePath(sb, '.ssh-ec2', id)).filter((n) => n.endsWith('.exclude'))).toEqual([]);
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('never follows remote links out of the project, nor writes through local ones', async () => {
    await linksStayHome(sb, `mac-links-${tool}`, macPath(tool));
  });

  it('the three-way sync (issue #10): an edit after --leave survives pull and down, a module deleted here is removed there and never comes back, the result comes home', async () => {
    const env = macPath(tool);
    const name = `mac-three-way-${tool}`;
    const dir = makeProject(sb, name, { 'train.py': 'v1\n', 'util.py': 'u\n' });
    const left = await cli(sb, ['--leave', 'echo epoch 1 > metrics.txt'], { cwd: dir, env });
    expect(left.exitCode, left.stderr).toBe(0);
    writeFileSync(join(dir, 'train.py'), 'v2, edited meanwhile\n');
    rmSync(join(dir, 'util.py'));
    writeFileSync(join(remotePath(sb, name), 'metrics.txt'), 'epoch 2\n');
    const pulled = await cli(sb, ['pull'], { cwd: dir, env });
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(readFileSync(join(dir, 'train.py'), 'utf8')).toBe('v2, edited meanwhile\n');
    expect(readFileSync(join(dir, 'metrics.txt'), 'utf8')).toBe('epoch 2\n');
    expect(existsSync(join(dir, 'util.py'))).toBe(false);
    const ran = await cli(sb, ['--leave', '--', 'ls'], { cwd: dir, env });
    expect(ran.stdout).toBe('metrics.txt\ntrain.py\n');
    expect((await cli(sb, ['down', '--yes'], { cwd: dir, env })).exitCode).toBe(0);
    expect(readFileSync(join(dir, 'train.py'), 'utf8')).toBe('v2, edited meanwhile\n');
    expect(existsSync(join(dir, 'util.py'))).toBe(false);
    expect(existsSync(join(dir, '.ssh-ec2', 'backups'))).toBe(false);
  });

  it('a failing sync up names its real cause (not the disk) and exits 6', async () => {
    const env = macPath(tool);
    const dir = makeProject(sb, `mac-up-fails-${tool}`, { 'a.txt': 'a' });
    // The project directory on the new instance exists but belongs to someone else: rsync cannot
    // write. Made once the instance is launched, while the run waits for its Instance Connect key.
    const pushing = sb.hold('SendSSHPublicKey');
    const ending = sb.hold('TerminateInstances'); // to look at its disk before it goes
    const run = cli(sb, ['touch ran.txt'], { cwd: dir, env });
    await arrivedBefore(pushing, run, 'its Instance Connect key');
    mkdirSync(remotePath(sb, `mac-up-fails-${tool}`), { recursive: true, mode: 0o755 });
    pushing.release();
    await arrivedBefore(ending, run, 'terminating the instance it launched');
    const ranThere = existsSync(join(remotePath(sb, `mac-up-fails-${tool}`), 'ran.txt'));
    ending.release();
    const r = await run;
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/error: sync up failed, nothing was run: permission denied on the instance/);
    expect(r.stderr).not.toMatch(/disk/);
    expect(ranThere).toBe(false);
  });
});

describe('openrsync with a runtime and temporary directory holding a space and a quote', () => {
  it('probes it and syncs both ways all the same (its sockets and -e wrapper under /tmp instead), nothing left in them', async () => {
    // openrsync splits -e on spaces whatever the quotes, ssh an -o ControlPath: neither could name a file there.
    const runtime = join(sb.dir, "run time 'x'");
    const tmp = join(sb.dir, 'tmp dir');
    const state = join(sb.dir, 'state-spaced-dirs'); // a cache of its own: this run probes openrsync
    for (const d of [runtime, tmp]) mkdirSync(d, { recursive: true, mode: 0o700 });
    const env = { ...macPath('openrsync'), XDG_RUNTIME_DIR: runtime, TMPDIR: tmp, XDG_STATE_HOME: state };
    const dir = makeProject(sb, 'mac-openrsync-spaced-dirs', { 'in.txt': 'up\n' });
    const r = await cli(sb, ['cat in.txt; echo back > out.txt'], { cwd: dir, env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('up\n');
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe('back\n');
    // The probe's answer, made in the spaced TMPDIR's stead: openrsync can push and list, as it can elsewhere.
    const [probed] = readdirSync(join(state, 'ssh-ec2', 'rsync')).map(
      (f) => JSON.parse(readFileSync(join(state, 'ssh-ec2', 'rsync', f), 'utf8')) as Record<string, unknown>,
    );
    expect(probed).toMatchObject({ version: 'openrsync: protocol version 27', push: true });
    // Its sockets, keys and wrappers went to /tmp/ssh-ec2-<uid> (ssh cannot name them there either).
    expect(readdirSync(runtime)).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe('an rsync that cannot do the sync', () => {
  it('is said in one line with the fix before anything is launched: exit 3, nothing local touched', async () => {
    // A stand-in for an rsync too old for anything ssh-ec2 needs: it refuses every option.
    const bin = join(sb.dir, 'refusing-rsync');
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, 'rsync'),
      '#!/bin/sh\n[ "$1" = --version ] && { echo "rsync  version 0.1"; exit 0; }\necho "rsync: unknown option" >&2; exit 1\n',
      { mode: 0o755 },
    );
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const dir = makeProject(sb, 'mac-refused', { 'a b.txt': 'a\n', [`${NFD}.txt`]: 'n\n' });
    const before = listFiles(dir);
    const launched = launches(sb).length;
    const r = await cli(sb, ['touch ran.txt'], { cwd: dir, env });
    expect(r.exitCode, r.stderr).toBe(3);
    const errors = r.stderr.split('\n').filter((l) => /error:/.test(l));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /your rsync \(.*refusing-rsync\/rsync: rsync {2}version 0\.1\) cannot send files to the instance, bring files back from the instance/,
    );
    expect(r.stderr).toMatch(/brew install rsync/);
    expect(r.stderr).not.toMatch(/disk|protect-args/);
    expect(launches(sb).length).toBe(launched);
    expect(listFiles(dir)).toEqual(before);
  });

  it('SSH_EC2_RSYNC points ssh-ec2 at another rsync than the first on PATH (a Homebrew one, say)', async () => {
    const env = {
      ...macPath('openrsync'),
      SSH_EC2_RSYNC: execFileSync('sh', ['-c', 'command -v rsync'], { env: { PATH: process.env.PATH } })
        .toString()
        .trim(),
    };
    const dir = makeProject(sb, 'mac-openrsync-fixed', { [`${NFD}.txt`]: 'n\n' });
    const r = await cli(sb, ['-v', `cat ${NFD}.txt; echo r > result.txt`], { cwd: dir, env });
    expect(r.exitCode, r.stderr).toBe(0);
    // The one named, not openrsync, first on PATH.
    expect(r.stderr).toContain(`local rsync: ${env.SSH_EC2_RSYNC} (rsync  version 3.`);
    expect(r.stderr).not.toMatch(/openrsync/);
    expect(r.stdout).toBe('n\n');
    expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('r\n');
  });

  it('--no-rsync needs no local rsync at all', async () => {
    const env = { PATH: pathWithout(sb, 'rsync') };
    const dir = makeProject(sb, 'mac-openrsync-no-rsync');
    const r = await cli(sb, ['--no-rsync', 'echo ran'], { cwd: dir, env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
  });
});
