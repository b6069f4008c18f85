/**
 * A batch brought home and ended, against the sandbox (EC2 Fleet, SQS and S3 through moto, one
 * sandbox machine per instance): each job's own files and log in `results/<batch>/<job>/` (two
 * jobs writing one path each keep their own), the instances terminated and the queue, fleet and
 * launch template deleted after; with --results the instance terminates itself once the files are
 * in S3 and `batch collect` brings them from there; `batch cancel --yes` while a job runs leaves
 * nothing running. Each test checks through the API that nothing of its batch is left.
 */
import { DescribeFleetsCommand, DescribeLaunchTemplatesCommand } from '@aws-sdk/client-ec2';
import { ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cli,
  cliInBackground,
  REPO,
  ec2Client,
  instances,
  makeProject,
  until,
  useSandbox,
  WAIT_FOR_GO,
} from './helpers.js';
import { OBSERVER, resultsBucket } from './s3-results.js';

const sb = useSandbox();
const BATCH_TAG = 'ssh-ec2:batch';
const LONG = 240_000;
/** A batch's launch, run and end take a while on a loaded machine. */
const TEST_MS = 900_000;

/** The batch this directory started (its local record's name). */
function batchOf(dir: string): string | undefined {
  const records = join(dir, '.ssh-ec2', 'batches');
  const name = existsSync(records) ? readdirSync(records).find((n) => n.endsWith('.json')) : undefined;
  return name?.slice(0, -'.json'.length);
}

const batchInstances = async (batch: string) =>
  (await instances(sb)).filter((i) => i.Tags?.some((t) => t.Key === BATCH_TAG && t.Value === batch));

/** What of the batch is still there, through the API: live instances, queues, launch templates, fleets. */
async function leftOf(batch: string) {
  const sqs = new SQSClient({
    region: sb.region,
    endpoint: sb.env().SSH_EC2_QUEUE_ENDPOINT,
    credentials: { accessKeyId: OBSERVER, secretAccessKey: 'testing' },
  });
  try {
    const ec2 = ec2Client(sb);
    const tagged = [{ Name: `tag:${BATCH_TAG}`, Values: [batch] }];
    const [queues, templates, fleets] = await Promise.all([
      sqs.send(new ListQueuesCommand({ QueueNamePrefix: `ssh-ec2-${batch}-` })),
      ec2.send(new DescribeLaunchTemplatesCommand({ Filters: tagged })),
      ec2.send(new DescribeFleetsCommand({})),
    ]);
    return {
      live: (await batchInstances(batch))
        .filter((i) => !['shutting-down', 'terminated'].includes(i.State?.Name ?? ''))
        .map((i) => `${i.InstanceId} ${i.State?.Name}`),
      queues: queues.QueueUrls ?? [],
      templates: (templates.LaunchTemplates ?? []).map((t) => t.LaunchTemplateName),
      fleets: (fleets.Fleets ?? [])
        .filter((f) => f.Tags?.some((t) => t.Key === BATCH_TAG && t.Value === batch))
        .filter((f) => !/^deleted/.test(f.FleetState ?? ''))
        .map((f) => f.FleetId),
    };
  } finally {
    sqs.destroy();
  }
}

const NOTHING = { live: [], queues: [], templates: [], fleets: [] };
const started: { batch: string; dir: string }[] = [];

// Nothing may be left running at the end of any test: what a failed test left is ended here.
afterEach(async () => {
  for (const { batch, dir } of started.splice(0)) {
    const left = await leftOf(batch);
    if (left.live.length || left.queues.length || left.templates.length)
      await cli(sb, ['batch', 'cancel', batch, '--yes'], { cwd: dir, timeoutMs: LONG });
  }
});

/** `ssh-ec2 batch …` followed live in the background, until a test interrupts it. */
function follow(dir: string, args: string[]) {
  return cliInBackground(sb, ['batch', ...args], { cwd: dir, timeoutMs: LONG });
}

