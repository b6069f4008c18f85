/**
 * Faults injected into a running ssh-ec2: SIGKILL (the next run finishes the killed run's work),
 * and SIGINT, SIGTERM, SIGHUP in every phase (nothing is ever left running, nothing is terminated
 * while a result it holds is missing locally).
 */
import { execa, type ResultPromise } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BIN,
  cli,
  NODE,
  cliInTerminal,
  instances,
  instanceState,
  launches,
  localState,
  makeProject,
  remotePath,
  reportedInstance,
  sshSecurityGroups,
  useSandbox,
} from './helpers.js';

const sb = useSandbox();

const STATUS = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
type Sig = keyof typeof STATUS;

interface Running {
  child: ResultPromise;
  signalGroup: (sig: NodeJS.Signals) => void;
  stderr: () => string;
  exited: Promise<number | null>;
}

/**
 * The CLI started in the background, its error output collected as it comes. It leads its own
 * process group, as a command started from a shell does: `signalGroup` is what a terminal does
 * (Ctrl-C, a closed window), to the CLI and every program it started in that group.
 */
function start(dir: string, args: string[], env: Record<string, string | undefined> = {}): Running {
  const child = execa(NODE, [BIN, ...args], {
    cwd: dir,
    env: sb.env(env),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    encoding: 'utf8',
    detached: true,
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += String(d)));
  // The exit of the CLI itself, not of the streams it shared with its children.
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exited, signalGroup: (sig) => process.kill(-child.pid!, sig) };
}

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
  everyMs = 25,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A process's state letter from /proc (R, S, T when stopped, …); '' when gone. */
function procState(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '');
  } catch {
    return '';
  }
}

/** The instance's state once it has settled (not pending, stopping or shutting down). */
async function settledState(id: string): Promise<string | undefined> {
  let state: string | undefined;
  await until(
    async () => {
      state = await instanceState(sb, id);
      return !['pending', 'stopping', 'shutting-down'].includes(state ?? '');
    },
    `${id} to settle`,
    60_000,
    100,
  );
  return state;
}

const digest = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/**
 * The guarantee: never left running; terminated only when every result the command produced
 * (those of `results` that exist on the instance) is here, identical.
 */
async function expectGuarantee(id: string, dir: string, name: string, results: string[]): Promise<string | undefined> {
  const state = await settledState(id);
  expect(state).not.toBe('running');
  if (state === 'terminated') {
    for (const f of results) {
      const remote = join(remotePath(sb, name), f);
      if (existsSync(remote))
        expect(existsSync(join(dir, f)) && digest(join(dir, f)), `${f} brought back`).toBe(digest(remote));
    }
  } else {
    expect(state).toBe('stopped');
  }
  return state;
}

