/**
 * Issue #10, problems 1-3, through the built CLI against the sandbox: the sync back never reverts
 * a local edit (pull, down, --attach, a plain run, a shell redirect into the project), a file
 * deleted or renamed here never comes back and does not linger on the instance, and a job
 * rewriting its outputs leaves no backups, only the list of what came back. The rules themselves,
 * row by row with every rsync, are in test/integration/three-way.test.ts.
 */
import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BIN,
  cli,
  instanceState,
  makeProject,
  NODE,
  remotePath,
  reportedInstance,
  shq,
  useSandbox,
} from './helpers.js';

const sb = useSandbox();

const read = (dir: string, f: string) => readFileSync(join(dir, f), 'utf8');
const WAIT_FOR_GO = 'while [ ! -f go ]; do sleep 0.1; done; rm -f go';

async function until(probe: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the sync back never reverts a local edit (issue #10, problem 1)', () => {
  it('pull after --leave: the edit made meanwhile stays, the result comes home; then down --yes keeps an edit too', async () => {
    const name = 'edit-then-pull';
    const dir = makeProject(sb, name, { 'train.py': 'v1\n', Makefile: 'all:\n' });
    const left = await cli(sb, ['--leave', 'echo epoch 1 > metrics.txt'], { cwd: dir });
    expect(left.exitCode, left.stderr).toBe(0);
    const id = reportedInstance(left.stderr);
    writeFileSync(join(dir, 'train.py'), 'v2, edited while it ran\n');
    writeFileSync(join(remotePath(sb, name), 'metrics.txt'), 'epoch 2\n'); // the job goes on
    const pulled = await cli(sb, ['pull'], { cwd: dir });
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(read(dir, 'train.py')).toBe('v2, edited while it ran\n');
    expect(read(dir, 'metrics.txt')).toBe('epoch 2\n');
    expect(pulled.stderr).toMatch(/brought back: metrics\.txt\n/);
    expect(pulled.stderr).not.toMatch(/replaced/);

    writeFileSync(join(dir, 'Makefile'), 'all: train\n');
    const down = await cli(sb, ['down', '--yes'], { cwd: dir });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(read(dir, 'Makefile')).toBe('all: train\n');
    expect(read(dir, 'train.py')).toBe('v2, edited while it ran\n');
    expect(await instanceState(sb, id)).toBe('terminated');
    expect(existsSync(join(dir, '.ssh-ec2', 'backups'))).toBe(false);
  });

  it("--attach: an edit made while the detached job ran stays; the job's output comes home", async () => {
    const name = 'edit-then-attach';
    const dir = makeProject(sb, name, { 'train.py': 'v1\n' });
    const detached = await cli(sb, ['--detach', `${WAIT_FOR_GO}; echo trained > model.txt`], { cwd: dir });
    expect(detached.exitCode, detached.stderr).toBe(0);
    writeFileSync(join(dir, 'train.py'), 'v2\n');
    writeFileSync(join(remotePath(sb, name), 'go'), '');
    await until(() => existsSync(join(remotePath(sb, name), 'model.txt')), 'the job to end');
    const attached = await cli(sb, ['--attach'], { cwd: dir });
    expect(attached.exitCode, attached.stderr).toBe(0);
    expect(read(dir, 'train.py')).toBe('v2\n');
    expect(read(dir, 'model.txt')).toBe('trained\n');
  });

  it("changed on both sides: pull keeps yours and writes the instance's beside it, named in one line", async () => {
    const name = 'both-changed';
    const dir = makeProject(sb, name, { 'config.yaml': 'lr: 1\n' });
    expect((await cli(sb, ['--leave', 'true'], { cwd: dir })).exitCode).toBe(0);
    writeFileSync(join(dir, 'config.yaml'), 'lr: 2\n');
    writeFileSync(join(remotePath(sb, name), 'config.yaml'), 'lr: 3\n');
    const pulled = await cli(sb, ['pull'], { cwd: dir });
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(read(dir, 'config.yaml')).toBe('lr: 2\n');
    const beside = readdirSync(dir).filter((f) => /^config\.ec2-\d{8}-\d{6}Z\.yaml$/.test(f));
    expect(beside).toHaveLength(1);
    expect(read(dir, beside[0]!)).toBe('lr: 3\n');
    expect(pulled.stderr).toMatch(
      new RegExp(`changed both here and on the instance: .*${beside[0]!.replace('.', '\\.')}`),
    );
    expect((await cli(sb, ['down', '--yes'], { cwd: dir })).exitCode).toBe(0);
  });

  it('a redirect into the project keeps the output (`ssh-ec2 -- cmd > results.txt`)', async () => {
    const dir = makeProject(sb, 'redirect', {});
    const r = await execa('sh', ['-c', `${shq(NODE)} ${shq(BIN)} -- 'echo accuracy 0.93' > results.txt`], {
      cwd: dir,
      env: sb.env(),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(read(dir, 'results.txt')).toBe('accuracy 0.93\n');
    expect(readdirSync(dir).filter((f) => f !== '.ssh-ec2')).toEqual(['results.txt']);
  });
});

describe('deleted here stays deleted (issue #10, problem 2)', () => {
  it('a renamed module is removed from the reused instance by the next run, and never comes back', async () => {
    const name = 'renamed';
    const dir = makeProject(sb, name, { 'main.py': 'import util\n', 'util.py': 'u = 1\n' });
    expect((await cli(sb, ['--leave', 'true'], { cwd: dir })).exitCode).toBe(0);
    renameSync(join(dir, 'util.py'), join(dir, 'helpers.py'));
    const r = await cli(sb, ['--leave', '--', 'ls'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('helpers.py\nmain.py\n');
    expect(r.stderr).toMatch(/removed from the instance \(deleted here\): util\.py/);
    expect(existsSync(join(dir, 'util.py'))).toBe(false);
    // Deleted here but not yet synced up: pull does not bring it back either.
    rmSync(join(dir, 'main.py'));
    expect((await cli(sb, ['pull'], { cwd: dir })).exitCode).toBe(0);
    expect(existsSync(join(dir, 'main.py'))).toBe(false);
    expect((await cli(sb, ['down', '--yes'], { cwd: dir })).exitCode).toBe(0);
    expect(existsSync(join(dir, 'main.py'))).toBe(false);
    expect(existsSync(join(dir, 'util.py'))).toBe(false);
  });
});

describe('no backups pile up (issue #10, problem 3)', () => {
  it('a job rewriting its own output: only the list of what came back, nothing kept aside', async () => {
    const dir = makeProject(sb, 'rewrites', {});
    expect((await cli(sb, ['--leave', 'echo 1 > model.bin; echo a > metrics.json'], { cwd: dir })).exitCode).toBe(0);
    const again = await cli(sb, ['echo 2 > model.bin; echo b > metrics.json'], { cwd: dir });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(read(dir, 'model.bin')).toBe('2\n');
    expect(again.stderr).toMatch(/brought back: (model\.bin, metrics\.json|metrics\.json, model\.bin)\n/);
    expect(again.stderr).not.toMatch(/replaced|backups|warning/);
    expect(existsSync(join(dir, '.ssh-ec2', 'backups'))).toBe(false);
  });
});

/**
 * An `rsync` first on PATH that, when it is the sync back's transfer into `dir` (the project
 * directory last, --safe-links: never the sync up, never a capability probe), first saves `file`
 * here as the user would during a long pull, then execs the real rsync: the edit lands while the
 * sync back's rsync runs, deterministically. It leaves `.ssh-ec2/edited` as proof that it did.
 */
function rsyncEditingDuringPull(dir: string, file: string, text: string): Record<string, string> {
  const bin = join(sb.dir, 'rsync-editing-bin');
  mkdirSync(bin, { recursive: true });
  const real = execFileSync('sh', ['-c', 'command -v rsync'], { encoding: 'utf8' }).trim();
  const marker = join(dir, '.ssh-ec2', 'edited');
  writeFileSync(
    join(bin, 'rsync'),
    `#!/bin/sh
for a; do last=$a; done
case " $* " in *" --safe-links "*)
  if [ "$last" = ${shq(`${dir}/`)} ] && [ ! -e ${shq(marker)} ]; then
    printf %s ${shq(text)} > ${shq(join(dir, file))} && : > ${shq(marker)}
  fi;;
esac
exec ${shq(real)} "$@"
`,
  );
  chmodSync(join(bin, 'rsync'), 0o755);
  return { PATH: `${bin}:${process.env.PATH}` };
}

describe('the sync back touches only what it brings (issue #10: an edit saved during the transfer)', () => {
  it("a file unchanged on both sides, saved here while the sync back's rsync runs, keeps the edit", async () => {
    const name = 'edit-during-pull';
    const dir = makeProject(sb, name, { 'train.py': 'v1\n' });
    expect((await cli(sb, ['--leave', 'echo epoch 1 > metrics.txt'], { cwd: dir })).exitCode).toBe(0);
    writeFileSync(join(remotePath(sb, name), 'metrics.txt'), 'epoch 2\n'); // something to bring: rsync runs
    const env = rsyncEditingDuringPull(dir, 'train.py', 'v2, saved during the pull\n');
    const pulled = await cli(sb, ['pull'], { cwd: dir, env });
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(existsSync(join(dir, '.ssh-ec2', 'edited')), 'the edit was made during the rsync').toBe(true);
    expect(read(dir, 'train.py')).toBe('v2, saved during the pull\n');
    expect(read(dir, 'metrics.txt')).toBe('epoch 2\n');
    expect(pulled.stderr).toMatch(/brought back: metrics\.txt\n/);
    // The edit is sent by the next sync up, as any edit here.
    const run = await cli(sb, ['cat', 'train.py'], { cwd: dir });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe('v2, saved during the pull\n');
  });
});

describe('nothing here is replaced by a different kind (issue #10)', () => {
  it('a directory on the instance where a file (or a link) is here: both stay, the directory comes beside it whole, named in the one line', async () => {
    const name = 'dir-where-file';
    const dir = makeProject(sb, name, { 'train.py': 'code\n' });
    expect((await cli(sb, ['--leave', 'true'], { cwd: dir })).exitCode).toBe(0);
    writeFileSync(join(dir, 'out'), 'my notes\n');
    symlinkSync('train.py', join(dir, 'latest'));
    const there = remotePath(sb, name);
    mkdirSync(join(there, 'out', 'sub', 'empty'), { recursive: true });
    writeFileSync(join(there, 'out', 'sub', 'r.txt'), 'result\n');
    writeFileSync(join(there, 'out', 'log.txt'), 'log\n');
    mkdirSync(join(there, 'latest'));
    writeFileSync(join(there, 'latest', 'ckpt.pt'), 'weights\n');
    const pulled = await cli(sb, ['pull'], { cwd: dir });
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(read(dir, 'out')).toBe('my notes\n');
    expect(readlinkSync(join(dir, 'latest'))).toBe('train.py');
    const out = readdirSync(dir).find((f) => /^out\.ec2-\d{8}-\d{6}Z$/.test(f))!;
    const latest = readdirSync(dir).find((f) => /^latest\.ec2-\d{8}-\d{6}Z$/.test(f))!;
    expect(read(dir, `${out}/sub/r.txt`)).toBe('result\n');
    expect(read(dir, `${out}/log.txt`)).toBe('log\n');
    expect(lstatSync(join(dir, out, 'sub', 'empty')).isDirectory()).toBe(true);
    expect(read(dir, `${latest}/ckpt.pt`)).toBe('weights\n');
    expect(pulled.stderr).toMatch(
      new RegExp(`changed both here and on the instance: .*(${out}/.*${latest}/|${latest}/.*${out}/)`),
    );
    // The next run: the file here is not sent over the instance's directory (rsync would fail), and said.
    const run = await cli(sb, ['--leave', 'cat', 'out/log.txt'], { cwd: dir });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe('log\n');
    expect(run.stderr).toMatch(
      /a directory on the instance where a file is here: not sent, .*: (out, latest|latest, out)\n/,
    );
    // Unchanged there since: no sync back copies anything beside again.
    expect((await cli(sb, ['down', '--yes'], { cwd: dir })).exitCode).toBe(0);
    expect(read(dir, 'out')).toBe('my notes\n');
    expect(
      readdirSync(dir)
        .filter((f) => f.includes('.ec2-'))
        .sort(),
    ).toEqual([latest, out].sort());
    expect(readdirSync(join(dir, out)).sort()).toEqual(['log.txt', 'sub']);
  });

  it('a file on the instance where a directory is here: the directory stays, the file comes beside it', async () => {
    const name = 'file-where-dir';
    const dir = makeProject(sb, name, { 'train.py': 'code\n' });
    expect((await cli(sb, ['--leave', 'true'], { cwd: dir })).exitCode).toBe(0);
    mkdirSync(join(dir, 'ckpt'));
    writeFileSync(join(dir, 'ckpt', 'mine.txt'), 'mine\n');
    writeFileSync(join(remotePath(sb, name), 'ckpt'), 'a file there\n');
    const pulled = await cli(sb, ['pull'], { cwd: dir });
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(read(dir, 'ckpt/mine.txt')).toBe('mine\n');
    const beside = readdirSync(dir).find((f) => /^ckpt\.ec2-\d{8}-\d{6}Z$/.test(f))!;
    expect(read(dir, beside)).toBe('a file there\n');
    expect(pulled.stderr).toMatch(new RegExp(`changed both here and on the instance: .*${beside}`));
    // The next run sends the directory: it replaces the file there, whose version is already here.
    const run = await cli(sb, ['--leave', 'cat', 'ckpt/mine.txt'], { cwd: dir });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe('mine\n');
    const down = await cli(sb, ['down', '--yes'], { cwd: dir });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(down.stderr).not.toMatch(/changed both/);
    expect(readdirSync(dir).filter((f) => f.includes('.ec2-'))).toEqual([beside]);
  });
});
