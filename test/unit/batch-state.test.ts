// What a batch is now (src/batch/state.ts, job-views.ts): gathered from the local record or from
// the tags, queues, each running instance's report (canned here: no ssh) and S3 — the same jobs
// whichever laptop looks (README: Following a batch).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../src/cloud/port.js';
import type { ResultsReader } from '../../src/cloud/s3.js';
import { ExitCode, UserError } from '../../src/errors.js';
import type { BatchReport } from '../../src/remote/batch-worker.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { finished, jobViews, type LaneFacts } from '../../src/batch/job-views.js';
import { renderTable } from '../../src/batch/table.js';
import { resultsDirOf } from '../../src/batch/collect-files.js';
import { parseManifest } from '../../src/batch/s3-state.js';
import { writeRecord, type BatchRecord, type Manifest } from '../../src/batch/record.js';
import { gatherBatch, type Asked } from '../../src/batch/state.js';
import { launchTags } from '../../src/session/owner.js';
import { FakeCloud } from '../fakes/cloud.js';
import { machine, type Machine } from '../fakes/cli.js';
import { FakeBatchCloud } from '../fakes/batch-cloud.js';
import { commandContext, seedQueue, seedTemplate } from './batch-helpers.js';

const BATCH = 'sweep-20261130-192400';
const job = (name: string, lane = 1) => ({
  name,
  command: `echo ${name}`,
  instanceTypes: ['t3.large'],
  spot: false,
  lane,
});
const MANIFEST: Manifest = {
  batch: BATCH,
  created: '2026-11-30T19:24:00Z',
  jobs: [job('a'), job('b'), job('c'), job('d', 2)],
};

let m: Machine;
beforeEach(() => {
  m = machine();
});
afterEach(() => m.cleanup());

function batchInstance(cloud: FakeCloud, lane: number, more: Partial<InstanceInfo> = {}): InstanceInfo {
  const tags = { ...launchTags(m.plan(), 'alice'), 'ssh-ec2:batch': BATCH, 'ssh-ec2:batch-lane': String(lane) };
  return cloud.add({ type: 't3.large', ...more, tags });
}

/** Canned reports per instance id; an instance without one cannot be reached. */
function reports(byId: Record<string, BatchReport>, manifest?: Manifest) {
  const asked: string[] = [];
  return {
    asked,
    report: (i: InstanceInfo, _batch: string, withManifest: boolean): Promise<Asked | undefined> => {
      asked.push(i.id);
      const r = byId[i.id];
      return Promise.resolve(r && { report: r, manifest: withManifest ? manifest : undefined });
    },
  };
}

describe('job states, merged (pure)', () => {
  const lanes = (l1: Partial<LaneFacts>, l2: Partial<LaneFacts> = {}) =>
    new Map<number, LaneFacts>([
      [1, { preparing: false, live: true, ...l1 }],
      [2, { preparing: false, live: true, ...l2 }],
    ]);

  it('a job seen on several instances takes its newest attempt; the same attempt seen running and ended is ended', () => {
    const views = jobViews(
      MANIFEST,
      [
        {
          report: { name: 'a', state: 'retried', attempt: 1, status: 3, started: 10, ended: 20 },
          instanceId: 'i-1',
          from: 'instance',
        },
        {
          report: { name: 'a', state: 'running', attempt: 2, started: 25, progress: 40 },
          instanceId: 'i-2',
          from: 'instance',
        },
        { report: { name: 'b', state: 'running', attempt: 1, started: 10 }, instanceId: 'i-1', from: 'instance' },
        { report: { name: 'b', state: 'done', attempt: 1, status: 0, started: 10, ended: 50 }, from: 's3' },
      ],
      lanes({}),
      ['b'],
    );
    expect(views.slice(0, 2)).toEqual([
      {
        name: 'a',
        lane: 1,
        state: 'running',
        attempt: 2,
        instanceId: 'i-2',
        started: 25,
        progress: 40,
        collected: false,
        where: 'instance',
        ended: undefined,
        status: undefined,
        peakKiB: undefined,
        wallSeconds: undefined,
      },
      {
        name: 'b',
        lane: 1,
        state: 'done',
        attempt: 1,
        instanceId: undefined,
        started: 10,
        ended: 50,
        status: 0,
        collected: true,
        where: 's3',
        progress: undefined,
        peakKiB: undefined,
        wallSeconds: undefined,
      },
    ]);
  });

  it('a job seen nowhere: queued; setting up while its lane prepares; unknown once its queue is empty and its lane has no instance running', () => {
    const state = (l1: Partial<LaneFacts>) =>
      jobViews(MANIFEST, [], lanes(l1, { preparing: true }), []).map((j) => j.state);
    expect(state({ queued: 3 })).toEqual(['queued', 'queued', 'queued', 'setting up']);
    expect(state({ preparing: true })).toEqual(['setting up', 'setting up', 'setting up', 'setting up']);
    expect(state({ live: false, queued: 0 })).toEqual(['unknown', 'unknown', 'unknown', 'setting up']);
    expect(state({ live: false, queued: 2 })).toEqual(['queued', 'queued', 'queued', 'setting up']);
  });
});