describe('SIGKILL', () => {
  it('a run killed while its command runs leaves the instance running; the next run here syncs back and terminates it, launching nothing', async () => {
    const name = 'killed';
    const dir = makeProject(sb, name, { 'in.txt': 'in\n' });
    const remote = remotePath(sb, name);
    sb.clearCalls();
    const run = start(dir, [
      'echo result > result.txt; i=0; while [ ! -e go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done',
    ]);
    await until(() => existsSync(join(remote, 'result.txt')), 'the command to write its result');
    const id = reportedInstance(run.stderr());
    const journals = localState(sb, 'journals');
    run.child.kill('SIGKILL');
    await run.exited;

    expect(await instanceState(sb, id)).toBe('running');
    expect(existsSync(join(dir, 'result.txt'))).toBe(false);
    const left = readdirSync(journals).filter((n) => n.endsWith(`.${run.child.pid}.json`));
    expect(left).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(journals, left[0]!), 'utf8'))).toMatchObject({
      step: 'the command',
      instanceId: id,
      ran: true,
      finalState: 'terminate',
    });

    const next = await cli(sb, ['true'], { cwd: dir });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr).toContain(
      `a previous ssh-ec2 here (pid ${run.child.pid}) was killed during the command; finishing its work: sync back, then terminate`,
    );
    expect(next.stderr).toContain(`using instance ${id}`);
    expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('result\n');
    expect(await instanceState(sb, id), next.stderr).toBe('terminated');
    expect(launches(sb)).toHaveLength(1);
    expect(readdirSync(journals)).toEqual([]);
    await run.child; // its ssh, orphaned by the kill, was ended by the recovery
  });

  it('a killed run whose instance was ended meanwhile (down): its final state is not applied to the next instance', async () => {
    const name = 'killed-then-down';
    const dir = makeProject(sb, name);
    const run = start(dir, ['echo result > result.txt; sleep 60']);
    await until(() => existsSync(join(remotePath(sb, name), 'result.txt')), 'the command to write its result');
    const id = reportedInstance(run.stderr());
    run.child.kill('SIGKILL');
    await run.exited;
    const down = await cli(sb, ['down', '--yes'], { cwd: dir });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('result\n');
    expect(await settledState(id)).toBe('terminated');
    await run.child;

    // The killed run was to terminate; the next asks --stop, launches a new instance, and is
    // killed in turn while it waits for it to run (its journal names it by then): the first run's
    // debts must not pass to that instance.
    const held = sb.hold('DescribeInstances', (p) => 'InstanceId.1' in p);
    const next = start(dir, ['--stop', 'true']);
    try {
      await held.arrived;
      next.child.kill('SIGKILL');
      await next.exited;
    } finally {
      held.release();
    }
    expect(next.stderr()).toContain(`the killed run's instance ${id} is gone: nothing of it is left to finish`);
    const fresh = reportedInstance(next.stderr().slice(next.stderr().indexOf('launched i-')));
    expect(fresh).not.toBe(id);

    const last = await cli(sb, ['--stop', 'true'], { cwd: dir });
    expect(last.exitCode, last.stderr).toBe(0);
    expect(last.stderr).toContain(`using instance ${fresh}`);
    expect(await settledState(fresh)).toBe('stopped');
    expect(readdirSync(localState(sb, 'journals')).filter((n) => n.endsWith('.json'))).toEqual([]);
    expect((await cli(sb, ['down', '--yes'], { cwd: dir })).exitCode).toBe(0);
  });

  it('the sync back owed by a killed --stop run happens even under --no-rsync; a run that itself asks --leave is obeyed', async () => {
    const name = 'killed-stop';
    const dir = makeProject(sb, name);
    const run = start(dir, ['--stop', 'echo owed > owed.txt; sleep 60']);
    await until(() => existsSync(join(remotePath(sb, name), 'owed.txt')), 'the command to write its result');
    const id = reportedInstance(run.stderr());
    run.child.kill('SIGKILL');
    await run.exited;

    const next = await cli(sb, ['--no-rsync', '--leave', 'true'], { cwd: dir });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/was killed during the command; finishing its work: sync back, then stop/);
    expect(readFileSync(join(dir, 'owed.txt'), 'utf8')).toBe('owed\n');
    expect(await instanceState(sb, id)).toBe('running');
    await run.child;
    const end = await cli(sb, ['true'], { cwd: dir });
    expect(end.stderr).not.toMatch(/a previous ssh-ec2/);
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});

