// launchBatch() against the in-memory clouds (test/fakes/cloud.ts, batch-cloud.ts): what a batch
// makes (queues with their jobs, the launch template a session's launch would send, one fleet per
// lane), the record written as it goes, and that a failure leaving nothing running leaves nothing.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FlagValues } from '../../src/options.js';
import { CapacityError, ExitCode } from '../../src/errors.js';
import { newRun } from '../../src/session/context.js';
import { resolvePaths } from '../../src/state/paths.js';
import { parseJobs } from '../../src/batch/jobs-file.js';
import { makeLanes } from '../../src/batch/lanes.js';
import { jobBody, launchBatch } from '../../src/batch/launch-batch.js';
import { BATCH_TAG, LANE_TAG } from '../../src/batch/tags.js';
import { batchesDir, readRecord } from '../../src/batch/record.js';
import { mapBounded } from '../../src/bounded.js';
import { FakeBatchCloud } from '../fakes/batch-cloud.js';
import { FAILED_LANES_TAG, failedLanesTag, parseFailedLanes } from '../../src/batch/failed-lanes.js';
import { FakeCloud } from '../fakes/cloud.js';
import { provisionRun } from '../fakes/provision-run.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'launch-batch-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const JOBS = 'instance_type,command,name\n,python a.py,a\ng5.xlarge,python b.py,b\n,python c.py,c\n';
const BATCH = 'jobs-20261130-192400';

const manifests: [string, string][] = [];
const putManifest = (url: string, body: string) => Promise.resolve(void manifests.push([url, body]));

function launch(cloud: FakeCloud, batchCloud: FakeBatchCloud, flags: FlagValues = {}, jobs = JOBS) {
  const { ctx, plan, lines } = provisionRun(dir, cloud, { instanceTypes: ['t3.large'], imageId: 'ami-1', ...flags });
  const o = ctx.options;
  const lanes = makeLanes(
    parseJobs('jobs.csv', jobs),
    { instanceTypes: o.instanceTypes, spot: o.spot || o.spotFallback },
    o.instances,
  );
  const run = newRun(
    { options: o, plan, log: ctx.log, paths: resolvePaths({ SSH_EC2_STATE_DIR: join(dir, 'state') }) },
    cloud,
  );
  const go = () =>
    launchBatch(run, batchCloud, {
      batch: BATCH,
      created: new Date('2026-11-30T19:24:00Z'),
      lanes,
      signal: new AbortController().signal,
      putManifest,
    });
  return { go, plan, lines };
}

const live = (cloud: FakeCloud) =>
  [...cloud.instances.values()].filter((i) => !['terminated', 'shutting-down'].includes(i.state));

