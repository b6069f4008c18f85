/**
 * --docker's line (remote/docker.ts) against a real Docker engine, where this machine has one to
 * start (Debian's docker.io: dockerd, as root): the e2e tests use a stand-in on the sandbox's
 * instances (test/sandbox/docker-stand-in.ts), which cannot reach a daemon here; this checks that
 * real docker takes the same line — the mount at the same path as working directory, --init, the
 * exit status passed through, docker's own 125 and 127 said, a SIGTERM reaching the command.
 * The engine runs on its own socket and directories, without networking (no bridge, no iptables),
 * from an image imported from a few of this machine's programs: nothing is pulled.
 * Skipped where there is no dockerd (CI installs none).
 */
import { execa, type ResultPromise } from 'execa';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerShell, type DockerRun } from '../../src/remote/docker.js';
import { waitFor } from '../../src/time.js';

const DOCKERD = '/usr/sbin/dockerd';
const runnable = existsSync(DOCKERD) && process.getuid?.() === 0;
const IMAGE = 'ssh-ec2-test/tiny:1';

let root: string;
let daemon: ResultPromise | undefined;
let env: Record<string, string>;

/** A root file system of sh, sleep and cat with their libraries, as a local image. */
function tinyRootfs(dir: string): void {
  const programs = ['/bin/sh', '/bin/dash', '/bin/sleep', '/bin/cat'].filter(existsSync);
  const libs = spawnSync('ldd', programs, { encoding: 'utf8' }).stdout.match(/\/[^\s:]+\.so[^\s:]*/g) ?? [];
  for (const file of [...programs, ...new Set(libs)]) {
    mkdirSync(join(dir, dirname(file)), { recursive: true });
    copyFileSync(file, join(dir, file));
  }
}

beforeAll(async () => {
  if (!runnable) return;
  root = mkdtempSync(join(tmpdir(), 'engine-'));
  const sock = join(root, 'docker.sock');
  env = { PATH: process.env.PATH!, HOME: root, DOCKER_HOST: `unix://${sock}` };
  daemon = execa(
    DOCKERD,
    [
      '--host',
      `unix://${sock}`,
      '--data-root',
      join(root, 'data'),
      '--exec-root',
      join(root, 'exec'),
      '--pidfile',
      join(root, 'pid'),
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
    ],
    { reject: false, stdio: 'ignore' },
  );
  await waitFor(
    async () => ((await execa('docker', ['info'], { env, reject: false })).exitCode === 0 ? true : undefined),
    { what: 'dockerd to answer', timeoutMs: 60_000 },
  );
  tinyRootfs(join(root, 'rootfs'));
  await execa('sh', ['-c', 'tar -C "$1" -c . | docker import - "$2"', 'sh', join(root, 'rootfs'), IMAGE], { env });
}, 120_000);

afterAll(async () => {
  if (!daemon) return;
  daemon.kill('SIGTERM');
  await daemon;
  rmSync(root, { recursive: true, force: true });
});

const run: DockerRun = { image: IMAGE, args: ['--network=none'] };

/** The line as the instance runs it: sh, from the project directory, the command in $c. */
function line(command: string, o: DockerRun = run) {
  const project = join(root, 'project dir');
  mkdirSync(project, { recursive: true });
  const c = `c='${command.replaceAll("'", `'\\''`)}'`;
  return {
    project,
    child: execa('sh', ['-c', `${c}; ${dockerShell(o, '"$c"')}`], {
      env,
      cwd: project,
      reject: false,
      stdin: 'ignore',
    }),
  };
}

describe.skipIf(!runnable)('--docker with a real Docker engine (dockerd on this machine)', () => {
  it('runs the command in the project directory mounted at its own path, the status passed through', async () => {
    const { project, child } = line('pwd > out.txt; echo "a  b" >> out.txt; exit 3');
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(3);
    expect(readFileSync(join(project, 'out.txt'), 'utf8')).toBe(`${project}\na  b\n`);
    expect(r.stderr).toBe('');
  });

  it("says what docker's own 127 and 125 mean", async () => {
    const missing = await line('no-such-program').child;
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toContain('ssh-ec2: --docker: exit 127: a command was not found');
    const bad = await line('true', { image: IMAGE, args: ['--no-such-option=1'] }).child;
    expect(bad.exitCode).toBe(125);
    expect(bad.stderr).toContain('ssh-ec2: --docker: exit 125: docker could not run the container');
  });

  it("a SIGTERM to docker reaches the container's command, whose status comes back", async () => {
    const { project, child } = line(
      "trap 'echo got TERM > term.txt; exit 9' TERM; : > started; while :; do sleep 0.1; done",
    );
    await waitFor(async () => (existsSync(join(project, 'started')) ? true : undefined), {
      what: 'the command to start',
      timeoutMs: 30_000,
    });
    // The docker client is the line's shell's child (ps: no pkill by name here).
    const pids = spawnSync('ps', ['-o', 'pid=', '--ppid', String(child.pid)], { encoding: 'utf8' }).stdout;
    for (const pid of pids.trim().split(/\s+/)) process.kill(Number(pid), 'SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(9);
    expect(readFileSync(join(project, 'term.txt'), 'utf8')).toBe('got TERM\n');
  });
});
