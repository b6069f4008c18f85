// batch status and batch ls through the real entry, main() (test/fakes/cli.ts), against the
// in-memory clouds, in the cases that reach no instance over ssh (the instances pending, ended or
// stopped): which batch, what the table says, --json, and a batch nothing knows of (exit 7).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../src/cloud/port.js';
import { writeRecord, type BatchRecord } from '../../src/batch/record.js';
import type { BatchState } from '../../src/batch/batch-state.js';
import { launchTags } from '../../src/session/owner.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';
import { FakeBatchCloud } from '../fakes/batch-cloud.js';
import { seedQueue, seedTemplate } from './batch-helpers.js';

const OLD = 'grid-20261129-080000';
const NEW = 'sweep-20261130-192400';

let m: Machine;
beforeEach(() => {
  m = machine();
});
afterEach(() => m.cleanup());

function batchInstance(cloud: FakeCloud, batch: string, more: Partial<InstanceInfo> = {}): InstanceInfo {
  const tags = { ...launchTags(m.plan(), 'alice'), 'ssh-ec2:batch': batch, 'ssh-ec2:batch-lane': '1' };
  return cloud.add({ type: 't3.large', ...more, tags });
}

function record(batch: string, created: string, queueUrl: string, instanceIds: string[]): BatchRecord {
  const jobs = ['a', 'b'].map((name) => ({ name, command: 'true', instanceTypes: ['t3.large'], spot: false, lane: 1 }));
  return {
    batch,
    created,
    jobs,
    region: 'eu-central-1',
    projectId: m.plan().projectId,
    lanes: [
      { index: 1, instanceTypes: ['t3.large'], market: 'on-demand', count: 2, queueUrl, fleetIds: [], instanceIds },
    ],
    collected: [],
  };
}

describe('batch status', () => {
  it("[BATCH] defaults to this directory's newest record; its jobs setting up while the instances boot; exit 0", async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    const q = seedQueue(batchCloud, NEW, 1, 2, 0);
    const i = batchInstance(cloud, NEW, { state: 'pending' });
    writeRecord(m.project, record(OLD, '2026-11-29T08:00:00Z', 'http://sqs.local/gone', []));
    writeRecord(m.project, record(NEW, '2026-11-30T19:24:00Z', q.url, [i.id]));
    const r = await cli(m, cloud, ['batch', 'status'], { batchCloud });
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      `batch ${NEW} (eu-central-1)`,
      'JOB  STATE       INSTANCE  ELAPSED  EXIT  PROGRESS  PEAK MEM  ATTEMPT',
      'a    setting up  -         -        -     -         -         -',
      'b    setting up  -         -        -     -         -         -',
      '0 done, 0 failed, 0 running, 2 queued · 1 instance',
      '',
    ]);
    expect(m.sshStarts()).toEqual([]);
  });

  it('--json: the whole state; a batch named that only tags know (another laptop)', async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    seedQueue(batchCloud, NEW, 1, 0, 0);
    seedTemplate(batchCloud, 'lt-1', `ssh-ec2-${NEW}`, { 'ssh-ec2:batch': NEW });
    batchInstance(cloud, NEW, { state: 'stopped' });
    const r = await cli(m, cloud, ['batch', 'status', NEW, '--json'], { batchCloud });
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout) as BatchState;
    expect([s.batch, s.templateId, s.instances.map((x) => x.state), s.lanes.map((l) => l.index)]).toEqual([
      NEW,
      'lt-1',
      ['stopped'],
      [1],
    ]);
  });

  it('a batch nothing knows of: one line, exit 7; none at all in this directory: exit 7 too', async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    const r = await cli(m, cloud, ['batch', 'status', 'nope-20261130-000000'], { batchCloud });
    expect({ status: r.status, first: r.lines[0] }).toEqual({
      status: 7,
      first: 'ssh-ec2: error: no batch nope-20261130-000000 in eu-central-1',
    });
    const none = await cli(m, cloud, ['batch', 'status'], { batchCloud });
    expect({ status: none.status, first: none.lines[0] }).toEqual({
      status: 7,
      first: 'ssh-ec2: error: no batch of this directory in eu-central-1',
    });
  });
});

describe('batch ls', () => {
  it("this directory's batches: its records, then those its tags show; jobs waiting and in flight, instances live", async () => {
    const cloud = new FakeCloud();
    const batchCloud = new FakeBatchCloud(cloud);
    const q = seedQueue(batchCloud, NEW, 1, 1, 1);
    const i = batchInstance(cloud, NEW);
    writeRecord(m.project, record(NEW, '2026-11-30T19:24:00Z', q.url, [i.id]));
    // Another laptop's batch of this directory's tags (its template), finished: its queue empty.
    seedQueue(batchCloud, OLD, 1, 0, 0);
    seedTemplate(batchCloud, 'lt-1', `ssh-ec2-${OLD}`, {
      ...launchTags(m.plan(), 'alice'),
      'ssh-ec2:batch': OLD,
      'ssh-ec2:batch-jobs': '5',
      'ssh-ec2:batch-created': '2026-11-29T08:00:00Z',
    });
    // Somebody else's batch: not listed.
    seedTemplate(batchCloud, 'lt-2', 'ssh-ec2-x', {
      'ssh-ec2': 'another-project',
      'ssh-ec2:batch': 'x-20261130-000000',
    });
    const r = await cli(m, cloud, ['batch', 'ls'], { batchCloud });
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'BATCH                  CREATED           JOBS  QUEUED  RUNNING  INSTANCES  STATE',
      `${NEW}  2026-11-30 19:24  2     1       1        1          running`,
      `${OLD}   2026-11-29 08:00  5     0       0        0          finished`,
      '',
    ]);
    expect(m.sshStarts()).toEqual([]);
  });
});
