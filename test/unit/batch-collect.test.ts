// Bringing a batch home and ending it (src/batch/collect.ts, end.ts, cancel.ts), against the
// in-memory clouds and a hand-made state (the verbs through main() where no ssh is needed): which jobs come home from
// where, the beside rule, what is ended and what is left, the exit status.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchState, InstanceView, JobView } from '../../src/batch/batch-state.js';
import { cancelBatch, cancelQuestion } from '../../src/batch/cancel.js';
import { collectBatch, collectTrapped, type CollectIo } from '../../src/batch/collect.js';
import { placeFiles } from '../../src/batch/collect-files.js';
import { endBatchResources } from '../../src/batch/end.js';
import { bringUpFor } from '../../src/batch/wake.js';
import { readRecord, writeRecord, type BatchRecord } from '../../src/batch/record.js';
import type { ResultsReader, StoredObject } from '../../src/cloud/s3.js';
import type { CommandContext } from '../../src/commands/types.js';
import type { Run } from '../../src/session/context.js';
import { decideFinish } from '../../src/session/decide-finish.js';
import { FakeBatchCloud } from '../fakes/batch-cloud.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';
import { commandContext, seedQueue, seedTemplate } from './batch-helpers.js';

const BATCH = 'sweep-20261130-192400';
const TAGS = { 'ssh-ec2:batch': BATCH };

let QUEUE: string;

/** The batch's queue, fleet and template, as its launch left them. */
function seed(bc: FakeBatchCloud): void {
  QUEUE = seedQueue(bc, BATCH, 1, 0, 0).url;
  bc.fleets.set('fleet-1', { id: 'fleet-1', state: 'active', tags: TAGS, launch: {} as never, instanceIds: [] });
  seedTemplate(bc, 'lt-1', `ssh-ec2-${BATCH}`, TAGS);
}

/** What of the batch's own resources is left (a fleet once deleted says so in its state). */
const resourcesLeft = (bc: FakeBatchCloud) =>
  bc.queues.size + [...bc.fleets.values()].filter((f) => !f.state.startsWith('deleted')).length + bc.templates.size;

let m: Machine;
let cloud: FakeCloud;
let bc: FakeBatchCloud;
let said: () => string;
let ctx: CommandContext;

beforeEach(() => {
  m = machine();
  cloud = new FakeCloud();
  bc = new FakeBatchCloud(cloud);
  seed(bc);
  const made = commandContext(m);
  ctx = { ...made.ctx, loadCloud: () => Promise.resolve(cloud) };
  said = made.said;
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
    lanes: [{ index: 1, queueUrl: QUEUE }],
    instances: [],
    jobs,
    ...more,
  };
}

/** An instance of the batch; its worker's word as the state would say it. */
function instance(state = 'running') {
  return cloud.add({ state, tags: { ...TAGS, 'ssh-ec2:market': 'on-demand' } });
}

/** An instance as the state saw it: running, its worker's word. */
const view = (id: string, worker: 'running' | 'done'): InstanceView => ({
  id,
  lane: 1,
  state: 'running',
  type: 'g4dn.xlarge',
  reachable: true,
  worker: { state: worker, at: 1 },
});

/** Instances' job folders, on this machine: each job's files and log, as a worker leaves them. */
function ioFrom(files: Record<string, Record<string, string>>, calls: string[] = []): CollectIo {
  return {
    loadStore: () => Promise.reject(new Error('no S3 in this test')),
    wake: (_c, _cloud, inst) => Promise.reject(new Error(`no waking ${inst.id} in this test`)),
    async fromInstance(c, _cloud, inst, _batch, jobs, onJob, end) {
      for (const j of jobs) {
        const dest = join(c.cwd, 'results', BATCH, j.name);
        const staged = Object.entries(files[j.name] ?? {}).map(([path, text]) => {
          const src = join(m.state, 'staged', j.name, path);
          mkdirSync(dirname(src), { recursive: true });
          writeFileSync(src, text);
          return [src, path] as const;
        });
        const placed = await placeFiles(staged, dest, new Date('2026-11-30T20:00:00Z'));
        if (placed.blocked.length === 0) onJob(j.name);
      }
      calls.push(`${inst.id}:${jobs.map((j) => j.name).join(',')}${end() ? ':end' : ''}`);
    },
  };
}

