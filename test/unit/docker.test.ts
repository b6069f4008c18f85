import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkDockerOptions,
  dockerArgs,
  dockerRunArgv,
  dockerShell,
  imageReference,
  CONTAINER_SHELL,
  type DockerRun,
} from '../../src/remote/docker.js';
import { jobStartCommand } from '../../src/remote/on-instance.js';
import { sessionCommand, shQuote } from '../../src/remote/remote-command.js';
import { UsageError } from '../../src/errors.js';
import { randomCommand, rng } from '../fixtures/random-command.js';

const run: DockerRun = { image: 'ubuntu:24.04', args: ['--shm-size=8g', '-e', 'A=b c'] };

describe('the docker run argv', () => {
  const base = (extra: { tty?: string[]; gpus?: string[] }) => [
    'docker',
    'run',
    '--rm',
    '--init',
    '-i',
    ...(extra.tty ?? []),
    // The container's processes carry the session's id: a stopped session's recovery finds them.
    '-e',
    'SSH_EC2_SESSION',
    '--user',
    '1000:1000',
    ...(extra.gpus ?? []),
    '-v',
    '/home/u/p q:/home/u/p q',
    '-w',
    '/home/u/p q',
    '--shm-size=8g',
    '-e',
    'A=b c',
    'ubuntu:24.04',
    'sh',
    '-c',
  ];
  it.each([
    [false, false, base({})],
    [true, false, base({ tty: ['-t'] })],
    [false, true, base({ gpus: ['--gpus=all'] })],
    [true, true, base({ tty: ['-t'], gpus: ['--gpus=all'] })],
  ])('tty %s, GPU %s', (tty, gpus, want) => {
    const at = { dir: '/home/u/p q', user: '1000:1000', tty, gpus };
    expect(dockerRunArgv(run, at, 'make train')).toEqual([...want, 'make train']);
    expect(dockerRunArgv(run, at, undefined)).toEqual([...want, CONTAINER_SHELL]);
  });
});

/**
 * The shell line run as the instance runs it (sh, from the project directory), with a `docker`
 * that records its argv and a `nvidia-smi` that sees a GPU or fails as without a driver.
 */
