// Bringing a batch home and ending it (src/batch/collect.ts, end.ts, cancel.ts), against the
// in-memory cloud, a small in-memory batch port and a hand-made state: which jobs come home from
// where, the beside rule, what is ended and what is left, the exit status.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchState, JobView } from '../../src/batch/batch-state.js';
import { cancelBatch, cancelQuestion } from '../../src/batch/cancel.js';
import { collectBatch, type CollectIo } from '../../src/batch/collect.js';
import { placeFiles } from '../../src/batch/collect-files.js';
import { endBatchResources } from '../../src/batch/end.js';
import { readRecord, writeRecord, type BatchRecord } from '../../src/batch/record.js';
import type { BatchCloud, QueueInfo } from '../../src/cloud/batch-port.js';
import type { ResultsStore, StoredObject } from '../../src/cloud/s3.js';
import type { CommandContext } from '../../src/commands/types.js';
import { resolveOptions } from '../../src/options.js';
import { createLogger } from '../../src/ui/logger.js';
import { FakeCloud } from '../fakes/cloud.js';
import { machine, type Machine } from '../fakes/cli.js';
import { createHash } from 'node:crypto';

const BATCH = 'sweep-20261130-192400';
const TAGS = { 'ssh-ec2:batch': BATCH };

/** The batch port in memory: what exists, and what was deleted. */
class FakeBatchCloud implements Partial<BatchCloud> {
  region = 'eu-central-1';
  queues = new Map<string, QueueInfo>();
  fleets = new Map<string, string>();
  templates = new Set<string>();
  purged: string[] = [];
  constructor() {
    const url = `http://sqs/q/ssh-ec2-${BATCH}-1`;
    this.queues.set(url, { url, name: `ssh-ec2-${BATCH}-1`, tags: TAGS, visible: 0, inFlight: 0 });
    this.fleets.set('fleet-1', 'active');
    this.templates.add('lt-1');
  }
  deleteQueue = (url: string) => (this.queues.delete(url), Promise.resolve());
  findQueues = (prefix: string) => Promise.resolve([...this.queues.values()].filter((q) => q.name.startsWith(prefix)));
  purgeQueue = (url: string) => (this.purged.push(url), Promise.resolve());
  deleteFleets = (ids: readonly string[]) => (ids.forEach((i) => this.fleets.delete(i)), Promise.resolve());
  findFleets = () => Promise.resolve([...this.fleets].map(([id, state]) => ({ id, state, tags: TAGS })));
  deleteLaunchTemplate = (id: string) => (this.templates.delete(id), Promise.resolve());
  findLaunchTemplates = () =>
    Promise.resolve([...this.templates].map((id) => ({ id, name: `ssh-ec2-${BATCH}`, tags: TAGS })));
}

let m: Machine;
let cloud: FakeCloud;
let bc: FakeBatchCloud;
let err: string;
let ctx: CommandContext;

beforeEach(() => {
  m = machine();
  cloud = new FakeCloud();
  bc = new FakeBatchCloud();
  err = '';
  const stream = { write: (s: string) => ((err += s), true) } as unknown as NodeJS.WriteStream;
  const options = resolveOptions({ flags: {}, env: {}, dotenv: {}, command: [] });
  ctx = {
    options,
    env: m.env,
    cwd: m.project,
    log: createLogger({ stream, env: { NO_COLOR: '1' } }),
    stdinIsTTY: false,
    stdoutIsTTY: false,
    stdout: process.stdout,
    word: 'batch',
    flags: {},
    loadCloud: () => Promise.resolve(cloud),
  };
});
afterEach(() => m.cleanup());

const job = (name: string, state: JobView['state'], instanceId?: string, more: Partial<JobView> = {}): JobView => ({
  name,
  lane: 1,
  state,
  instanceId,
  collected: false,
  ...more,
});

function batchState(jobs: JobView[], more: Partial<BatchState> = {}): BatchState {
  return {
    batch: BATCH,
    region: 'eu-central-1',
    manifest: { batch: BATCH, created: '2026-11-30T19:24:00Z', jobs: [] },
    fleetIds: ['fleet-1'],
    templateId: 'lt-1',
    lanes: [{ index: 1, queueUrl: `http://sqs/q/ssh-ec2-${BATCH}-1` }],
    instances: [],
    jobs,
    ...more,
  };
}

