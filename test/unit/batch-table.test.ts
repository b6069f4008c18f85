// The batch's table (src/batch/table.ts): its columns, the summary line, the lines of a log that is
// not a terminal (one per change of a job's state), and the batch's exit status (docs/BATCH.md: Exit status).
import { describe, expect, it } from 'vitest';
import type { BatchState, JobView } from '../../src/batch/batch-state.js';
import { exitStatus } from '../../src/batch/follow.js';
import { changes, renderTable, summaryLine } from '../../src/batch/table.js';

const NOW = 1_000_000;
const job = (name: string, more: Partial<JobView>): JobView => ({
  name,
  lane: 1,
  state: 'queued',
  collected: false,
  ...more,
});

function state(jobs: JobView[], instances: BatchState['instances'] = []): BatchState {
  return {
    batch: 'sweep-20261130-192400',
    region: 'eu-central-1',
    manifest: { batch: 'sweep-20261130-192400', created: '', jobs: [] },
    fleetIds: [],
    lanes: [],
    instances,
    jobs,
  };
}

const live = (id: string, more: Partial<BatchState['instances'][number]> = {}) => ({
  id,
  lane: 1,
  state: 'running',
  type: 't3.large',
  reachable: true,
  ...more,
});

describe('the table', () => {
  it('one row per job: state, instance, elapsed, exit status, progress, peak memory, attempt; then the summary', () => {
    const s = state(
      [
        job('train-1', {
          state: 'done',
          instanceId: 'i-1',
          started: NOW - 100,
          ended: NOW - 10,
          wallSeconds: 90,
          status: 0,
          progress: 100,
          peakKiB: 3 * 1024 * 1024,
          attempt: 1,
        }),
        job('train-2', { state: 'running', instanceId: 'i-2', started: NOW - 65, progress: 42, attempt: 2 }),
        job('train-3', {
          state: 'failed',
          instanceId: 'i-1',
          started: NOW - 30,
          ended: NOW - 20,
          status: 3,
          attempt: 3,
        }),
        job('train-4', { state: 'setting up' }),
        job('train-5', { state: 'queued' }),
      ],
      [live('i-1'), live('i-2'), live('i-3', { state: 'terminated' })],
    );
    expect(renderTable(s, NOW).split('\n')).toEqual([
      'JOB      STATE       INSTANCE  ELAPSED  EXIT  PROGRESS  PEAK MEM  ATTEMPT',
      'train-1  done        i-1       1m30s    0     100%      3.0 GiB   1',
      'train-2  running     i-2       1m5s     -     42%       -         2',
      'train-3  failed      i-1       10s      3     -         -         3',
      'train-4  setting up  -         -        -     -         -         -',
      'train-5  queued      -         -        -     -         -         -',
      '1 done, 1 failed, 1 running, 2 queued · 2 instances',
      '',
    ]);
  });

  it('the summary counts a retried or interrupted job as queued (it waits in its queue), and says what a row cannot', () => {
    const s = state(
      [job('a', { state: 'retried', attempt: 1 }), job('b', { state: 'interrupted' }), job('c', { state: 'unknown' })],
      [live('i-1', { worker: { state: 'setup-failed', at: 1 } })],
    );
    expect(summaryLine(s)).toBe('0 done, 0 failed, 0 running, 2 queued, 1 unknown · 1 instance');
    const text = renderTable(s, NOW);
    expect(text).toContain('--setup failed on i-1 (lane 1)');
    expect(text).toContain('unknown: ran on an instance that cannot be asked now (stopped)');
  });
});

describe('a log that is not a terminal', () => {
  it('one line per change of a job’s state (its instance, attempt, exit status), nothing when nothing changed', () => {
    const before = state([
      job('a', { state: 'queued' }),
      job('b', { state: 'running', instanceId: 'i-1', attempt: 1 }),
    ]);
    const after = state([
      job('a', { state: 'running', instanceId: 'i-2', attempt: 1 }),
      job('b', { state: 'retried', instanceId: 'i-1', attempt: 1, status: 1 }),
    ]);
    expect(changes(undefined, before)).toEqual(['a: queued', 'b: running on i-1']);
    expect(changes(before, after)).toEqual(['a: running on i-2', 'b: retried on i-1, exit status 1']);
    expect(changes(after, after)).toEqual([]);
    const again = state([
      job('a', { state: 'done', instanceId: 'i-2', attempt: 1, status: 0 }),
      job('b', { state: 'running', instanceId: 'i-3', attempt: 2 }),
    ]);
    expect(changes(after, again)).toEqual(['a: done on i-2, exit status 0', 'b: running on i-3 (attempt 2)']);
  });
});

describe('the exit status of a finished batch', () => {
  it('0 when every job is done with status 0; 12 when one failed after its retries', () => {
    expect(exitStatus(state([job('a', { state: 'done', status: 0 }), job('b', { state: 'done', status: 0 })]))).toBe(0);
    expect(exitStatus(state([job('a', { state: 'done', status: 0 }), job('b', { state: 'failed', status: 2 })]))).toBe(
      12,
    );
  });
});