describe('the connection dropped during the command', () => {
  /**
   * Runs `command` (which must write result.txt), then, once the network is gone (the instance
   * unreachable), drops the run's own connection (kills the sshd serving it: the grandparent of
   * the command's shell, which runs under ssh-ec2's own); returns when the CLI has exited, with 255.
   */
  async function dropUnreachable(
    dir: string,
    options: string[],
    command: string,
  ): Promise<{ run: Running; id: string }> {
    const run = start(dir, [
      ...options,
      `${command}; while [ ! -e go ]; do sleep 0.1; done; kill -9 $(ps -o ppid= -p $PPID)`,
    ]);
    const remote = remotePath(sb, basename(dir));
    await until(() => existsSync(join(remote, 'result.txt')), 'the command to write its result');
    const id = reportedInstance(run.stderr());
    await sb.setReachable(false);
    try {
      writeFileSync(join(remote, 'go'), '');
      expect(await run.exited, run.stderr()).toBe(255);
    } finally {
      await sb.setReachable(true);
    }
    return { run, id };
  }

  it('instance unreachable afterwards: exit 255, stopped (never terminated) with the results on it; the recovery printed brings them back', async () => {
    const name = 'unreachable';
    const dir = makeProject(sb, name, { 'in.txt': 'in\n' });
    const remote = remotePath(sb, name);
    sb.clearCalls();
    const { run, id } = await dropUnreachable(dir, ['--reconnect-timeout', '3s'], 'echo saved > result.txt');
    expect(run.stderr()).toMatch(/ssh connection was lost; reconnecting to finish/);
    expect(run.stderr()).toMatch(/error: could not reconnect/);
    expect(run.stderr()).toContain(
      `the results could not be brought back, so ${id} was stopped, not terminated: nothing is lost`,
    );
    // The way to end it is ssh-ec2 down, which brings the results back first (issue #10).
    expect(run.stderr()).toContain(
      `To get them: ssh-ec2 down in ${dir} (it restarts the instance, brings the results back`,
    );
    expect(await settledState(id)).toBe('stopped');
    expect(sb.calls('TerminateInstances')).toEqual([]);
    expect(existsSync(join(dir, 'result.txt'))).toBe(false);
    expect(readFileSync(join(remote, 'result.txt'), 'utf8')).toBe('saved\n'); // on the stopped instance's disk

    // The recovery, as printed, once the network is back.
    const again = await cli(sb, ['down', '--yes'], { cwd: dir });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain(`starting stopped instance ${id}`);
    expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('saved\n');
    expect(await settledState(id)).toBe('terminated');
    expect(launches(sb)).toHaveLength(1);
  });

  it("a network partition (the old sshd session lives on, frozen): the reconnect ends this run's own command, which is not taken for another session; results back, terminated", async () => {
    const name = 'partition';
    const dir = makeProject(sb, name);
    const remote = remotePath(sb, name);
    // The command freezes the sshd serving its connection, as a partition leaves it: alive, with
    // the command under it, for as long as TCP keepalives take to notice.
    const run = start(dir, [
      's=$(ps -o ppid= -p $PPID); echo $s > sshd.pid; echo saved > result.txt; kill -STOP $s; sleep 61; touch late.txt',
    ]);
    await until(() => existsSync(join(remote, 'result.txt')), 'the command to write its result');
    const sshd = Number(readFileSync(join(remote, 'sshd.pid'), 'utf8'));
    await until(() => /^T/.test(procState(sshd)), 'the sshd session to be frozen');
    const id = reportedInstance(run.stderr());
    try {
      // This side of the connection goes, as when the network does: the ssh master is killed.
      const masters = (await execa('ps', ['-eo', 'pid=,args='])).stdout
        .split('\n')
        .filter((l) => l.includes('ControlMaster=yes') && l.includes(id));
      expect(masters).toHaveLength(1);
      process.kill(Number(masters[0]!.trim().split(/\s+/)[0]), 'SIGKILL');
      expect(await run.exited, run.stderr()).toBe(255);
    } finally {
      process.kill(sshd, 'SIGCONT');
    }
    expect(run.stderr()).toMatch(/ssh connection was lost; reconnecting to finish/);
    expect(run.stderr()).not.toMatch(/another session is using/);
    expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('saved\n');
    expect(await settledState(id)).toBe('terminated');
    const left = (await execa('ps', ['-eo', 'args='])).stdout.split('\n').filter((l) => l.trim() === 'sleep 61');
    expect(left, 'the command of the lost connection').toEqual([]);
  });

  it('with --no-rsync too: stopped, never terminated, as a job or another session may use it', async () => {
    const dir = makeProject(sb, 'unreachable-no-rsync');
    sb.clearCalls();
    const { run, id } = await dropUnreachable(
      dir,
      ['--no-rsync', '--reconnect-timeout', '2s'],
      'echo saved > result.txt',
    );
    expect(run.stderr()).toContain(
      `${id} could not be reached to see whether a job or another session uses it, so ${id} was stopped, not terminated`,
    );
    expect(await settledState(id)).toBe('stopped');
    expect(sb.calls('TerminateInstances')).toEqual([]);
    expect((await cli(sb, ['down', '--yes'], { cwd: dir })).exitCode).toBe(0);
    expect(await settledState(id)).toBe('terminated');
  });
});