/** A batch's results in S3 (`s3://bucket/res/<batch>/`): each object's text by its key under it. */
function storeOf(objects: Record<string, string>): ResultsReader {
  const root = `res/${BATCH}/`;
  return {
    list: (folder) =>
      Promise.resolve(
        Object.entries(objects)
          .filter(([k]) => `${root}${k}`.startsWith(folder.prefix))
          .map(([k, v]): StoredObject => ({
            path: `${root}${k}`.slice(folder.prefix.length),
            size: v.length,
            etag: createHash('md5').update(v).digest('hex'),
            modified: new Date('2026-11-30T20:00:00Z'),
          })),
      ),
    download: (folder, path, file) =>
      Promise.resolve(writeFileSync(file, objects[`${folder.prefix}${path}`.slice(root.length)]!)),
    read: (folder, path) => Promise.resolve(objects[`${folder.prefix}${path}`.slice(root.length)]),
  };
}

const read = (job: string, path: string) => readFileSync(join(m.project, 'results', BATCH, job, path), 'utf8');

describe('collectBatch', () => {
  it('brings each finished job home, ends the instances whose jobs are home and whose worker is done, and the batch once all are', async () => {
    const a = instance();
    const b = instance();
    const state = batchState([job('job-1', 'done', a.id), job('job-2', 'failed', b.id, { status: 3 })], {
      instances: [view(a.id, 'done'), view(b.id, 'done')],
    });
    const io = ioFrom({ 'job-1': { 'out.txt': 'one', 'ssh-ec2-job.log': 'log 1' }, 'job-2': { 'out.txt': 'two' } });
    const status = await collectBatch(ctx, cloud, bc, state, io);
    expect(status).toBe(12); // job-2 failed
    expect(read('job-1', 'out.txt')).toBe('one');
    expect(read('job-2', 'out.txt')).toBe('two');
    expect(cloud.get(a.id)?.state).toBe('terminated');
    expect(cloud.get(b.id)?.state).toBe('terminated');
    expect(resourcesLeft(bc)).toBe(0);
  });

  it('a job not brought home (a blocked file) keeps its instance: not ended in the story nor after', async () => {
    const a = instance();
    const state = batchState([job('job-1', 'done', a.id), job('job-2', 'done', a.id)], {
      instances: [view(a.id, 'done')],
    });
    // A directory where job-2's file goes: its file cannot be placed, the instance holds the only copy.
    mkdirSync(join(m.project, 'results', BATCH, 'job-2', 'out.txt'), { recursive: true });
    const calls: string[] = [];
    const io = ioFrom({ 'job-1': { 'out.txt': 'one' }, 'job-2': { 'out.txt': 'two' } }, calls);
    const status = await collectBatch(ctx, cloud, bc, state, io);
    expect(status).not.toBe(0);
    expect(calls).toEqual([`${a.id}:job-1,job-2`]); // not `:end`
    expect(cloud.get(a.id)?.state).toBe('running');
    expect(resourcesLeft(bc)).toBe(3);
  });

  it('leaves running jobs and their instance, says so, and ends nothing of the batch', async () => {
    const a = instance();
    const b = instance();
    const state = batchState([job('job-1', 'done', a.id), job('job-2', 'running', b.id), job('job-3', 'queued')], {
      instances: [view(a.id, 'done'), view(b.id, 'running')],
    });
    const calls: string[] = [];
    const status = await collectBatch(ctx, cloud, bc, state, ioFrom({}, calls));
    expect(status).toBe(0);
    expect(calls).toEqual([`${a.id}:job-1:end`]);
    expect(cloud.get(a.id)?.state).toBe('terminated');
    expect(cloud.get(b.id)?.state).toBe('running');
    expect(bc.queues.size).toBe(1);
    expect(bc.templates.size).toBe(1);
    expect(said()).toContain('2 job(s) not finished yet');
    expect(said()).toContain(`ssh-ec2 batch collect ${BATCH}`);
  });

  it('keeps an instance whose worker still runs (its lane has jobs), though its own job is home', async () => {
    const a = instance();
    const state = batchState([job('job-1', 'done', a.id), job('job-2', 'queued')], {
      instances: [view(a.id, 'running')],
    });
    const calls: string[] = [];
    expect(await collectBatch(ctx, cloud, bc, state, ioFrom({}, calls))).toBe(0);
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
    await collectBatch(ctx, cloud, bc, state, ioFrom({}, calls));
    expect(calls).toEqual([`${a.id}:job-2:end`]); // the last of the batch: ended with it
    expect(readRecord(m.project, BATCH)).toMatchObject({ collected: ['job-1', 'job-2'], ended: 'collected' });
    // All home: every instance of the batch ended, whatever its worker said.
    expect(cloud.get(a.id)?.state).toBe('terminated');
  });

  it('brings a job from S3 when its instance is gone, and from there the batch ends', async () => {
    const store = storeOf({
      'job-1/out.txt': 'from s3',
      'job-1/ssh-ec2-job.log': 'the log',
      'job-1/ssh-ec2-job.json': '{"job":"job-1","state":"done"}',
    });
    const state = batchState([job('job-1', 'done', 'i-gone', { where: 's3' })], {
      resultsUrl: `s3://bucket/res/${BATCH}/`,
    });
    const io = { ...ioFrom({}), loadStore: () => Promise.resolve(store) };
    expect(await collectBatch(ctx, cloud, bc, state, io)).toBe(0);
    expect(read('job-1', 'out.txt')).toBe('from s3');
    expect(read('job-1', 'ssh-ec2-job.log')).toBe('the log');
    expect(resourcesLeft(bc)).toBe(0);
  });

  it('from S3, a folder without ssh-ec2-job.json (its upload cut short) is not taken: the job is not home', async () => {
    // The instance said the job done, then went before its upload finished: some files in S3.
    const store = storeOf({ 'job-1/sent.txt': 'sent', 'job-1/ssh-ec2-job.log': 'the log' });
    const state = batchState([job('job-1', 'done', 'i-gone')], { resultsUrl: `s3://bucket/res/${BATCH}/` });
    const io = { ...ioFrom({}), loadStore: () => Promise.resolve(store) };
    expect(await collectBatch(ctx, cloud, bc, state, io)).not.toBe(0);
    expect(existsSync(join(m.project, 'results', BATCH, 'job-1'))).toBe(false);
    expect(said()).toContain(
      `job-1: no ssh-ec2-job.json in s3://bucket/res/${BATCH}/job-1/: its upload did not finish`,
    );
    expect(readRecord(m.project, BATCH)?.collected ?? []).toEqual([]);
    expect(bc.templates.size).toBe(1);
  });

  it.each([
    ['another job', '{"job":"job-2","state":"done"}'],
    ['no job named', '{"state":"done"}'],
    ['half a file', '{"job":"job-1","sta'],
    ['no final state', '{"job":"job-1","state":"running"}'],
  ])(
    "from S3, an ssh-ec2-job.json not this job's final word (%s) is no sign: the folder is not taken",
    async (_w, text) => {
      const store = storeOf({ 'job-1/out.txt': 'from s3', 'job-1/ssh-ec2-job.json': text });
      const state = batchState([job('job-1', 'done', 'i-gone')], { resultsUrl: `s3://bucket/res/${BATCH}/` });
      const io = { ...ioFrom({}), loadStore: () => Promise.resolve(store) };
      expect(await collectBatch(ctx, cloud, bc, state, io)).not.toBe(0);
      expect(existsSync(join(m.project, 'results', BATCH, 'job-1'))).toBe(false);
      expect(said()).toContain(
        `job-1: the ssh-ec2-job.json in s3://bucket/res/${BATCH}/job-1/ is not this job's final word`,
      );
      expect(readRecord(m.project, BATCH)?.collected ?? []).toEqual([]);
    },
  );

  it('a job its instance could not give is not counted home: the batch is left, the status says so', async () => {
    const a = instance();
    const state = batchState([job('job-1', 'done', a.id)]);
    const io: CollectIo = { ...ioFrom({}), fromInstance: () => Promise.reject(new Error('ssh: no route')) };
    const status = await collectBatch(ctx, cloud, bc, state, io);
    expect(status).not.toBe(0);
    expect(cloud.get(a.id)?.state).toBe('running');
    expect(bc.templates.size).toBe(1);
    expect(said()).toContain('ssh: no route');
  });
});

