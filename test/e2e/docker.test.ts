/**
 * --docker IMAGE (issue #14), with a recording stand-in for docker on the instances' PATH
 * (test/sandbox/docker-stand-in.ts): the sandbox's instances cannot reach a real engine (a daemon
 * here sees none of an instance's private mounts). The stand-in refuses (125) a call whose mount,
 * working directory, user, --gpus or -t does not fit where it runs, records each call, and runs
 * the command in the mounted directory, passing SIGTERM on as docker does.
 * Every run here is in one project directory, so on the one instance the first launches (--leave),
 * ended at the end.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDockerCalls, type DockerCall } from '../sandbox/docker-stand-in.js';
import { CONTAINER_SHELL } from '../../src/remote/docker.js';
import { randomCommand, rng } from '../fixtures/random-command.js';
import {
  cli,
  cliInTerminal,
  makeProject,
  pathOnInstance,
  remotePath,
  reportedInstance,
  shq,
  until,
  useSandbox,
} from './helpers.js';

const sb = useSandbox();
const IMAGE = 'nvcr.io/nvidia/pytorch:24.05-py3';
const NAME = 'docker';
let dir: string;

beforeAll(() => {
  dir = makeProject(sb, NAME, { 'in.txt': 'from home\n' });
});

afterAll(async () => {
  await cli(sb, ['down', '--all', '--yes'], { cwd: sb.dir });
});

const calls = (): DockerCall[] => readDockerCalls(sb.latestHome);
const lastCall = (): DockerCall => {
  const all = calls();
  expect(all.length).toBeGreaterThan(0);
  return all.at(-1)!;
};

/** The argv docker got, from `run` up to the image, as --docker sends it for `remoteDir` on the latest instance. */
function expectedArgv(o: { tty: boolean; gpus: boolean; args?: string[]; image?: string }) {
  const p = pathOnInstance(sb, NAME);
  const m = sb.latestMachine();
  return [
    'run',
    '--rm',
    '--init',
    '-i',
    ...(o.tty ? ['-t'] : []),
    '-e',
    'SSH_EC2_SESSION',
    '--user',
    `${m.uid}:${m.gid}`,
    ...(o.gpus ? ['--gpus=all'] : []),
    '-v',
    `${p}:${p}`,
    '-w',
    p,
    ...(o.args ?? []),
    o.image ?? IMAGE,
    'sh',
    '-c',
  ];
}