describe('a tmux job whose connection dropped, the instance unreachable', () => {
  it('is left running with its job, never terminated; the agent stops it after the job; --attach brings the results back', async () => {
    const name = 'job-unreachable';
    const dir = makeProject(sb, name);
    const remote = remotePath(sb, name);
    const run = start(dir, [
      '--multi',
      'tmux',
      '--reconnect-timeout',
      '2s',
      '--job-grace',
      '2s',
      'echo begun > begun.txt; while [ ! -e go ]; do sleep 0.1; done; echo done > done.txt',
    ]);
    await until(() => existsSync(join(remote, 'begun.txt')), 'the job to start');
    const id = reportedInstance(run.stderr());
    await sb.setReachable(false);
    try {
      await sb.machine(id).runAsUser('pkill -9 -x sshd || pkill -9 -x sshd-session; true'); // the connection goes
      expect(await run.exited, run.stderr()).toBe(255);
      expect(run.stderr()).toContain(`could not reach ${id} again: it is left running with the job`);
      expect(await instanceState(sb, id)).toBe('running');
      writeFileSync(join(remote, 'go'), '');
      await until(
        async () => (await instanceState(sb, id)) === 'stopped',
        'the agent to stop the instance after the job',
        90_000,
        200,
      );
    } finally {
      await sb.setReachable(true);
    }
    expect(sb.calls('TerminateInstances').filter((c) => c.params['InstanceId.1'] === id)).toEqual([]);
    const back = await cli(sb, ['--attach'], { cwd: dir });
    expect(back.exitCode, back.stderr).toBe(0);
    expect(readFileSync(join(dir, 'done.txt'), 'utf8')).toBe('done\n');
    expect(await settledState(id)).toBe('terminated');
  });
});

describe('the connection dropped because the network changed', () => {
  it('the reconnect lets the new public address into the security group, brings the results back, and terminates', async () => {
    const name = 'new-address';
    const dir = makeProject(sb, name);
    const remote = remotePath(sb, name);
    const run = start(
      dir,
      ['echo saved > result.txt; while [ ! -e go ]; do sleep 0.1; done; kill -9 $(ps -o ppid= -p $PPID)'],
      {
        SSH_EC2_SSH_CIDR: undefined,
      },
    );
    await until(() => existsSync(join(remote, 'result.txt')), 'the command to write its result');
    sb.setPublicAddress('127.0.0.8');
    try {
      writeFileSync(join(remote, 'go'), '');
      expect(await run.exited, run.stderr()).toBe(255);
    } finally {
      sb.setPublicAddress('127.0.0.1');
    }
    expect(run.stderr()).toMatch(/ssh connection was lost; reconnecting/);
    const group = (await sshSecurityGroups(sb))[0]!;
    expect((group.IpPermissions ?? []).flatMap((p) => p.IpRanges ?? []).map((r) => r.CidrIp)).toContain('127.0.0.8/32');
    expect(await expectGuarantee(reportedInstance(run.stderr()), dir, name, ['result.txt'])).toBe('terminated');
    expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('saved\n');
  });
});