describe('collectBatch: interrupted (Ctrl-C)', () => {
  it('the step under way finishes, no other begins, nothing is ended; what is left is said; 130', async () => {
    const a = instance();
    const b = instance();
    const state = batchState([job('job-1', 'done', a.id), job('job-2', 'done', b.id)], {
      instances: [view(a.id, 'done'), view(b.id, 'done')],
    });
    const stop = new AbortController();
    const calls: string[] = [];
    const base = ioFrom({ 'job-1': { 'out.txt': 'one' } }, calls);
    const io: CollectIo = {
      ...base,
      async fromInstance(...args) {
        stop.abort(); // Ctrl-C while the first instance's files come
        await base.fromInstance(...args);
      },
    };
    expect(await collectBatch(ctx, cloud, bc, state, io, stop.signal)).toBe(130);
    expect(calls).toHaveLength(1);
    expect(read('job-1', 'out.txt')).toBe('one');
    expect([cloud.get(a.id)?.state, cloud.get(b.id)?.state]).toEqual(['running', 'running']);
    expect(bc.templates.size).toBe(1);
    expect(said()).toContain(`interrupted: 1 job(s) not home yet`);
  });
});

describe('collectBatch: a lane that failed', () => {
  it('its never-run jobs need nothing brought: the batch ends, exit 12', async () => {
    const a = instance();
    const state = batchState(
      [job('job-1', 'done', a.id), job('job-2', 'failed', undefined, { reason: 'no capacity' })],
      { instances: [view(a.id, 'done')], resultsUrl: undefined },
    );
    expect(await collectBatch(ctx, cloud, bc, state, ioFrom({}))).toBe(12);
    expect(said()).not.toContain('lost');
    expect(resourcesLeft(bc)).toBe(0);
  });
});

