// Batch resources (issue #14) in ls --all-regions and down --orphans: a batch's template, fleets and
// queues are ended once no instance of the batch is live; a batch with one is left and said, so is
// one made moments ago or on another machine; its results prefix is listed, never deleted; an SQS
// listing the policy refuses is named, not a failure. Through main() against the in-memory clouds.
import { hostname } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { TAG } from '../../src/session/plan.js';
import { FakeBatchCloud } from '../fakes/batch-cloud.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';

let m: Machine;
beforeEach(() => {
  m = machine();
});
afterEach(() => m.cleanup());

const LONG_AGO = '2026-01-01T00:00:00.000Z';

/** A batch as `ssh-ec2 batch` leaves it: template, one instant fleet of one, a queue holding `jobs`. */
async function makeBatch(
  batch: FakeBatchCloud,
  id: string,
  o: { jobs?: number; host?: string; created?: string; results?: string } = {},
) {
  const tags = { 'ssh-ec2': 'p1', [TAG.user]: 'alice', [TAG.host]: o.host ?? hostname(), 'ssh-ec2:batch': id };
  const t = await batch.createLaunchTemplate({
    name: `ssh-ec2-${id}`,
    imageId: 'ami-1',
    securityGroupIds: ['sg-1'],
    rootDevice: '/dev/sda1',
    volumeSizeGiB: 50,
    shutdownBehavior: 'stop',
    instanceTags: tags,
    tags: {
      ...tags,
      'ssh-ec2:batch-created': o.created ?? LONG_AGO,
      ...(o.results && { 'ssh-ec2:batch-results': o.results }),
    },
  });
  const fleet = await batch.createFleet({
    templateId: t.id,
    overrides: [{ instanceType: 't3.large' }],
    count: 1,
    market: 'on-demand',
    tags: { ...tags, 'ssh-ec2:batch-lane': '1' },
  });
  const queue = await batch.createQueue(`ssh-ec2-${id}-1`, { ...tags, 'ssh-ec2:batch-lane': '1' }, 300);
  await batch.sendJobs(
    queue,
    Array.from({ length: o.jobs ?? 0 }, (_, k) => `{"job":"job-${k}"}`),
  );
  return { template: t.id, fleet: fleet.fleetId, queue, instance: fleet.instanceIds[0]! };
}

describe('batch resources in down --orphans', () => {
  it('a batch with no live instance: fleet, queue and template deleted (the jobs that would never run said); one with a live instance left', async () => {
    const cloud = new FakeCloud();
    const batch = new FakeBatchCloud(cloud);
    const ended = await makeBatch(batch, 'sweep-20260101-000000', { jobs: 2, results: 's3://bucket/runs/sweep/' });
    cloud.get(ended.instance)!.state = 'terminated';
    const live = await makeBatch(batch, 'grid-20260101-000000', { jobs: 1 });
    cloud.get(live.instance)!.state = 'running';
    const r = await cli(m, cloud, ['down', '--orphans', '--yes'], { batchCloud: batch });
    const said = r.lines.join('\n');
    expect(r.status, said).toBe(ExitCode.ok);
    expect(batch.fleets.get(ended.fleet)!.state).toMatch(/^deleted/);
    expect(batch.queues.has(ended.queue)).toBe(false);
    expect(batch.templates.has(ended.template)).toBe(false);
    expect(said).toContain('queue ssh-ec2-sweep-20260101-000000-1 (still holds 2 job(s): they would never run)');
    expect(said).toContain('results of batch sweep-20260101-000000 at s3://bucket/runs/sweep/');
    // The other batch: everything kept, its instance untouched, and why said.
    expect(batch.fleets.get(live.fleet)!.state).toBe('active');
    expect(batch.queues.has(live.queue)).toBe(true);
    expect(batch.templates.has(live.template)).toBe(true);
    expect(cloud.get(live.instance)!.state).toBe('running');
    expect(said).toMatch(
      new RegExp(`batch grid-20260101-000000 .*${live.instance} \\(running\\) still live: left alone`),
    );
  });

  it('made moments ago (its launch may be under way), or on another machine: left alone', async () => {
    const cloud = new FakeCloud();
    const batch = new FakeBatchCloud(cloud);
    const young = await makeBatch(batch, 'new-20260101-000000', { created: new Date().toISOString() });
    const theirs = await makeBatch(batch, 'other-20260101-000000', { host: 'other-laptop' });
    for (const b of [young, theirs]) cloud.get(b.instance)!.state = 'terminated';
    const r = await cli(m, cloud, ['down', '--orphans', '--yes'], { batchCloud: batch });
    expect(batch.callsOf('deleteQueue')).toEqual([]);
    expect(batch.callsOf('deleteFleets')).toEqual([]);
    expect(batch.callsOf('deleteLaunchTemplate')).toEqual([]);
    const said = r.lines.join('\n');
    expect(said).toMatch(/batch new-20260101-000000 .*its launch may be under way: left alone/);
    expect(said).toMatch(/batch other-20260101-000000 .*not ours \(made on other-laptop\), left alone/);
  });

  it('without --yes and no terminal: nothing deleted (exit 2)', async () => {
    const cloud = new FakeCloud();
    const batch = new FakeBatchCloud(cloud);
    const b = await makeBatch(batch, 'sweep-20260101-000000');
    cloud.get(b.instance)!.state = 'terminated';
    const r = await cli(m, cloud, ['down', '--orphans'], { batchCloud: batch });
    expect(r.status).toBe(ExitCode.usage);
    expect(batch.queues.has(b.queue)).toBe(true);
  });
});

describe('batch resources in ls --all-regions', () => {
  it('template, fleet, queue (with its counts) and the results prefix are rows', async () => {
    const cloud = new FakeCloud();
    const batch = new FakeBatchCloud(cloud);
    const b = await makeBatch(batch, 'sweep-20260101-000000', { jobs: 3, results: 's3://bucket/runs/sweep/' });
    batch.take(b.queue);
    const r = await cli(m, cloud, ['ls', '--all-regions'], { batchCloud: batch });
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.ok);
    const rows = r.stdout.split('\n');
    expect(rows.find((l) => l.includes(b.template))).toMatch(/launch-template/);
    expect(rows.find((l) => l.includes(b.fleet))).toMatch(/fleet .*active/);
    expect(rows.find((l) => l.includes(b.queue))).toMatch(/queue .*ssh-ec2-sweep-20260101-000000-1 +2 queued, 1 taken/);
    expect(rows.find((l) => l.includes('s3://bucket/runs/sweep/'))).toMatch(
      /results .*sweep-20260101-000000 +never deleted/,
    );
  });

  it('SQS refused by the policy: named as a listing not allowed, the rest listed', async () => {
    const cloud = new FakeCloud();
    const batch = new FakeBatchCloud(cloud);
    const b = await makeBatch(batch, 'sweep-20260101-000000');
    batch.fail('findQueues', { code: 'AccessDenied', times: Infinity });
    const r = await cli(m, cloud, ['ls', '--all-regions'], { batchCloud: batch });
    expect(r.status, r.lines.join('\n')).toBe(ExitCode.ok);
    expect(r.lines.join('\n')).toMatch(/not allowed to sqs:ListQueues/);
    expect(r.stdout).toContain(b.fleet);
  });
});
