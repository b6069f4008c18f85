import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ImportKeyPairCommand } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BIN,
  cli,
  NODE,
  shq,
  launches,
  ec2Client,
  instanceState,
  instances,
  localState,
  makeProject,
  pathOnInstance,
  remotePath,
  reportedInstance,
  REPO,
  useSandbox,
} from './helpers.js';

const sb = useSandbox();
const rootKnownHosts = join(homedir(), '.ssh', 'known_hosts');
const fingerprint = (p: string) =>
  existsSync(p) ? createHash('sha256').update(readFileSync(p)).digest('hex') : 'absent';
let knownHostsBefore: string;

beforeAll(() => {
  knownHostsBefore = fingerprint(rootKnownHosts);
});

describe('a command', () => {
  it('runs in the project directory with its output, error output and exit status', async () => {
    const dir = makeProject(sb, 'status', { 'in.txt': 'input\n' });
    const r = await cli(sb, ['cat in.txt; pwd; echo to-stderr >&2; exit 3'], { cwd: dir });
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe(`input\n${pathOnInstance(sb, 'status')}\n`);
    expect(r.stderr).toContain('to-stderr');
    expect(r.stderr).toMatch(/terminated i-/);
    expect(await instanceState(sb, reportedInstance(r.stderr))).toBe('terminated');
  });

  it('joins words as ssh does and passes flags after the first word to the command', async () => {
    const dir = makeProject(sb, 'words');
    const r = await cli(sb, ['printf', "'%s|'", 'a', '--epochs', '3', "'b c'"], { cwd: dir });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('a|--epochs|3|b c|');
    const r2 = await cli(sb, ['--', 'whoami'], { cwd: dir });
    expect(r2.stdout.trim()).toBe(sb.user);
  });

  it('feeds stdin to the remote command', async () => {
    const dir = makeProject(sb, 'stdin');
    const r = await cli(sb, ['tr', 'a-z', 'A-Z'], { cwd: dir, input: 'hello\n' });
    expect(r.stdout).toBe('HELLO\n');
  });
});

describe('an interactive session', () => {
  it('gets a login shell with a terminal in the project directory, driven through tmux', async () => {
    const dir = makeProject(sb, 'interactive', { 'x.txt': 'x' });
    const sock = join(sb.dir, 'tmux-test.sock');
    const env = Object.entries(sb.env()).map(([k, v]) => `${k}=${v}`);
    const exitFile = join(sb.dir, 'interactive.exit');
    const script = `env -i ${env.map(shq).join(' ')} ${shq(NODE)} ${shq(BIN)} --stop; echo $? > ${shq(exitFile)}`;
    await execa('tmux', ['-S', sock, 'new-session', '-d', '-x', '150', '-y', '40', '-c', dir, script]);
    try {
      await until(async () => /interactive\$\s*$/m.test(await pane(sock)), 'a shell prompt in the project directory');
      await execa('tmux', [
        '-S',
        sock,
        'send-keys',
        'tty > tty.txt; pwd > pwd.txt; echo $((6*7)) > answer.txt; exit',
        'Enter',
      ]);
      await until(async () => existsSync(exitFile), 'the session to end', 60_000);
    } finally {
      await execa('tmux', ['-S', sock, 'kill-server'], { reject: false });
    }
    expect(readFileSync(exitFile, 'utf8').trim()).toBe('0');
    expect(readFileSync(join(dir, 'answer.txt'), 'utf8')).toBe('42\n');
    expect(readFileSync(join(dir, 'tty.txt'), 'utf8')).toMatch(/^\/dev\/pts\/\d+/);
    expect(readFileSync(join(dir, 'pwd.txt'), 'utf8').trim()).toBe(pathOnInstance(sb, 'interactive'));
  });
});