/** An instance of the batch; its worker's word as the state would say it. */
function instance(state = 'running') {
  return cloud.add({ state, tags: { ...TAGS, 'ssh-ec2:market': 'on-demand' } });
}

/** Instances' job folders, on this machine: each job's files and log, as a worker leaves them. */
function ioFrom(files: Record<string, Record<string, string>>, calls: string[] = []): CollectIo {
  return {
    loadStore: () => Promise.reject(new Error('no S3 in this test')),
    async fromInstance(c, _cloud, inst, _batch, jobs, onJob, end) {
      calls.push(`${inst.id}:${jobs.map((j) => j.name).join(',')}${end ? ':end' : ''}`);
      for (const j of jobs) {
        const dest = join(c.cwd, 'results', BATCH, j.name);
        const staged = Object.entries(files[j.name] ?? {}).map(([path, text]) => {
          const src = join(m.state, 'staged', j.name, path);
          mkdirSync(dirname(src), { recursive: true });
          writeFileSync(src, text);
          return [src, path] as const;
        });
        await placeFiles(staged, dest, new Date('2026-11-30T20:00:00Z'));
        onJob(j.name);
      }
    },
  };
}

const read = (job: string, path: string) => readFileSync(join(m.project, 'results', BATCH, job, path), 'utf8');

