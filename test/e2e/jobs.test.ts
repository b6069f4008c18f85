/**
 * Long jobs: --detach / --attach in tmux and screen, logs, a dropped interactive tmux session,
 * port forwards, and the on-instance agent stopping instances when the work is done.
 */
import { execa } from 'execa';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Poweroff } from '../sandbox/index.js';
import {
  BIN,
  cli,
  NODE,
  shq,
  instanceState,
  launches,
  makeProject,
  remotePath,
  reportedInstance,
  sshSecurityGroups,
  useSandbox,
  until,
  WAIT_FOR_GO,
  letJobGo,
  tmuxPane,
  tmuxScreen,
} from './helpers.js';

const sb = useSandbox();

const go = (name: string) => letJobGo(sb, name);

/**
 * The CLI run while the agent can power nothing off: IMDS names another instance, so it refuses
 * (and tries again each round). A limit of a few seconds then cannot fire in the middle of the
 * run however slow the machine is; from the run's return on, it can.
 */
async function cliShielded(args: string[], opts: { cwd: string }) {
  sb.setImdsInstance('i-00000000000000000');
  try {
    return await cli(sb, args, opts);
  } finally {
    sb.setImdsInstance(undefined); // back to each instance's own
  }
}

/**
 * Waits for the agent to have stopped the instance, and for the sandbox to have moto's answer to
 * that poweroff (the state can be read a moment before); returns the instance's poweroffs.
 */
async function stoppedByAgent(id: string, what: string): Promise<Poweroff[]> {
  const poweroffs = () => sb.poweroffs().filter((p) => p.instanceId === id);
  await until(async () => (await instanceState(sb, id)) === 'stopped', what, 90_000);
  await until(() => poweroffs().some((p) => p.status !== undefined), `the sandbox to record ${id}'s poweroff`);
  return poweroffs();
}

describe('--detach and --attach', () => {
  it.each(['tmux', 'screen'])(
    '%s: detach returns while the job runs; logs follows it; attach after the end brings results back and terminates',
    async (mux) => {
      const name = `detach-${mux}`;
      const dir = makeProject(sb, name, { 'in.txt': 'data\n' });
      const detached = await cli(
        sb,
        ['--detach', '--multi', mux, `echo started; ${WAIT_FOR_GO}; cat in.txt > out.txt; echo finished; exit 3`],
        { cwd: dir },
      );
      expect(detached.exitCode, detached.stderr).toBe(0);
      expect(detached.stderr).toMatch(/job started in \w+ on i-/);
      const id = reportedInstance(detached.stderr);
      expect(await instanceState(sb, id)).toBe('running');
      expect(existsSync(join(dir, 'out.txt'))).toBe(false);

      // logs follows the job until it ends.
      const logs = cli(sb, ['logs'], { cwd: dir });
      await until(
        () => readFileSync(join(remotePath(sb, name), 'ssh-ec2-job.log'), 'utf8').includes('started'),
        'the job to start',
      );
      go(name);
      const followed = await logs;
      expect(followed.exitCode, followed.stderr).toBe(0);
      expect(followed.stdout).toMatch(/started[\s\S]*finished/);
      expect(await instanceState(sb, id)).toBe('running');

      const attached = await cli(sb, ['--attach'], { cwd: dir });
      expect(attached.exitCode, attached.stderr).toBe(3);
      expect(attached.stderr).toMatch(/the job finished with status 3/);
      expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe('data\n');
      expect(readFileSync(join(dir, 'ssh-ec2-job.log'), 'utf8')).toMatch(/started[\s\S]*finished/);
      expect(await instanceState(sb, id)).toBe('terminated');
      expect(launches(sb).filter((c) => c.params['TagSpecification.1.Tag.1.Value']?.endsWith(name))).toHaveLength(1);
    },
  );

  it('attach to a running job follows it to the end; a second detach meanwhile is refused', async () => {
    const name = 'attach-running';
    const dir = makeProject(sb, name);
    expect((await cli(sb, ['--detach', `${WAIT_FOR_GO}; echo r > r.txt`], { cwd: dir })).exitCode).toBe(0);
    const again = await cli(sb, ['--detach', 'true'], { cwd: dir });
    expect(again.exitCode).toBe(8);
    expect(again.stderr).toMatch(/a job is already running/);
    // A plain command on the same instance does not end it under the job.
    const peek = await cli(sb, ['echo peek'], { cwd: dir });
    expect(peek.exitCode).toBe(0);
    expect(peek.stderr).toMatch(/still running .*, so it is left running/);
    const id = reportedInstance(peek.stderr);
    expect(await instanceState(sb, id)).toBe('running');

    const attached = cli(sb, ['--attach'], { cwd: dir });
    // Without a terminal, --attach follows the log (job.sh follow: tail --pid) until the end.
    await until(
      async () =>
        (await sb.machine(id).runAsUser('pgrep -u "$(id -u)" -f -- \'tail -n [+]1 -f --pid=\'')).exitCode === 0,
      'attach to follow the job',
    );
    go(name);
    const r = await attached;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'r.txt'), 'utf8')).toBe('r\n');
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('refuses --detach --multi none and --attach without an instance, launching nothing', async () => {
    const dir = makeProject(sb, 'refusals');
    sb.clearCalls();
    const none = await cli(sb, ['--detach', '--multi', 'none', 'make', 'train'], { cwd: dir });
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/--detach needs a multiplexer/);
    const attach = await cli(sb, ['--attach'], { cwd: dir });
    expect(attach.exitCode).toBe(7);
    expect(attach.stderr).toMatch(/no ssh-ec2 instance for .*nothing to attach to/);
    expect(sb.calls('RunInstances')).toHaveLength(0);
  });
});

