/**
 * Every message true, short and specific (issue #10, problems 7 and 10): one "what next" line,
 * never two that contradict, `ssh-ec2 down` as the way to end, paths quoted for the shell, each
 * verb's own words when there is no instance, the origin of a bad value, forwards announced, ls
 * naming its region.
 */
import { execa } from 'execa';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BIN, cli, instanceState, makeProject, NODE, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();

/** The lines that tell the user what to run next. */
const whatNext = (stderr: string) => stderr.split('\n').filter((l) => /ssh-ec2 (down|--terminate|in )|End it/.test(l));

describe('what next', () => {
  it('--leave: one line, naming ssh-ec2 down, the path quoted; then a run during a job says only why', async () => {
    const dir = makeProject(sb, 'my project (v2)', { 'train.py': 'print(1)\n' });
    const left = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(left.exitCode, left.stderr).toBe(0);
    const id = reportedInstance(left.stderr);
    expect(whatNext(left.stderr), left.stderr).toEqual([
      `  Next: ssh-ec2 in '${dir}' reuses it; ssh-ec2 down there ends it.`,
    ]);
    expect(left.stderr).not.toMatch(/--terminate true/);

    const job = await cli(sb, ['--detach', '--multi', 'tmux', 'sleep 600'], { cwd: dir });
    expect(job.exitCode, job.stderr).toBe(0);
    // A plain run while the job runs (nvidia-smi, say): the job keeps the instance, said once.
    const during = await cli(sb, ['true'], { cwd: dir });
    expect(during.exitCode, during.stderr).toBe(0);
    expect(whatNext(during.stderr), during.stderr).toEqual([
      `ssh-ec2: warning: a detached job is still running on ${id}, so it is left running: its agent stops it once the job is done (ssh-ec2 down ends both now).`,
    ]);
    expect((await cli(sb, ['down', '--yes'], { cwd: dir })).exitCode).toBe(0);
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('--stop: says that a plain next run restarts it and terminates it, unless told again', async () => {
    const dir = makeProject(sb, 'stop-next');
    const r = await cli(sb, ['--stop', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /stopped i-\w+: its disk is kept \(storage is billed\)\.\n {2}Next: ssh-ec2 in \S+ restarts it, then terminates it at its end unless given --stop or --leave again; ssh-ec2 down ends it now\./,
    );
    // …and it does: the final state is each run's own.
    const next = await cli(sb, ['true'], { cwd: dir });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/terminated i-/);
  });
});

describe('no instance: each verb says what it could not do', () => {
  it('pull, down, logs and --attach', async () => {
    const dir = makeProject(sb, 'none here');
    const pull = await cli(sb, ['pull'], { cwd: dir });
    expect(pull.exitCode).toBe(7);
    expect(pull.stderr).toMatch(/no ssh-ec2 instance for '.*none here' in \S+: nothing to pull/);
    expect(pull.stderr).not.toMatch(/attach/);
    const down = await cli(sb, ['down', '--yes'], { cwd: dir });
    expect(down.exitCode).toBe(7);
    expect(down.stderr).toMatch(/nothing to end/);
    expect(down.stderr).toMatch(/nothing here costs money/);
    expect(down.stderr).not.toMatch(/to start one/);
    const attach = await cli(sb, ['--attach'], { cwd: dir });
    expect(attach.stderr).toMatch(/nothing to attach to/);
  });
});

describe('the origin of a bad value', () => {
  it('an instance type from .env that AWS does not know names .env', async () => {
    const dir = makeProject(sb, 'badtype-dotenv', { '.env': 'AWS_INSTANCE_TYPE=c9zz.huge\n' });
    sb.clearCalls();
    const r = await cli(sb, ['--image-name', 'anything*', 'true'], { cwd: dir });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toMatch(/AWS_INSTANCE_TYPE \(in \.env\): .*c9zz\.huge/);
    expect(sb.calls('RunInstances')).toHaveLength(0);
  });
  it('one the default image cannot drive, from .env, names .env too', async () => {
    const dir = makeProject(sb, 'badfamily-dotenv', { '.env': 'AWS_INSTANCE_TYPE=inf2.xlarge\n' });
    const r = await cli(sb, ['true'], { cwd: dir });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/AWS_INSTANCE_TYPE \(in \.env\): the default image/);
  });
});

describe('ls', () => {
  it('with none, names the region it looked in', async () => {
    const dir = makeProject(sb, 'ls-none');
    const r = await cli(sb, ['ls', '--region', 'ap-south-1'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/no ssh-ec2 instances \(running or stopped\) for you in ap-south-1/);
  });
  it('a stopped instance shows what its disk costs', async () => {
    const dir = makeProject(sb, 'ls-stopped');
    const r = await cli(sb, ['--stop', 'true'], { cwd: dir });
    const id = reportedInstance(r.stderr);
    const ls = await cli(sb, ['ls'], { cwd: dir });
    const row = ls.stdout.split('\n').find((l) => l.includes(id));
    // Its own COST column since issue #13.
    expect(row, ls.stdout).toMatch(/stopped\s+\S+\s+-\s+disk \d+ GiB: \$\d+\.\d{2,4}\/month /);
    expect((await cli(sb, ['down', '--yes'], { cwd: dir })).exitCode).toBe(0);
  });
});

describe('forwards', () => {
  it('each -L forward is announced once its local end listens', async () => {
    const port = await freePort();
    const dir = makeProject(sb, 'forward-said');
    // The command waits on stdin: it ends when the test has seen the announcement (no sleep).
    const child = execa(NODE, [BIN, '-L', `${port}:localhost:${port}`, '--', 'cat >/dev/null'], {
      cwd: dir,
      env: sb.env(),
      extendEnv: false,
      stdin: 'pipe',
      reject: false,
      timeout: 90_000,
      encoding: 'utf8',
    });
    let said = '';
    await new Promise<void>((resolve) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        said += chunk.toString();
        if (/forwarding /.test(said)) resolve();
      });
      void child.finally(() => resolve());
    });
    child.stdin!.end();
    const r = await child;
    expect(r.exitCode, said).toBe(0);
    expect(said).toMatch(new RegExp(`forwarding localhost:${port} → instance:${port}\\n`));
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
