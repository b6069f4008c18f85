// The batch worker (src/agent/worker.sh) on a sandbox instance, installed as ssh-ec2 installs it,
// draining a real SQS queue (moto, through the proxy) with the instance profile's credentials from
// the sandbox's IMDS, uploading to moto's S3 and notifying a server on 127.0.0.1: jobs in order,
// retries and their message bodies, progress from both sources, each job's own files, the exit
// rule, a SIGTERM (re-sent as interrupted) and a cancel (not re-sent). No sleep is an assertion:
// the test waits for files and queue counts.
import { EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchCancelCommand, startWorkerScript, type BatchConf } from '../../src/remote/batch-worker.js';
import { prepareScript } from '../../src/remote/on-instance.js';
import { INSTANCE_PROFILE_KEY } from '../sandbox/instance-profile.js';
import { startSandbox, type Machine, type Sandbox } from '../sandbox/index.js';

const credentials = { accessKeyId: 'observer', secretAccessKey: 'testing' };
const IMAGE = 'ami-0d1a00000000a0004';
const BUCKET = 'ssh-ec2-batch-worker';

let sb: Sandbox;
let ec2: EC2Client;
let sqs: SQSClient;
let s3: S3Client;
let m: Machine;
let instanceId: string;
const posts: Record<string, unknown>[] = [];
let server: Server;
let notifyUrl: string;

beforeAll(async () => {
  sb = await startSandbox();
  ec2 = new EC2Client({ region: sb.region, endpoint: sb.endpoint, credentials, maxAttempts: 1 });
  sqs = new SQSClient({ region: sb.region, endpoint: sb.endpoint, credentials, maxAttempts: 1 });
  s3 = new S3Client({ region: sb.region, endpoint: sb.endpoint, forcePathStyle: true, credentials });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const launched = await ec2.send(
    new RunInstancesCommand({ ImageId: IMAGE, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
  );
  instanceId = launched.Instances![0]!.InstanceId!;
  m = sb.machine(instanceId);
  // The agent's files as every run installs them (the worker reads IMDS_URL and the instance id
  // from its settings); its poweroff a no-op: the instance outlives each worker here.
  const prepared = await m.runAsUser(
    prepareScript({
      instanceId,
      imdsUrl: sb.imdsUrl,
      poweroffCommand: 'true',
      idleTimeout: 0,
      deadline: 0,
      jobGrace: 3600,
      maxTime: 0,
    }),
  );
  expect(prepared.exitCode, prepared.stderr).toBe(0);
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      posts.push(JSON.parse(text) as Record<string, unknown>);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  notifyUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  if (instanceId) await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })).catch(() => undefined);
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  ec2?.destroy();
  sqs?.destroy();
  s3?.destroy();
  await sb?.stop();
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const body = (job: string, cmd: string, failures = 0, attempt = 1) =>
  JSON.stringify({ job, cmd: b64(cmd), failures, attempt });

/** A batch: its queue holding `jobs` (sent in this order), its batch.conf and manifest written. */
async function batch(name: string, jobs: [string, string][], over: Partial<BatchConf> = {}) {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `ssh-ec2-${name}-1` }));
  for (const [job, cmd] of jobs) await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body(job, cmd) }));
  const conf: BatchConf = {
    batch: name,
    lane: 1,
    queueUrl: QueueUrl!,
    queueEndpoint: sb.endpoint,
    region: sb.region,
    projectDir: `proj-${name}`,
    retries: 2,
    visibilitySeconds: 6,
    pollSeconds: 1,
    ...over,
  };
  const manifest = JSON.stringify({ batch: name, jobs: jobs.map(([n, command]) => ({ name: n, command })) });
  // The start script's files, without its start: the test runs the worker itself, in the foreground.
  const written = await m.runAsUser(
    startWorkerScript(conf, manifest).replace(/^sh ~\/\.ssh-ec2\/job\.sh start .*$/m, 'true'),
  );
  expect(written.stdout.trim()).toBe('started');
  const dir = (...p: string[]) => join(m.home, '.ssh-ec2', 'batch', name, ...p);
  return {
    url: QueueUrl!,
    conf,
    dir,
    read: (...p: string[]) => readFileSync(dir(...p), 'utf8'),
    /** The worker run to its end, here. */
    run: () => m.runAsUser(`sh ~/.ssh-ec2/worker.sh ${name}`),
    counts: async () => {
      const a = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return [
        Number(a.Attributes!.ApproximateNumberOfMessages),
        Number(a.Attributes!.ApproximateNumberOfMessagesNotVisible),
      ];
    },
  };
}

