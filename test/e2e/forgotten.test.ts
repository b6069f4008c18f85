/**
 * No forgotten machine (issue #10, problem 8): a detached shell left alone is idle, a detached job
 * or shell says what it costs and what will stop it, `ls` marks an instance nothing will stop, and
 * an instance whose run died before the agent was installed stops itself (the boot-time limit in
 * its user data), on every boot.
 */
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartInstancesCommand } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import type { Poweroff } from '../sandbox/index.js';
import { BOOT_GRACE_SECONDS } from '../../src/remote/on-instance.js';
import {
  BIN,
  cli,
  ec2Client,
  instanceState,
  launches,
  makeProject,
  NODE,
  reportedInstance,
  shq,
  useSandbox,
} from './helpers.js';

const sb = useSandbox();

async function until(probe: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits for the instance to be stopped by itself and for the sandbox to have moto's answer; its poweroffs. */
async function stoppedItself(id: string, what: string, timeoutMs = 90_000): Promise<Poweroff[]> {
  const poweroffs = () => sb.poweroffs().filter((p) => p.instanceId === id);
  await until(async () => (await instanceState(sb, id)) === 'stopped', what, timeoutMs);
  await until(() => poweroffs().every((p) => p.status !== undefined), `the sandbox to record ${id}'s poweroff`);
  return poweroffs();
}

const PRICE = /g4dn\.xlarge, (about \$[\d.]+\/hour on demand|see https:\/\/\S+ for the price of g4dn\.xlarge in \S+)\./;

describe('no forgotten machine', () => {
  it('a --multi tmux shell detached with Ctrl-b d, nothing running in it: the agent stops the instance after the idle timeout', async () => {
    const name = 'forgotten-shell';
    const dir = makeProject(sb, name);
    const sock = join(sb.dir, 'forgotten-tmux.sock');
    const env = Object.entries(sb.env()).map(([k, v]) => `${k}=${v}`);
    const exitFile = join(sb.dir, 'forgotten.exit');
    const stderrFile = join(sb.dir, 'forgotten.stderr');
    const stderr = () => (existsSync(stderrFile) ? readFileSync(stderrFile, 'utf8') : '');
    const pane = async () =>
      String((await execa('tmux', ['-S', sock, 'capture-pane', '-p'], { reject: false })).stdout);
    const command = `env -i TERM=xterm ${env.map(shq).join(' ')} ${shq(NODE)} ${shq(BIN)} --multi tmux --idle-timeout 3s 2>${shq(stderrFile)}; echo $? > ${shq(exitFile)}; sleep 60`;
    // The agent can power nothing off while the run is there (IMDS names another instance): a
    // limit of 3 s cannot cut the run itself on a slow machine. Lifted once it has returned.
    sb.setImdsInstance('i-00000000000000000');
    await execa('tmux', ['-S', sock, 'new-session', '-d', '-x', '150', '-y', '40', '-c', dir, `sh -c ${shq(command)}`]);
    try {
      await until(async () => /forgotten-shell\$\s*$/m.test(await pane()), 'a shell prompt in tmux on the instance');
      // Ctrl-b d, typed into the terminal ssh-ec2 runs in: tmux on the instance detaches.
      await execa('tmux', ['-S', sock, 'send-keys', 'C-b', 'd']);
      await until(() => existsSync(exitFile), 'ssh-ec2 to return after the detach', 40_000);
      expect(readFileSync(exitFile, 'utf8').trim(), stderr()).toBe('0');
      expect(stderr()).toMatch(/the job is still running on i-/);
      expect(stderr()).toMatch(PRICE);
      expect(stderr()).toContain(
        'It stops itself after 3s with no terminal attached and nothing running in the shell.',
      );
      const id = reportedInstance(stderr());
      sb.setImdsInstance(undefined);
      expect(await stoppedItself(id, 'the agent to stop the instance under the forgotten shell')).toEqual([
        expect.objectContaining({ reason: 'idle', status: 200 }),
      ]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- screen:\n${await pane()}\n--- stderr:\n${stderr()}`);
    } finally {
      sb.setImdsInstance(undefined);
      await execa('tmux', ['-S', sock, 'kill-server'], { reject: false });
    }
  }, 150_000);

  it('--detach says what the instance costs and which limits will stop it; ls marks an instance with no limit', async () => {
    const dir = makeProject(sb, 'forgotten-detach');
    const before = new Date();
    const r = await cli(sb, ['--detach', '--max-time', '2h', '--job-grace', '5m', 'sleep 1'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(PRICE);
    // The deadline (2h on) as a clock time, with its day when that is not today (a run at 22:39
    // says "Dec 1 00:39"): the form the run's start or end would give, whatever the hour CI runs.
    const dayOf = (now: Date) => {
      const end = new Date(now.getTime() + 2 * 3_600_000);
      return end.toDateString() === now.toDateString()
        ? ''
        : `${end.toLocaleString('en-US', { month: 'short', day: 'numeric' })} `;
    };
    const days = [...new Set([before, new Date()].map(dayOf))].join('|');
    expect(r.stderr).toMatch(
      new RegExp(
        `It stops itself 5m after the job ends with nobody attached, or at (?:${days})\\d\\d:\\d\\d whatever runs \\(--max-time\\)\\.`,
      ),
    );

    const off = makeProject(sb, 'forgotten-nolimit');
    const left = await cli(sb, ['--leave', '--idle-timeout', 'off', 'true'], { cwd: off });
    expect(left.exitCode, left.stderr).toBe(0);
    const ls = await cli(sb, ['ls'], { cwd: off });
    const row = (n: string) => ls.stdout.split('\n').find((l) => l.includes(n)) ?? '';
    expect(row('forgotten-nolimit')).toContain('NO LIMIT');
    expect(row('forgotten-detach')).not.toContain('NO LIMIT');
    expect((await cli(sb, ['down', '--all', '--yes'], { cwd: off })).exitCode).toBe(0);
  });

  it('a run killed before the agent was installed: the instance stops itself (boot-time limit), and again after a stop/start', async () => {
    const dir = makeProject(sb, 'forgotten-boot');
    // The run waits on its key push (Instance Connect), the instance booted: the laptop closes.
    const held = sb.hold('SendSSHPublicKey');
    const run = execa(NODE, [BIN, '--idle-timeout', '2s', 'true'], {
      cwd: dir,
      env: sb.env(),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    await held.arrived;
    run.kill('SIGKILL');
    await run;
    held.release();
    expect(launches(sb).length).toBeGreaterThan(0);
    const id = sb.latestMachine().instanceId;
    expect(await instanceState(sb, id)).toBe('running');
    const bound = (BOOT_GRACE_SECONDS + 60) * 1000;
    expect(await stoppedItself(id, 'the boot-time limit to stop the instance', bound)).toEqual([
      expect.objectContaining({ reason: 'idle', status: 200 }),
    ]);

    // Started again from outside ssh-ec2 (the console): it does not run without its limits.
    const ec2 = ec2Client(sb);
    try {
      await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    } finally {
      ec2.destroy();
    }
    await until(async () => (await instanceState(sb, id)) === 'running', 'the instance to run again');
    expect((await stoppedItself(id, 'the boot-time limit to stop it again', bound)).map((p) => p.reason)).toEqual([
      'idle',
      'idle',
    ]);
  }, 400_000);
});
