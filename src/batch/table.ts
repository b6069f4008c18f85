/**
 * The batch's table (pure): one row per job — state, instance, elapsed time, exit status, progress,
 * peak memory, attempt — and a summary line. `batch status` prints it once; follow.ts redraws it in
 * place on a terminal, and elsewhere prints one line per change of a job's state (`changes`).
 */
import { table } from '../commands/ls/table.js';
import { formatBytes } from '../session/command-usage.js';
import { formatDuration } from '../session/limits.js';
import type { BatchState, JobView } from './batch-state.js';

const HEADER = ['JOB', 'STATE', 'INSTANCE', 'ELAPSED', 'EXIT', 'PROGRESS', 'PEAK MEM', 'ATTEMPT'];

/** `nowS`: epoch seconds, for the elapsed time of a running job. */
export function renderTable(state: BatchState, nowS: number): string {
  const rows = state.jobs.map((j) => [
    j.name,
    j.state,
    j.instanceId ?? '-',
    elapsed(j, nowS),
    j.status === undefined || j.state === 'running' ? '-' : String(j.status),
    j.progress === undefined ? '-' : `${j.progress}%`,
    j.peakKiB === undefined ? '-' : formatBytes(j.peakKiB * 1024),
    j.attempt === undefined ? '-' : String(j.attempt),
  ]);
  return `${table([HEADER, ...rows])}${[summaryLine(state), ...notes(state)].join('\n')}\n`;
}

function elapsed(j: JobView, nowS: number): string {
  if (j.wallSeconds !== undefined && j.state !== 'running') return seconds(j.wallSeconds);
  if (j.started === undefined) return '-';
  const end = j.state === 'running' ? nowS : (j.ended ?? nowS);
  return seconds(Math.max(0, end - j.started));
}

const seconds = (s: number): string => (s < 1 ? '0s' : formatDuration(Math.round(s) * 1000));

/** `3 done, 1 failed, 1 running, 0 queued · 2 instances` (queued: every job waiting in a queue). */
export function summaryLine(state: BatchState): string {
  const count = (...words: JobView['state'][]) => state.jobs.filter((j) => words.includes(j.state)).length;
  const unknown = count('unknown');
  const live = state.instances.filter((i) => i.state === 'pending' || i.state === 'running').length;
  return (
    `${count('done')} done, ${count('failed')} failed, ${count('running')} running, ` +
    `${count('queued', 'setting up', 'retried', 'interrupted')} queued` +
    `${unknown > 0 ? `, ${unknown} unknown` : ''} · ${live} instance${live === 1 ? '' : 's'}`
  );
}

const GONE = new Set(['shutting-down', 'terminated']);

/** An instance's worker that takes no job any more, said under the table. */
const WORKER_NOTES: Partial<Record<string, (id: string, lane: number, batch: string) => string>> = {
  'setup-failed': (id, lane) =>
    `--setup failed on ${id} (lane ${lane}): its jobs wait for another instance of the lane`,
  'upload-failed': (id, _lane, batch) =>
    `${id}: a job's files could not reach S3: it is kept running for \`ssh-ec2 batch collect ${batch}\``,
  stalled: (id, lane) => `${id} (lane ${lane}): its worker stopped, its queue unreadable: it takes no more jobs`,
};

/** What a row cannot say: an instance whose --setup failed, jobs last seen on instances not reachable. */
function notes(state: BatchState): string[] {
  const lines = state.instances.flatMap((i) => {
    const said = WORKER_NOTES[i.worker?.state ?? ''];
    return said && !GONE.has(i.state) ? [said(i.id, i.lane, state.batch)] : [];
  });
  const never = new Map<string, string[]>();
  for (const j of state.jobs) if (j.reason) never.set(j.reason, [...(never.get(j.reason) ?? []), j.name]);
  for (const [reason, jobs] of never) lines.push(`failed, never run (${reason}): ${jobs.join(', ')}`);
  if (state.jobs.some((j) => j.state === 'unknown'))
    lines.push(
      'unknown: ran on an instance that cannot be asked now (stopped): ssh-ec2 batch collect starts it and brings them home',
    );
  return lines;
}

/** One line per job whose state changed since `before` (a log that is not a terminal). */
export function changes(before: BatchState | undefined, now: BatchState): string[] {
  const was = new Map(before?.jobs.map((j) => [j.name, j]));
  return now.jobs.flatMap((j) => {
    const old = was.get(j.name);
    if (old && old.state === j.state && old.attempt === j.attempt && old.instanceId === j.instanceId) return [];
    return [changeWords(j)];
  });
}

function changeWords(j: JobView): string {
  const on = j.instanceId ? ` on ${j.instanceId}` : '';
  const attempt = (j.attempt ?? 1) > 1 ? ` (attempt ${j.attempt})` : '';
  const status = j.status !== undefined && j.state !== 'running' ? `, exit status ${j.status}` : '';
  return `${j.name}: ${j.state}${on}${attempt}${status}`;
}
