/**
 * Spot interruptions (issue #13): the sandbox's metadata service announces EC2's two minutes'
 * notice for one instance, then EC2 takes it (sb.announceInterruption, sb.completeInterruption).
 * Each step waits for evidence — the line on screen, a file home, a checkpoint written — never
 * for time. The agent asks on every instance, so some of these run on on-demand ones; the two the
 * issue names (an attached session, a detached job whose results go to S3) are spot instances.
 */
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BIN,
  cli,
  instanceState,
  launches,
  makeProject,
  NODE,
  pathOnInstance,
  remotePath,
  useSandbox,
  until,
} from './helpers.js';
import { resultsBucket, type ResultsBucket } from './s3-results.js';

const sb = useSandbox();
const BUCKET = 'ssh-ec2-interrupted';
// A profile that may write there (the default, read-only one would be warned about).
const PROFILE = 'results-writer';
let bucket: ResultsBucket;

beforeAll(async () => {
  bucket = await resultsBucket(sb, BUCKET, PROFILE);
});

/** The launch was a persistent spot request that stops (spot-market.ts). */
function launchedSpot() {
  expect(sb.calls('RunInstances')[0]!.params).toMatchObject({
    'InstanceMarketOptions.MarketType': 'spot',
    'InstanceMarketOptions.SpotOptions.SpotInstanceType': 'persistent',
    'InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior': 'stop',
  });
}

/** The CLI in the background, its stderr readable as it comes. */
function cliRunning(args: string[], cwd: string) {
  const child = execa(NODE, [BIN, ...args], {
    cwd,
    env: sb.env(),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    encoding: 'utf8',
    timeout: 240_000,
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer | string) => (stderr += String(d)));
  return { child, stderr: () => stderr };
}

/** ssh-ec2 neither stopped nor terminated it (EC2 does). */
const endedByUs = (id: string) =>
  [...sb.calls('StopInstances'), ...sb.calls('TerminateInstances')].filter((c) => c.params['InstanceId.1'] === id);

/** The run told of EC2's `action` at once and exited 10, with `file` home holding `content`. */
function toldAndHome(
  r: { stderr: string; exitCode?: number },
  action: string,
  dir: string,
  file: string,
  content: string,
) {
  expect(r.stderr).toMatch(new RegExp(`spot interruption: EC2 will ${action} this instance at`));
  expect(r.exitCode).toBe(10);
  expect(readFileSync(join(dir, file), 'utf8')).toBe(content);
}