describe('collectBatch', () => {
  it('brings each finished job home, ends the instances whose jobs are home and whose worker is done, and the batch once all are', async () => {
    const a = instance();
    const b = instance();
    const state = batchState([job('job-1', 'done', a.id), job('job-2', 'failed', b.id, { status: 3 })], {
      instances: [
        { id: a.id, lane: 1, state: 'running', type: 'g4dn.xlarge', reachable: true, worker: { state: 'done', at: 1 } },
        { id: b.id, lane: 1, state: 'running', type: 'g4dn.xlarge', reachable: true, worker: { state: 'done', at: 1 } },
      ],
    });
    const io = ioFrom({ 'job-1': { 'out.txt': 'one', 'ssh-ec2-job.log': 'log 1' }, 'job-2': { 'out.txt': 'two' } });
    const status = await collectBatch(ctx, cloud, bc as unknown as BatchCloud, state, io);
    expect(status).toBe(12); // job-2 failed
    expect(read('job-1', 'out.txt')).toBe('one');
    expect(read('job-2', 'out.txt')).toBe('two');
    expect(cloud.get(a.id)?.state).toBe('terminated');
    expect(cloud.get(b.id)?.state).toBe('terminated');
    expect(bc.queues.size + bc.fleets.size + bc.templates.size).toBe(0);
  });

  it('leaves running jobs and their instance, says so, and ends nothing of the batch', async () => {
    const a = instance();
    const b = instance();
    const state = batchState([job('job-1', 'done', a.id), job('job-2', 'running', b.id), job('job-3', 'queued')], {
      instances: [
        { id: a.id, lane: 1, state: 'running', type: 'g4dn.xlarge', reachable: true, worker: { state: 'done', at: 1 } },
        {
          id: b.id,
          lane: 1,
          state: 'running',
          type: 'g4dn.xlarge',
          reachable: true,
          worker: { state: 'running', at: 1 },
        },
      ],
    });
    const calls: string[] = [];
    const status = await collectBatch(ctx, cloud, bc as unknown as BatchCloud, state, ioFrom({}, calls));
    expect(status).toBe(0);
    expect(calls).toEqual([`${a.id}:job-1:end`]);
    expect(cloud.get(a.id)?.state).toBe('terminated');
    expect(cloud.get(b.id)?.state).toBe('running');
    expect(bc.queues.size).toBe(1);
    expect(bc.templates.size).toBe(1);
    expect(err).toContain('2 job(s) not finished yet');
    expect(err).toContain(`ssh-ec2 batch collect ${BATCH}`);
  });

  it('keeps an instance whose worker still runs (its lane has jobs), though its own job is home', async () => {
    const a = instance();
    const state = batchState([job('job-1', 'done', a.id), job('job-2', 'queued')], {
      instances: [
        {
          id: a.id,
          lane: 1,
          state: 'running',
          type: 'g4dn.xlarge',
          reachable: true,
          worker: { state: 'running', at: 1 },
        },
      ],
    });
    const calls: string[] = [];
    expect(await collectBatch(ctx, cloud, bc as unknown as BatchCloud, state, ioFrom({}, calls))).toBe(0);
    expect(calls).toEqual([`${a.id}:job-1`]);
    expect(cloud.get(a.id)?.state).toBe('running');
  });

  it('records what it collected, and does not collect it again', async () => {
    const a = instance();
    const rec: BatchRecord = {
      ...batchState([]).manifest,
      region: 'eu-central-1',
      projectId: 'p',
      lanes: [],
      collected: ['job-1'],
    };
    writeRecord(m.project, rec);
    const state = batchState([job('job-1', 'done', a.id, { collected: true }), job('job-2', 'done', a.id)], {
      record: rec,
    });
    const calls: string[] = [];
    await collectBatch(ctx, cloud, bc as unknown as BatchCloud, state, ioFrom({}, calls));
    expect(calls).toEqual([`${a.id}:job-2`]);
    expect(readRecord(m.project, BATCH)).toMatchObject({ collected: ['job-1', 'job-2'], ended: 'collected' });
    // All home: every instance of the batch ended, whatever its worker said.
    expect(cloud.get(a.id)?.state).toBe('terminated');
  });

  it('brings a job from S3 when its instance is gone, and from there the batch ends', async () => {
    const objects: Record<string, string> = {
      'job-1/out.txt': 'from s3',
      'job-1/ssh-ec2-job.log': 'the log',
    };
    const store: ResultsStore = {
      list: (folder) =>
        Promise.resolve(
          Object.entries(objects)
            .filter(([k]) => `res/${BATCH}/${k}`.startsWith(folder.prefix))
            .map(([k, v]): StoredObject => ({
              path: `res/${BATCH}/${k}`.slice(folder.prefix.length),
              size: v.length,
              etag: createHash('md5').update(v).digest('hex'),
              modified: new Date('2026-11-30T20:00:00Z'),
            })),
        ),
      download: (folder, path, file) =>
        Promise.resolve(writeFileSync(file, objects[`${folder.prefix}${path}`.slice(`res/${BATCH}/`.length)]!)),
    };
    const state = batchState([job('job-1', 'done', 'i-gone', { where: 's3' })], {
      resultsUrl: `s3://bucket/res/${BATCH}/`,
    });
    const io = { ...ioFrom({}), loadStore: () => Promise.resolve(store) };
    expect(await collectBatch(ctx, cloud, bc as unknown as BatchCloud, state, io)).toBe(0);
    expect(read('job-1', 'out.txt')).toBe('from s3');
    expect(read('job-1', 'ssh-ec2-job.log')).toBe('the log');
    expect(bc.queues.size + bc.fleets.size + bc.templates.size).toBe(0);
  });

  it('a job its instance could not give is not counted home: the batch is left, the status says so', async () => {
    const a = instance();
    const state = batchState([job('job-1', 'done', a.id)]);
    const io: CollectIo = { ...ioFrom({}), fromInstance: () => Promise.reject(new Error('ssh: no route')) };
    const status = await collectBatch(ctx, cloud, bc as unknown as BatchCloud, state, io);
    expect(status).not.toBe(0);
    expect(cloud.get(a.id)?.state).toBe('running');
    expect(bc.templates.size).toBe(1);
    expect(err).toContain('ssh: no route');
  });
});

