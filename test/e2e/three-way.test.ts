/**
 * Issue #10, problems 1-3, through the built CLI against the sandbox: the sync back never reverts
 * a local edit (pull, down, --attach, a plain run, a shell redirect into the project), a file
 * deleted or renamed here never comes back and does not linger on the instance, and a job
 * rewriting its outputs leaves no backups, only the list of what came back. The rules themselves,
 * row by row with every rsync, are in test/integration/three-way.test.ts.
 */
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
