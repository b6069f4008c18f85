/**
 * The command reaches the remote shell exactly through every multiplexed mode: job.sh (the
 * on-instance wrapper) run for real in tmux and screen, detached or not, with a $SHELL that
 * records the string it is finally given. (The plain mode: test/unit/remote-command.test.ts.)
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jobInterrupt, jobStartCommand } from '../../src/remote/on-instance.js';
import { INSTANCE_SCRIPTS } from '../../src/remote/instance-contract.js';
import { randomCommand, rng } from '../fixtures/random-command.js';

const home = mkdtempSync(join(tmpdir(), 'jobq-'));
mkdirSync(join(home, '.ssh-ec2'), { mode: 0o700 });
// Every script job.sh sources (results.sh, usage.sh, notify.sh beside lib.sh), as the install does.
for (const name of INSTANCE_SCRIPTS) {
  copyFileSync(new URL(`../../src/agent/${name}`, import.meta.url), join(home, '.ssh-ec2', name));
}
const recorder = join(home, 'recorder');
writeFileSync(recorder, '#!/bin/sh\nprintf %s "$2" > "$HOME/got"\necho output-of-the-job\n', { mode: 0o755 });
mkdirSync(join(home, 'screens'), { mode: 0o700 });
chmodSync(join(home, 'screens'), 0o700);
const env = {
  PATH: process.env.PATH,
  HOME: home,
  SHELL: recorder,
  TMUX_TMPDIR: home,
  SCREENDIR: join(home, 'screens'),
  TERM: 'xterm',
};

afterAll(() => {
  try {
    execFileSync('tmux', ['kill-server'], { env, stdio: 'ignore' });
  } catch {
    // no server left
  }
  rmSync(home, { recursive: true, force: true });
});

/** Polls `check` until it holds; fails with `what` after `ms`. */
async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function runJob(mux: 'tmux' | 'screen', command: string, detached: boolean): Promise<string> {
  const status = join(home, '.ssh-ec2', 'jobs', 'q', 'status');
  rmSync(join(home, 'got'), { force: true });
  execFileSync(
    '/bin/sh',
    ['-c', jobStartCommand({ id: 'q', mux, dir: "proj 'x' $y", detached, command, token: 't0' })],
    {
      env,
      cwd: home,
      stdio: 'ignore',
    },
  );
  await until(`the job to end: ${JSON.stringify(command)}`, () => existsSync(status));
  return readFileSync(join(home, 'got'), 'utf8');
}

it('tmux logs the output into a project directory whose name needs quoting', async () => {
  await runJob('tmux', 'echo logged-line', true);
  // tmux's pipe-pane writes the log on its own time, maybe after the job has ended.
  const log = join(home, "proj 'x' $y", 'ssh-ec2-job.log');
  await until('the output in the log', () => readFileSync(log, 'utf8').includes('output-of-the-job'));
  expect(readFileSync(log, 'utf8')).toMatch(/=== ssh-ec2 job started .*: echo logged-line\n[^]*output-of-the-job/);
});

describe('the command through tmux and screen', () => {
  it.each(['tmux', 'screen'] as const)(
    '%s: reaches the shell exactly (100 random strings, detached or not)',
    async (mux) => {
      const next = rng(mux === 'tmux' ? 7 : 11);
      for (let i = 0; i < 100; i++) {
        const command = randomCommand(next);
        expect(await runJob(mux, command, i % 2 === 0), `case ${i}: ${JSON.stringify(command)}`).toBe(command);
      }
    },
    400_000,
  ); // 100 jobs each: a safety net for a busy machine, not a measure
});