describe('an interactive tmux session', () => {
  it('survives a dropped connection: --attach finds the same shell, with its state', async () => {
    const name = 'tmux-drop';
    const dir = makeProject(sb, name);
    const sock = join(sb.dir, 'outer-tmux.sock');
    const env = Object.entries(sb.env()).map(([k, v]) => `${k}=${v}`);
    const exitFile = join(sb.dir, 'tmux-drop.exit');
    const stderrFile = join(sb.dir, 'tmux-drop.stderr');
    const run = (args: string) =>
      `env -i TERM=xterm ${env.map(shq).join(' ')} ${shq(NODE)} ${shq(BIN)} ${args} 2>>${shq(stderrFile)}; echo $? >> ${shq(exitFile)}`;
    const stderr = () => (existsSync(stderrFile) ? readFileSync(stderrFile, 'utf8') : '');
    await tmuxPane(sock, dir, `${run('--multi tmux')}; ${run('--attach')}; sleep 30`);
    try {
      await until(async () => /tmux-drop\$\s*$/m.test(await pane(sock)), 'a shell prompt in tmux on the instance');
      await execa('tmux', ['-S', sock, 'send-keys', 'X=forty-two; cd .. && cd tmux-drop && : > typed', 'Enter']);
      await until(
        () => existsSync(join(remotePath(sb, name), 'typed')),
        'the shell on the instance to run what was typed',
      );
      const clientsBefore = await tmuxClients();
      expect(clientsBefore).toHaveLength(1);
      // The network goes: every sshd process serving the user dies.
      await sb.latestMachine().runAsUser('pkill -9 -x sshd || pkill -9 -x sshd-session; true');
      await until(() => existsSync(exitFile), 'ssh-ec2 to notice the lost connection', 40_000);
      expect(readFileSync(exitFile, 'utf8').trim()).toBe('255');
      expect(stderr()).toMatch(/the job is still running on i-/);
      const id = reportedInstance(stderr());
      expect(id).toBeDefined();
      expect(await instanceState(sb, id!)).toBe('running');
      // The second ssh-ec2 (--attach) comes back to the same shell.
      await until(() => stderr().includes('attaching to the job'), 'the reattach', 30_000);
      // Typed once a new tmux client on the instance reads the terminal, or the keys may be lost.
      await until(
        async () => (await tmuxClients()).some((c) => !clientsBefore.includes(c)),
        'tmux on the instance to attach a new client',
        30_000,
      );
      await execa('tmux', ['-S', sock, 'send-keys', 'echo "X is $X" > x.txt; exit', 'Enter']);
      await until(
        () => readFileSync(exitFile, 'utf8').trim().split('\n').length === 2,
        'the attached session to end',
        30_000,
      );
      expect(readFileSync(exitFile, 'utf8').trim().split('\n')).toEqual(['255', '0']);
      expect(readFileSync(join(dir, 'x.txt'), 'utf8')).toBe('X is forty-two\n');
      expect(await instanceState(sb, id!)).toBe('terminated');
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- screen:\n${await pane(sock)}\n--- stderr:\n${stderr()}`);
    } finally {
      await execa('tmux', ['-S', sock, 'kill-server'], { reject: false });
    }
  }, 150_000);
});

describe('port forwards', () => {
  it('-L carries real traffic to a server on the instance', async () => {
    const name = 'forward';
    const dir = makeProject(sb, name, { 'hello.txt': 'hello through the tunnel\n' });
    const [local, remote] = [await freePort(), await freePort()];
    const serve = `python3 -m http.server ${remote} --bind 127.0.0.1 >/dev/null 2>&1 & for i in $(seq 300); do [ -f stop ] && break; sleep 0.1; done; kill $!`;
    const session = cli(sb, ['-L', `${local}:127.0.0.1:${remote}`, serve], { cwd: dir });
    let body = '';
    await until(async () => {
      body = await fetch(`http://127.0.0.1:${local}/hello.txt`).then(
        (r) => (r.ok ? r.text() : ''),
        () => '',
      );
      return body !== '';
    }, 'the forwarded server to answer');
    expect(body).toBe('hello through the tunnel\n');
    writeFileSync(join(remotePath(sb, name), 'stop'), '');
    expect((await session).exitCode).toBe(0);
  });

  it('a local port already in use: one clear line, exit 2, nothing launched', async () => {
    const dir = makeProject(sb, 'busy-port');
    const server = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as { port: number }).port;
    sb.clearCalls();
    const r = await cli(sb, ['-L', `${port}:localhost:8888`, 'true'], { cwd: dir });
    server.close();
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`local port ${port} is already in use`);
    expect(sb.calls()).toHaveLength(0);
  });
});