describe('--docker refusals, before anything is launched', () => {
  it.each([
    [['--docker', 'Not An Image', 'true'], '--docker: "Not An Image" is not an image reference'],
    [['--docker-args=--ipc=host', 'true'], '--docker-args needs --docker IMAGE'],
    [['--docker', 'ubuntu', '--docker-args=-e X=$HOME', 'true'], '"$" would be expanded'],
  ])('%j: exit 2, one line', async (args, line) => {
    sb.clearCalls();
    const r = await cli(sb, args, { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(line);
    expect(sb.calls('RunInstances')).toEqual([]);
  });
});

describe('--docker IMAGE, with a recording stand-in for docker', () => {
  it('runs the command in the container: its status passed through (3, then 0), its result file home, the project mounted at its own path as -w, the user, --gpus on a GPU instance', async () => {
    const command = 'echo "seed $SEED in $(pwd)" > out.txt; cat in.txt >> out.txt; exit 3';
    const r = await cli(sb, ['--leave', '--docker', IMAGE, "--docker-args=-e 'SEED=3'", '--', command], {
      cwd: dir,
    });
    expect(r.exitCode, r.stderr).toBe(3);
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe(`seed 3 in ${pathOnInstance(sb, NAME)}\nfrom home\n`);
    const call = lastCall();
    expect(call.problems).toEqual([]);
    expect(call.argv).toEqual([...expectedArgv({ tty: false, gpus: true, args: ['-e', 'SEED=3'] }), command]);
    expect(r.stderr).not.toContain('ssh-ec2: --docker: exit');

    const ok = await cli(sb, ['--leave', '--docker', IMAGE, '--', 'exit 0'], { cwd: dir });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(reportedInstance(ok.stderr)).toBe(reportedInstance(r.stderr));
    expect(lastCall().argv).toEqual([...expectedArgv({ tty: false, gpus: true }), 'exit 0']);
  });

  it('no --gpus where nvidia-smi sees no GPU', async () => {
    sb.setGpuVisible(false);
    try {
      const r = await cli(sb, ['--leave', '--docker', IMAGE, '--', 'true'], { cwd: dir });
      expect(r.exitCode, r.stderr).toBe(0);
    } finally {
      sb.setGpuVisible(true);
    }
    expect(lastCall().argv).toEqual([...expectedArgv({ tty: false, gpus: false }), 'true']);
  });

  it("docker's own status (125: an image no registry has) is passed through and said in one line", async () => {
    const r = await cli(sb, ['--leave', '--docker', 'missing/image:1', '--', 'touch ran.txt'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(125);
    expect(r.stderr).toContain('ssh-ec2: --docker: exit 125: docker could not run the container');
    expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
  });

  it('a session on a terminal gets -t; with no command, a shell in the container', async () => {
    const term = cliInTerminal(sb, ['--leave', '--docker', IMAGE, '--', '[ -t 0 ] && [ -t 1 ] && echo tty-inside'], {
      cwd: dir,
    });
    term.stdin!.end();
    const r = await term;
    expect(r.stdout).toContain('tty-inside');
    expect(r.stdout).toMatch(/ssh-ec2: done in /); // status 0
    let call = lastCall();
    expect(call.tty).toBe(true);
    expect(call.argv).toEqual([...expectedArgv({ tty: true, gpus: true }), '[ -t 0 ] && [ -t 1 ] && echo tty-inside']);

    const shell = cliInTerminal(sb, ['--leave', '--docker', IMAGE], { cwd: dir });
    shell.stdin!.write('echo "in $(pwd)"; exit 4\r');
    const s = await shell;
    // script(1) exits 0 whatever its command did: the status is read from ssh-ec2's closing line.
    expect(s.stdout).toContain('finished with status 4');
    expect(s.stdout).toContain(`in ${pathOnInstance(sb, NAME)}`);
    call = lastCall();
    expect(call.argv).toEqual([...expectedArgv({ tty: true, gpus: true }), CONTAINER_SHELL]);
  });

  it("a detached job runs in the container, and a SIGTERM sent to the job reaches the container's command, whose status is the job's", async () => {
    const command =
      "trap 'echo got TERM > term.txt; exit 7' TERM; echo started > started.txt; while :; do sleep 0.1; done";
    const r = await cli(sb, ['--leave', '--detach', '--docker', IMAGE, '--', command], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    await until(() => existsSync(join(remotePath(sb, NAME), 'started.txt')), 'the job to start in its container');
    const call = lastCall();
    // In tmux: a terminal.
    expect(call.argv).toEqual([...expectedArgv({ tty: true, gpus: true }), command]);

    // As a stop of the job would: SIGTERM to the job's process (its pid file).
    const p = pathOnInstance(sb, NAME);
    const killed = await sb
      .latestMachine()
      .runAsUser(
        `for d in ~/.ssh-ec2/jobs/*; do [ "$(cat "$d/dir")" = ${shq(p)} ] && kill -TERM "$(cat "$d/pid")" && echo sent; done`,
      );
    expect(killed.stdout).toContain('sent');
    await until(
      () => existsSync(join(remotePath(sb, NAME), 'term.txt')),
      "the SIGTERM to reach the container's command",
    );

    const back = await cli(sb, ['--leave', '--attach'], { cwd: dir });
    expect(back.exitCode, back.stderr).toBe(7);
    expect(back.stderr).toContain('the job finished with status 7');
    expect(readFileSync(join(dir, 'term.txt'), 'utf8')).toBe('got TERM\n');
  });

  describe('the command reaches the container exactly (a subset of quoting.test.ts)', () => {
    const modes: [string, string[], number][] = [
      ['plain ssh', [], 5],
      ['tmux', ['--multi', 'tmux'], 2],
      ['--detach --multi screen', ['--detach', '--multi', 'screen'], 2],
    ];
    it.each(modes)('%s: random strings', async (_name, flags, count) => {
      const next = rng(14_000 + flags.length * 1000 + count);
      for (let i = 0; i < count; i++) {
        const command = randomCommand(next);
        const before = calls().length;
        // record-only/: the stand-in records the call and runs nothing.
        const r = await cli(sb, ['--leave', '--docker', 'record-only/q:1', ...flags, '--', command], { cwd: dir });
        expect(r.exitCode, `${JSON.stringify(command)}\n${r.stderr}`).toBe(0);
        await until(() => calls().length > before, 'the docker call');
        // A detached job started next would find this one still running.
        await until(
          async () =>
            (await sb.latestMachine().runAsUser('test ! -f ~/.ssh-ec2/jobs/*/pid || test -f ~/.ssh-ec2/jobs/*/status'))
              .exitCode === 0,
          'the job to end',
        );
        const call = calls().at(-1)!;
        expect(call.problems).toEqual([]);
        expect(call.argv.slice(-3, -1)).toEqual(['sh', '-c']);
        expect(call.argv.at(-1), `case ${i}`).toBe(command);
      }
    });
  });
});