describe('a closed terminal', () => {
  it('the terminal goes away during the command (SIGHUP, then every write fails): the results still come back, the instance is terminated', async () => {
    const name = 'hangup';
    const dir = makeProject(sb, name);
    const remote = remotePath(sb, name);
    // A real terminal; killing it closes that terminal, as closing a window does.
    const term = cliInTerminal(sb, ['echo partial > p.txt; sleep 30'], { cwd: dir });
    await until(() => existsSync(join(remote, 'p.txt')), 'the command to start');
    const pid = Number((await execa('pgrep', ['-f', '-n', `${BIN} echo partial`], { reject: false })).stdout.trim());
    expect(pid).toBeGreaterThan(0);
    term.kill('SIGKILL');
    await term;
    await until(() => !existsSync(`/proc/${pid}`), 'ssh-ec2 to finish after the hangup', 60_000, 50);
    const id = (await instances(sb)).find((i) =>
      i.Tags?.some((t) => t.Key === 'ssh-ec2:dir' && t.Value === dir),
    )!.InstanceId!;
    expect(await expectGuarantee(id, dir, name, ['p.txt'])).toBe('terminated');
    expect(readFileSync(join(dir, 'p.txt'), 'utf8')).toBe('partial\n');
  });
});

describe('SIGKILL while launching', () => {
  it('the instance that RunInstances made after the kill is found by its tags by the next run here: used, never launched twice', async () => {
    const name = 'killed-launching';
    const dir = makeProject(sb, name);
    sb.clearCalls();
    const held = sb.hold('RunInstances');
    const run = start(dir, ['--iam-profile', '', 'touch ran.txt']);
    await held.arrived;
    run.child.kill('SIGKILL');
    await run.exited;
    held.release(); // EC2 got the request: it launches, though nobody hears the answer
    await until(() => launches(sb).length === 1, 'the launch to complete');

    const next = await cli(sb, ['echo ok > ok.txt'], { cwd: dir });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr).toContain(
      `a previous ssh-ec2 here (pid ${run.child.pid}) was killed during provisioning; finishing its work: terminate`,
    );
    const id = reportedInstance(next.stderr.slice(next.stderr.indexOf('using instance')));
    expect(next.stderr).toMatch(/using instance i-\w+ \(g4dn\.xlarge, (pending|running)\)/);
    expect(launches(sb)).toHaveLength(1);
    expect(readFileSync(join(dir, 'ok.txt'), 'utf8')).toBe('ok\n');
    expect(existsSync(join(remotePath(sb, name), 'ran.txt'))).toBe(false);
    expect(await settledState(id)).toBe('terminated');
  });
});

/** One phase of a run, and how a test holds the run there long enough to signal it. */
interface Phase {
  name: string;
  /** The CLI's arguments; files the project needs are written by `prepare`. */
  args: string[];
  prepare?: (dir: string) => void | Promise<void>;
  /** Resolves once the run is in the phase; may arrange for it to last (holds, unreachable ssh). */
  reached: (run: Running, dir: string, remote: string) => Promise<void>;
  /** Undoes what `reached` arranged, once the signal was sent. */
  after?: () => Promise<void> | void;
  /** Results the command may leave on the instance. */
  results: string[];
  /** Whether the command ran at all (before the command: never). */
  ran: boolean;
  /** A file being sent up when the signal came: an interrupt ends the transfer, it never arrives. */
  cutShort?: string;
}

const rsyncTemp = (dir: string, name: string) =>
  existsSync(dir) && readdirSync(dir).some((n) => n.startsWith(`.${name}.`));