describe('job names read back (an instance, S3) are checked as the jobs file checks them', () => {
  it('a manifest or report naming ../x is not taken; results/ paths refuse it', async () => {
    const evil = { ...MANIFEST, jobs: [...MANIFEST.jobs, { ...job('x'), name: '../../x' }] };
    expect(parseManifest(JSON.stringify(evil))?.jobs.map((j) => j.name)).toEqual(['a', 'b', 'c', 'd']);
    expect(() => resultsDirOf('/p', BATCH, '../x')).toThrow(/refused/);
    expect(() => resultsDirOf('/p', '..', 'x')).toThrow(/refused/);
    expect(resultsDirOf('/p', BATCH, 'a.b_c-1')).toBe(`/p/results/${BATCH}/a.b_c-1`);
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    seedTemplate(batchCloud, 'lt-1', `ssh-ec2-${BATCH}`, { 'ssh-ec2:batch': BATCH });
    const one = batchInstance(cloud, 1);
    const canned = reports(
      { [one.id]: { worker: { state: 'running', at: 1 }, jobs: [{ name: '../up', state: 'done', attempt: 1 }] } },
      MANIFEST,
    );
    const s = await gatherBatch(commandContext(m).ctx, cloud, batchCloud, BATCH, { report: canned.report });
    expect(s.jobs.map((j) => j.name)).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('gatherBatch', () => {
  it('from the tags alone (another laptop): the manifest from a reachable instance, each running instance asked once, the queues by name', async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    seedTemplate(batchCloud, 'lt-1', `ssh-ec2-${BATCH}`, {
      'ssh-ec2:batch': BATCH,
      'ssh-ec2:batch-created': MANIFEST.created,
    });
    seedQueue(batchCloud, BATCH, 1, 0, 2);
    seedQueue(batchCloud, BATCH, 2, 1, 0);
    seedQueue(batchCloud, 'other-20261130-100000', 1, 5, 0);
    const one = batchInstance(cloud, 1);
    const two = batchInstance(cloud, 1);
    const gone = batchInstance(cloud, 1, { state: 'terminated' });
    const pending = batchInstance(cloud, 2, { state: 'pending' });
    const canned = reports(
      {
        [one.id]: {
          worker: { state: 'running', at: 1 },
          jobs: [
            { name: 'a', state: 'retried', attempt: 1, status: 1, started: 1, ended: 5 },
            { name: 'b', state: 'done', attempt: 1, status: 0, started: 1, ended: 9, peakKiB: 2048, wallSeconds: 8 },
          ],
        },
        [two.id]: {
          worker: { state: 'running', at: 1 },
          jobs: [{ name: 'a', state: 'running', attempt: 2, started: 6, progress: 42 }],
        },
      },
      MANIFEST,
    );
    const { ctx } = commandContext(m);
    const s = await gatherBatch(ctx, cloud, batchCloud, BATCH, { report: canned.report });
    expect(canned.asked.sort()).toEqual([one.id, two.id].sort());
    expect(s.manifest).toEqual(MANIFEST);
    expect(s.record).toBeUndefined();
    expect(s.templateId).toBe('lt-1');
    expect(s.lanes.map((l) => [l.index, l.queue?.visible, l.queue?.inFlight])).toEqual([
      [1, 0, 2],
      [2, 1, 0],
    ]);
    expect(s.jobs.map((j) => [j.name, j.state, j.instanceId, j.attempt])).toEqual([
      ['a', 'running', two.id, 2],
      ['b', 'done', one.id, 1],
      ['c', 'queued', undefined, undefined],
      ['d', 'setting up', undefined, undefined],
    ]);
    expect(s.instances.map((i) => [i.id, i.state, i.reachable])).toEqual([
      [one.id, 'running', true],
      [two.id, 'running', true],
      [gone.id, 'terminated', false],
      [pending.id, 'pending', false],
    ]);
    expect(batchCloud.callsOf('findQueues')).toEqual([[`ssh-ec2-${BATCH}-`]]);
  });

  it('from the local record: its manifest and queues, no tag search; an instance that cannot be asked now keeps its last report', async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    const q1 = seedQueue(batchCloud, BATCH, 1, 0, 0);
    const q2 = seedQueue(batchCloud, BATCH, 2, 0, 0);
    const one = batchInstance(cloud, 1);
    const rec: BatchRecord = {
      ...MANIFEST,
      region: cloud.region,
      projectId: m.plan().projectId,
      templateId: 'lt-9',
      lanes: [
        {
          index: 1,
          instanceTypes: ['t3.large'],
          market: 'on-demand',
          count: 3,
          queueUrl: q1.url,
          fleetIds: ['fleet-1'],
          instanceIds: [one.id],
        },
        {
          index: 2,
          instanceTypes: ['t3.large'],
          market: 'on-demand',
          count: 1,
          queueUrl: q2.url,
          fleetIds: ['fleet-2'],
          instanceIds: [],
        },
      ],
      collected: ['a'],
    };
    writeRecord(m.project, rec);
    const last = new Map<string, BatchReport>([
      [one.id, { jobs: [{ name: 'a', state: 'done', attempt: 1, status: 0 }] }],
    ]);
    const { ctx } = commandContext(m);
    const s = await gatherBatch(ctx, cloud, batchCloud, BATCH, { report: reports({}).report, lastReports: last });
    expect(batchCloud.calls.map((c) => c.op).filter((op) => op.startsWith('find'))).toEqual([]);
    expect(s.templateId).toBe('lt-9');
    expect(s.fleetIds).toEqual(['fleet-1', 'fleet-2']);
    expect(s.jobs.map((j) => [j.name, j.state, j.collected])).toEqual([
      ['a', 'done', true],
      ['b', 'queued', false],
      ['c', 'queued', false],
      // Lane 2 has no instance running and nothing in its queue: it ran where no one can ask now.
      ['d', 'unknown', false],
    ]);
    expect(s.instances[0]!.reachable).toBe(false);
  });

  it('with --results: the jobs of a gone instance from S3 (ssh-ec2-job.json), the manifest from S3 when no instance answers', async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    const url = `s3://bucket/runs/${BATCH}/`;
    seedTemplate(batchCloud, 'lt-1', `ssh-ec2-${BATCH}`, { 'ssh-ec2:batch': BATCH, 'ssh-ec2:batch-results': url });
    const gone = batchInstance(cloud, 1, { state: 'terminated' });
    const objects: Record<string, string> = {
      'runs/sweep-20261130-192400/manifest.json': JSON.stringify(MANIFEST),
      'runs/sweep-20261130-192400/a/ssh-ec2-job.json': JSON.stringify({
        job: 'a',
        state: 'failed',
        attempt: 3,
        status: 2,
        started: 1,
        ended: 4,
        peak_kib: 1024,
        wall_seconds: 3,
        instance: gone.id,
      }),
      'runs/sweep-20261130-192400/b/ssh-ec2-job.json': JSON.stringify({
        job: 'b',
        state: 'done',
        attempt: 1,
        status: 0,
        started: 1,
        ended: 2,
        instance: gone.id,
      }),
      'runs/sweep-20261130-192400/b/out.txt': 'x',
    };
    const store: ResultsReader = {
      list: (f) =>
        Promise.resolve(
          Object.keys(objects)
            .filter((k) => k.startsWith(f.prefix))
            .map((k) => ({ path: k.slice(f.prefix.length), size: 1, etag: 'e', modified: new Date() })),
        ),
      download: () => Promise.reject(new Error('not here')),
      read: (f, p) => Promise.resolve(objects[`${f.prefix}${p}`]),
    };
    const { ctx } = commandContext(m);
    const s = await gatherBatch(ctx, cloud, batchCloud, BATCH, {
      report: reports({}).report,
      store: () => Promise.resolve(store),
    });
    expect(s.resultsUrl).toBe(url);
    // Follow's looks: no listing of the prefix; a job's final word read once, the open ones again.
    const asked: string[] = [];
    const counted: ResultsReader = {
      ...store,
      list: () => Promise.reject(new Error('the whole prefix listed')),
      read: (f, p) => (asked.push(p), store.read(f, p)),
    };
    const s3Final = new Map();
    for (let look = 0; look < 2; look++)
      await gatherBatch(ctx, cloud, batchCloud, BATCH, {
        report: reports({}).report,
        store: () => Promise.resolve(counted),
        s3Final,
      });
    const jobReads = asked.filter((p) => p.endsWith('ssh-ec2-job.json')).sort();
    expect(jobReads).toEqual(['a', 'b', 'c', 'c', 'd', 'd'].map((j) => `${j}/ssh-ec2-job.json`));
    expect(s.manifest.jobs.map((j) => j.name)).toEqual(['a', 'b', 'c', 'd']);
    expect(
      s.jobs.slice(0, 2).map((j) => [j.name, j.state, j.attempt, j.status, j.instanceId, j.where, j.peakKiB]),
    ).toEqual([
      ['a', 'failed', 3, 2, gone.id, 's3', 1024],
      ['b', 'done', 1, 0, gone.id, 's3', undefined],
    ]);
  });

  it('a lane that failed (no capacity): its jobs are failed with the reason, from the record or the template tag', async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    const q1 = seedQueue(batchCloud, BATCH, 1, 0, 0);
    const one = batchInstance(cloud, 1);
    const done: BatchReport = {
      worker: { state: 'done', at: 1 },
      jobs: ['a', 'b', 'c'].map((name) => ({ name, state: 'done' as const, attempt: 1, status: 0 })),
    };
    const lane = { instanceTypes: ['t3.large'], market: 'on-demand' as const, fleetIds: [], instanceIds: [] };
    writeRecord(m.project, {
      ...MANIFEST,
      region: cloud.region,
      projectId: m.plan().projectId,
      lanes: [
        { ...lane, index: 1, count: 3, queueUrl: q1.url, instanceIds: [one.id] },
        { ...lane, index: 2, count: 1, queueUrl: 'https://sqs/gone-2', failed: 'no capacity' },
      ],
      collected: [],
    });
    const { ctx } = commandContext(m);
    const canned = reports({ [one.id]: done }, MANIFEST);
    const s = await gatherBatch(ctx, cloud, batchCloud, BATCH, { report: canned.report });
    expect(s.jobs.map((j) => [j.name, j.state, j.reason])).toEqual([
      ['a', 'done', undefined],
      ['b', 'done', undefined],
      ['c', 'done', undefined],
      ['d', 'failed', 'no capacity'],
    ]);
    expect(finished(s.jobs)).toBe(true);
    expect(renderTable(s, 0)).toContain('failed, never run (no capacity): d');

    // Another laptop: no record, the template's tag says it.
    rmSync(join(m.project, '.ssh-ec2'), { recursive: true });
    seedTemplate(batchCloud, 'lt-1', `ssh-ec2-${BATCH}`, {
      'ssh-ec2:batch': BATCH,
      'ssh-ec2:batch-failed-lanes': '2:no capacity;3:x',
    });
    const t = await gatherBatch(ctx, cloud, batchCloud, BATCH, { report: canned.report });
    expect(t.jobs.map((j) => [j.name, j.state, j.reason])[3]).toEqual(['d', 'failed', 'no capacity']);
  });

  it('a batch nothing knows of: one line, exit 7', async () => {
    const { ctx } = commandContext(m);
    const cloud = new FakeCloud();
    const err = await gatherBatch(ctx, cloud, new FakeBatchCloud(cloud), 'nope-20261130-000000').catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(ExitCode.nothingThere);
    expect((err as UserError).message).toBe('no batch nope-20261130-000000 in eu-central-1');
  });
});
