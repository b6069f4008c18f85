/**
 * ssh-ec2 batch end to end (issue #14): the built CLI against the sandbox, where a fleet's N
 * instances are N machines and the queues are SQS (moto) through the proxy. Each test waits for
 * evidence — a job's state file on its instance, a marker a job wrote — never for time, and ends
 * with nothing left: every instance of the batch terminated, its queues and launch template gone.
 *
 * The jobs reach a directory of the test's (world-writable, in the sandbox's directory) that every
 * machine sees: a job that fails once and then succeeds leaves its mark there, whichever instance
 * runs it again.
 */
import { DescribeLaunchTemplatesCommand } from '@aws-sdk/client-ec2';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  cliInBackground,
  ec2Client,
  instances,
  makeProject,
  until,
  useSandbox,
  type CliResult,
} from './helpers.js';
import { resultsBucket } from './s3-results.js';

const sb = useSandbox();
const LONG = 600_000;

/** A directory every machine's jobs may write (the sandbox's directory lets them through: 0711). */
function shared(name: string): string {
  const dir = join(sb.dir, 'batch-marks', name);
  mkdirSync(dir, { recursive: true });
  chmodSync(join(sb.dir, 'batch-marks'), 0o777);
  chmodSync(dir, 0o777);
  return dir;
}

/** The batch id the CLI said (`batch <id>: N job(s) …`). */
function batchOf(out: string): string {
  const m = /batch (\S+-\d{8}-\d{6})\b/.exec(out);
  if (!m) throw new Error(`no batch id in:\n${out}`);
  return m[1]!;
}

/** The batch's instances, as EC2 has them. */
async function batchInstances(batch: string) {
  return (await instances(sb)).filter((i) => i.Tags?.some((t) => t.Key === 'ssh-ec2:batch' && t.Value === batch));
}

/** The batch's directory on an instance (undefined: its machine is not made yet). */
function batchDirOn(id: string, batch: string): string | undefined {
  let m;
  try {
    m = sb.machine(id);
  } catch {
    return undefined;
  }
  return join(m.homeAtTermination ?? m.home, '.ssh-ec2', 'batch', batch);
}

/** A job's state line on an instance (`running 1 <epoch>`, `done 2 0 <epoch>`…); undefined: it never ran there. */
function jobState(id: string, batch: string, job: string): string | undefined {
  const dir = batchDirOn(id, batch);
  const file = dir && join(dir, 'jobs', job, 'state');
  return file && existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** The jobs an instance attempted. */
function jobsOn(id: string, batch: string): string[] {
  const dir = batchDirOn(id, batch);
  return dir && existsSync(join(dir, 'jobs')) ? readdirSync(join(dir, 'jobs')) : [];
}

/** The fields of the last table row of `job` (JOB STATE INSTANCE … ATTEMPT: batch/table.ts). */
function finalRow(r: CliResult, job: string): { state: string; attempts: string } {
  const row = new RegExp(
    `^\\s*${job.replaceAll('.', '\\.')}\\s+(queued|setting up|running|done|failed|retried|interrupted|unknown)\\s`,
  );
  const rows = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => row.test(l));
  if (rows.length === 0) throw new Error(`no row of the table is ${job}'s:\n${r.stdout}\n${r.stderr}`);
  const fields = rows[rows.length - 1]!.trim().split(/\s+/);
  return { state: fields[1]!, attempts: fields[fields.length - 1]! };
}

/** What each instance of the batch says, for a failure's message. */
async function seen(batch: string): Promise<string> {
  const lines = [];
  for (const i of await batchInstances(batch)) {
    const id = i.InstanceId!;
    const worker = join(batchDirOn(id, batch) ?? '/nonexistent', 'worker');
    const jobs = jobsOn(id, batch).map((j) => `${j}: ${jobState(id, batch, j)}`);
    lines.push(
      `${id} ${i.State?.Name} worker=${existsSync(worker) ? readFileSync(worker, 'utf8').trim() : '-'} ${jobs.join('; ')}`,
    );
  }
  return lines.join('\n');
}

const saying = (batch: string) => async (err: Error) => {
  throw new Error(`${err.message}\n${await seen(batch)}`);
};