describe('collectBatch: a stopped instance no look could ask', () => {
  it('is started and asked; the jobs it ran come home from it, then the batch ends', async () => {
    const a = instance('stopped');
    const state = batchState([job('job-1', 'unknown'), job('job-2', 'unknown')]);
    const woken: string[] = [];
    const base = ioFrom({ 'job-1': { 'out.txt': 'one' }, 'job-2': { 'out.txt': 'two' } });
    const io: CollectIo = {
      ...base,
      async wake(c, cl, inst, batch, isHome, onJob) {
        woken.push(inst.id);
        const jobs = [
          { name: 'job-1', state: 'done' as const, attempt: 1, status: 0 },
          { name: 'job-2', state: 'failed' as const, attempt: 3, status: 1 },
        ];
        const due = jobs.filter((j) => !isHome(j.name)).map((j) => job(j.name, j.state, inst.id));
        await base.fromInstance(c, cl, inst, batch, due, onJob, () => false);
        return { worker: { state: 'done', at: 1 }, jobs };
      },
    };
    expect(await collectBatch(ctx, cloud, bc, state, io)).toBe(12); // job-2 failed, as its instance said
    expect(woken).toEqual([a.id]);
    expect(read('job-1', 'out.txt')).toBe('one');
    expect(read('job-2', 'out.txt')).toBe('two');
    expect(cloud.get(a.id)?.state).toBe('terminated');
    expect(resourcesLeft(bc)).toBe(0);
  });

  it("its stale `running 1` does not replace what ended of that attempt (S3's `done 1`)", async () => {
    const a = instance('stopped');
    const state = batchState([job('job-1', 'done', a.id, { attempt: 1, status: 0, ended: 100 })]);
    const calls: string[] = [];
    const base = ioFrom({ 'job-1': { 'out.txt': 'one' } }, calls);
    const io: CollectIo = {
      ...base,
      wake: () =>
        Promise.resolve({
          worker: { state: 'running', at: 1 },
          jobs: [{ name: 'job-1', state: 'running', attempt: 1, started: 50 }],
        }),
    };
    expect(await collectBatch(ctx, cloud, bc, state, io)).toBe(0);
    expect(calls).toEqual([`${a.id}:job-1:end`]);
    expect(read('job-1', 'out.txt')).toBe('one');
  });

  it('is never ended while what it ran is not read (it could not be started)', async () => {
    const a = instance('stopped');
    const b = instance();
    const state = batchState([job('job-1', 'unknown'), job('job-2', 'done', b.id)], {
      instances: [view(b.id, 'done')],
    });
    const status = await collectBatch(ctx, cloud, bc, state, ioFrom({ 'job-2': { 'out.txt': 'two' } }));
    expect(status).not.toBe(0);
    expect(said()).toContain(`no waking ${a.id}`);
    expect(said()).toContain('1 job(s) unknown: the instance that ran them could not be started');
    expect(said()).not.toContain('not finished yet (running or queued)');
    expect(cloud.get(a.id)?.state).toBe('stopped');
    expect(bc.templates.size).toBe(1);
  });
});