describe('a spot interruption', () => {
  it('during an attached session: told at once, results home before EC2 stops it, exit 10; the next run says so and resumes on its disk', async () => {
    const name = 'spot-attached';
    const dir = makeProject(sb, name, { 'input.txt': 'in\n' });
    // A result written before the notice; the command still runs when EC2 takes the instance.
    const run = cliRunning(['--spot', '--', 'echo before > result.txt; touch started; while :; do sleep 1; done'], dir);
    await until(() => launches(sb).length > 0 && existsSync(join(remotePath(sb, name), 'started')), 'the command');
    const id = sb.latestMachine().instanceId;
    launchedSpot();

    sb.announceInterruption(id, 'stop');
    await until(() => existsSync(join(dir, 'result.txt')), 'the result home after the notice', 90_000);
    // The notice gives two minutes; a loaded machine may see it with under one left: "in 45s".
    expect(run.stderr()).toMatch(
      /spot interruption: EC2 will stop this instance at \d\d:\d\d:\d\d \(in (?:\d+m\d\d|\d{1,2})s\); bringing results home now/,
    );
    expect(readFileSync(join(dir, 'result.txt'), 'utf8')).toBe('before\n');
    // Home before EC2 has done anything to it.
    expect(await instanceState(sb, id)).toBe('running');

    await sb.completeInterruption(id);
    const r = await run.child;
    expect(r.exitCode).toBe(10);
    // Neither stopped nor terminated by ssh-ec2: EC2 did it.
    expect(sb.calls('StopInstances')).toEqual([]);
    expect(sb.calls('TerminateInstances')).toEqual([]);
    expect(await instanceState(sb, id)).toBe('stopped');
    expect(r.stderr).toMatch(new RegExp(`EC2 is taking ${id} back`));

    const next = await cli(sb, ['cat', 'result.txt'], { cwd: dir, timeoutMs: 180_000 });
    expect(next.stderr).toMatch(
      new RegExp(
        `the last run's instance ${id} was interrupted by EC2 \\(spot\\) at .*: it was stopped, resuming on its disk`,
      ),
    );
    expect(next).toMatchObject({ exitCode: 0, stdout: 'before\n' });
    // The same disk: started again, nothing new launched.
    expect(launches(sb)).toHaveLength(1);
    expect(sb.calls('StartInstances').map((c) => c.params['InstanceId.1'])).toEqual([id]);
    // Said once.
    const again = await cli(sb, ['true'], { cwd: dir, timeoutMs: 180_000 });
    expect(again.stderr).not.toMatch(/interrupted by EC2/);
  }, 400_000);

  it('EC2 terminating it: exit 10; the next run says its results were already home and starts on a new instance', async () => {
    const name = 'spot-terminated';
    const dir = makeProject(sb, name, { 'input.txt': 'in\n' });
    const before = launches(sb).length;
    const run = cliRunning(['--spot', '--', 'echo before > result.txt; touch started; while :; do sleep 1; done'], dir);
    await until(() => launches(sb).length > before && existsSync(join(remotePath(sb, name), 'started')), 'the command');
    const id = sb.latestMachine().instanceId;
    sb.announceInterruption(id, 'terminate');
    await until(() => existsSync(join(dir, 'result.txt')), 'the result home after the notice', 90_000);
    await sb.completeInterruption(id);
    expect((await run.child).exitCode).toBe(10);
    expect(await instanceState(sb, id)).toBe('terminated');

    const next = await cli(sb, ['cat', 'input.txt'], { cwd: dir, timeoutMs: 180_000 });
    expect(next.stderr).toMatch(
      new RegExp(
        `the last run's instance ${id} was interrupted by EC2 \\(spot\\) at .*: it was terminated, so this run starts on a new instance; its results were already home`,
      ),
    );
    expect(next).toMatchObject({ exitCode: 0, stdout: 'in\n' });
    expect(launches(sb)).toHaveLength(before + 2);
  }, 400_000);

  it('during --attach following a job that checkpoints on SIGTERM: exit 10, the checkpoint home, nothing stopped or terminated by ssh-ec2', async () => {
    const name = 'spot-attach';
    const dir = makeProject(sb, name, { 'input.txt': 'in\n' });
    const job = 'trap "echo saved > checkpoint; exit 143" TERM; touch started; while :; do sleep 1; done';
    expect((await cli(sb, ['--detach', '--', job], { cwd: dir })).exitCode).toBe(0);
    const id = sb.latestMachine().instanceId;
    const there = remotePath(sb, name);
    await until(() => existsSync(join(there, 'started')), 'the job running');
    const attached = cliRunning(['--attach'], dir);
    await until(() => /attaching to the job running/.test(attached.stderr()), 'attached');

    sb.announceInterruption(id, 'stop');
    toldAndHome(await attached.child, 'stop', dir, 'checkpoint', 'saved\n');
    expect(endedByUs(id)).toEqual([]);
    await sb.completeInterruption(id);
    expect(await instanceState(sb, id)).toBe('stopped');
  }, 400_000);

  it('a notice as the command ends (the watch not yet there): the finish finds it, results home, exit 10, nothing stopped or terminated', async () => {
    const name = 'spot-late';
    const dir = makeProject(sb, name, { 'input.txt': 'in\n' });
    const run = cliRunning(
      ['--', 'touch started; until [ -f ~/.ssh-ec2/interruption ]; do sleep 0.1; done; echo done > result.txt'],
      dir,
    );
    await until(() => existsSync(join(remotePath(sb, name), 'started')), 'the command');
    const id = sb.latestMachine().instanceId;
    sb.announceInterruption(id, 'terminate');
    toldAndHome(await run.child, 'terminate', dir, 'result.txt', 'done\n');
    expect(endedByUs(id)).toEqual([]);
    await sb.completeInterruption(id);
  }, 400_000);

  it('during a detached spot job: SIGTERM lets it checkpoint, --on-interrupt runs in the project directory, the results are safe in S3; the next run says so', async () => {
    const name = 'spot-job';
    const dir = makeProject(sb, name, { 'input.txt': 'in\n' });
    const job = 'trap "echo saved > checkpoint; exit 143" TERM; touch started; while :; do sleep 1; done';
    const results = ['--iam-profile', PROFILE, '--results', `s3://${BUCKET}/runs/`];
    const started = await cli(sb, ['--spot', ...results, '--detach', '--on-interrupt', 'pwd > hook-ran', '--', job], {
      cwd: dir,
    });
    expect(started.exitCode, started.stderr).toBe(0);
    launchedSpot();
    const id = sb.latestMachine().instanceId;
    const there = remotePath(sb, name);
    await until(() => existsSync(join(there, 'started')), 'the job running');

    sb.announceInterruption(id, 'stop');
    await until(() => existsSync(join(there, 'checkpoint')), "the job's checkpoint", 90_000);
    expect(readFileSync(join(there, 'checkpoint'), 'utf8')).toBe('saved\n');
    await until(() => existsSync(join(there, 'hook-ran')), 'the --on-interrupt hook', 90_000);
    expect(readFileSync(join(there, 'hook-ran'), 'utf8')).toBe(`${pathOnInstance(sb, name)}\n`);
    // Uploaded at the notice, before EC2 takes the instance: a closed laptop loses nothing.
    await until(
      async () => (await bucket.keys(`runs/${name}/`)).includes('checkpoint'),
      'the checkpoint in S3',
      90_000,
    );
    expect(await bucket.object(`runs/${name}/checkpoint`)).toBe('saved\n');
    expect(await bucket.keys(`runs/${name}/`)).not.toContain('input.txt');

    await sb.completeInterruption(id);
    const next = await cli(sb, ['true'], { cwd: dir, timeoutMs: 180_000 });
    expect(next.exitCode).toBe(0);
    expect(next.stderr).toMatch(
      new RegExp(
        `the last run's instance ${id} was interrupted by EC2 \\(spot\\) at .*: it was stopped, resuming on its disk`,
      ),
    );
    // Resumed on the same disk: the checkpoint is there, and came home with the results.
    expect(readFileSync(join(dir, 'checkpoint'), 'utf8')).toBe('saved\n');
    expect(readFileSync(join(dir, 'ssh-ec2-interrupt.log'), 'utf8')).toMatch(/=== exit status 0/);
  }, 400_000);
});
