// The live table's polling (src/batch/follow.ts), against the in-memory clouds and canned reports
// that change from one look to the next: one line per change of a job's state where stdout is no
// terminal, the final table, the batch's exit status; Ctrl-C stops following only (exit 0).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../src/cloud/port.js';
import type { BatchState } from '../../src/batch/batch-state.js';
import { followBatch } from '../../src/batch/follow.js';
import { writeRecord } from '../../src/batch/record.js';
import type { Asked } from '../../src/batch/state.js';
import type { BatchReport } from '../../src/remote/batch-worker.js';
import { launchTags } from '../../src/session/owner.js';
import { FakeBatchCloud } from '../fakes/batch-cloud.js';
import { FakeCloud } from '../fakes/cloud.js';
import { machine, type Machine } from '../fakes/cli.js';
import { commandContext, seedQueue } from './batch-helpers.js';

const BATCH = 'seeds-20261130-192400';

let m: Machine;
beforeEach(() => {
  m = machine();
});
afterEach(() => m.cleanup());

function setUp() {
  const cloud = new FakeCloud();
  const batchCloud = new FakeBatchCloud(cloud);
  const q = seedQueue(batchCloud, BATCH, 1, 1, 1);
  const tags = { ...launchTags(m.plan(), 'alice'), 'ssh-ec2:batch': BATCH, 'ssh-ec2:batch-lane': '1' };
  const one = cloud.add({ tags });
  const jobs = ['a', 'b'].map((name) => ({ name, command: 'true', instanceTypes: ['t3.large'], spot: false, lane: 1 }));
  writeRecord(m.project, {
    batch: BATCH,
    created: '2026-11-30T19:24:00Z',
    jobs,
    region: cloud.region,
    projectId: m.plan().projectId,
    lanes: [
      {
        index: 1,
        instanceTypes: ['t3.large'],
        market: 'on-demand',
        count: 1,
        queueUrl: q.url,
        fleetIds: [],
        instanceIds: [one.id],
      },
    ],
    collected: [],
  });
  return { cloud, batchCloud, one };
}

/** The instance's reports, one per look (the last one stays). */
function looks(reports: BatchReport[], onLook?: (n: number) => void) {
  let n = 0;
  return (_i: InstanceInfo): Promise<Asked> => {
    const r = reports[Math.min(n, reports.length - 1)]!;
    n++;
    onLook?.(n);
    return Promise.resolve({ report: r });
  };
}

/** Collect's stand-in: the states it was given. */
function collector() {
  const collected: BatchState[] = [];
  return {
    collected,
    collect: (s: BatchState) => {
      collected.push(s);
      return Promise.resolve(s.jobs.some((j) => j.state === 'failed') ? 12 : 0);
    },
  };
}

const worker = { state: 'running' as const, at: 1 };