/** Waits for the batch's record and for `job` to be running on its instance; returns the batch and that instance's home. */
async function running(
  dir: string,
  job: string,
  follower: ReturnType<typeof follow>,
): Promise<{ batch: string; home: string }> {
  let batch: string | undefined;
  let home: string | undefined;
  let ended: { exitCode?: number; stderr?: unknown } | undefined;
  void follower.then((r) => (ended = r));
  await until(
    async () => {
      if (ended) throw new Error(`ssh-ec2 batch ended (${ended.exitCode}) before ${job} ran:\n${String(ended.stderr)}`);
      batch ??= batchOf(dir);
      if (!batch) return false;
      for (const i of await batchInstances(batch)) {
        let h: string;
        try {
          h = sb.machine(i.InstanceId!).home;
        } catch {
          continue; // its machine not made yet
        }
        const state = join(h, '.ssh-ec2', 'batch', batch, 'jobs', job, 'state');
        if (existsSync(state) && readFileSync(state, 'utf8').startsWith('running')) home = h;
      }
      return home !== undefined;
    },
    `${job} running`,
    LONG,
  );
  started.push({ batch: batch!, dir });
  return { batch: batch!, home: home! };
}

/** The job's WAIT_FOR_GO let go, in the project directory on its instance. */
const letGo = (home: string, dir: string) => writeFileSync(join(home, dir.split('/').pop()!, 'go'), '');

describe('ssh-ec2 batch collect', () => {
  it(
    "each job's own files and log into results/<batch>/<job>/ (two jobs writing one path keep their own); instances, queue, fleet and template ended after",
    async () => {
      const dir = makeProject(sb, 'collect-home', {
        'jobs.txt': [
          'echo job one says hi; echo one > out-1.txt',
          'echo two > out-2.txt; echo two > shared.txt',
          'mkdir -p d && echo three > d/out-3.txt; echo three > shared.txt',
          '',
        ].join('\n'),
        'kept.txt': 'sent up, not a result\n',
      });
      // One instance runs all three: what one job wrote is never another's.
      const r = await cli(sb, ['batch', 'jobs.txt', '--instances', '1'], { cwd: dir, timeoutMs: LONG });
      const batch = batchOf(dir);
      if (batch) started.push({ batch, dir });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(batch).toBeDefined();
      // The batch brought home (again, if the table's end did so already): this directory's newest.
      const collected = await cli(sb, ['batch', 'collect'], { cwd: dir, timeoutMs: LONG });
      expect(collected.exitCode, collected.stderr).toBe(0);
      const results = join(dir, 'results', batch!);
      const files = (job: string) =>
        readdirSync(join(results, job), { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath, e.name).slice(join(results, job).length + 1))
          .sort();
      expect(files('job-1')).toEqual(['out-1.txt', 'ssh-ec2-job.log']);
      expect(files('job-2')).toEqual(['out-2.txt', 'shared.txt', 'ssh-ec2-job.log']);
      expect(files('job-3')).toEqual(['d/out-3.txt', 'shared.txt', 'ssh-ec2-job.log']);
      expect(readFileSync(join(results, 'job-2', 'shared.txt'), 'utf8')).toBe('two\n');
      expect(readFileSync(join(results, 'job-3', 'shared.txt'), 'utf8')).toBe('three\n');
      expect(readFileSync(join(results, 'job-1', 'ssh-ec2-job.log'), 'utf8')).toContain('job one says hi');
      expect(await leftOf(batch!)).toEqual(NOTHING);
      // Again: everything is home, nothing is brought twice, nothing fails.
      const again = await cli(sb, ['batch', 'collect', batch!], { cwd: dir, timeoutMs: LONG });
      expect(again.exitCode, again.stderr).toBe(0);
      expect(files('job-2')).toEqual(['out-2.txt', 'shared.txt', 'ssh-ec2-job.log']);
    },
    TEST_MS,
  );

  it(
    'with --results: the files in S3 under <prefix>/<batch>/<job>/, the instance terminates itself, and batch collect brings them from S3',
    async () => {
      const bucket = await resultsBucket(sb, 'ssh-ec2-batch-collect', 'batch-results-writer');
      const dir = makeProject(sb, 'collect-s3', { 'jobs.txt': `${WAIT_FOR_GO}; echo from-s3 > out.txt\n` });
      const follower = follow(dir, [
        'jobs.txt',
        '--results',
        's3://ssh-ec2-batch-collect/runs',
        '--iam-profile',
        'batch-results-writer',
        // Its agent powers it off a few seconds after its worker has ended (not ten minutes).
        '--job-grace',
        '3s',
      ]);
      const { batch, home } = await running(dir, 'job-1', follower);
      // Ctrl-C on the live table: everything left running, exit 0.
      follower.kill('SIGINT');
      const left = await follower;
      expect(left.exitCode, left.stderr).toBe(0);
      sb.clearCalls();
      letGo(home, dir);
      const prefix = `runs/${batch}/job-1/`;
      await until(async () => (await bucket.keys(prefix)).includes('out.txt'), 'the job files in S3', LONG);
      await until(async () => (await leftOf(batch)).live.length === 0, 'the instance to terminate itself', LONG);
      expect(await bucket.keys(prefix)).toEqual(expect.arrayContaining(['out.txt', 'ssh-ec2-job.log']));
      // Nobody but the instance ended it: no TerminateInstances from here.
      expect(sb.calls('TerminateInstances')).toEqual([]);
      const r = await cli(sb, ['batch', 'collect', batch], { cwd: dir, timeoutMs: LONG });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(readFileSync(join(dir, 'results', batch, 'job-1', 'out.txt'), 'utf8')).toBe('from-s3\n');
      expect(readFileSync(join(dir, 'results', batch, 'job-1', 'ssh-ec2-job.log'), 'utf8')).not.toBe('');
      expect(sb.calls('GetObject').filter((c) => c.accessKey !== OBSERVER).length).toBeGreaterThan(0);
      expect(await leftOf(batch)).toEqual(NOTHING);
    },
    TEST_MS,
  );
});

