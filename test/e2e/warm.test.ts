/**
 * The warm start (session/warm.ts): a command on this directory's running instance, whose master
 * connection an earlier run left open, makes no AWS call and loads no AWS SDK; each reason to
 * doubt it (the machine behind the connection is another instance, no master, another pinned
 * key, the instance stopped meanwhile, a killed run's debts) takes the API path, and nothing goes
 * to the wrong machine.
 */
import { StopInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cli,
  closeMaster,
  controlPath as masterPath,
  ec2Client,
  instanceState,
  instances,
  launches,
  localState,
  makeProject,
  remotePath,
  reportedInstance,
  REPO,
  until,
  useSandbox,
} from './helpers.js';

const sb = useSandbox();
/** Fails the CLI as soon as anything imports an AWS SDK package. */
const NO_SDK = { NODE_OPTIONS: `--import ${join(REPO, 'test', 'fixtures', 'no-aws-sdk.mjs')}` };

/** A project whose instance an earlier run left running, its master open; its id. */
async function leftRunning(name: string, files: Record<string, string> = {}) {
  const dir = makeProject(sb, name, files);
  const first = await cli(sb, ['--leave', 'true'], { cwd: dir });
  expect(first.exitCode, first.stderr).toBe(0);
  return { dir, id: reportedInstance(first.stderr) };
}

const controlPath = (id: string) => masterPath(sb, id);

const masterAlive = async (id: string) =>
  (await execa('ssh', ['-o', `ControlPath=${controlPath(id)}`, '-O', 'check', 'x'], { reject: false })).exitCode === 0;

describe('a warm run', () => {
  it('makes no AWS call and loads no AWS SDK module', async () => {
    const { dir, id } = await leftRunning('warm', { 'in.txt': 'x' });
    // The hook does fail a run that needs the SDK (one that asks AWS: --no-warm has no such flag, a new directory does).
    const cold = await cli(sb, ['--leave', 'true'], { cwd: makeProject(sb, 'warm-cold'), env: NO_SDK });
    expect(cold.stderr).toMatch(/the AWS SDK was loaded/);
    sb.clearCalls();
    const r = await cli(sb, ['-v', '--leave', 'cat in.txt; echo ran > out.txt'], { cwd: dir, env: NO_SDK });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('x');
    expect(r.stderr).toContain(`warm start: ${id} answered over the open connection as itself`);
    expect(r.stderr).not.toMatch(/loading the AWS SDK|AWS SDK was loaded/);
    expect(sb.calls()).toEqual([]);
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe('ran\n');
    expect(await instanceState(sb, id)).toBe('running');
  });

  it.each([
    ['--terminate', 'TerminateInstances', 'terminated'],
    ['--stop', 'StopInstances', 'stopped'],
  ])(
    '%s: the SDK is loaded for that call only, the instance ends, and the next run asks AWS',
    async (flag, call, state) => {
      const name = `warm${flag}`;
      const { dir, id } = await leftRunning(name);
      sb.clearCalls();
      const r = await cli(sb, ['-v', flag, 'true'], { cwd: dir });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toContain(`warm start: ${id}`);
      expect(r.stderr).toContain(`loading the AWS SDK (first call: ${flag.slice(2)})`);
      expect(sb.calls().map((c) => c.action)).toEqual([call]);
      expect(await instanceState(sb, id)).toBe(state);
      const next = await cli(sb, ['-v', '--leave', 'true'], { cwd: dir });
      expect(next.exitCode, next.stderr).toBe(0);
      expect(next.stderr).toContain('no warm start: no instance known here');
      if (state === 'stopped') expect(sb.calls('StartInstances')).toHaveLength(1);
    },
  );
});