function phases(): Phase[] {
  let release: (() => void) | undefined;
  return [
    {
      name: 'launching (RunInstances in flight)',
      args: ['--iam-profile', '', 'touch ran.txt'],
      reached: async () => {
        const held = sb.hold('RunInstances');
        release = held.release;
        await held.arrived;
      },
      after: () => release?.(),
      results: [],
      ran: false,
    },
    {
      name: 'waiting for ssh',
      args: ['-v', 'touch ran.txt'],
      prepare: () => sb.setReachable(false),
      reached: (run) => until(() => /ssh not ready yet/.test(run.stderr()), '"ssh not ready yet"'),
      after: () => sb.setReachable(true),
      results: [],
      ran: false,
    },
    {
      name: 'the sync up',
      args: ['touch ran.txt'],
      prepare: (dir) => writeFileSync(join(dir, 'big.bin'), randomBytes(100 * 1024 * 1024)),
      // rsync writes into a temporary ".big.bin.XXXXXX" next to the file it sends.
      reached: (_run, _dir, remote) => until(() => rsyncTemp(remote, 'big.bin'), 'the sync up to start', 60_000, 5),
      results: [],
      ran: false,
      cutShort: 'big.bin',
    },
    {
      name: 'the command',
      args: ['echo partial > p.txt; sleep 30'],
      reached: (_run, _dir, remote) => until(() => existsSync(join(remote, 'p.txt')), 'the command to start'),
      results: ['p.txt'],
      ran: true,
    },
    {
      name: 'the sync back',
      args: ['head -c 50000000 /dev/urandom > big.bin; echo done > done.txt'],
      reached: (_run, dir) => until(() => rsyncTemp(dir, 'big.bin'), 'the sync back to start', 60_000, 5),
      results: ['big.bin', 'done.txt'],
      ran: true,
    },
    {
      name: 'the final state (TerminateInstances in flight)',
      args: ['echo r > r.txt'],
      reached: async () => {
        const held = sb.hold('TerminateInstances');
        release = held.release;
        await held.arrived;
      },
      after: () => release?.(),
      results: ['r.txt'],
      ran: true,
    },
  ];
}

describe('a run interrupted before its command, on the instance it launched, while another run uses it', () => {
  it('leaves it running for the other run, which then applies its final state', async () => {
    const name = 'launched-shared';
    const dir = makeProject(sb, name);
    const remote = remotePath(sb, name);
    // The first run launches the instance and stays in its first contact (the console output held).
    const held = sb.hold('GetConsoleOutput');
    const first = start(dir, ['touch first.txt']);
    try {
      await held.arrived;
      const id = reportedInstance(first.stderr());
      // Meanwhile a second run here reuses the running instance and starts its command.
      const second = start(dir, ['echo second > second.txt; while [ ! -e go ]; do sleep 0.1; done']);
      await until(() => existsSync(join(remote, 'second.txt')), "the second run's command to start");
      expect(reportedInstance(second.stderr())).toBe(id);
      first.signalGroup('SIGINT');
      held.release();
      expect(await first.exited, first.stderr()).toBe(130);
      expect(first.stderr()).toMatch(new RegExp(`another session is using ${id}, so it is left running`));
      expect(await instanceState(sb, id)).toBe('running');
      expect(existsSync(join(remote, 'first.txt'))).toBe(false);
      writeFileSync(join(remote, 'go'), '');
      expect(await second.exited, second.stderr()).toBe(0);
      expect(readFileSync(join(dir, 'second.txt'), 'utf8')).toBe('second\n');
      expect(await settledState(id)).toBe('terminated');
    } finally {
      held.release();
    }
  });
});