describe('placeFiles: never over a local file', () => {
  it('keeps a different local file and puts the new one beside it; the same content is left', async () => {
    const dest = join(m.project, 'results', BATCH, 'job-1');
    mkdirSync(dest, { recursive: true });
    writeFileSync(join(dest, 'out.txt'), 'mine');
    writeFileSync(join(dest, 'same.txt'), 'same');
    const src = join(m.state, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    for (const [p, t] of [
      ['out.txt', 'theirs'],
      ['same.txt', 'same'],
      ['sub/new.txt', 'new'],
    ])
      writeFileSync(join(src, p!), t!);
    const placed = await placeFiles(
      ['out.txt', 'same.txt', 'sub/new.txt'].map((p) => [join(src, p), p] as const),
      dest,
      new Date('2026-11-30T20:00:00Z'),
    );
    expect(placed).toMatchObject({ placed: 1, same: 1, beside: ['out.ec2-20261130-200000Z.txt'] });
    expect(readFileSync(join(dest, 'out.txt'), 'utf8')).toBe('mine');
    expect(readFileSync(join(dest, 'out.ec2-20261130-200000Z.txt'), 'utf8')).toBe('theirs');
    expect(readFileSync(join(dest, 'sub/new.txt'), 'utf8')).toBe('new');
    // Again: nothing new, nothing over anything.
    await placeFiles([[join(src, 'out.txt'), 'out.txt']], dest, new Date('2026-11-30T20:00:00Z'));
    expect(readdirSync(dest).sort()).toEqual(['out.ec2-20261130-200000Z.txt', 'out.txt', 'same.txt', 'sub']);
  });
});

describe('endBatchResources', () => {
  it('deletes queues, fleets and template (found by tags too); instances are not its to end', async () => {
    const a = instance();
    const got = await endBatchResources(bc as unknown as BatchCloud, cloud, BATCH, []);
    expect(got).toEqual({ queues: 1, fleets: 1, templates: 1, liveInstances: [a.id] });
    expect(bc.queues.size + bc.fleets.size + bc.templates.size).toBe(0);
    expect(cloud.get(a.id)?.state).toBe('running');
    // Gone already: fine.
    expect(await endBatchResources(bc as unknown as BatchCloud, cloud, BATCH, [])).toMatchObject({ queues: 0 });
  });

  it("leaves another batch's queue whose id extends this one's", async () => {
    const other = `ssh-ec2-${BATCH}-20261201-000000-1`;
    bc.queues.set(other, { url: other, name: other, tags: {}, visible: 0, inFlight: 0 });
    await endBatchResources(bc as unknown as BatchCloud, cloud, BATCH, []);
    expect([...bc.queues.keys()]).toEqual([other]);
  });
});

describe('cancelBatch', () => {
  it('asks, saying what runs and what is lost; without a terminal it needs --yes', async () => {
    const state = batchState([job('job-1', 'running', 'i-1'), job('job-2', 'queued'), job('job-3', 'done', 'i-1')]);
    const q = cancelQuestion(state, 1);
    expect(q).toContain('1 job(s) running and 1 queued');
    expect(q).toContain('results on the instances are lost');
    expect(q).toContain('1 finished job(s) not collected');
    await expect(cancelBatch(ctx, cloud, bc as unknown as BatchCloud, state, false)).rejects.toThrow(/--yes|terminal/);
    expect(bc.purged).toEqual([]);
  });

  it('purges, terminates every instance of the batch, ends its resources and records it cancelled', async () => {
    const a = instance('stopped');
    const b = instance('stopped');
    const rec: BatchRecord = {
      ...batchState([]).manifest,
      region: 'eu-central-1',
      projectId: 'p',
      lanes: [],
      collected: [],
    };
    writeRecord(m.project, rec);
    const state = batchState([job('job-1', 'running', a.id)], { record: rec });
    expect(await cancelBatch(ctx, cloud, bc as unknown as BatchCloud, state, true)).toBe(0);
    expect(bc.purged).toEqual([`http://sqs/q/ssh-ec2-${BATCH}-1`]);
    expect([cloud.get(a.id)?.state, cloud.get(b.id)?.state]).toEqual(['terminated', 'terminated']);
    expect(bc.queues.size + bc.fleets.size + bc.templates.size).toBe(0);
    expect(readRecord(m.project, BATCH)?.ended).toBe('cancelled');
    expect(existsSync(join(m.project, 'results'))).toBe(false);
  });
});