function onInstance(line: string, o: { gpu: boolean; exit?: number }) {
  const home = mkdtempSync(join(tmpdir(), 'docker-'));
  const bin = join(home, 'bin');
  const dir = join(home, 'proj dir');
  mkdirSync(bin);
  mkdirSync(dir);
  writeFileSync(join(bin, 'docker'), `#!/bin/sh\nprintf '%s\\0' "$@" > "$HOME/argv"\nexit ${o.exit ?? 0}\n`, {
    mode: 0o755,
  });
  writeFileSync(join(bin, 'nvidia-smi'), `#!/bin/sh\nexit ${o.gpu ? 0 : 9}\n`, { mode: 0o755 });
  const r = spawnSync('/bin/sh', ['-c', line], {
    env: { PATH: `${bin}:/usr/bin:/bin`, HOME: home },
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const argv = readFileSync(join(home, 'argv'), 'utf8').split('\0').slice(0, -1);
  const real = realpathSync(dir);
  rmSync(home, { recursive: true, force: true });
  return { argv, status: r.status, stderr: r.stderr, dir: real };
}

describe('the line the instance runs', () => {
  const ids = `${process.getuid!()}:${process.getgid!()}`;
  it.each([true, false])('fills in the directory, the uid:gid, the GPU (%s) and no -t without a terminal', (gpu) => {
    const r = onInstance(`c='echo "$HOME"'; ${dockerShell(run, '"$c"')}`, { gpu });
    const at = { dir: r.dir, user: ids, tty: false, gpus: gpu };
    expect(r.argv).toEqual(['run', ...dockerRunArgv(run, at, 'echo "$HOME"').slice(2)]);
  });

  it('-t on a terminal (script(1) gives the line one)', () => {
    const home = mkdtempSync(join(tmpdir(), 'docker-tty-'));
    writeFileSync(join(home, 'docker'), `#!/bin/sh\nprintf '%s\\0' "$@" > "$HOME/argv"\n`, { mode: 0o755 });
    const line = `c=true; ${dockerShell(run, '"$c"')}`;
    spawnSync('script', ['-q', '-c', `sh -c ${shQuote(line)}`, '/dev/null'], {
      env: { PATH: `${home}:/usr/bin:/bin`, HOME: home },
      stdio: 'ignore',
    });
    const argv = readFileSync(join(home, 'argv'), 'utf8').split('\0');
    rmSync(home, { recursive: true, force: true });
    expect(argv.slice(0, 6)).toEqual(['run', '--rm', '--init', '-i', '-t', '-e']);
  });

  it('passes the exit status through, saying what docker’s own statuses mean', () => {
    for (const exit of [0, 3, 125, 126, 127]) {
      const r = onInstance(`c=true; ${dockerShell(run, '"$c"')}`, { gpu: false, exit });
      expect(r.status).toBe(exit);
      expect(r.stderr.includes(`ssh-ec2: --docker: exit ${exit}:`)).toBe(exit >= 125);
    }
  });

  it('gives the command to the container exactly, whatever it contains (100 random strings)', () => {
    const next = rng(14);
    for (let i = 0; i < 100; i++) {
      const command = randomCommand(next);
      const r = onInstance(sessionCommand('proj', command, { docker: run }).replace("cd -- 'proj'", 'true'), {
        gpu: false,
      });
      expect(r.argv.at(-1), `case ${i}: ${JSON.stringify(command)}`).toBe(command);
      expect(r.argv.at(-2)).toBe('-c');
    }
  });

  it('a job carries the line, base64, for job.sh to evaluate', () => {
    const start = jobStartCommand({
      id: 'abc',
      mux: 'tmux',
      dir: 'p',
      detached: true,
      command: 'make',
      token: 't',
      docker: run,
    });
    const b64 = start.split(' ').at(-1)!;
    expect(Buffer.from(b64, 'base64').toString()).toBe(dockerShell(run, '"$c"'));
    expect(jobStartCommand({ id: 'abc', mux: 'tmux', dir: 'p', detached: true, command: 'make', token: 't' })).toMatch(
      / t$/,
    );
  });
});

describe('--docker IMAGE', () => {
  it.each([
    'ubuntu',
    'ubuntu:24.04',
    'nvcr.io/nvidia/pytorch:24.05-py3',
    'localhost:5000/team/img',
    'ghcr.io/o/n@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    'public.ecr.aws/lambda/python:3.12',
  ])('takes %s', (image) => expect(imageReference(image, '--docker')).toBe(image));

  it.each(['Ubuntu', 'ubuntu:', 'a b', '-it', 'ubuntu:24.04 bash', 'x/../y', 'img@sha256:short', ':tag'])(
    'refuses %j (exit 2)',
    (image) => expect(() => imageReference(image, '--docker')).toThrow(UsageError),
  );

  it('an empty value is no container', () => expect(imageReference('', 'SSH_EC2_DOCKER')).toBeUndefined());
});

describe('--docker-args', () => {
  it.each([
    ['', []],
    ['--shm-size=8g', ['--shm-size=8g']],
    [`-e SEED=3  -e 'MSG=a b' -e "Q=\\"x\\""`, ['-e', 'SEED=3', '-e', 'MSG=a b', '-e', 'Q="x"']],
    ['-v /data:/data\\ x --ipc=host', ['-v', '/data:/data x', '--ipc=host']],
    ["--label 'a;b' -e X=*", ['--label', 'a;b', '-e', 'X=*']],
  ])('splits %j as a shell would', (raw, words) => expect(dockerArgs(raw, '--docker-args')).toEqual(words));

  it.each([
    ['-e HOME=$HOME', '"$" would be expanded'],
    ['-e X=`id`', '"`" would be expanded'],
    ['--rm; rm -rf /', '";" would be expanded'],
    ["-e 'X", 'unclosed'],
    ['bash', 'start with an option'],
    ['-d', 'would detach'],
    ['--detach', 'would detach'],
    ['-itd', 'would detach'],
  ])('refuses %j', (raw, why) => expect(() => dockerArgs(raw, '--docker-args')).toThrow(why));

  it('needs --docker', () => {
    expect(() => checkDockerOptions({ dockerArgs: ['--ipc=host'] })).toThrow('--docker-args needs --docker IMAGE');
    expect(() => checkDockerOptions({ docker: 'x', dockerArgs: ['--ipc=host'] })).not.toThrow();
  });
});