describe('launchBatch', () => {
  it('one queue with its jobs, one fleet per lane from one template; the record says all of it', async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    const { go, plan } = launch(cloud, batchCloud);
    const { rec, user } = await go();
    expect(user).toBeTruthy();
    const queues = [...batchCloud.queues.values()];
    expect(queues.map((q) => [q.name, q.tags[BATCH_TAG], q.tags[LANE_TAG], q.visible])).toEqual([
      [
        `ssh-ec2-${BATCH}-1`,
        BATCH,
        '1',
        [jobBody({ name: 'a', command: 'python a.py' }), jobBody({ name: 'c', command: 'python c.py' })],
      ],
      [`ssh-ec2-${BATCH}-2`, BATCH, '2', [jobBody({ name: 'b', command: 'python b.py' })]],
    ]);
    expect(JSON.parse(queues[0]!.visible[0]!)).toEqual({
      job: 'a',
      cmd: Buffer.from('python a.py').toString('base64'),
      failures: 0,
      attempt: 1,
    });
    const [template] = [...batchCloud.templates.values()];
    expect(template!.spec).toMatchObject({ name: `ssh-ec2-${BATCH}`, imageId: 'ami-1', shutdownBehavior: 'stop' });
    expect(template!.spec.userData).toContain('ssh-ec2'); // the boot-time limit
    expect(template!.spec.tags).toMatchObject({
      [BATCH_TAG]: BATCH,
      'ssh-ec2:batch-jobs': '3',
      'ssh-ec2:batch-created': '2026-11-30T19:24:00.000Z',
    });
    // Never this directory's instance: a session here does not take a batch's.
    expect(template!.spec.instanceTags.Name).not.toBe(plan.dirTags.Name);
    const fleets = [...batchCloud.fleets.values()].map((f) => f.launch);
    expect(fleets.map((f) => [f.count, f.market, f.overrides])).toEqual([
      [2, 'on-demand', [{ instanceType: 't3.large' }]],
      [1, 'on-demand', [{ instanceType: 'g5.xlarge' }]],
    ]);
    expect(
      live(cloud)
        .map((i) => i.tags[LANE_TAG])
        .sort(),
    ).toEqual(['1', '1', '2']);
    expect(readRecord(plan.projectDir, BATCH)).toEqual(rec);
    expect(rec.lanes.map((l) => [l.index, l.instanceIds.length, l.fleetIds.length, l.queueUrl])).toEqual([
      [1, 2, 1, queues[0]!.url],
      [2, 1, 1, queues[1]!.url],
    ]);
  });

  it('a lane short of spot asks for the rest on demand with --spot-fallback; a lane with none fails its jobs, its queue deleted', async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    batchCloud.capacity = { 't3.large': 1, 'g5.xlarge': 0 };
    const { go } = launch(cloud, batchCloud, { spotFallback: true });
    const { rec } = await go();
    const fleets = [...batchCloud.fleets.values()].map((f) => [f.launch.market, f.launch.count, f.instanceIds.length]);
    expect(fleets).toEqual([
      ['spot', 2, 1],
      ['on-demand', 1, 0],
      ['spot', 1, 0],
      ['on-demand', 1, 0],
    ]);
    expect(rec.lanes.map((l) => l.failed)).toEqual([undefined, 'no capacity']);
    expect([...batchCloud.queues.keys()]).toEqual([rec.lanes[0]!.queueUrl]);
    // Another laptop, without the record, reads why from the launch template's tag.
    expect(batchCloud.templates.get(rec.templateId!)?.tags[FAILED_LANES_TAG]).toBe('2:no capacity');
  });

  it('the failed-lanes tag: every failed lane, within 256 characters, read back by lane', () => {
    const lanes = [
      { index: 1 },
      { index: 2, failed: 'no capacity' },
      { index: 3, failed: 'no instance could be prepared; twice' },
    ];
    expect(failedLanesTag(lanes)).toBe('2:no capacity;3:no instance could be prepared, twice');
    expect(parseFailedLanes(failedLanesTag(lanes))).toEqual(
      new Map([
        [2, 'no capacity'],
        [3, 'no instance could be prepared, twice'],
      ]),
    );
    const many = Array.from({ length: 12 }, (_, i) => ({ index: i + 1, failed: 'x'.repeat(100) }));
    const tag = failedLanesTag(many);
    expect(tag.length).toBeLessThanOrEqual(256);
    expect([...parseFailedLanes(tag).keys()]).toEqual(many.map((l) => l.index));
    expect(parseFailedLanes(undefined).size).toBe(0);
  });

  it("--max-price is one instance's: passed as maxPrice to the spot fleets only (the port multiplies by count)", async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    batchCloud.capacity = { 't3.large': 1, 'g5.xlarge': 1 };
    const { go } = launch(cloud, batchCloud, { spotFallback: true, maxPrice: '0.5' });
    await go();
    const fleets = [...batchCloud.fleets.values()].map((f) => [f.launch.market, f.launch.maxPrice]);
    expect(fleets).toEqual([
      ['spot', '0.5'],
      ['on-demand', undefined],
      ['spot', '0.5'],
    ]);
  });

  it('no capacity at all: exit 5, nothing left (queues, template, record)', async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    batchCloud.capacity = { 't3.large': 0, 'g5.xlarge': 0 };
    const { go, plan } = launch(cloud, batchCloud);
    const err = await go().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapacityError);
    expect((err as CapacityError).exitCode).toBe(ExitCode.capacity);
    expect([batchCloud.queues.size, batchCloud.templates.size]).toEqual([0, 0]);
    expect(existsSync(batchesDir(plan.projectDir)) ? readdirSync(batchesDir(plan.projectDir)) : []).toEqual([]);
  });

  it('a failure after some instances were launched: they are terminated, queues and template deleted', async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    let fleets = 0;
    batchCloud.onCall = (op) => {
      if (op === 'createFleet' && ++fleets === 2) throw new Error('the network went away');
    };
    const { go, plan } = launch(cloud, batchCloud);
    await expect(go()).rejects.toThrow('the network went away');
    expect(live(cloud)).toEqual([]);
    expect([batchCloud.queues.size, batchCloud.templates.size]).toEqual([0, 0]);
    expect(readRecord(plan.projectDir, BATCH)).toBeUndefined();
  });

  it('with --results: the template terminates on a poweroff (the files are in S3 by then), the manifest is written first', async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    const { go } = launch(cloud, batchCloud, { results: 's3://my-bucket/p' }, 'one\n');
    const { rec } = await go();
    const spec = [...batchCloud.templates.values()][0]!.spec;
    expect(spec.shutdownBehavior).toBe('terminate');
    expect(spec.tags['ssh-ec2:batch-results']).toBe(`s3://my-bucket/p/${BATCH}/`);
    expect(rec.resultsUrl).toBe(`s3://my-bucket/p/${BATCH}/`);
    // The manifest, where a laptop with only S3 finds the batch.
    expect(manifests).toHaveLength(1);
    expect(manifests[0]![0]).toBe(`s3://my-bucket/p/${BATCH}/`);
    expect(JSON.parse(manifests[0]![1])).toEqual({
      batch: BATCH,
      created: '2026-11-30T19:24:00.000Z',
      jobs: [{ name: 'job-1', command: 'one', instance_type: 't3.large', spot: false, lane: 1 }],
    });
  });
});

describe('prepareBatch: at most --parallel at once', () => {
  it('mapBounded() never runs more than its limit together, and runs every item', async () => {
    let now = 0;
    let most = 0;
    const done: number[] = [];
    const gates: (() => void)[] = [];
    const work = mapBounded([1, 2, 3, 4, 5], 2, async (n) => {
      most = Math.max(most, ++now);
      await new Promise<void>((r) => gates.push(r));
      now--;
      done.push(n);
    });
    // Each item waits for the test to let it go: the bound is seen, not timed.
    while (done.length < 5) {
      await new Promise((r) => setImmediate(r));
      gates.shift()?.();
    }
    await work;
    expect(most).toBe(2);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5]);
  });
});