describe('collectTrapped (batch collect, and the final collect of `ssh-ec2 batch`)', () => {
  it('a Ctrl-C aborts the collect: the step under way finishes, 130', async () => {
    const a = instance();
    const b = instance();
    const state = batchState([job('job-1', 'done', a.id), job('job-2', 'done', b.id)], {
      instances: [view(a.id, 'done'), view(b.id, 'done')],
    });
    const calls: string[] = [];
    const base = ioFrom({ 'job-1': { 'out.txt': 'one' }, 'job-2': { 'out.txt': 'two' } }, calls);
    const io: CollectIo = {
      ...base,
      async fromInstance(...args) {
        process.emit('SIGINT', 'SIGINT'); // as the terminal's Ctrl-C, during the first copy
        await base.fromInstance(...args);
      },
    };
    const listeners = process.listenerCount('SIGINT');
    const r = await collectTrapped(ctx.log, (signal) => collectBatch(ctx, cloud, bc, state, io, signal));
    expect(r).toEqual({ collected: 130, interrupted: 130 });
    expect(calls).toHaveLength(1); // the other instance was not begun
    expect(process.listenerCount('SIGINT')).toBe(listeners); // the trap is gone
    expect(resourcesLeft(bc)).toBe(3);
  });
});

describe('bringUpFor: an instance collect starts', () => {
  it('is known to the finish as started: stopped again even when its host key could not be trusted', async () => {
    const a = instance('stopped');
    const facts: Run['facts'] = {} as Run['facts'];
    await bringUpFor({ cloud, log: ctx.log }, facts, a);
    expect(facts).toMatchObject({ origin: 'started', finalState: 'stop' });
    const decided = decideFinish({
      asked: facts.finalState!,
      origin: facts.origin!,
      canStop: true,
      hostKeyUntrusted: true, // first contact from another machine, a Ctrl-C then
      ran: false,
      endJobs: true,
      syncBack: false,
      reachable: false,
      resultsBack: 'not needed',
    });
    expect(decided.action).toBe('stop');
  });
});