describe('the final state', () => {
  it('stop keeps the instance for the next run, which restarts it without launching', async () => {
    const dir = makeProject(sb, 'reuse');
    sb.clearCalls();
    const first = await cli(sb, ['--stop', 'echo one > one.txt'], { cwd: dir });
    expect(first.exitCode).toBe(0);
    const id = reportedInstance(first.stderr);
    expect(await instanceState(sb, id)).toBe('stopped');
    expect(launches(sb)).toHaveLength(1);

    const second = await cli(sb, ['--leave', 'cat one.txt'], { cwd: dir });
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toBe('one\n');
    expect(second.stderr).toContain(`starting stopped instance ${id}`);
    expect(second.stderr).toMatch(/left i-\w+ \(g4dn\.xlarge, about \$0\.\d\d\/hour on demand\) running/);
    expect(await instanceState(sb, id)).toBe('running');
    expect(launches(sb)).toHaveLength(1);
    expect(sb.calls('StartInstances')).toHaveLength(1);

    const third = await cli(sb, ['true'], { cwd: dir });
    expect(third.exitCode).toBe(0);
    expect(await instanceState(sb, id)).toBe('terminated');
    expect(launches(sb)).toHaveLength(1);
    // Host keys are remembered per instance, and forgotten with it.
    expect(existsSync(localState(sb, 'known_hosts', id))).toBe(false);
  });

  it('AWS_FINAL_STATE from .env applies when no flag says otherwise', async () => {
    const dir = makeProject(sb, 'dotenv-final', {
      // A GPU type: a GPU-less one with the default GPU image is refused (issue #13).
      '.env': 'AWS_FINAL_STATE=stop\nAWS_INSTANCE_TYPE=g5.xlarge\nX="$(touch pwned)"\n',
    });
    const r = await cli(sb, ['true'], { cwd: dir });
    expect(r.exitCode).toBe(0);
    const id = reportedInstance(r.stderr);
    expect(await instanceState(sb, id)).toBe('stopped');
    expect(launches(sb).at(-1)?.params.InstanceType).toBe('g5.xlarge');
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    await cli(sb, ['--terminate', 'true'], { cwd: dir });
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});

describe('keys', () => {
  it('without -i, a fresh key is pushed with EC2 Instance Connect for the login user', async () => {
    const dir = makeProject(sb, 'eic');
    sb.clearCalls();
    const r = await cli(sb, ['true'], { cwd: dir });
    expect(r.exitCode).toBe(0);
    const pushes = sb.calls('SendSSHPublicKey');
    expect(pushes.length).toBeGreaterThanOrEqual(1);
    expect(pushes[0]!.params.InstanceOSUser).toBe(sb.user);
    expect(launches(sb)[0]!.params.KeyName).toBeUndefined();
  });

  it('with -i, the EC2 key pair and that file are used, and nothing is pushed', async () => {
    const dir = makeProject(sb, 'pem');
    const key = join(sb.dir, 'pem-key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const pub = readFileSync(`${key}.pub`, 'utf8').trim();
    await ec2Client(sb).send(new ImportKeyPairCommand({ KeyName: 'ppr', PublicKeyMaterial: Buffer.from(pub) }));
    sb.authorizeKey(pub);
    sb.clearCalls();
    const r = await cli(sb, ['-i', key, 'echo via-pem'], { cwd: dir, env: { TRIGRAM: 'ppr' } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('via-pem\n');
    expect(sb.calls('SendSSHPublicKey')).toHaveLength(0);
    const run = launches(sb)[0]!;
    expect(run.params.KeyName).toBe('ppr');
    expect(run.params['TagSpecification.1.Tag.1.Value']).toBe('ppr-pem');
  });
});

describe('two runs started together in one directory', () => {
  it('end up on one instance', async () => {
    const dir = makeProject(sb, 'concurrent');
    sb.clearCalls();
    const [a, b] = await Promise.all([
      cli(sb, ['--leave', 'echo a'], { cwd: dir }),
      cli(sb, ['--leave', 'echo b'], { cwd: dir }),
    ]);
    expect([a.exitCode, b.exitCode], a.stderr + '\n-----\n' + b.stderr).toEqual([0, 0]);
    expect(launches(sb)).toHaveLength(1);
    expect(reportedInstance(a.stderr)).toBe(reportedInstance(b.stderr));
    const live = (await instances(sb)).filter(
      (i) =>
        i.State?.Name === 'running' &&
        i.Tags?.some((t) => t.Value === 'root-concurrent' || t.Value?.endsWith('-concurrent')),
    );
    expect(live).toHaveLength(1);
    await cli(sb, ['true'], { cwd: dir });
  });
});

describe('Makefile.example', () => {
  it('runs a make recipe on the instance with on-ec2-<target> and brings its output back', async () => {
    const dir = makeProject(sb, 'make', { Makefile: 'train:\n\techo trained > model.txt\n' });
    copyFileSync(join(REPO, 'Makefile.example'), join(dir, 'Makefile.example'));
    const r = await execa('make', ['-f', 'Makefile.example', 'on-ec2-train', `SSH_EC2=${shq(NODE)} ${shq(BIN)}`], {
      cwd: dir,
      env: sb.env(),
      extendEnv: false,
      reject: false,
    });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(readFileSync(join(dir, 'model.txt'), 'utf8')).toBe('trained\n');
  });
});

describe('host keys', () => {
  it('are never written to ~/.ssh/known_hosts', () => {
    expect(fingerprint(rootKnownHosts)).toBe(knownHostsBefore);
    expect(existsSync(join(sb.dir, 'local-home', '.ssh', 'known_hosts'))).toBe(false);
  });
});

async function pane(sock: string): Promise<string> {
  const r = await execa('tmux', ['-S', sock, 'capture-pane', '-p'], { reject: false });
  return String(r.stdout);
}

async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('one connection', () => {
  it('carries the sync up, the command and the sync back: one ssh authentication per run', async () => {
    const dir = makeProject(sb, 'one-conn', { 'a.txt': 'a' });
    const r = await cli(sb, ['-v', 'echo b > b.txt'], { cwd: dir });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain('↑ a.txt');
    expect(r.stderr).toContain('↓ b.txt');
    const log = readFileSync(sb.machine(reportedInstance(r.stderr)).sshdLog, 'utf8');
    expect(log.match(/Accepted publickey/g) ?? []).toHaveLength(1);
  });
});

describe('when things go wrong during the command', () => {
  it('a dropped connection: reconnects, brings the results back, exits 255', async () => {
    const dir = makeProject(sb, 'dropped');
    // The command writes a result, then kills the sshd process serving the connection (its
    // shell's grandparent: it runs under ssh-ec2's own shell, which reports its status).
    const r = await cli(sb, ['echo saved > result.txt; kill -9 $(ps -o ppid= -p $PPID); sleep 5'], { cwd: dir });
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toMatch(/connection was lost; reconnecting/);
    expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('saved\n');
    expect(await instanceState(sb, reportedInstance(r.stderr))).toBe('terminated');
  });

  it("a dropped connection while a detached job runs: reconnects first, brings this session's results back, leaves the job running", async () => {
    const name = 'dropped-job';
    const dir = makeProject(sb, name);
    const remote = remotePath(sb, name);
    const job = await cli(sb, ['--detach', 'while [ ! -f go ]; do sleep 0.1; done; echo job > job.txt'], { cwd: dir });
    expect(job.exitCode, job.stderr).toBe(0);
    const id = reportedInstance(job.stderr);
    const r = await cli(sb, ['echo mine > mine.txt; kill -9 $(ps -o ppid= -p $PPID); sleep 5'], { cwd: dir });
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toMatch(/connection was lost; reconnecting/);
    expect(r.stderr).toMatch(/a detached job is still running on i-\w+, so it is left running/);
    expect(readFileSync(join(dir, 'mine.txt'), 'utf8')).toBe('mine\n');
    expect(await instanceState(sb, id)).toBe('running');
    writeFileSync(join(remote, 'go'), '');
    const back = await cli(sb, ['--attach'], { cwd: dir });
    expect(back.exitCode, back.stderr).toBe(0);
    expect(readFileSync(join(dir, 'job.txt'), 'utf8')).toBe('job\n');
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('SIGTERM: the command is ended, results come back, the instance is terminated, exit 143', async () => {
    const dir = makeProject(sb, 'sigterm');
    const child = execa(NODE, [BIN, 'echo partial > p.txt; sleep 60'], {
      cwd: dir,
      env: sb.env(),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    await until(async () => existsSync(join(remotePath(sb, 'sigterm'), 'p.txt')), 'the command to start', 60_000);
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(readFileSync(join(dir, 'p.txt'), 'utf8')).toBe('partial\n');
    expect(await instanceState(sb, reportedInstance(String(r.stderr)))).toBe('terminated');
  });
});

describe('two sessions on one instance (two terminals)', () => {
  it('both work, and only the last to leave applies its final state', async () => {
    const name = 'two-terminals';
    const dir = makeProject(sb, name);
    const remote = remotePath(sb, name);
    const first = execa(NODE, [BIN, 'echo a > a.txt; while [ ! -f go ]; do sleep 0.1; done'], {
      cwd: dir,
      env: sb.env(),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    await until(async () => existsSync(join(remote, 'a.txt')), 'the first session to run', 60_000);
    const second = await cli(sb, ['echo b > b.txt'], { cwd: dir });
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/another session is using i-\w+, so it is left running/);
    expect(readFileSync(join(dir, 'b.txt'), 'utf8')).toBe('b\n');
    const id = reportedInstance(second.stderr);
    expect(await instanceState(sb, id)).toBe('running');
    writeFileSync(join(remote, 'go'), '');
    const r = await first;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('a\n');
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});