describe('SIGINT while the host key waits for the console', () => {
  it('the key is not trusted: not pinned, nothing sent (no project, no agent), exit 130, the instance it launched terminated', async () => {
    const name = 'sigint-host-key';
    const dir = makeProject(sb, name, { 'in.txt': 'x' });
    sb.aws.setLateConsole(Number.POSITIVE_INFINITY);
    try {
      const run = start(dir, ['-v', 'touch ran.txt'], { SSH_EC2_HOST_KEY_TIMEOUT: '10m' });
      await until(() => /ssh ready after/.test(run.stderr()), 'ssh to answer');
      // The console asked again after ssh answered: the run is in the host key wait.
      const asked = sb.calls('GetConsoleOutput').length;
      await until(() => sb.calls('GetConsoleOutput').length > asked, 'the console to be asked after ssh answered');
      expect(run.child.exitCode, 'still waiting for the host key').toBeNull();
      const id = reportedInstance(run.stderr());
      expect(existsSync(localState(sb, 'known_hosts', id)), 'the key ssh accepted is pinned meanwhile').toBe(true);
      run.signalGroup('SIGINT');
      expect(await run.exited, run.stderr()).toBe(130);
      expect(run.stderr()).toContain(
        `host key of ${id} not checked (interrupted before its console showed the fingerprints): not kept, nothing sent`,
      );
      expect(run.stderr()).not.toMatch(/trusted on first use/);
      expect(existsSync(localState(sb, 'known_hosts', id)), 'the unchecked key stays pinned').toBe(false);
      expect(existsSync(remotePath(sb, name, id)), 'the project was sent').toBe(false);
      // ~/.ssh-ec2 itself may exist: the boot-time limit (user data, not sent by ssh) logs there.
      expect(existsSync(remotePath(sb, '.ssh-ec2/agent.sh', id)), 'the agent was sent').toBe(false);
      expect(await settledState(id)).toBe('terminated');
    } finally {
      sb.aws.setLateConsole(1);
    }
  });
  it('on an instance it found (its key not pinned here): left running as it was, nothing sent over the unchecked connection', async () => {
    const name = 'sigint-host-key-found';
    const dir = makeProject(sb, name, { 'in.txt': 'first' });
    const first = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const id = reportedInstance(first.stderr);
    rmSync(localState(sb, 'known_hosts', id));
    writeFileSync(join(dir, 'in.txt'), 'second');
    sb.aws.setLateConsole(Number.POSITIVE_INFINITY);
    try {
      const run = start(dir, ['-v', 'touch ran.txt'], { SSH_EC2_HOST_KEY_TIMEOUT: '10m' });
      // The first run's master connection, kept with the instance, may answer at once.
      await until(() => /ssh ready after|reusing the ssh connection/.test(run.stderr()), 'ssh to answer');
      const asked = sb.calls('GetConsoleOutput').length;
      await until(() => sb.calls('GetConsoleOutput').length > asked, 'the console to be asked after ssh answered');
      expect(run.child.exitCode, 'still waiting for the host key').toBeNull();
      expect(reportedInstance(run.stderr())).toBe(id);
      run.signalGroup('SIGINT');
      expect(await run.exited, run.stderr()).toBe(130);
      expect(run.stderr()).toContain(`host key of ${id} not checked`);
      expect(run.stderr()).not.toMatch(/sync back failed|stopped, not terminated/);
      expect(existsSync(localState(sb, 'known_hosts', id))).toBe(false);
      expect(readFileSync(join(remotePath(sb, name, id), 'in.txt'), 'utf8'), 'the sync up ran').toBe('first');
      expect(existsSync(join(remotePath(sb, name, id), 'ran.txt'))).toBe(false);
      expect(await instanceState(sb, id)).toBe('running');
    } finally {
      sb.aws.setLateConsole(1);
      await cli(sb, ['down', '--yes'], { cwd: dir });
    }
  });
});