describe('followBatch', () => {
  it('not a terminal: a timestamped line per change, the final table once every job ended, exit 12 when one failed', async () => {
    const { cloud, batchCloud, one } = setUp();
    const { ctx, stdout } = commandContext(m);
    const { collect, collected } = collector();
    const report = looks([
      { worker, jobs: [{ name: 'a', state: 'running', attempt: 1, started: 1 }] },
      { worker, jobs: [{ name: 'a', state: 'running', attempt: 1, started: 1, progress: 50 }] },
      {
        worker,
        jobs: [
          { name: 'a', state: 'done', attempt: 1, status: 0, ended: 5 },
          { name: 'b', state: 'running', attempt: 1, started: 5 },
        ],
      },
      {
        worker,
        jobs: [
          { name: 'a', state: 'done', attempt: 1, status: 0, ended: 5 },
          { name: 'b', state: 'failed', attempt: 3, status: 1, ended: 9 },
        ],
      },
    ]);
    const status = await followBatch(ctx, BATCH, { cloud, batchCloud, report, pollMs: 5, collect });
    expect(status).toBe(12);
    const lines = stdout().split('\n');
    expect(lines.slice(0, 5).map((l) => l.replace(/^\d\d:\d\d:\d\d /, 'T '))).toEqual([
      `T a: running on ${one.id}`,
      'T b: queued',
      `T a: done on ${one.id}, exit status 0`,
      `T b: running on ${one.id}`,
      `T b: failed on ${one.id} (attempt 3), exit status 1`,
    ]);
    expect(lines.slice(5, 6)[0]).toMatch(/^JOB +STATE/);
    expect(lines).toContain('1 done, 1 failed, 0 running, 0 queued · 1 instance');
    // Then collected, as `batch collect` would, from the final state.
    expect(collected.map((s) => s.jobs.map((j) => j.state))).toEqual([['done', 'failed']]);
  });

  it('every job done with status 0: exit 0', async () => {
    const { cloud, batchCloud } = setUp();
    const { ctx } = commandContext(m);
    const { collect } = collector();
    const report = looks([
      { worker, jobs: ['a', 'b'].map((name) => ({ name, state: 'done' as const, attempt: 1, status: 0, ended: 5 })) },
    ]);
    expect(await followBatch(ctx, BATCH, { cloud, batchCloud, report, pollMs: 5, collect })).toBe(0);
  });

  it('on a terminal: the table redrawn in place (back up over the last one, erased to the end of the screen)', async () => {
    const { cloud, batchCloud } = setUp();
    const { ctx, stdout } = commandContext(m);
    const { collect } = collector();
    const report = looks([
      { worker, jobs: [{ name: 'a', state: 'running', attempt: 1, started: 1 }] },
      { worker, jobs: ['a', 'b'].map((name) => ({ name, state: 'done' as const, attempt: 1, status: 0, ended: 5 })) },
    ]);
    const status = await followBatch({ ...ctx, stdoutIsTTY: true }, BATCH, {
      cloud,
      batchCloud,
      report,
      pollMs: 5,
      collect,
    });
    expect(status).toBe(0);
    const draws = stdout().split('\x1b[4F\x1b[J');
    // Two draws of four lines (the header, two jobs, the summary), the second over the first.
    expect(draws).toHaveLength(2);
    expect(draws[0]).toMatch(/^JOB +STATE/);
    expect(draws[0]).toContain('a    running');
    expect(draws[1]).toMatch(/^JOB +STATE/);
    expect(draws[1]).toContain('2 done, 0 failed, 0 running, 0 queued · 1 instance');
  });

  it('a lane with jobs waiting and no worker running (upload-failed) is stuck: follow ends, says so, exit 12', async () => {
    const { cloud, batchCloud, one } = setUp();
    const { ctx, stdout, said } = commandContext(m);
    const { collect, collected } = collector();
    const report = looks([
      {
        worker: { state: 'upload-failed', at: 2 },
        jobs: [{ name: 'a', state: 'done', attempt: 1, status: 0, ended: 5 }],
      },
    ]);
    expect(await followBatch(ctx, BATCH, { cloud, batchCloud, report, pollMs: 5, collect })).toBe(12);
    expect(said()).toContain('lane 1: jobs wait and no worker of the lane runs');
    expect(stdout()).toContain(`${one.id}: a job's files could not reach S3: it is kept running for`);
    expect(stdout()).toContain(`ssh-ec2 batch collect ${BATCH}`);
    expect(collected).toHaveLength(1); // what is finished is brought home
  });

  it('Ctrl-C during a look that hangs (an instance slow to answer): the look is given up at once, exit 0', async () => {
    const { cloud, batchCloud } = setUp();
    const { ctx, said } = commandContext(m);
    const { collect } = collector();
    let n = 0;
    const report = (): Promise<Asked> => {
      if (++n === 1) return Promise.resolve({ report: { worker, jobs: [] } });
      setImmediate(() => process.emit('SIGINT'));
      return new Promise(() => undefined); // never answers
    };
    expect(await followBatch(ctx, BATCH, { cloud, batchCloud, report, pollMs: 5, collect })).toBe(0);
    expect(said()).toContain(`ssh-ec2 batch status ${BATCH}`);
  });

  it('Ctrl-C during the collect at the end: the collect is told (it finishes its step), exit 130', async () => {
    const { cloud, batchCloud } = setUp();
    const { ctx } = commandContext(m);
    const report = looks([
      { worker, jobs: ['a', 'b'].map((name) => ({ name, state: 'done' as const, attempt: 1, status: 0, ended: 5 })) },
    ]);
    let told = false;
    const collect = async (_s: BatchState, signal: AbortSignal) => {
      process.emit('SIGINT');
      await new Promise((r) => setImmediate(r));
      told = signal.aborted;
      return 130;
    };
    expect(await followBatch(ctx, BATCH, { cloud, batchCloud, report, pollMs: 5, collect })).toBe(130);
    expect(told).toBe(true);
  });

  it('Ctrl-C: stops following, leaves everything running, says how to follow and collect; exit 0', async () => {
    const { cloud, batchCloud } = setUp();
    const { ctx, said } = commandContext(m);
    const { collect, collected } = collector();
    const report = looks([{ worker, jobs: [{ name: 'a', state: 'running', attempt: 1, started: 1 }] }], (n) => {
      if (n === 2) process.emit('SIGINT');
    });
    expect(await followBatch(ctx, BATCH, { cloud, batchCloud, report, pollMs: 5, collect })).toBe(0);
    expect(said()).toContain(`ssh-ec2 batch status ${BATCH}`);
    expect(said()).toContain(`ssh-ec2 batch collect ${BATCH}`);
    expect([...cloud.instances.values()].map((i) => i.state)).toEqual(['running']);
    expect(collected).toEqual([]);
    expect(batchCloud.calls.map((c) => c.op).filter((op) => op.startsWith('delete') || op === 'purgeQueue')).toEqual(
      [],
    );
  });
});