describe('falls back to the API', () => {
  it('when the machine behind the open connection is another instance: nothing of the run goes there', async () => {
    const { dir, id } = await leftRunning('replaced');
    // The instance is replaced: terminated, another one running, and the connection known for the
    // first leading to the other (as an address handed on with a copied host key would).
    await ec2Client(sb).send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await until(async () => !(await masterAlive(id)), 'the terminated instance’s master to close');
    const other = await leftRunning('replaced-other');
    const key = join(sb.dir, 'replaced-key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    sb.authorizeKey(readFileSync(`${key}.pub`, 'utf8'));
    const address = sb.machine(other.id).addresses[0]!;
    await execa('ssh', [
      ...['-F', sb.sshConfig, '-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'],
      ...['-o', 'ControlMaster=yes', '-o', `ControlPath=${controlPath(id)}`, '-o', 'ControlPersist=60', '-fN'],
      `${sb.user}@${address}`,
    ]);
    sb.clearCalls();
    const r = await cli(sb, ['-v', '--leave', 'touch ran-here'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `no warm start: the machine behind the open connection to ${id} says it is ${other.id}: that connection is no longer used`,
    );
    expect(sb.calls('DescribeInstances').length).toBeGreaterThan(0);
    expect(launches(sb)).toHaveLength(1); // the first is gone: a new one, not the other directory's
    const fresh = launches(sb)[0]!;
    expect(fresh.status).toBe(200);
    expect(existsSync(join(remotePath(sb, 'replaced', other.id), 'ran-here'))).toBe(false);
    expect(existsSync(join(remotePath(sb, 'replaced'), 'ran-here'))).toBe(true);
  });

  it('when the master is gone', async () => {
    const { dir, id } = await leftRunning('master-dead');
    await closeMaster(sb, id);
    sb.clearCalls();
    const r = await cli(sb, ['-v', '--leave', 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(r.stderr).toContain(`no warm start: no open ssh connection to ${id}; asking AWS`);
    expect(sb.calls('DescribeInstances').length).toBeGreaterThan(0);
    expect(launches(sb)).toHaveLength(0);
    expect(reportedInstance(r.stderr)).toBe(id);
  });

  it('when the pinned host key changed: the open connection is not used, and the new pin is checked (refused)', async () => {
    const { dir, id } = await leftRunning('key-changed');
    const pin = localState(sb, 'known_hosts', id);
    const key = join(sb.dir, 'foreign-host-key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    writeFileSync(pin, `${id} ${readFileSync(`${key}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
    sb.clearCalls();
    const r = await cli(sb, ['-v', '--leave', 'touch key-changed-ran'], { cwd: dir });
    expect(r.stderr).toContain(`no warm start: the host key pinned for ${id} changed since it was checked`);
    expect(sb.calls('DescribeInstances').length).toBeGreaterThan(0);
    expect(r.exitCode).toBe(255); // ssh refuses the machine's real key against the new pin
    expect(existsSync(join(remotePath(sb, 'key-changed', id), 'key-changed-ran'))).toBe(false);
  });

  it('when the instance was stopped behind its back: started again through the API', async () => {
    const { dir, id } = await leftRunning('stopped-behind');
    await ec2Client(sb).send(new StopInstancesCommand({ InstanceIds: [id] }));
    await until(async () => (await instanceState(sb, id)) === 'stopped', `${id} to stop`);
    sb.clearCalls();
    const r = await cli(sb, ['-v', '--leave', 'echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(r.stderr).toMatch(/no warm start: .*; asking AWS/);
    expect(sb.calls('StartInstances')).toHaveLength(1);
    expect(launches(sb)).toHaveLength(0);
  });

  it('when a killed run here left work to finish', async () => {
    const { dir, id } = await leftRunning('debts');
    const [known] = readdirSync(localState(sb, 'warm'))
      .filter((f) => f.endsWith('.json'))
      .filter((f) => readFileSync(localState(sb, 'warm', f), 'utf8').includes(id));
    const projectId = known!.replace(/\.json$/, '');
    const dead = 99_999_999; // above any pid_max: no such process
    writeFileSync(
      localState(sb, 'journals', `${projectId}.${dead}.json`),
      JSON.stringify({
        pid: dead,
        projectDir: dir,
        startedAt: new Date().toISOString(),
        step: 'the command',
        instanceId: id,
        ran: true,
        finalState: 'leave',
      }),
    );
    sb.clearCalls();
    const r = await cli(sb, ['-v', '--leave', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`pid ${dead}`);
    expect(r.stderr).toContain('no warm start: a killed run here left work to finish');
    expect(sb.calls('DescribeInstances').length).toBeGreaterThan(0);
  });
});

describe('an instance ended by ssh-ec2', () => {
  it('`down NAME --no-pull` from another directory: its record here goes and its connection is closed', async () => {
    const { dir, id } = await leftRunning('ended-elsewhere');
    expect(await masterAlive(id)).toBe(true);
    const name = (await instances(sb)).find((i) => i.InstanceId === id)?.Tags?.find((t) => t.Key === 'Name')?.Value;
    const down = await cli(sb, ['down', name!, '--no-pull', '--yes'], { cwd: makeProject(sb, 'ended-elsewhere-2') });
    expect(down.exitCode, down.stderr).toBe(0);
    // Nothing of it is left to reach it warm while it shuts down.
    expect(await masterAlive(id)).toBe(false);
    const records = readdirSync(localState(sb, 'warm')).map((f) => readFileSync(localState(sb, 'warm', f), 'utf8'));
    expect(records.filter((text) => text.includes(id))).toEqual([]);
    sb.clearCalls();
    const r = await cli(sb, ['-v', '--leave', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/no warm start: no instance known here; asking AWS/);
    expect(reportedInstance(r.stderr)).not.toBe(id);
    expect(launches(sb)).toHaveLength(1);
  });
});