describe('SIGKILL during the sync back', () => {
  it('its rsync is in the journal; the next run here ends it, brings everything back and terminates', async () => {
    const name = 'killed-back';
    const dir = makeProject(sb, name);
    const run = start(dir, ['head -c 100000000 /dev/urandom > big.bin; echo done > done.txt']);
    await until(() => rsyncTemp(dir, 'big.bin') || run.child.exitCode !== null, 'the sync back to start', 60_000, 5);
    run.child.kill('SIGKILL');
    await run.exited;
    const journals = localState(sb, 'journals');
    const [left] = readdirSync(journals).filter((n) => n.endsWith(`.${run.child.pid}.json`));
    const entry = JSON.parse(readFileSync(join(journals, left!), 'utf8')) as {
      step: string;
      children?: { cmdline: string }[];
    };
    expect(entry.step).toBe('the sync back');
    // The local rsync runs by its full path (the one probed: see rsync-capabilities.ts).
    expect(entry.children?.map((c) => basename(c.cmdline.split('\0')[0]!))).toContain('rsync');

    const next = await cli(sb, ['true'], { cwd: dir });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr).toContain(
      `a previous ssh-ec2 here (pid ${run.child.pid}) was killed during the sync back; finishing its work: sync back, then terminate`,
    );
    expect(await expectGuarantee(reportedInstance(next.stderr), dir, name, ['big.bin', 'done.txt'])).toBe('terminated');
    expect(readFileSync(join(dir, 'done.txt'), 'utf8')).toBe('done\n');
  });
});

describe('SIGINT, SIGTERM and SIGHUP in every phase', () => {
  // Each phase, each signal: the exit status says which signal; nothing is left running; nothing
  // is terminated while a result it holds is missing here; before the command, nothing runs.
  const cases = phases().flatMap((p, i) =>
    (['SIGINT', 'SIGTERM', 'SIGHUP'] as Sig[]).map((sig) => [p.name, sig, i] as const),
  );
  it.each(cases)('%s: %s to the process group', async (_name, sig, i) => {
    const phase = phases()[i]!;
    const name = `sig-${i}-${sig.toLowerCase()}`;
    const dir = makeProject(sb, name);
    const remote = remotePath(sb, name);
    await phase.prepare?.(dir);
    const run = start(dir, phase.args);
    try {
      await phase.reached(run, dir, remote);
      expect(run.child.exitCode, `still in ${phase.name}`).toBeNull();
      run.signalGroup(sig);
    } finally {
      await phase.after?.();
    }
    expect(await run.exited, run.stderr()).toBe(STATUS[sig]);
    const id = reportedInstance(run.stderr());
    const state = await expectGuarantee(id, dir, name, phase.results);
    if (!phase.ran) {
      expect(existsSync(join(remote, 'ran.txt')), 'the command ran').toBe(false);
      expect(state, "an instance that holds nothing of the user's is terminated").toBe('terminated');
    }
    if (phase.ran) expect(state, run.stderr()).toBe('terminated'); // the connection was fine: the results came back
    if (phase.cutShort)
      expect(existsSync(join(remote, phase.cutShort)), `${phase.cutShort} was sent whole`).toBe(false);
  });

  it('a second SIGINT during the sync back does not skip the finish: exit 130', async () => {
    const name = 'sig-back-twice';
    const dir = makeProject(sb, name);
    const run = start(dir, ['head -c 50000000 /dev/urandom > big.bin; echo done > done.txt']);
    await until(() => rsyncTemp(dir, 'big.bin') || run.child.exitCode !== null, 'the sync back to start', 60_000, 5);
    expect(run.child.exitCode, 'the CLI was still syncing back').toBeNull();
    run.signalGroup('SIGINT');
    // Handled before the second is sent: two pending SIGINTs can merge into one.
    await until(() => /SIGINT received: stopping/.test(run.stderr()), 'the first SIGINT to be handled', 60_000, 5);
    run.signalGroup('SIGINT');
    expect(await run.exited).toBe(STATUS.SIGINT);
    expect(run.stderr()).toMatch(/SIGINT received again: still finishing/);
    expect(await expectGuarantee(reportedInstance(run.stderr()), dir, name, ['big.bin', 'done.txt'])).toBe(
      'terminated',
    );
    expect(run.stderr()).toMatch(/terminated i-/);
  });
});
