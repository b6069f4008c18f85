// The batch verbs work in the region the batch was started in (src/batch/clouds.ts batchClouds):
// its local record's, whatever the shell's default region is now; an explicit --region that says
// otherwise is refused. Through main() against two in-memory regions.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRecord, writeRecord, type BatchRecord } from '../../src/batch/record.js';
import { launchTags } from '../../src/session/owner.js';
import { FakeBatchCloud } from '../fakes/batch-cloud.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';
import { seedQueue, seedTemplate } from './batch-helpers.js';

const BATCH = 'sweep-20261130-192400';
const TAGS = { 'ssh-ec2:batch': BATCH };

let m: Machine;
let home: FakeCloud; // eu-central-1: where the batch runs
let shell: FakeCloud; // us-east-1: the shell's default region now
let homeBc: FakeBatchCloud;
let shellBc: FakeBatchCloud;

beforeEach(() => {
  m = machine();
  home = new FakeCloud();
  shell = new FakeCloud();
  shell.region = 'us-east-1';
  homeBc = new FakeBatchCloud(home);
  shellBc = new FakeBatchCloud(shell);
  const queueUrl = seedQueue(homeBc, BATCH, 1, 1, 0).url;
  seedTemplate(homeBc, 'lt-1', `ssh-ec2-${BATCH}`, TAGS);
  const rec: BatchRecord = {
    batch: BATCH,
    created: '2026-11-30T19:24:00Z',
    jobs: [{ name: 'a', command: 'true', instanceTypes: ['g5.xlarge'], spot: false, lane: 1 }],
    region: 'eu-central-1',
    projectId: m.plan().projectId,
    lanes: [
      {
        index: 1,
        instanceTypes: ['g5.xlarge'],
        market: 'on-demand',
        count: 1,
        queueUrl,
        fleetIds: [],
        instanceIds: [],
      },
    ],
    collected: [],
  };
  writeRecord(m.project, rec);
});
afterEach(() => m.cleanup());

const run = (argv: string[]) =>
  cli(m, shell, argv, {
    env: { AWS_REGION: 'us-east-1' },
    clouds: { 'eu-central-1': home, 'us-east-1': shell },
    batchClouds: { 'eu-central-1': homeBc, 'us-east-1': shellBc },
  });

describe("the batch verbs in the record's region", () => {
  it("batch cancel from a shell whose default region is another: the batch's instances terminated there", async () => {
    const gpu = home.add({ state: 'stopped', tags: { ...launchTags(m.plan(), 'alice'), ...TAGS } });
    const r = await run(['batch', 'cancel', BATCH, '--yes']);
    expect(r.status, r.lines.join('\n')).toBe(0);
    expect(home.get(gpu.id)?.state).toBe('terminated');
    expect(homeBc.queues.size + homeBc.templates.size).toBe(0);
    expect([...new Set([...r.regions, ...r.batchRegions])]).toEqual(['eu-central-1']);
    expect(readRecord(m.project, BATCH)?.ended).toBe('cancelled');
  });

  it('batch status (no id: the newest record) looks in its region', async () => {
    const r = await run(['batch', 'status']);
    expect(r.status, r.lines.join('\n')).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`batch ${BATCH} (eu-central-1)`);
    expect([...new Set([...r.regions, ...r.batchRegions])]).toEqual(['eu-central-1']);
  });

  it('an explicit --region that disagrees with the record: exit 2 naming both, nothing asked of AWS', async () => {
    for (const verb of [['status'], ['collect'], ['cancel', BATCH, '--yes'], ['logs', BATCH, 'a']]) {
      const r = await run(['batch', ...verb, '--region', 'us-east-1']);
      expect(r.status, verb.join(' ')).toBe(2);
      expect(r.lines.join('\n')).toMatch(/started in eu-central-1, not --region us-east-1/);
      expect([...r.regions, ...r.batchRegions]).toEqual([]);
    }
    expect(readRecord(m.project, BATCH)?.ended).toBeUndefined();
  });

  it('the same --region as the record is fine', async () => {
    const r = await run(['batch', 'status', BATCH, '--region', 'eu-central-1']);
    expect(r.status, r.lines.join('\n')).toBe(0);
  });
});
