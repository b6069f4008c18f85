/**
 * Restarting a stopped instance when EC2 has no capacity for it in its zone (the sandbox answers
 * StartInstances with InsufficientInstanceCapacity on demand, counted in calls), and changing the
 * type of a stopped instance to the one named on the command line.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, instances, launches, makeProject, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();
afterEach(() => {
  sb.aws.noStartCapacity(0);
  sb.clearFaults();
});

/** A project whose instance is stopped, with a result of a first run on its disk: its id. */
async function stoppedInstance(name: string): Promise<{ dir: string; id: string }> {
  const dir = makeProject(sb, name);
  const r = await cli(sb, ['--stop', 'echo first > first.txt'], { cwd: dir });
  expect(r.exitCode, r.stderr).toBe(0);
  return { dir, id: reportedInstance(r.stderr) };
}

async function described(id: string) {
  const i = (await instances(sb)).find((x) => x.InstanceId === id);
  return { state: i?.State?.Name, type: i?.InstanceType };
}

const startCalls = () => sb.calls('StartInstances').map((c) => c.status);

describe('a stopped instance EC2 has no capacity to start', () => {
  it('a few times: retried with backoff, saying so, then started; the command runs, then terminated', async () => {
    const { dir, id } = await stoppedInstance('ice-then-ok');
    sb.aws.noStartCapacity(2);
    sb.clearCalls();
    const r = await cli(sb, ['echo ran > ran.txt'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(startCalls()).toEqual([500, 500, 200]);
    expect(
      r.stderr.match(
        /no capacity for g4dn\.xlarge in \S+ yet \(i-\w+ can only start there\); trying again in \d+s \(for up to 5m in all\)/g,
      ),
    ).toHaveLength(2);
    expect(r.stderr).toContain(`started ${id} (g4dn.xlarge) on try 3`);
    expect(readFileSync(join(dir, 'ran.txt'), 'utf8')).toBe('ran\n');
    expect(launches(sb)).toEqual([]);
    expect((await described(id)).state).toBe('terminated');
  });

  it('throughout --capacity-timeout: exit 5 with one line saying what to do; still stopped, nothing launched', async () => {
    const { dir, id } = await stoppedInstance('ice-always');
    sb.aws.noStartCapacity(Number.POSITIVE_INFINITY);
    sb.clearCalls();
    // Long enough for a retry (after 1 s, then 2 s) however slow the first StartInstances is here.
    const r = await cli(sb, ['--capacity-timeout', '8s', 'echo ran > ran.txt'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toContain(`ssh-ec2: error: no capacity to start ${id} as g4dn.xlarge in `);
    expect(r.stderr).toMatch(
      /\(tried for 8s\): it is still stopped, with its disk; nothing is lost\nssh-ec2: .*run again later .*or start it as another type \(another size or family\): ssh-ec2 --instance-type/,
    );
    expect(startCalls().length).toBeGreaterThan(1);
    expect(startCalls().every((s) => s === 500)).toBe(true);
    expect(sb.calls('StopInstances')).toEqual([]);
    expect(sb.calls('TerminateInstances')).toEqual([]);
    expect(launches(sb)).toEqual([]);
    expect(await described(id)).toEqual({ state: 'stopped', type: 'g4dn.xlarge' });
    // Nothing lost: once there is capacity, the same instance, its disk and all.
    sb.aws.noStartCapacity(0);
    const again = await cli(sb, ['cat first.txt'], { cwd: dir });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe('first\n');
    expect(reportedInstance(again.stderr)).toBe(id);
  });
});

describe('--instance-type on the command line for a stopped instance', () => {
  it('another type: the stopped instance is changed to it, then started', async () => {
    const { dir, id } = await stoppedInstance('retype');
    sb.clearCalls();
    const r = await cli(sb, ['--instance-type', 'g5.xlarge', '--leave', 'cat first.txt'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('first\n');
    expect(r.stderr).toContain(`changing the type of stopped instance ${id} from g4dn.xlarge to g5.xlarge`);
    expect(
      sb.calls('ModifyInstanceAttribute').map((c) => [c.params.InstanceId, c.params['InstanceType.Value'], c.status]),
    ).toEqual([[id, 'g5.xlarge', 200]]);
    expect(launches(sb)).toEqual([]);
    expect(await described(id)).toEqual({ state: 'running', type: 'g5.xlarge' });
    // Running now: a type named on the command line cannot apply, and the run says so.
    const next = await cli(sb, ['--instance-type', 'g4dn.xlarge', 'true'], { cwd: dir });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr).toContain(`--instance-type g4dn.xlarge not applied: ${id} is running`);
    expect(await described(id)).toEqual({ state: 'terminated', type: 'g5.xlarge' });
  });

  it('a list whose first type has no capacity: the next one is tried on the same instance', async () => {
    const { dir, id } = await stoppedInstance('retype-fallback');
    sb.aws.noStartCapacity(Number.POSITIVE_INFINITY, ['g5.xlarge']);
    sb.clearCalls();
    const r = await cli(sb, ['--instance-type', 'g5.xlarge,g4dn.xlarge', '--leave', 'cat first.txt'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('first\n');
    expect(sb.calls('ModifyInstanceAttribute').map((c) => c.params['InstanceType.Value'])).toEqual([
      'g5.xlarge',
      'g4dn.xlarge',
    ]);
    expect(startCalls()).toEqual([500, 200]);
    expect(await described(id)).toEqual({ state: 'running', type: 'g4dn.xlarge' });
    expect((await cli(sb, ['down', '--yes'], { cwd: dir })).exitCode).toBe(0);
  });

  it('no type of the list has capacity: exit 5, and the instance is set back to its own type, still stopped', async () => {
    const { dir, id } = await stoppedInstance('retype-none');
    sb.aws.noStartCapacity(Number.POSITIVE_INFINITY);
    sb.clearCalls();
    const r = await cli(sb, ['--instance-type', 'g5.xlarge,g5.2xlarge', '--capacity-timeout', 'off', 'true'], {
      cwd: dir,
    });
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toContain(`no capacity to start ${id} as g5.xlarge or g5.2xlarge in `);
    expect(r.stderr).toContain(': it is still stopped (as g4dn.xlarge), with its disk; nothing is lost');
    expect(r.stderr).toContain(`${id} set back to g4dn.xlarge`);
    expect(sb.calls('ModifyInstanceAttribute').map((c) => c.params['InstanceType.Value'])).toEqual([
      'g5.xlarge',
      'g5.2xlarge',
      'g4dn.xlarge',
    ]);
    expect(startCalls()).toEqual([500, 500]);
    expect(await described(id)).toEqual({ state: 'stopped', type: 'g4dn.xlarge' });
  });

  it('not given (the default type differs): the stopped instance keeps its own type', async () => {
    const dir = makeProject(sb, 'keep-type');
    const first = await cli(sb, ['--stop', '--instance-type', 'g5.xlarge', 'true'], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const id = reportedInstance(first.stderr);
    sb.clearCalls();
    const r = await cli(sb, ['true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(sb.calls('ModifyInstanceAttribute')).toEqual([]);
    expect(r.stderr).toContain(`starting stopped instance ${id} (g5.xlarge)`);
  });
});

describe('a start that EC2 does not answer clearly, or refuses for a quota', () => {
  it('5xx after EC2 started it: the run fails, and the instance it may have started is stopped again, said', async () => {
    const { dir, id } = await stoppedInstance('start-lost');
    // moto starts it; the client hears only 500s, through all of the SDK's retries.
    sb.inject({ action: 'StartInstances', status: 500, times: Infinity, afterForward: true });
    sb.clearCalls();
    const r = await cli(sb, ['echo ran > ran.txt'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toContain(`EC2 did not answer the start of ${id} (`);
    // Said once, with the way to end it (issue #10: no second, generic "stopped" line).
    expect(r.stderr).toContain(`${id} was stopped, not terminated: nothing is lost`);
    expect(r.stderr).toContain(
      'it may be starting all the same, so the finish sees to it (stopped, or said to be left running)',
    );
    expect(sb.calls('StartInstances').every((c) => c.status === 500)).toBe(true);
    expect(sb.calls('StopInstances').map((c) => [c.params['InstanceId.1'], c.status])).toEqual([[id, 200]]);
    expect(sb.calls('TerminateInstances')).toEqual([]);
    expect((await described(id)).state).toBe('stopped');
    expect(launches(sb)).toEqual([]);
  });

  it('a vCPU quota: no retry however long --capacity-timeout, exit 5 at once, one true line and what to do', async () => {
    const { dir, id } = await stoppedInstance('start-quota');
    sb.inject({
      action: 'StartInstances',
      status: 400,
      code: 'VcpuLimitExceeded',
      message:
        'You have requested more vCPU capacity than your current vCPU limit of 0 allows for the instance bucket that the specified instance type belongs to.',
      times: Infinity,
    });
    sb.clearCalls();
    const r = await cli(sb, ['--capacity-timeout', '1h', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(5);
    expect(startCalls()).toEqual([400]);
    expect(r.stderr).not.toContain('no capacity');
    expect(r.stderr).toMatch(
      new RegExp(
        `ssh-ec2: error: cannot start ${id}: g4dn\\.xlarge: quota reached in \\S+ \\(VcpuLimitExceeded\\); it is still stopped, with its disk; nothing is lost\nssh-ec2: .*Ask AWS for a quota increase .*ssh-ec2 --instance-type`,
      ),
    );
    expect(sb.calls('StopInstances')).toEqual([]);
    expect(await described(id)).toEqual({ state: 'stopped', type: 'g4dn.xlarge' });
  });
});

describe('ssh-ec2 down on a stopped instance', () => {
  it('restarts it to bring the results back with --capacity-timeout applied, as a run does', async () => {
    const { dir, id } = await stoppedInstance('down-retry');
    sb.aws.noStartCapacity(1);
    sb.clearCalls();
    const r = await cli(sb, ['down', '--yes', '--capacity-timeout', '10m'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(startCalls()).toEqual([500, 200]);
    expect(r.stderr).toContain(`started ${id} (g4dn.xlarge) on try 2`);
    expect((await described(id)).state).toBe('terminated');
  });

  it('with an rsync that cannot bring files back: said in one line before the instance is started (exit 3); still stopped, not terminated', async () => {
    const { dir, id } = await stoppedInstance('down-old-rsync');
    // A stand-in for an rsync too old for anything ssh-ec2 needs: it refuses every option.
    const bin = join(sb.dir, 'refusing-rsync-down');
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, 'rsync'),
      '#!/bin/sh\n[ "$1" = --version ] && { echo "rsync  version 0.1"; exit 0; }\necho "rsync: unknown option" >&2; exit 1\n',
      { mode: 0o755 },
    );
    sb.clearCalls();
    const r = await cli(sb, ['down', '--yes'], { cwd: dir, env: { PATH: `${bin}:${process.env.PATH}` } });
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toMatch(
      /error: your rsync \(.*refusing-rsync-down\/rsync: rsync {2}version 0\.1\) cannot .*bring files back from the instance/,
    );
    expect(sb.calls('StartInstances')).toEqual([]);
    expect(sb.calls('TerminateInstances')).toEqual([]);
    expect((await described(id)).state).toBe('stopped');
  });
});