/** Nothing of the batch is left: instances terminated, queues and launch template deleted. */
async function nothingLeft(batch: string): Promise<void> {
  await until(
    async () => (await batchInstances(batch)).every((i) => i.State?.Name === 'terminated'),
    `every instance of ${batch} terminated`,
    120_000,
  ).catch(saying(batch));
  const sqs = new SQSClient({
    region: sb.region,
    endpoint: sb.env().SSH_EC2_QUEUE_ENDPOINT,
    credentials: { accessKeyId: 'observer', secretAccessKey: 'testing' },
  });
  const queues = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: `ssh-ec2-${batch}` }));
  expect(queues.QueueUrls ?? []).toEqual([]);
  const templates = await ec2Client(sb).send(
    new DescribeLaunchTemplatesCommand({ Filters: [{ Name: 'tag:ssh-ec2:batch', Values: [batch] }] }),
  );
  expect(templates.LaunchTemplates ?? []).toEqual([]);
}

/** The batch started in `dir`, from its record (written as soon as its first queue exists). */
function startedIn(dir: string): string | undefined {
  const records = join(dir, '.ssh-ec2', 'batches');
  const found = existsSync(records) ? readdirSync(records).filter((f) => f.endsWith('.json')) : [];
  return found[0]?.slice(0, -'.json'.length);
}