describe('placeFiles: never over a local file', () => {
  it('a beside name taken by something else: the next free one; a directory in the way: blocked', async () => {
    const dest = join(m.project, 'results', BATCH, 'job-1');
    mkdirSync(join(dest, 'dir.txt'), { recursive: true });
    writeFileSync(join(dest, 'out.txt'), 'mine');
    writeFileSync(join(dest, 'out.ec2-20261130-200000Z.txt'), 'another');
    const src = join(m.state, 'src2');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'out.txt'), 'theirs');
    writeFileSync(join(src, 'dir.txt'), 'x');
    const files = ['out.txt', 'dir.txt'].map((p) => [join(src, p), p] as const);
    const placed = await placeFiles(files, dest, new Date('2026-11-30T20:00:00Z'));
    expect(placed).toMatchObject({ beside: ['out.ec2-20261130-200000Z-2.txt'], blocked: ['dir.txt'] });
    expect(readFileSync(join(dest, 'out.ec2-20261130-200000Z.txt'), 'utf8')).toBe('another');
    expect(readFileSync(join(dest, 'out.ec2-20261130-200000Z-2.txt'), 'utf8')).toBe('theirs');
    // Again: that copy is there already.
    expect(await placeFiles(files.slice(0, 1), dest, new Date('2026-11-30T20:00:00Z'))).toMatchObject({
      same: 1,
      beside: [],
    });
  });

  it('from S3, a file that could not be written keeps its job not home, and the batch not ended', async () => {
    const store = storeOf({ 'job-1/out.txt': 'from s3', 'job-1/ssh-ec2-job.json': '{"job":"job-1","state":"done"}' });
    mkdirSync(join(m.project, 'results', BATCH, 'job-1', 'out.txt'), { recursive: true });
    const state = batchState([job('job-1', 'done', 'i-gone', { where: 's3' })], {
      resultsUrl: `s3://bucket/res/${BATCH}/`,
    });
    const io = { ...ioFrom({}), loadStore: () => Promise.resolve(store) };
    expect(await collectBatch(ctx, cloud, bc, state, io)).not.toBe(0);
    expect(bc.templates.size).toBe(1);
  });

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
  it('deletes queues, template (found by tags), and fleets once no instance is live: instances are not its to end', async () => {
    const a = instance();
    const got = await endBatchResources(bc, cloud, BATCH, []);
    // A fleet deleted would take its instances with it: kept while one is live.
    expect(got).toEqual({ queues: 1, fleets: 0, templates: 1, liveInstances: [a.id] });
    expect(bc.callsOf('deleteFleets')).toEqual([]);
    expect(cloud.get(a.id)?.state).toBe('running');
    cloud.get(a.id)!.state = 'terminated';
    expect(await endBatchResources(bc, cloud, BATCH, [])).toMatchObject({ fleets: 1, liveInstances: [] });
    expect(resourcesLeft(bc)).toBe(0);
    // Gone already: fine.
    expect(await endBatchResources(bc, cloud, BATCH, [])).toMatchObject({ queues: 0 });
  });

  it("leaves another batch's queue whose id extends this one's", async () => {
    const other = `ssh-ec2-${BATCH}-20261201-000000-1`;
    const q = { url: other, name: other, tags: {}, visibilitySeconds: 300, createdAt: new Date() };
    bc.queues.set(other, { ...q, visible: [], inFlight: [] });
    await endBatchResources(bc, cloud, BATCH, []);
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
    await expect(cancelBatch(ctx, cloud, bc, state, false)).rejects.toThrow(/--yes|terminal/);
    expect(bc.callsOf('purgeQueue')).toEqual([]);
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
    expect(await cancelBatch(ctx, cloud, bc, state, true)).toBe(0);
    expect(bc.callsOf('purgeQueue')).toEqual([[QUEUE]]);
    expect([cloud.get(a.id)?.state, cloud.get(b.id)?.state]).toEqual(['terminated', 'terminated']);
    expect(resourcesLeft(bc)).toBe(0);
    expect(readRecord(m.project, BATCH)?.ended).toBe('cancelled');
    expect(existsSync(join(m.project, 'results'))).toBe(false);
  });
});

describe('the verbs', () => {
  it('batch cancel needs the id; batch collect takes one at most (exit 2, nothing asked of AWS)', async () => {
    const none = await cli(m, cloud, ['batch', 'cancel'], { batchCloud: bc });
    expect(none.status).toBe(2);
    expect(none.lines.join('\n')).toMatch(/needs the batch id/);
    expect((await cli(m, cloud, ['batch', 'collect', 'a', 'b'], { batchCloud: bc })).status).toBe(2);
    expect(cloud.calls).toEqual([]);
  });

  it('batch cancel BATCH --yes through main(): its stopped instances terminated, the batch ended, no ssh', async () => {
    const a = instance('stopped');
    const r = await cli(m, cloud, ['batch', 'cancel', BATCH, '--yes'], { batchCloud: bc });
    expect(r.status, r.lines.join('\n')).toBe(0);
    expect(cloud.get(a.id)?.state).toBe('terminated');
    expect(resourcesLeft(bc)).toBe(0);
    expect(m.sshStarts()).toEqual([]);
  });
});
