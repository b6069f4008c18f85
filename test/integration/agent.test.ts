// The on-instance agent (src/agent/agent.sh) run as the login user of a sandbox instance (each
// test launches its own), with limits of a few seconds. It powers the "instance" off through the sandbox's poweroff command, which makes the
// proxy stop the instance in moto: every outcome is read back from the EC2 API.
import { chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ec2Client, instanceState, REPO, useSandbox } from '../e2e/helpers.js';
import type { Machine, Poweroff } from '../sandbox/index.js';
import { killUserProcesses, sleep } from '../sandbox/util.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

// Overridable to check that these tests catch a broken agent (a mutated copy) without touching the real one.
const AGENT = process.env.SSH_EC2_TEST_AGENT ?? join(REPO, 'src', 'agent', 'agent.sh');
/** What agent.sh sources from its own directory, taken from beside AGENT (a mutated copy's own, if any). */
const agentLib = (name: string): string =>
  readFileSync(
    existsSync(join(dirname(AGENT), name)) ? join(dirname(AGENT), name) : join(REPO, 'src', 'agent', name),
    'utf8',
  );
const AGENT_LIBS = ['lib.sh', 'poweroff.sh', 'interruption.sh'];
const IMAGE = 'ami-0d1a00000000a0004'; // from test/sandbox/amis.json
// Safety nets for a busy machine, not measures (the limits under test are a few seconds).
const TEST_TIMEOUT = 120_000;
// The agent's VERSION line: a running older version is replaced, the same one is kept.
const VERSION = Number(/^VERSION=(\d+)$/m.exec(readFileSync(AGENT, 'utf8'))?.[1]);

const sandbox = useSandbox();

/** Polls until `check` returns something truthy; fails with `what` after `ms`. */
async function waitFor<T>(what: string, check: () => T | Promise<T>, ms = 40_000): Promise<NonNullable<T>> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > until) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(200);
  }
}

const epoch = (): number => Math.floor(Date.now() / 1000);