describe('a Ctrl-C passed on to a foreground job', () => {
  it.each(['tmux', 'screen'] as const)(
    '%s: sent before its job has started, it waits for that job (not the ended one before it) and reaches it',
    async (mux) => {
      const id = `int-${mux}`;
      const shellEnv = { ...env, SHELL: '/bin/sh' };
      const status = join(home, '.ssh-ec2', 'jobs', id, 'status');
      const start = (command: string, token: string) =>
        execFileSync('/bin/sh', ['-c', jobStartCommand({ id, mux, dir: 'p', detached: false, command, token })], {
          env: shellEnv,
          cwd: home,
          stdio: 'ignore',
        });
      start('true', 'earlier');
      await until('the earlier job to end', () => existsSync(status));
      // Its files (pid, status) are still there when the interrupt for the next start arrives.
      const interrupt = spawn('/bin/sh', ['-c', jobInterrupt(id, 'next')], {
        env: shellEnv,
        cwd: home,
        stdio: 'ignore',
      });
      const sent = new Promise((resolve) => interrupt.on('exit', resolve));
      start('sleep 60', 'next');
      await sent;
      await until('the job to end of the Ctrl-C', () => existsSync(status) && readFileSync(status, 'utf8') !== '');
      expect(readFileSync(status, 'utf8').trim()).toBe('130');
    },
    60_000,
  );
});

it('the measured command is marked in the foreground (fg), and does not see the mark variable', async () => {
  const id = 'fg-mark';
  const d = join(home, '.ssh-ec2', 'jobs', id);
  execFileSync(
    '/bin/sh',
    ['-c', jobStartCommand({ id, mux: 'tmux', dir: 'fg', detached: true, command: 'env > env.txt', token: 'fg' })],
    {
      env: { ...env, SHELL: '/bin/sh' },
      cwd: home,
      stdio: 'ignore',
    },
  );
  await until('the job to end', () => existsSync(join(d, 'status')));
  expect(existsSync(join(d, 'fg'))).toBe(true);
  const seen = readFileSync(join(home, 'fg', 'env.txt'), 'utf8');
  expect(seen).toMatch(/^HOME=/m);
  expect(seen).not.toMatch(/SSH_EC2_FOREGROUND_MARK/);
});

describe("a spot notice's SIGTERM to a job's process group (interruption.sh term_jobs)", () => {
  // The command checkpoints on SIGTERM, taking a while; its status is recorded only once it has.
  const checkpointing = `trap 'sleep 1; echo saved > ckpt; exit 143' TERM; : > ready; while :; do sleep 1; done`;
  const bin = join(home, 'bin');
  mkdirSync(bin);
  // docker passes the signal into the container (--sig-proxy, --init): here, the command is docker.
  writeFileSync(join(bin, 'docker'), '#!/bin/sh\nfor a; do last=$a; done\nexec /bin/sh -c "$last"\n', { mode: 0o755 });

  it.each([
    ['measured (usage.sh)', undefined],
    ['--docker', { image: 'ubuntu:24.04', args: [] }],
  ] as const)(
    '%s: the status is written after the checkpoint, and is the command’s',
    async (_, docker) => {
      const id = docker ? 'term-docker' : 'term';
      const dir = join(home, id);
      const d = join(home, '.ssh-ec2', 'jobs', id);
      const shellEnv = { ...env, SHELL: '/bin/sh', PATH: `${bin}:${process.env.PATH}` };
      execFileSync(
        '/bin/sh',
        [
          '-c',
          jobStartCommand({ id, mux: 'tmux', dir: id, detached: true, command: checkpointing, token: 't', docker }),
        ],
        { env: shellEnv, cwd: home, stdio: 'ignore' },
      );
      await until('the command to be ready', () => existsSync(join(dir, 'ready')));
      const pid = Number(readFileSync(join(d, 'pid'), 'utf8'));
      process.kill(-pid, 'SIGTERM');
      await until('the status', () => existsSync(join(d, 'status')));
      expect(existsSync(join(dir, 'ckpt'))).toBe(true);
      expect(readFileSync(join(d, 'status'), 'utf8').trim()).toBe('143');
      if (!docker) expect(readFileSync(join(d, 'usage'), 'utf8')).toMatch(/^\d+ \d+\n$/);
    },
    60_000,
  );
});