/** Waits until `probe` holds, looked at every 100 ms. */
async function until(probe: () => boolean | Promise<boolean>, what: string, ms = 90_000) {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every file under a directory, relative, sorted. */
const tree = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
        .sort()
    : [];

const keys = async (prefix: string) =>
  ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? [])
    .map((o) => o.Key!.slice(prefix.length))
    .sort();
const object = async (key: string) =>
  (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString();

/** The bodies the instance sent (re-sent jobs), in order. */
const resent = (queueUrl: string) =>
  sb
    .calls('SendMessage')
    .filter((c) => c.accessKey === INSTANCE_PROFILE_KEY && c.params.QueueUrl === queueUrl)
    .map((c) => JSON.parse(c.params.MessageBody!) as { job: string; failures: number; attempt: number });

describe('the batch worker on an instance', () => {
  it('drains three jobs in order: state, log, progress from both sources, each its own files, S3 and the notification', async () => {
    const b = await batch(
      'three',
      [
        ['j.1-a', 'ssh-ec2-progress 40; echo one > out.txt; mkdir -p sub; echo a > sub/a.txt; echo k > .env'],
        ['j2', "echo 'progress: 70%'; echo two > out.txt"],
        ['j3', "echo 'progress: 20%'; ssh-ec2-progress 90; ssh-ec2-progress 101 || echo refused $?"],
      ],
      { resultsUrl: `s3://${BUCKET}/runs/three/`, resultsEndpoint: sb.endpoint, notifyUrl },
    );
    sb.clearCalls();
    const r = await b.run();
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(b.read('worker')).toMatch(/^done \d+\n$/);
    const started = [...r.stdout.matchAll(/job (\S+) attempt 1 started/g)].map((x) => x[1]);
    expect(started).toEqual(['j.1-a', 'j2', 'j3']);
    for (const job of ['j.1-a', 'j2', 'j3']) {
      expect(b.read('jobs', job, 'state')).toMatch(/^done 1 0 \d+\n$/);
      expect(b.read('jobs', job, 'usage')).toMatch(/^\d+ \d+\n$/);
      expect(b.read('jobs', job, 'log')).toMatch(new RegExp(`^=== ssh-ec2 batch job ${job} attempt 1 started .*\\n`));
    }
    expect(b.read('jobs', 'j3', 'log')).toContain('refused 2');
    expect([
      b.read('jobs', 'j.1-a', 'progress'),
      b.read('jobs', 'j2', 'progress'),
      b.read('jobs', 'j3', 'progress'),
    ]).toEqual(['40\n', '70\n', '90\n']);
    // Each job's own new files (never a secret), its own version of a path the next job rewrote.
    expect(tree(b.dir('jobs', 'j.1-a', 'files'))).toEqual(['out.txt', 'sub/a.txt']);
    expect(tree(b.dir('jobs', 'j2', 'files'))).toEqual(['out.txt']);
    expect(tree(b.dir('jobs', 'j3', 'files'))).toEqual([]);
    expect(b.read('jobs', 'j.1-a', 'files', 'out.txt')).toBe('one\n');
    expect(b.read('jobs', 'j2', 'files', 'out.txt')).toBe('two\n');
    // S3: prefix/<batch>/<job>/ its files, log and ssh-ec2-job.json, with the instance profile's key.
    expect(await keys('runs/three/j.1-a/')).toEqual(['out.txt', 'ssh-ec2-job.json', 'ssh-ec2-job.log', 'sub/a.txt']);
    expect(await keys('runs/three/j3/')).toEqual(['ssh-ec2-job.json', 'ssh-ec2-job.log']);
    expect(await object('runs/three/j2/out.txt')).toBe('two\n');
    expect(await object('runs/three/j2/ssh-ec2-job.log')).toBe(b.read('jobs', 'j2', 'log'));
    const meta = JSON.parse(await object('runs/three/j2/ssh-ec2-job.json')) as Record<string, unknown>;
    expect(meta).toMatchObject({ job: 'j2', state: 'done', attempt: 1, status: 0, instance: instanceId });
    for (const k of ['started', 'ended', 'peak_kib', 'wall_seconds']) expect(typeof meta[k], k).toBe('number');
    expect(sb.calls('PutObject').every((c) => c.accessKey === INSTANCE_PROFILE_KEY)).toBe(true);
    // Each job's ssh-ec2-job.json (the laptop's word that the job is in S3) sent alone, once its files
    // and log were all answered: the last of its PUTs, in the order answered and in the order asked.
    for (const job of ['j.1-a', 'j2', 'j3']) {
      const puts = sb.calls('PutObject').filter((c) => c.params.Key!.startsWith(`runs/three/${job}/`));
      const json = puts.at(-1)!;
      expect(json.params.Key).toBe(`runs/three/${job}/ssh-ec2-job.json`);
      expect(puts.filter((c) => c.params.Key === json.params.Key)).toHaveLength(1);
      expect(Math.max(...puts.slice(0, -1).map((c) => c.time))).toBeLessThanOrEqual(json.time);
    }
    expect(
      sb
        .calls()
        .filter((c) => c.service === 'sqs')
        .every((c) => c.accessKey === INSTANCE_PROFILE_KEY),
    ).toBe(true);
    expect(sb.calls('DeleteMessage')).toHaveLength(3);
    expect(await b.counts()).toEqual([0, 0]);
    // The notifications: session/notify.ts's shape, sent by the instance.
    await until(() => posts.filter((p) => p.batch === 'three').length === 3, 'three notifications');
    const j2 = posts.find((p) => p.batch === 'three' && p.job === 'j2')!;
    expect(Object.keys(j2)).toEqual([
      'job',
      'command',
      'batch',
      'instance',
      'region',
      'results',
      'exit_status',
      'duration_seconds',
      'peak_memory_bytes',
      'ended_at',
      'sent_from',
    ]);
    expect(j2).toMatchObject({
      command: "echo 'progress: 70%'; echo two > out.txt",
      instance: instanceId,
      region: sb.region,
      exit_status: 0,
      results: { local: 'results/three/j2', s3: `s3://${BUCKET}/runs/three/j2/` },
      sent_from: 'instance',
    });
  });

  it("a re-run over an earlier attempt's ssh-ec2-job.json removes it before any file; the job's own file of that name stays on the instance", async () => {
    const name = 'rerun';
    const b = await batch(name, [['j', 'echo new > out.txt; echo mine > ssh-ec2-job.json']], {
      resultsUrl: `s3://${BUCKET}/runs/${name}/`,
      resultsEndpoint: sb.endpoint,
    });
    // What an earlier attempt left: its instance died after the sign, before deleting the message.
    const sign = `runs/${name}/j/ssh-ec2-job.json`;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: sign, Body: '{"job":"j","attempt":1}' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `runs/${name}/j/out.txt`, Body: 'old\n' }));
    sb.clearCalls();
    const r = await b.run();
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const mine = sb.calls().filter((c) => c.params.Key?.startsWith(`runs/${name}/j/`));
    const removed = mine.findIndex((c) => c.action === 'DeleteObject' && c.params.Key === sign);
    const firstPut = mine.findIndex((c) => c.action === 'PutObject');
    expect(removed, JSON.stringify(mine.map((c) => [c.action, c.params.Key]))).toBeGreaterThanOrEqual(0);
    expect(removed).toBeLessThan(firstPut);
    // One sign, ours and last; the job's own file of that name in files/ on the instance only.
    expect(mine.filter((c) => c.action === 'PutObject' && c.params.Key === sign)).toHaveLength(1);
    expect(mine.at(-1)!.params.Key).toBe(sign);
    expect(JSON.parse(await object(sign))).toMatchObject({ job: 'j', state: 'done' });
    expect(await object(`runs/${name}/j/out.txt`)).toBe('new\n');
    expect(b.read('jobs', 'j', 'files', 'ssh-ec2-job.json')).toBe('mine\n');
    expect(b.read('jobs', 'j', 'log')).toContain("its own ssh-ec2-job.json is not uploaded (the name is ssh-ec2's)");
  });

  it("an earlier attempt's ssh-ec2-job.json that cannot be removed: nothing is sent over it, the instance is kept", async () => {
    const name = 'rmfail';
    const b = await batch(name, [['j', 'echo new > out.txt']], {
      resultsUrl: `s3://${BUCKET}/runs/${name}/`,
      resultsEndpoint: sb.endpoint,
    });
    sb.clearCalls();
    sb.inject({
      action: 'DeleteObject',
      status: 403,
      code: 'AccessDenied',
      times: Infinity,
      when: (p) => p.Key === `runs/${name}/j/ssh-ec2-job.json`,
    });
    try {
      expect((await m.runAsUser(startWorkerScript(b.conf, '{}'))).stdout.trim()).toBe('started');
      await until(() => existsSync(b.dir('worker')) && b.read('worker').startsWith('upload-failed'), 'upload-failed');
    } finally {
      sb.clearFaults();
    }
    expect(sb.calls('DeleteObject').length).toBeGreaterThan(0);
    expect(sb.calls('PutObject').filter((c) => c.params.Key!.startsWith(`runs/${name}/`))).toEqual([]);
    expect(b.read('jobs', 'j', 'log')).toContain(`its files could not be uploaded to s3://${BUCKET}/runs/${name}/j/`);
    const status = join(m.home, '.ssh-ec2', 'jobs', `batch-${name}`, 'status');
    expect((await m.runAsUser(batchCancelCommand(name))).exitCode).toBe(0);
    await until(() => existsSync(status), "the worker's job ended");
  });

  it('retries a failing job R times then fails it; a job failing once is retried, then done; the bodies carry the counts', async () => {
    const b = await batch(
      'retry',
      [
        ['bad', 'echo trying; exit 3'],
        ['flaky', 'if [ -f once ]; then echo ok; else touch once; exit 1; fi'],
      ],
      { notifyUrl },
    );
    const r = await b.run();
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(b.read('jobs', 'bad', 'state')).toMatch(/^failed 3 3 \d+\n$/);
    expect(b.read('jobs', 'flaky', 'state')).toMatch(/^done 2 0 \d+\n$/);
    expect(b.read('jobs', 'bad', 'log').match(/^=== ssh-ec2 batch job bad attempt \d/gm)).toEqual([
      '=== ssh-ec2 batch job bad attempt 1',
      '=== ssh-ec2 batch job bad attempt 2',
      '=== ssh-ec2 batch job bad attempt 3',
    ]);
    expect(r.stdout).toMatch(/job flaky attempt 1 failed \(status 1\): sent back/);
    const sent = resent(b.url).sort((x, y) => x.job.localeCompare(y.job) || x.attempt - y.attempt);
    expect(sent).toEqual([
      { job: 'bad', cmd: b64('echo trying; exit 3'), failures: 1, attempt: 2 },
      { job: 'bad', cmd: b64('echo trying; exit 3'), failures: 2, attempt: 3 },
      { job: 'flaky', cmd: expect.any(String), failures: 1, attempt: 2 },
    ]);
    expect(await b.counts()).toEqual([0, 0]);
    // Only the final outcomes are announced.
    await until(() => posts.filter((p) => p.batch === 'retry').length === 2, 'two notifications');
    expect(
      posts
        .filter((p) => p.batch === 'retry')
        .map((p) => [p.job, p.exit_status])
        .sort(),
    ).toEqual([
      ['bad', 3],
      ['flaky', 0],
    ]);
  });

  it('runs --setup once, in the project directory, before the jobs; a failing setup ends the worker, its queue untouched', async () => {
    const ok = await batch('setup-ok', [['s1', 'cat installed.txt']], { setup: 'echo "$PWD" >> installed.txt' });
    const r = await ok.run();
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(ok.read('setup', 'status')).toBe('0\n');
    expect(ok.read('jobs', 's1', 'state')).toMatch(/^done 1 0 /);
    expect(ok.read('jobs', 's1', 'log')).toContain('/proj-setup-ok\n');
    // A worker started again (the instance restarted) does not set up twice.
    expect((await ok.run()).exitCode).toBe(0);
    expect(readFileSync(join(m.home, 'proj-setup-ok', 'installed.txt'), 'utf8').split('\n')).toHaveLength(2);

    const bad = await batch('setup-bad', [['never', 'echo ran > ran.txt']], { setup: 'echo no compiler; exit 4' });
    sb.clearCalls();
    const r2 = await bad.run();
    expect(r2.exitCode, r2.stdout + r2.stderr).toBe(0);
    expect(bad.read('worker')).toMatch(/^setup-failed \d+\n$/);
    expect(bad.read('setup', 'status')).toBe('4\n');
    expect(bad.read('setup', 'log')).toContain('no compiler\n');
    expect(sb.calls().filter((c) => c.service === 'sqs')).toEqual([]);
    expect(await bad.counts()).toEqual([1, 0]);
  });

  it('waits while another consumer holds a message, runs it once released, then ends', async () => {
    const b = await batch('held', [['later', 'echo ran > ran.txt']]);
    const held = await sqs.send(new ReceiveMessageCommand({ QueueUrl: b.url, VisibilityTimeout: 600 }));
    expect(held.Messages).toHaveLength(1);
    sb.clearCalls();
    let ended = false;
    const run = b.run().finally(() => (ended = true));
    // The worker found the queue empty of visible messages but one in flight: it keeps asking.
    await until(
      () => sb.calls('GetQueueAttributes').filter((c) => c.accessKey === INSTANCE_PROFILE_KEY).length >= 2,
      'the worker asking the queue twice',
    );
    expect(ended).toBe(false);
    expect(b.read('worker')).toMatch(/^running /);
    // The other consumer gives it back (its job failed there): it runs here.
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: b.url,
        ReceiptHandle: held.Messages![0]!.ReceiptHandle!,
        VisibilityTimeout: 0,
      }),
    );
    const r = await run;
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(b.read('jobs', 'later', 'state')).toMatch(/^done 1 0 /);
    expect(readFileSync(join(m.home, 'proj-held', 'ran.txt'), 'utf8')).toBe('ran\n');
    expect(b.read('worker')).toMatch(/^done /);
  });

  it("on SIGTERM to its job's group, the command gets it, the attempt goes back uncounted, the worker ends", async () => {
    const name = 'term';
    const job = "trap 'echo got-term > term.txt; exit 143' TERM; echo up > up.txt; while :; do sleep 0.1; done";
    const b = await batch(name, [['long', job]], { visibilitySeconds: 9 });
    sb.clearCalls();
    const started = await m.runAsUser(startWorkerScript(b.conf, '{}'));
    expect(started.stdout.trim()).toBe('started');
    const up = join(m.home, `proj-${name}`, 'up.txt');
    await until(() => existsSync(up), 'the job running');
    // It outlives its message's visibility: the heartbeat keeps the message its own.
    await until(
      () => sb.calls('ChangeMessageVisibility').filter((c) => c.accessKey === INSTANCE_PROFILE_KEY).length >= 2,
      'two heartbeats',
    );
    expect(await b.counts()).toEqual([0, 1]);
    expect(sb.calls('ReceiveMessage').filter((c) => c.status === 200)).toHaveLength(1);
    // What the agent does on a spot notice (interruption.sh term_jobs): SIGTERM to the job's group.
    const kill = await m.runAsUser(`kill -TERM "-$(cat ~/.ssh-ec2/jobs/batch-${name}/pid)"`);
    expect(kill.exitCode, kill.stderr).toBe(0);
    await until(() => existsSync(b.dir('worker')) && b.read('worker').startsWith('interrupted'), 'the worker ending');
    expect(readFileSync(join(m.home, `proj-${name}`, 'term.txt'), 'utf8')).toBe('got-term\n');
    expect(b.read('jobs', 'long', 'state')).toMatch(/^interrupted 1 \d+\n$/);
    expect(resent(b.url)).toEqual([{ job: 'long', cmd: b64(job), failures: 0, attempt: 2 }]);
    await until(async () => (await b.counts()).join() === '1,0', 'the job back in the queue, the held one deleted');
    await until(
      () => existsSync(join(m.home, '.ssh-ec2', 'jobs', `batch-${name}`, 'status')),
      "the worker's job ended",
    );
  });

  it('batch cancel: the running command is stopped, nothing is sent back, no new message is taken', async () => {
    const name = 'cancel';
    const b = await batch(
      name,
      [
        ['first', 'echo up > up.txt; while :; do sleep 0.1; done'],
        ['second', 'echo never > second.txt'],
      ],
      { visibilitySeconds: 600 },
    );
    sb.clearCalls();
    expect((await m.runAsUser(startWorkerScript(b.conf, '{}'))).stdout.trim()).toBe('started');
    await until(() => existsSync(join(m.home, `proj-${name}`, 'up.txt')), 'the first job running');
    const cancelled = await m.runAsUser(batchCancelCommand(name));
    expect(cancelled.exitCode, cancelled.stderr).toBe(0);
    await until(() => b.read('worker').startsWith('interrupted'), 'the worker ending');
    expect(b.read('jobs', 'first', 'state')).toMatch(/^interrupted 1 /);
    expect(resent(b.url)).toEqual([]);
    expect(existsSync(join(m.home, `proj-${name}`, 'second.txt'))).toBe(false);
    // The second still queued, the first still held (the cancel purges and deletes the queue).
    expect(await b.counts()).toEqual([1, 1]);
  });
  it('a send that keeps failing: the held message is released, never deleted, and the job runs again', async () => {
    const b = await batch('sendfail', [['bad', 'echo trying; exit 3']], { retries: 1 });
    sb.clearCalls();
    // Each of send_again's four tries refused (AccessDenied: the CLI does not retry it itself).
    sb.inject({ action: 'SendMessage', status: 403, code: 'AccessDenied', times: 4 });
    const r = await b.run().finally(() => sb.clearFaults());
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('could not send bad back to the queue: its message released as it was');
    // The released message ran again with its old counts, then its retry was sent and failed.
    expect(b.read('jobs', 'bad', 'log').match(/^=== ssh-ec2 batch job bad attempt \d/gm)).toEqual([
      '=== ssh-ec2 batch job bad attempt 1',
      '=== ssh-ec2 batch job bad attempt 1',
      '=== ssh-ec2 batch job bad attempt 2',
    ]);
    expect(b.read('jobs', 'bad', 'state')).toMatch(/^failed 2 3 \d+\n$/);
    expect(sb.calls('SendMessage').filter((c) => c.status === 200)).toHaveLength(1);
    expect(await b.counts()).toEqual([0, 0]);
  });

  it("an upload that fails half-way: no ssh-ec2-job.json in S3, the heartbeat lasts until the message is settled, a refused one is in the job's log, the worker keeps the instance", async () => {
    const name = 'upfail';
    const b = await batch(name, [['keep', 'sleep 2; echo kept > out.txt; echo sent > sent.txt']], {
      resultsUrl: `s3://${BUCKET}/runs/${name}/`,
      resultsEndpoint: sb.endpoint,
      visibilitySeconds: 3,
    });
    sb.clearCalls();
    // One file refused, the others taken: the job's folder in S3 has some of its files but must not
    // say the job is there (collect would take it home from S3 without out.txt).
    sb.inject({
      action: 'PutObject',
      status: 403,
      code: 'AccessDenied',
      times: Infinity,
      when: (p) => p.Key === `runs/${name}/keep/out.txt`,
    });
    sb.inject({
      action: 'ChangeMessageVisibility',
      status: 400,
      code: 'InvalidParameterValue',
      message: 'Total VisibilityTimeout for the message is beyond the limit [43200 seconds]',
    });
    try {
      expect((await m.runAsUser(startWorkerScript(b.conf, '{}'))).stdout.trim()).toBe('started');
      await until(() => existsSync(b.dir('worker')) && b.read('worker').startsWith('upload-failed'), 'upload-failed');
    } finally {
      sb.clearFaults();
    }
    expect(b.read('jobs', 'keep', 'state')).toMatch(/^done 1 0 /);
    expect(b.read('jobs', 'keep', 'files', 'out.txt')).toBe('kept\n');
    const log = b.read('jobs', 'keep', 'log');
    expect(log).toContain("the heartbeat keeping this job's message was refused");
    expect(log).toContain(`its files could not be uploaded to s3://${BUCKET}/runs/${name}/keep/`);
    expect(await keys(`runs/${name}/keep/`)).toEqual(['sent.txt', 'ssh-ec2-job.log']);
    expect(sb.calls('PutObject').filter((c) => c.params.Key!.endsWith('ssh-ec2-job.json'))).toEqual([]);
    // The message kept ours while the upload was tried (its three tries outlast the visibility).
    const firstPut = sb.calls('PutObject')[0]!.time;
    const beats = sb.calls('ChangeMessageVisibility').filter((c) => c.status === 200 && c.time > firstPut);
    expect(beats.length).toBeGreaterThan(0);
    expect(await b.counts()).toEqual([0, 0]);
    // Still there, for collect; a cancel ends it.
    const status = join(m.home, '.ssh-ec2', 'jobs', `batch-${name}`, 'status');
    expect(existsSync(status)).toBe(false);
    expect((await m.runAsUser(batchCancelCommand(name))).exitCode).toBe(0);
    await until(() => existsSync(status), "the worker's job ended");
  });

  it('ends as done when its queue is gone; a queue failing every call ends it as stalled, never done', async () => {
    const gone = await batch('gone', [['x', 'echo ran > ran.txt']]);
    await sqs.send(new DeleteQueueCommand({ QueueUrl: gone.url }));
    const r = await gone.run();
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('the queue is gone');
    expect(gone.read('worker')).toMatch(/^done /);

    const b = await batch('stall', [['x', 'echo ran > ran.txt']]);
    await m.runAsUser('echo STALL_SECONDS=4 >> ~/.ssh-ec2/batch/stall/batch.conf');
    sb.inject({
      action: 'ReceiveMessage',
      status: 403,
      code: 'AccessDenied',
      times: Infinity,
      when: (p) => p.QueueUrl === b.url,
    });
    try {
      const r2 = await b.run();
      expect(r2.exitCode, r2.stdout + r2.stderr).toBe(1);
      expect(r2.stdout).toMatch(/an SQS call failed .*: trying again in 2 s/);
    } finally {
      sb.clearFaults();
    }
    expect(b.read('worker')).toMatch(/^stalled \d+\n$/);
    expect(await b.counts()).toEqual([1, 0]);
  });

  it('a SIGTERM while a receive waits: the message received is released, its job never starts', async () => {
    const name = 'late';
    const b = await batch(name, [['late', 'echo ran > ran.txt']]);
    const hold = sb.hold('ReceiveMessage', (p) => p.QueueUrl === b.url);
    const run = m.runAsUser(`sh ~/.ssh-ec2/worker.sh ${name} & echo $! > ~/late.pid; wait`);
    await hold.arrived;
    // The worker alone (not its group): the CLI's call completes, with the message.
    expect((await m.runAsUser('kill -TERM "$(cat ~/late.pid)"')).exitCode).toBe(0);
    hold.release();
    const r = await run;
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(b.read('worker')).toMatch(/^interrupted /);
    expect(existsSync(b.dir('jobs', 'late'))).toBe(false);
    expect(existsSync(join(m.home, `proj-${name}`, 'ran.txt'))).toBe(false);
    expect(await b.counts()).toEqual([1, 0]);
  });

  it("files/: a symbolic link into the project kept as a link, one out of it left out and said in the job's log", async () => {
    const b = await batch('links', [['ln', 'echo x > out.txt; ln -s out.txt in.lnk; ln -s /etc/hostname out.lnk']]);
    const r = await b.run();
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(b.read('jobs', 'ln', 'state')).toMatch(/^done 1 0 /);
    expect(lstatSync(b.dir('jobs', 'ln', 'files', 'in.lnk')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(b.dir('jobs', 'ln', 'files', 'in.lnk'))).toBe('out.txt');
    expect(existsSync(b.dir('jobs', 'ln', 'files', 'out.lnk'))).toBe(false);
    expect(b.read('jobs', 'ln', 'log')).toContain(
      './out.lnk not kept: a symbolic link to /etc/hostname, outside the project',
    );
  });

  // Last: the notice stays on this instance (as on EC2, which takes it two minutes later).
  it("a spot notice: the agent's SIGTERM reaches the job, its attempt goes back, and a worker started after it takes nothing", async () => {
    const name = 'notice';
    const job = "trap 'echo checkpoint > ckpt.txt; exit 143' TERM; echo up > up.txt; while :; do sleep 0.1; done";
    const b = await batch(name, [['spot', job]]);
    sb.clearCalls();
    expect((await m.runAsUser(startWorkerScript(b.conf, '{}'))).stdout.trim()).toBe('started');
    await until(() => existsSync(join(m.home, `proj-${name}`, 'up.txt')), 'the job running');
    sb.announceInterruption(instanceId, 'terminate');
    await until(() => b.read('worker').startsWith('interrupted'), 'the worker ending on the notice');
    expect(readFileSync(join(m.home, `proj-${name}`, 'ckpt.txt'), 'utf8')).toBe('checkpoint\n');
    expect(b.read('jobs', 'spot', 'state')).toMatch(/^interrupted 1 /);
    expect(resent(b.url)).toEqual([{ job: 'spot', cmd: b64(job), failures: 0, attempt: 2 }]);
    await until(async () => (await b.counts()).join() === '1,0', 'the job back in the queue');
    // The notice is there: a worker (re)started on this instance leaves the job to another.
    const again = await b.run();
    expect(again.exitCode).toBe(0);
    expect(b.read('worker')).toMatch(/^interrupted /);
    expect(await b.counts()).toEqual([1, 0]);
  });
});