describe('the agent on the instance', () => {
  it('stops an idle instance', async () => {
    const dir = makeProject(sb, 'idle');
    const r = await cliShielded(['--leave', '--idle-timeout', '3s', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const id = reportedInstance(r.stderr);
    expect(await stoppedByAgent(id, 'the agent to stop the idle instance')).toEqual([
      expect.objectContaining({ reason: 'idle', status: 200 }),
    ]);
    await cli(sb, ['down', '--yes'], { cwd: dir });
  });

  it('never stops under a running job; stops after the job ends and the grace period; --attach then brings the results back', async () => {
    const name = 'agent-job';
    const dir = makeProject(sb, name);
    const r = await cliShielded(
      ['--detach', '--idle-timeout', '2s', '--job-grace', '2s', `${WAIT_FOR_GO}; echo done > done.txt`],
      { cwd: dir },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const id = reportedInstance(r.stderr);
    await new Promise((res) => setTimeout(res, 6000)); // three idle timeouts with the job running
    expect(await instanceState(sb, id)).toBe('running');
    go(name);
    expect(await stoppedByAgent(id, 'the agent to stop the instance after the job')).toEqual([
      expect.objectContaining({ reason: 'job-finished', status: 200 }),
    ]);
    // The restarted instance gets a fresh agent: with the tags' 2s it could stop the instance
    // again while this run finishes.
    const back = await cli(sb, ['--attach', '--idle-timeout', '1h'], { cwd: dir });
    expect(back.exitCode, back.stderr).toBe(0);
    expect(back.stderr).toMatch(/starting stopped instance/);
    expect(back.stderr).toMatch(/the agent had stopped .* \(the detached job had ended/);
    expect(readFileSync(join(dir, 'done.txt'), 'utf8')).toBe('done\n');
    expect(await instanceState(sb, id)).toBe('terminated');
  });

  it('enforces --max-time even under a running job', async () => {
    const dir = makeProject(sb, 'max-time');
    // The deadline counts from the connection, before the sync up and the job's start: 4s was a
    // race a loaded machine could lose (the instance stopped before the job ran, or under the run).
    const r = await cliShielded(['--detach', '--max-time', '20s', 'echo begun > begun.txt; sleep 120'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const id = reportedInstance(r.stderr);
    expect(await stoppedByAgent(id, 'the agent to enforce max-time')).toEqual([
      expect.objectContaining({ reason: 'max-time', status: 200 }),
    ]);
    // Restarted, the instance would get a new deadline 20s on: none, so it cannot fire while this run finishes.
    const back = await cli(sb, ['--attach', '--max-time', 'off'], { cwd: dir });
    expect(back.exitCode, back.stderr).toBe(137);
    expect(back.stderr).toMatch(/the job was killed/);
    expect(readFileSync(join(dir, 'begun.txt'), 'utf8')).toBe('begun\n');
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});

describe('ls, pull, down', () => {
  it('list, pull and end real instances', async () => {
    const a = makeProject(sb, 'verb-a');
    const b = makeProject(sb, 'verb-b');
    expect((await cli(sb, ['--leave', '--max-time', '2h', 'true'], { cwd: a })).exitCode).toBe(0);
    const rb = await cli(sb, ['--detach', 'sleep 60'], { cwd: b });
    expect(rb.exitCode).toBe(0);

    const ls = await cli(sb, ['ls'], { cwd: a });
    expect(ls.exitCode, ls.stderr).toBe(0);
    const lineA = ls.stdout.split('\n').find((l) => l.includes('verb-a'))!;
    const lineB = ls.stdout.split('\n').find((l) => l.includes('verb-b'))!;
    expect(lineA).toMatch(/running\s+g4dn\.xlarge.*none.*idle 1h, max 2h \(until \d{4}-/);
    expect(lineB).toMatch(/running .* running/);
    expect(lineA).toContain(a);

    // pull: results now, the instance left as it is.
    expect((await cli(sb, ['--leave', '--no-rsync', 'echo p > p.txt'], { cwd: a })).exitCode).toBe(0);
    expect(existsSync(join(a, 'p.txt'))).toBe(false);
    const pulled = await cli(sb, ['pull'], { cwd: a });
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(readFileSync(join(a, 'p.txt'), 'utf8')).toBe('p\n');
    const idA = reportedInstance(pulled.stderr);
    expect(await instanceState(sb, idA)).toBe('running');

    // down asks first; without a terminal it needs --yes.
    const asked = await cli(sb, ['down'], { cwd: a });
    expect(asked.exitCode).toBe(2);
    expect(asked.stderr).toMatch(/--yes/);
    expect((await cli(sb, ['--leave', '--no-rsync', 'echo q > q.txt'], { cwd: a })).exitCode).toBe(0);
    const down = await cli(sb, ['down', '--yes'], { cwd: a });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(readFileSync(join(a, 'q.txt'), 'utf8')).toBe('q\n');
    expect(await instanceState(sb, idA)).toBe('terminated');

    // down --all: the running job's instance too.
    const all = await cli(sb, ['down', '--all', '--yes'], { cwd: a });
    expect(all.exitCode, all.stderr).toBe(0);
    expect(await instanceState(sb, reportedInstance(rb.stderr))).toBe('terminated');
    const after = await cli(sb, ['ls'], { cwd: a });
    expect(after.stdout).not.toMatch(/verb-[ab]/);
    // The last instance gone, its security group goes too.
    expect(all.stderr).toMatch(/removed 1 unused ssh-ec2 security group/);
    expect(await sshSecurityGroups(sb)).toHaveLength(0);
  });
});

/** The pids of the tmux clients attached on the instance (the sandbox user's tmux server). */
async function tmuxClients(): Promise<string[]> {
  const r = await sb.latestMachine().runAsUser("tmux list-clients -F '#{client_pid}' 2>/dev/null");
  return r.stdout.split('\n').filter(Boolean);
}

const pane = tmuxScreen;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