describe('on-instance agent', () => {
  let ec2: EC2Client;
  // The instance the running test launched (see launch()).
  let machine: Machine | undefined;
  let uid = 0;
  let gid = 0;
  let agentDir = '';
  let key = '';

  const sb = () => sandbox;
  const user = (script: string) => {
    if (!machine) throw new Error('no instance launched in this test');
    return machine.runAsUser(script);
  };
  const agentFile = (name: string): string | undefined => {
    const path = join(agentDir, name);
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  };
  /** A file in ~/.ssh-ec2, owned by the user as if the tool had put it there. */
  const putFile = (name: string, content: string, mode = 0o644): void => {
    const path = join(agentDir, name);
    writeFileSync(path, content, { mode });
    chownSync(path, uid, gid);
  };

  /** agent.conf as ssh-ec2 writes it: shell-quoted KEY=VALUE lines. */
  function writeConf(
    instanceId: string,
    limits: {
      IDLE_TIMEOUT?: number;
      DEADLINE?: number;
      JOB_GRACE?: number;
      IMDS_URL?: string;
      ON_INTERRUPT?: string;
      PROJECT_DIR?: string;
    } = {},
  ): void {
    const conf: Record<string, string | number> = {
      INSTANCE_ID: instanceId,
      IMDS_URL: sb().imdsUrl,
      POWEROFF: sb().poweroffCommand,
      IDLE_TIMEOUT: 0,
      DEADLINE: 0,
      JOB_GRACE: 0,
      ...limits,
    };
    putFile(
      'agent.conf',
      Object.entries(conf)
        .map(([k, v]) => `${k}='${String(v).replace(/'/g, `'\\''`)}'\n`)
        .join(''),
    );
  }

  /** A new instance for the test, with a ~/.ssh-ec2 holding only the agent, as the tool installs it. */
  async function launch(shutdownBehavior: 'stop' | 'terminate' = 'stop'): Promise<string> {
    const out = await ec2.send(
      new RunInstancesCommand({
        ImageId: IMAGE,
        InstanceType: 'g4dn.xlarge',
        MinCount: 1,
        MaxCount: 1,
        InstanceInitiatedShutdownBehavior: shutdownBehavior,
      }),
    );
    const id = out.Instances?.[0]?.InstanceId;
    if (!id) throw new Error('RunInstances returned no instance');
    await waitFor(`${id} running`, async () => (await instanceState(sb(), id)) === 'running');
    machine = sb().machine(id);
    ({ uid, gid } = machine);
    agentDir = join(machine.home, '.ssh-ec2');
    mkdirSync(join(agentDir, 'jobs'), { recursive: true });
    chownSync(agentDir, uid, gid);
    chownSync(join(agentDir, 'jobs'), uid, gid);
    copyFileSync(AGENT, join(agentDir, 'agent.sh'));
    chownSync(join(agentDir, 'agent.sh'), uid, gid);
    for (const name of AGENT_LIBS) putFile(name, agentLib(name));
    return id;
  }

  const state = (id: string) => instanceState(sb(), id);
  const poweroffsOf = (id: string) =>
    sb()
      .poweroffs()
      .filter((p) => p.instanceId === id);
  /**
   * Waits for the instance to be stopped and for the sandbox to have heard moto's answer to its
   * poweroff: the state alone can be read a moment before the proxy has the answer.
   */
  async function poweredOff(id: string): Promise<Poweroff[]> {
    await waitFor(`${id} stopped`, async () => (await state(id)) === 'stopped');
    await waitFor(`${id}'s poweroff recorded`, () => poweroffsOf(id).some((p) => p.status !== undefined));
    return poweroffsOf(id);
  }
  // Poweroffs since this test began (the sandbox is shared by the file's tests).
  let poweroffsBefore = 0;
  const newPoweroffs = () => sb().poweroffs().slice(poweroffsBefore);

  async function startAgent(): Promise<number> {
    const r = await user('sh ~/.ssh-ec2/agent.sh start');
    expect(r).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    return Number(agentFile('agent.pid')?.split(' ')[0]);
  }

  /** Pids of the user's agent daemons, from ps. */
  async function daemons(): Promise<number[]> {
    const r = await execa('ps', ['-u', String(uid), '-o', 'pid=,args='], { reject: false });
    return r.stdout
      .split('\n')
      .filter((l) => /agent\.sh daemon/.test(l))
      .map((l) => Number(l.trim().split(/\s+/)[0]));
  }

  /** A job as job.sh leaves it: a live shell's pid, no status yet. */
  async function startJob(id: string, opts: { detached: boolean }): Promise<number> {
    const dir = `~/.ssh-ec2/jobs/${id}`;
    const r = await user(
      `mkdir -p ${dir} && ${opts.detached ? `: >${dir}/detached && ` : ''}date +%s >${dir}/created && { sleep 120 </dev/null >/dev/null 2>&1 & echo $! >${dir}/pid; }`,
    );
    expect(r.exitCode).toBe(0);
    return Number(agentFile(`jobs/${id}/pid`));
  }

  /** What job.sh does when the command ends: ended (now, or the end it recorded earlier), then status. */
  async function endJob(id: string, recordedEnd?: number): Promise<number> {
    const dir = `~/.ssh-ec2/jobs/${id}`;
    const r = await user(
      `${recordedEnd === undefined ? 'date +%s' : `echo ${recordedEnd}`} >${dir}/ended && echo 0 >${dir}/status && kill "$(cat ${dir}/pid)"`,
    );
    expect(r.exitCode).toBe(0);
    return Number(agentFile(`jobs/${id}/ended`));
  }

  const sshArgs = (): string[] => [
    '-F',
    sb().sshConfig,
    '-i',
    key,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${join(sb().dir, 'agent-kh')}`,
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
    '-l',
    sb().user,
    String(machine?.addresses[0]), // the sandbox's ssh config sends it to this instance's sshd
  ];

  /** Whether sshd runs a per-connection process as the user (a login happened and lasts). */
  async function userSshdRunning(): Promise<boolean> {
    const r = await execa('ps', ['-u', String(uid), '-o', 'comm='], { reject: false });
    return r.stdout.split('\n').some((c) => c.startsWith('sshd'));
  }

  async function killAllOfUser(): Promise<void> {
    for (let i = 0; uid && i < 40 && killUserProcesses(uid) > 0; i++) await sleep(25);
  }

  beforeAll(async () => {
    ec2 = ec2Client(sb());
    key = join(sb().dir, 'agent-test-key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'agent-test', '-f', key]);
    sb().authorizeKey(readFileSync(`${key}.pub`, 'utf8'));
  });

  afterAll(() => {
    ec2?.destroy();
  });

  beforeEach(() => {
    poweroffsBefore = sb().poweroffs().length;
  });

  // The test's instance is left as the test left it, but nothing runs there any more.
  afterEach(async () => {
    if (machine?.state() !== 'terminated') await machine?.runAsUser('sh ~/.ssh-ec2/agent.sh stop-daemon');
    await killAllOfUser();
    machine = undefined;
    uid = gid = 0;
  });

  it(
    'powers an idle instance off after IDLE_TIMEOUT, once IMDS confirms the instance',
    async () => {
      const id = await launch();
      writeConf(id, { IDLE_TIMEOUT: 3 });
      const before = epoch();
      const pid = await startAgent();
      expect(pid).toBeGreaterThan(0);
      expect(agentFile('agent.pid')).toBe(`${pid} ${VERSION}\n`);

      expect(await poweredOff(id)).toEqual([
        expect.objectContaining({ instanceId: id, reason: 'idle', action: 'StopInstances', status: 200 }),
      ]);
      const [reason, when] = String(agentFile('poweroff')).trim().split(' ');
      expect(reason).toBe('idle');
      expect(Number(when) - before).toBeGreaterThan(3); // 3 full seconds at least: more than 3 in whole seconds
      expect(agentFile('agent.log')).toMatch(new RegExp(`powering off ${id}: idle`));
      // It asked IMDSv2 (token, then the id with it) before.
      const imds = sb().imdsRequests();
      expect(imds).toContainEqual(expect.objectContaining({ method: 'PUT', path: '/latest/api/token', status: 200 }));
      expect(imds).toContainEqual(
        expect.objectContaining({ method: 'GET', path: '/latest/meta-data/instance-id', status: 200, instanceId: id }),
      );
      // The machine went down, the agent with it.
      await waitFor('agent gone', async () => (await daemons()).length === 0);
    },
    TEST_TIMEOUT,
  );

  it(
    'keeps the instance while a job runs; after a --detach job ends, powers off after JOB_GRACE',
    async () => {
      const id = await launch();
      writeConf(id, { IDLE_TIMEOUT: 3, JOB_GRACE: 2 });
      await startAgent();
      const jobPid = await startJob('x', { detached: true });
      expect(jobPid).toBeGreaterThan(0);

      await sleep(7000); // more than twice the idle timeout
      expect(newPoweroffs()).toEqual([]);
      expect(await state(id)).toBe('running');
      expect(agentFile('poweroff')).toBeUndefined();

      // From now on only the job's end can power it off.
      writeConf(id, { IDLE_TIMEOUT: 0, JOB_GRACE: 2 });
      const ended = await endJob('x');
      expect((await poweredOff(id)).map((p) => p.reason)).toEqual(['job-finished']);
      const [reason, when] = String(agentFile('poweroff')).trim().split(' ');
      expect(reason).toBe('job-finished');
      expect(Number(when) - ended).toBeGreaterThan(2); // the whole grace was given (whole seconds: more than 2)
    },
    TEST_TIMEOUT,
  );

  it(
    'counts a job as finished from the end it records, though its shell lives on a moment after (job.sh looks for a terminal)',
    async () => {
      const id = await launch();
      // With the idle rule alone, it would power off for idleness 8 s after the job's shell exits.
      writeConf(id, { IDLE_TIMEOUT: 8, JOB_GRACE: 2 });
      await startAgent();
      await startJob('late', { detached: true });
      const recordedEnd = epoch();
      await sleep(3000); // rounds every second see the shell alive, after the end it will record
      await endJob('late', recordedEnd);
      expect((await poweredOff(id)).map((p) => p.reason)).toEqual(['job-finished']);
    },
    TEST_TIMEOUT,
  );

  it(
    'job-finished wins over idle when both are due: idleness counts from the end a job records, not from the last (slow) round that saw it running',
    async () => {
      const id = await launch();
      // Equal limits: the race CI lost on a busy machine (idle fired first there).
      writeConf(id, { IDLE_TIMEOUT: 3, JOB_GRACE: 3 });
      const pid = await startAgent();
      await startJob('slow', { detached: true });
      // A loaded machine, made deterministic: the agent (its whole process group, the sleep
      // between rounds too) is frozen while the job runs and ends, so its last look at the job
      // was before the end, more than IDLE_TIMEOUT earlier.
      await user(`kill -STOP -${pid}`);
      const frozenAt = epoch();
      await waitFor('the idle timeout passed since the freeze', () => epoch() > frozenAt + 3);
      const ended = await endJob('slow');
      await user(`kill -CONT -${pid}`);
      expect((await poweredOff(id)).map((p) => p.reason)).toEqual(['job-finished']);
      const [reason, when] = String(agentFile('poweroff')).trim().split(' ');
      expect(reason).toBe('job-finished');
      expect(Number(when) - ended).toBeGreaterThan(3); // the whole grace after the end
    },
    TEST_TIMEOUT,
  );

  it(
    'takes a --detach job whose shell was killed (no status) as ended when it notices',
    async () => {
      const id = await launch();
      writeConf(id, { JOB_GRACE: 1 });
      await startAgent();
      const jobPid = await startJob('k', { detached: true });
      await sleep(2000);
      expect(await state(id)).toBe('running');
      await user(`kill -9 ${jobPid}`);
      expect((await poweredOff(id)).map((p) => p.reason)).toEqual(['job-finished']);
      expect(agentFile('jobs/k/status')).toBeUndefined();
      expect(agentFile('agent.log')).toMatch(/job k \(pid \d+\) was killed/);
    },
    TEST_TIMEOUT,
  );

  /**
   * An interactive shell as job.sh leaves it (`--multi tmux`, no command), in a real tmux session
   * of the instance: the job's pid is the pane's shell (job.sh run), and `inside` runs under it
   * as the login shell would (its child: what the user left running in the shell, if anything).
   */
  async function startShellJob(jobId: string, inside: string): Promise<void> {
    const dir = `~/.ssh-ec2/jobs/${jobId}`;
    const r = await user(
      `mkdir -p ${dir} && echo tmux >${dir}/mux && : >${dir}/shell && date +%s >${dir}/created && ` +
        `tmux new-session -d -s ssh-ec2-${jobId} -x 80 -y 20 "echo \\$\\$ >${dir}/pid; ${inside}; :"`,
    );
    expect(r, r.stderr).toMatchObject({ exitCode: 0 });
    await waitFor('the shell job running', () => agentFile(`jobs/${jobId}/pid`));
  }

  it(
    'a detached shell with a command running in it keeps the instance; once the shell alone is left, it is idle',
    async () => {
      const id = await launch();
      writeConf(id, { IDLE_TIMEOUT: 3, JOB_GRACE: 2 });
      // The shell runs a command (sleep 301, in a shell of its own) and then waits as a shell does.
      await startShellJob('sh1', `sh -c 'sleep 301; :'; sleep 300`);
      await startAgent();

      await sleep(7000); // more than twice the idle timeout
      expect(newPoweroffs()).toEqual([]);
      expect(await state(id)).toBe('running');

      await user(`pkill -u "$(id -u)" -x -f 'sleep 301'`);
      expect((await poweredOff(id)).map((p) => p.reason)).toEqual(['idle']);
      expect(String(agentFile('poweroff'))).toMatch(/^idle \d+\n$/);
      expect(agentFile('jobs/sh1/status')).toBeUndefined(); // the shell itself was still there
    },
    TEST_TIMEOUT,
  );

  it(
    'a shell with a terminal attached keeps the instance, though nothing runs in it; detached, it is idle',
    async () => {
      const id = await launch();
      writeConf(id, { IDLE_TIMEOUT: 3 });
      await startShellJob('sh2', 'sleep 300');
      // A tmux client (control mode needs no terminal), as `ssh-ec2 --attach` runs one.
      await user(`{ sleep 300 | tmux -C attach -t =ssh-ec2-sh2; } </dev/null >/dev/null 2>&1 &`);
      await waitFor('a client attached', async () => (await user('tmux list-clients -t =ssh-ec2-sh2')).stdout);
      await startAgent();

      await sleep(7000); // more than twice the idle timeout
      expect(newPoweroffs()).toEqual([]);
      expect(await state(id)).toBe('running');

      await user('tmux detach-client -s =ssh-ec2-sh2');
      expect((await poweredOff(id)).map((p) => p.reason)).toEqual(['idle']);
    },
    TEST_TIMEOUT,
  );

  it(
    'does not power off for idleness while an ssh session runs a command',
    async () => {
      const id = await launch();
      writeConf(id, { IDLE_TIMEOUT: 3 });
      // In first: a slow login must not leave the agent idle for its timeout.
      // It runs until the test says so, not for a time a slow agent start could use up.
      const session = execa(
        'ssh',
        [...sshArgs(), 'echo up; while [ ! -e release ]; do sleep 0.2; done; rm -f release; echo done'],
        { reject: false, stdin: 'ignore' },
      );
      let out = '';
      session.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await waitFor('the command running', () => out.includes('up'));
      await startAgent();

      await sleep(7000); // more than twice the idle timeout
      expect(newPoweroffs()).toEqual([]);
      expect(await state(id)).toBe('running');
      await user('touch release');
      const done = await session;
      expect(done.exitCode).toBe(0); // not cut by a poweroff
      expect(done.stdout).toBe('up\ndone');

      expect((await poweredOff(id)).map((p) => p.reason)).toEqual(['idle']);
    },
    TEST_TIMEOUT,
  );

  it(
    'does power off with only an idle ssh master (-N) connected',
    async () => {
      const id = await launch();
      writeConf(id, { IDLE_TIMEOUT: 3 });
      const master = execa('ssh', ['-N', ...sshArgs()], { reject: false, stdin: 'ignore' });
      let masterEndedAt = Infinity;
      void master.finally(() => {
        masterEndedAt = Date.now();
      });
      try {
        await waitFor('master logged in', () => userSshdRunning());
        await startAgent();
        expect((await poweredOff(id)).map((p) => p.reason)).toEqual(['idle']);
        // The master was still connected when the agent went for the poweroff (asking IMDS first):
        // it went down with the machine.
        await waitFor('the master cut', () => masterEndedAt !== Infinity);
        const asked = sb()
          .imdsRequests()
          .filter((r) => r.instanceId === id)
          .at(-1);
        expect(masterEndedAt).toBeGreaterThanOrEqual(Number(asked?.time));
      } finally {
        master.kill('SIGKILL');
        await master;
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'takes a rewritten agent.conf as someone there: a shorter IDLE_TIMEOUT counts from when it is seen, not from a busy moment long before',
    async () => {
      const id = await launch();
      // No idle limit yet: nothing to power off for, with rounds every second (JOB_GRACE / 3).
      writeConf(id, { IDLE_TIMEOUT: 0, JOB_GRACE: 3 });
      await startAgent();
      await sleep(5000); // nobody busy for longer than the limit about to be set
      const written = epoch();
      writeConf(id, { IDLE_TIMEOUT: 3, JOB_GRACE: 3 });
      expect((await poweredOff(id)).map((p) => p.reason)).toEqual(['idle']);
      const [reason, when] = String(agentFile('poweroff')).trim().split(' ');
      expect(reason).toBe('idle');
      expect(Number(when) - written).toBeGreaterThan(3); // the whole timeout after the new config, not at its first round
    },
    TEST_TIMEOUT,
  );

  it(
    'takes a rewritten agent.conf after a --detach job ended as someone coming back: no job-finished, idle then applies',
    async () => {
      const id = await launch();
      writeConf(id, { IDLE_TIMEOUT: 0, JOB_GRACE: 5 });
      await startAgent();
      await startJob('back', { detached: true });
      const ended = await endJob('back');
      // Written in a later second than the job's end (file times are whole seconds to the agent,
      // and the kernel's clock for them may lag a few ms).
      await waitFor('a second after the end', () => Date.now() > (ended + 1) * 1000 + 100);
      writeConf(id, { IDLE_TIMEOUT: 8, JOB_GRACE: 5 });
      expect((await poweredOff(id)).map((p) => p.reason)).toEqual(['idle']);
    },
    TEST_TIMEOUT,
  );

  it(
    'powers off at DEADLINE even while a job runs',
    async () => {
      const id = await launch();
      const deadline = epoch() + 4;
      writeConf(id, { DEADLINE: deadline, IDLE_TIMEOUT: 0, JOB_GRACE: 1 });
      await startAgent();
      await startJob('long', { detached: false });
      expect((await poweredOff(id)).map((p) => p.reason)).toEqual(['max-time']);
      const [reason, when] = String(agentFile('poweroff')).trim().split(' ');
      expect(reason).toBe('max-time');
      expect(Number(when)).toBeGreaterThanOrEqual(deadline);
      expect(agentFile('jobs/long/status')).toBeUndefined(); // the job was still running
    },
    TEST_TIMEOUT,
  );

  it(
    'refuses to power off an instance it is not on, and says why',
    async () => {
      const id = await launch(); // what IMDS answers
      const other = 'i-0123456789abcdef0';
      writeConf(other, { IDLE_TIMEOUT: 2 });
      await startAgent();
      await waitFor('refusal logged', () => /refusing to power off/.test(agentFile('agent.log') ?? ''));
      const askedForId = () =>
        sb()
          .imdsRequests()
          .filter((r) => r.path === '/latest/meta-data/instance-id').length;
      const asked = askedForId();
      // It keeps checking (asked again: a later round, however slow), but logs the same refusal once.
      await waitFor('IMDS asked again', () => askedForId() > asked + 1);
      const log = String(agentFile('agent.log'));
      expect(log).toContain(`refusing to power off (idle): this is ${id}, not ${other}`);
      expect(log.match(/refusing to power off/g)).toHaveLength(1);
      expect(newPoweroffs()).toEqual([]);
      expect(agentFile('poweroff')).toBeUndefined();
      expect(await state(id)).toBe('running');

      // No IMDS at all (not on EC2): refuses too, with the new reason.
      writeConf(id, { IDLE_TIMEOUT: 2, IMDS_URL: 'http://127.0.0.1:9' });
      await waitFor('second refusal logged', () =>
        /refusing to power off \(idle\): no IMDSv2 token from http:\/\/127\.0\.0\.1:9/.test(
          agentFile('agent.log') ?? '',
        ),
      );
      expect(newPoweroffs()).toEqual([]);
      expect(await state(id)).toBe('running');
      expect(await daemons()).toHaveLength(1);
    },
    TEST_TIMEOUT,
  );

  it(
    'an instance terminated through the API takes its agent with it: nothing is left there to power anything off',
    async () => {
      const id = await launch();
      writeConf(id, { IDLE_TIMEOUT: 2 });
      const pid = await startAgent();
      expect(await daemons()).toEqual([pid]);
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
      await waitFor(`${id} terminated`, async () => (await state(id)) === 'terminated');
      expect(await daemons()).toEqual([]);
      expect(existsSync(agentDir)).toBe(false); // its disk went with it
      expect(poweroffsOf(id)).toEqual([]);
      expect(await state(id)).toBe('terminated');
    },
    TEST_TIMEOUT,
  );

  it(
    'start is idempotent: one daemon, and a newer version replaces an older one',
    async () => {
      const id = await launch();
      writeConf(id); // no limits: it never powers off here
      const first = await startAgent();
      expect(await startAgent()).toBe(first);
      await Promise.all([startAgent(), startAgent(), startAgent()]);
      expect(await daemons()).toEqual([first]);
      expect(agentFile('agent.pid')).toBe(`${first} ${VERSION}\n`);

      expect(VERSION).toBeGreaterThan(0);
      // An older agent (VERSION=0) is running: start replaces it.
      await user('sh ~/.ssh-ec2/agent.sh stop-daemon');
      expect(await daemons()).toEqual([]);
      mkdirSync(join(agentDir, 'old'));
      chownSync(join(agentDir, 'old'), uid, gid);
      putFile('old/agent.sh', readFileSync(AGENT, 'utf8').replace(/^VERSION=\d+$/m, 'VERSION=0'));
      for (const name of AGENT_LIBS) putFile(`old/${name}`, agentLib(name));
      expect((await user('sh ~/.ssh-ec2/old/agent.sh start')).exitCode).toBe(0);
      const old = Number(agentFile('agent.pid')?.split(' ')[0]);
      expect(agentFile('agent.pid')).toBe(`${old} 0\n`);
      const fresh = await startAgent();
      expect(fresh).not.toBe(old);
      expect(await daemons()).toEqual([fresh]);
      expect(agentFile('agent.pid')).toBe(`${fresh} ${VERSION}\n`);
      expect(agentFile('agent.log')).toContain(`replacing agent version 0 (pid ${old}) with version ${VERSION}`);

      await user('sh ~/.ssh-ec2/agent.sh stop-daemon');
      expect(await daemons()).toEqual([]);
      expect(agentFile('agent.pid')).toBeUndefined();
    },
    TEST_TIMEOUT,
  );

  it(
    'a spot interruption notice, once: the file ssh-ec2 watches, SIGTERM to a running job, the hook in the project directory, then upload_results',
    async () => {
      const id = await launch();
      const project = join(String(machine?.home), 'proj'); // as this machine sees it; the instance has its own path
      const spotAsked = () =>
        sb()
          .imdsRequests()
          .filter((r) => r.path === '/latest/meta-data/spot/instance-action');
      writeConf(id, {
        PROJECT_DIR: 'proj',
        ON_INTERRUPT: `pwd > hook-ran; echo "$SSH_EC2_INTERRUPTION" >> hook-ran; echo 'hook output'`,
      });
      // --results' upload (results.sh, helper "s3"): the agent calls it when it is there.
      putFile('results.sh', 'upload_results() { echo "$1 ${2:-}" >> "$HOME/uploaded"; }\n');
      // A job that checkpoints on SIGTERM, leading its own process group as tmux/screen's do.
      await user(
        `mkdir -p ~/proj ~/.ssh-ec2/jobs/j && echo train > ~/.ssh-ec2/jobs/j/cmd && date +%s > ~/.ssh-ec2/jobs/j/created && ` +
          // Its own results mark (results_mark JOBDIR): the notice uploads what changed since it.
          `touch ~/.ssh-ec2/jobs/j/results-since && ` +
          `{ setsid sh -c 'trap "echo saved > ~/proj/checkpoint; exit 143" TERM; while :; do sleep 1; done' </dev/null >/dev/null 2>&1 & echo $! > ~/.ssh-ec2/jobs/j/pid; }`,
      );
      const jobPid = Number(agentFile('jobs/j/pid'));
      const asked = sb().imdsRequests().length;
      await startAgent();
      // On-demand so far: asked, and answered 404, every few seconds, with one token for all.
      await waitFor('spot/instance-action asked twice', () => spotAsked().filter((r) => r.status === 404).length >= 2);
      expect(
        sb()
          .imdsRequests()
          .slice(asked)
          .filter((r) => r.path === '/latest/api/token'),
      ).toHaveLength(1);
      expect(existsSync(join(project, 'checkpoint'))).toBe(false);

      sb().announceInterruption(id, 'stop');
      await waitFor('interruption handled', () => /interruption handled/.test(agentFile('agent.log') ?? ''));
      expect(agentFile('interruption')).toMatch(/^stop \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
      expect(readFileSync(join(project, 'checkpoint'), 'utf8')).toBe('saved\n');
      await waitFor(
        'the job gone',
        async () => (await user(`kill -0 ${jobPid} 2>/dev/null || echo gone`)).stdout === 'gone',
      );
      expect(readFileSync(join(project, 'hook-ran'), 'utf8')).toBe(
        `${(await user('cd ~/proj && pwd')).stdout}\nstop\n`,
      );
      expect(readFileSync(join(project, 'ssh-ec2-interrupt.log'), 'utf8')).toMatch(/hook output\n=== exit status 0\n$/);
      // The job's, from its own directory (its mark and settings), then a plain session's.
      const uploaded = `interruption ${(await user('echo ~/.ssh-ec2/jobs/j')).stdout}\ninterruption \n`;
      expect(readFileSync(join(String(machine?.home), 'uploaded'), 'utf8')).toBe(uploaded);
      // Nothing powered off by the agent: EC2 does it.
      expect(newPoweroffs()).toEqual([]);
      // Once: it asks no more. Rounds go on (an idle poweroff, asked for now, is the evidence), and
      // no second notice is taken.
      writeConf(id, { IDLE_TIMEOUT: 1, PROJECT_DIR: 'proj' });
      expect((await poweredOff(id)).map((p) => p.reason)).toEqual(['idle']);
      expect(spotAsked().filter((r) => r.status === 200)).toHaveLength(1);
      expect(String(agentFile('agent.log')).match(/spot interruption notice/g)).toHaveLength(1);
      expect(readFileSync(join(String(machine?.home), 'uploaded'), 'utf8')).toBe(uploaded);
    },
    TEST_TIMEOUT,
  );
});

describe('sandbox IMDS and poweroff', () => {
  const sb = () => sandbox;

  it('serves IMDSv2 to each instance for itself (a test may make one lie), to nobody else', async () => {
    const ec2 = ec2Client(sb());
    const out = await ec2.send(
      new RunInstancesCommand({ ImageId: IMAGE, InstanceType: 'g4dn.xlarge', MinCount: 1, MaxCount: 1 }),
    );
    const id = String(out.Instances?.[0]?.InstanceId);
    ec2.destroy();
    const m = sb().machine(id);
    const url = `${sb().imdsUrl}/latest`;
    expect((await fetch(`${url}/api/token`, { method: 'PUT' })).status).toBe(400); // no TTL header
    const token = await (
      await fetch(`${url}/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })
    ).text();
    expect(token).toMatch(/^[\w-]{16,}$/);
    expect((await fetch(`${url}/meta-data/instance-id`)).status).toBe(401);
    expect(
      (await fetch(`${url}/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': 'forged' } })).status,
    ).toBe(401);
    // This test process is on no instance: nothing to answer.
    expect(
      (await fetch(`${url}/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': token } })).status,
    ).toBe(404);
    const get = async () =>
      (
        await m.runAsUser(
          `t=$(curl -sS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' ${url}/api/token) && curl -sS -H "X-aws-ec2-metadata-token: $t" ${url}/meta-data/instance-id`,
        )
      ).stdout;
    expect(await get()).toBe(id);
    m.setImdsInstance('i-0fedcba9876543210');
    expect(await get()).toBe('i-0fedcba9876543210');
    m.setImdsInstance(undefined);
    expect(await get()).toBe(id);
    expect(sb().imdsRequests().at(-1)).toMatchObject({ method: 'GET', status: 200, instanceId: id });

    const env = sb().env({ SSH_EC2_POWEROFF_COMMAND: 'sudo shutdown -h now', SSH_EC2_IMDS_URL: undefined });
    expect(env).toMatchObject({ SSH_EC2_POWEROFF_COMMAND: sb().poweroffCommand, SSH_EC2_IMDS_URL: sb().imdsUrl });
  });

  it('a poweroff stops the instance, or terminates it if it was launched with shutdown behaviour terminate', async () => {
    const ec2 = ec2Client(sb());
    const launchOne = async (behaviour: 'stop' | 'terminate') =>
      String(
        (
          await ec2.send(
            new RunInstancesCommand({
              ImageId: IMAGE,
              InstanceType: 'g4dn.xlarge',
              MinCount: 1,
              MaxCount: 1,
              InstanceInitiatedShutdownBehavior: behaviour,
            }),
          )
        ).Instances?.[0]?.InstanceId,
      );
    const stopping = await launchOne('stop');
    const terminating = await launchOne('terminate');
    ec2.destroy();
    const post = (id: string) =>
      fetch(`${sb().endpoint}/sandbox/poweroff`, {
        method: 'POST',
        body: new URLSearchParams({ instance: id, reason: 'test' }),
      });
    expect((await post(stopping)).status).toBe(200);
    expect((await post(terminating)).status).toBe(200);
    await waitFor('stopped', async () => (await instanceState(sb(), stopping)) === 'stopped');
    await waitFor('terminated', async () => (await instanceState(sb(), terminating)) === 'terminated');
    expect(sb().poweroffs().slice(-2)).toEqual([
      expect.objectContaining({ instanceId: stopping, reason: 'test', action: 'StopInstances', status: 200 }),
      expect.objectContaining({ instanceId: terminating, reason: 'test', action: 'TerminateInstances', status: 200 }),
    ]);
    // A machine that is not running cannot power itself off: refused, recorded, EC2 not asked
    // (moto would turn a terminated instance into a stopped one).
    expect((await post(terminating)).status).toBe(409);
    expect((await post(stopping)).status).toBe(409);
    expect(sb().poweroffs().slice(-2)).toEqual([
      expect.objectContaining({ instanceId: terminating, refused: 'terminated' }),
      expect.objectContaining({ instanceId: stopping, refused: 'stopped' }),
    ]);
    expect(
      sb()
        .poweroffs()
        .slice(-2)
        .map((p) => p.status),
    ).toEqual([undefined, undefined]);
    expect(await instanceState(sb(), terminating)).toBe('terminated');
    // The script is the user's to run; it refuses anyone else before doing anything.
    expect(readFileSync(sb().poweroffCommand, 'utf8')).toContain(`!= '${sb().user}'`);
    expect(sb().calls('StopInstances')).toEqual([]); // EC2's own doing, not an API call of a client
  });
});