/** This Mac rsync first on PATH (built in ../shared/tools, as mac-rsync.test.ts); fails when it is not there. */
function macPath(tool: 'rsync-2.6.9' | 'openrsync'): Record<string, string> {
  const bin = join(REPO, '..', 'shared', 'tools', tool, 'bin');
  expect(existsSync(join(bin, 'rsync')), `${bin}/rsync is needed (see ../shared/tools/README.md)`).toBe(true);
  return { PATH: `${bin}:${process.env.PATH}` };
}

describe.each(['rsync-2.6.9', 'openrsync'] as const)("with a Mac's %s as the local rsync", (tool) => {
  it(
    "each job's files come home from its instance all the same",
    async () => {
      const dir = makeProject(sb, `collect-${tool}`, { 'jobs.txt': 'mkdir -p a\\ b && echo one > a\\ b/it.txt\n' });
      const env = macPath(tool);
      const r = await cli(sb, ['batch', 'jobs.txt'], { cwd: dir, env, timeoutMs: LONG });
      const batch = batchOf(dir);
      if (batch) started.push({ batch, dir });
      expect(r.exitCode, r.stderr).toBe(0);
      const again = await cli(sb, ['batch', 'collect', batch!], { cwd: dir, env, timeoutMs: LONG });
      expect(again.exitCode, again.stderr).toBe(0);
      expect(readFileSync(join(dir, 'results', batch!, 'job-1', 'a b/it.txt'), 'utf8')).toBe('one\n');
      expect(readFileSync(join(dir, 'results', batch!, 'job-1', 'ssh-ec2-job.log'), 'utf8')).not.toBe('');
      expect(await leftOf(batch!)).toEqual(NOTHING);
    },
    TEST_MS,
  );
});

describe('ssh-ec2 batch cancel', () => {
  it(
    '--yes while a job runs: every instance terminated, queue, fleet and template deleted, nothing collected',
    async () => {
      const dir = makeProject(sb, 'cancel-running', { 'jobs.txt': `${WAIT_FOR_GO}; echo never > out.txt\n` });
      const follower = follow(dir, ['jobs.txt']);
      const { batch } = await running(dir, 'job-1', follower);
      follower.kill('SIGINT');
      expect((await follower).exitCode).toBe(0);
      const r = await cli(sb, ['batch', 'cancel', batch, '--yes'], { cwd: dir, timeoutMs: LONG });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(await leftOf(batch)).toEqual(NOTHING);
      expect(existsSync(join(dir, 'results', batch, 'job-1', 'out.txt'))).toBe(false);
      const record = JSON.parse(readFileSync(join(dir, '.ssh-ec2', 'batches', `${batch}.json`), 'utf8')) as {
        ended?: string;
      };
      expect(record.ended).toBe('cancelled');
    },
    TEST_MS,
  );
});