describe('ssh-ec2 batch', () => {
  it(
    'five CSV jobs, one instance each: a job failing every time is tried 1+R times and failed, one failing once succeeds on its retry; exit 12',
    async () => {
      const marks = shared('retries');
      const dir = makeProject(sb, 'batch-five', {
        'jobs.csv':
          'name,instance_type,command\n' +
          'ok-1,,echo one > one.txt\n' +
          'always,,"echo failing, as always; exit 3"\n' +
          `flaky,,"if [ -e ${marks}/flaky ]; then echo second; else touch ${marks}/flaky; exit 1; fi"\n` +
          'ok-2,,echo two\n' +
          'ok-3,,true\n',
      });
      const r = await cli(sb, ['batch', 'jobs.csv', '--retries', '1'], { cwd: dir, timeoutMs: LONG });
      const out = `${r.stdout}\n${r.stderr}`;
      expect(r.exitCode, out).toBe(12);
      const batch = batchOf(out);
      const ids = (await batchInstances(batch)).map((i) => i.InstanceId!);
      expect(ids).toHaveLength(5); // five machines
      expect(finalRow(r, 'always')).toEqual({ state: 'failed', attempts: '2' }); // 1 + R
      expect(finalRow(r, 'flaky')).toEqual({ state: 'done', attempts: '2' });
      for (const job of ['ok-1', 'ok-2', 'ok-3']) expect(finalRow(r, job)).toEqual({ state: 'done', attempts: '1' });
      // The instances say the same: the always-failing job ended failed at its second attempt.
      const always = ids.map((id) => jobState(id, batch, 'always')).filter((s) => s?.startsWith('failed'));
      expect(always).toEqual([expect.stringMatching(/^failed 2 3 \d+$/)]);
      await nothingLeft(batch);
    },
    LONG,
  );

  it(
    '--instances 2 drains five jobs: two machines, both take jobs, all done, exit 0',
    async () => {
      const marks = shared('drain');
      // Each job marks its machine (a token kept in that machine's home), then waits until two
      // machines have marked: the batch can only finish if both instances take jobs.
      const job = (n: number) =>
        `[ -f ~/token ] || od -An -N8 -tx8 /dev/urandom | tr -d ' ' > ~/token; touch ${marks}/$(cat ~/token); ` +
        `i=0; while [ $(ls ${marks} | wc -l) -lt 2 ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; ` +
        `[ $(ls ${marks} | wc -l) -ge 2 ] && echo job ${n}`;
      const dir = makeProject(sb, 'batch-drain', {
        'jobs.txt': [1, 2, 3, 4, 5].map(job).join('\n') + '\n',
      });
      const r = await cli(sb, ['batch', 'jobs.txt', '--instances', '2', '--retries', '0'], {
        cwd: dir,
        timeoutMs: LONG,
      });
      const out = `${r.stdout}\n${r.stderr}`;
      expect(r.exitCode, out).toBe(0);
      const batch = batchOf(out);
      const ids = (await batchInstances(batch)).map((i) => i.InstanceId!);
      expect(ids).toHaveLength(2);
      expect(readdirSync(marks)).toHaveLength(2);
      for (const id of ids) expect(jobsOn(id, batch).length, id).toBeGreaterThan(0);
      expect(ids.flatMap((id) => jobsOn(id, batch)).sort()).toEqual(['job-1', 'job-2', 'job-3', 'job-4', 'job-5']);
      for (let n = 1; n <= 5; n++) expect(finalRow(r, `job-${n}`).state).toBe('done');
      await nothingLeft(batch);
    },
    LONG,
  );

  it(
    "--instances 2 --spot --results: a running job's instance is interrupted; the job runs again on the other, not counted as a failure",
    async () => {
      // A spot batch needs --results (a fleet's one-time spot instance cannot stop to keep its files).
      await resultsBucket(sb, 'ssh-ec2-batch-spot', 'batch-spot-writer');
      const marks = shared('interrupted');
      const dir = makeProject(sb, 'batch-spot', {
        'jobs.csv':
          'name,instance_type,command\n' +
          `long,,"while [ ! -f ${marks}/go ]; do sleep 0.1; done; echo finished"\n` +
          'a,,true\nb,,true\nc,,true\nd,,true\n',
      });
      const running = cli(
        sb,
        [
          'batch',
          'jobs.csv',
          '--instances',
          '2',
          '--spot',
          '--retries',
          '0',
          '--results',
          's3://ssh-ec2-batch-spot/runs',
          '--iam-profile',
          'batch-spot-writer',
        ],
        { cwd: dir, timeoutMs: LONG },
      );
      await until(() => startedIn(dir) !== undefined, 'the batch record', 120_000);
      const batch = startedIn(dir)!;
      let first: string | undefined;
      await until(
        async () => {
          const ids = (await batchInstances(batch)).map((i) => i.InstanceId!);
          first = ids.find((id) => jobState(id, batch, 'long')?.startsWith('running'));
          return first !== undefined;
        },
        'the long job to run',
        LONG,
      ).catch(saying(batch));
      sb.announceInterruption(first!, 'terminate');
      // Its worker has sent the job back and exited (EC2 gives two minutes; here, what the test waits for).
      const worker = () => readFileSync(join(batchDirOn(first!, batch)!, 'worker'), 'utf8');
      await until(
        () => jobState(first!, batch, 'long')?.startsWith('interrupted') === true && worker().startsWith('interrupted'),
        'its attempt interrupted and sent back',
      ).catch(saying(batch));
      writeFileSync(join(marks, 'go'), '');
      await sb.completeInterruption(first!);
      const r = await running;
      expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
      const ids = (await batchInstances(batch)).map((i) => i.InstanceId!);
      expect(ids).toHaveLength(2);
      const other = ids.find((id) => id !== first)!;
      expect(jobState(other, batch, 'long')).toMatch(/^done 2 0 \d+$/);
      // Interrupted, not failed: its second attempt, and no failure counted (exit 0).
      expect(finalRow(r, 'long')).toEqual({ state: 'done', attempts: '2' });
      await nothingLeft(batch);
    },
    LONG,
  );

  it(
    'Ctrl-C while the instances are prepared: those whose worker has not started are terminated, the others go on',
    async () => {
      const dir = makeProject(sb, 'batch-interrupt', { 'jobs.txt': 'true\ntrue\ntrue\n' });
      let out = '';
      // The second instance's preparation waits (its first DescribeInstances held) until the Ctrl-C.
      const second = () => /\(i-\w+, (i-\w+), i-\w+\)/.exec(out)?.[1];
      const held = sb.hold('DescribeInstances', (p) => second() !== undefined && p['InstanceId.1'] === second());
      const child = cliInBackground(sb, ['batch', 'jobs.txt', '--parallel', '1'], { cwd: dir, timeoutMs: LONG });
      child.all?.on('data', (d: Buffer | string) => (out += String(d)));
      await until(() => /worker started/.test(out), 'a first worker started', LONG);
      child.kill('SIGINT');
      await until(() => /SIGINT received/.test(out), 'the interrupt taken');
      held.release();
      const r = await child;
      expect(r.exitCode, out).toBe(130);
      const batch = batchOf(out);
      const states = (await batchInstances(batch)).map((i) => i.State?.Name);
      expect(states.filter((s) => s === 'terminated' || s === 'shutting-down')).toHaveLength(2);
      expect(out).toContain(`follow with ssh-ec2 batch status ${batch}`);
      // The one left runs the jobs; cancelled here, it leaves nothing.
      const cancelled = await cli(sb, ['batch', 'cancel', batch, '--yes'], { cwd: dir, timeoutMs: LONG });
      expect(cancelled.exitCode, cancelled.stderr).toBe(0);
      await nothingLeft(batch);
    },
    LONG,
  );

  it(
    'a project whose .ssh-ec2.toml sets a data volume, --sync-every and --stop for its sessions, and --docker from the environment: the batch runs without them, a line each',
    async () => {
      const dir = makeProject(sb, 'batch-session-settings', {
        '.ssh-ec2.toml': 'volume = "batch-data"\nsync-every = "1m"\nstop = true\n',
        // A session with --volume leaves data/ out of the sync up (the volume is mounted there), and
        // the sandbox's machines have no docker: the job succeeds only without both.
        'data/in.txt': 'from here\n',
        'jobs.txt': 'cat data/in.txt > out.txt\n',
      });
      const r = await cli(sb, ['batch', 'jobs.txt'], {
        cwd: dir,
        env: { SSH_EC2_DOCKER: 'ubuntu:24.04' },
        timeoutMs: LONG,
      });
      const out = `${r.stdout}\n${r.stderr}`;
      expect(r.exitCode, out).toBe(0);
      for (const set of ['--volume (from .ssh-ec2.toml:1: volume)', '--sync-every (from .ssh-ec2.toml:2: sync-every)'])
        expect(r.stderr).toContain(`ssh-ec2: ${set} is a session setting: this batch does without it`);
      expect(r.stderr).toContain('ssh-ec2: --stop (from .ssh-ec2.toml:3: stop) is a session setting');
      expect(r.stderr).toContain('ssh-ec2: --docker (from SSH_EC2_DOCKER) is a session setting');
      expect(finalRow(r, 'job-1').state).toBe('done');
      // No data volume was made or attached.
      expect([...sb.calls('CreateVolume'), ...sb.calls('AttachVolume')]).toEqual([]);
      await nothingLeft(batchOf(out));
    },
    LONG,
  );

  describe('--notify', () => {
    const got: Record<string, unknown>[] = [];
    let server: Server;
    beforeAll(async () => {
      server = createServer((req, res) => {
        let text = '';
        req.on('data', (d: Buffer) => (text += d.toString()));
        req.on('end', () => {
          got.push(JSON.parse(text) as Record<string, unknown>);
          res.end('ok');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });

    it(
      'one POST per job from the instance: batch, job, exit status, duration, peak memory',
      async () => {
        const dir = makeProject(sb, 'batch-notify', { 'jobs.txt': 'echo fine\nexit 3\n' });
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
        const r = await cli(sb, ['batch', 'jobs.txt', '--instances', '1', '--retries', '0', '--notify', url], {
          cwd: dir,
          timeoutMs: LONG,
        });
        const out = `${r.stdout}\n${r.stderr}`;
        expect(r.exitCode, out).toBe(12);
        const batch = batchOf(out);
        await until(() => got.length >= 2, 'a notification per job');
        const byJob = Object.fromEntries(got.map((b) => [b.job, b]));
        expect(Object.keys(byJob).sort()).toEqual(['job-1', 'job-2']);
        for (const [job, status] of [
          ['job-1', 0],
          ['job-2', 3],
        ] as const) {
          expect(byJob[job]).toMatchObject({ batch, job, exit_status: status });
          expect(byJob[job]!.duration_seconds).toEqual(expect.any(Number));
          expect(byJob[job]!.peak_memory_bytes).toEqual(expect.any(Number));
        }
        expect(got).toHaveLength(2);
        await nothingLeft(batch);
      },
      LONG,
    );
  });
});
