/**
 * What down says it will do to each instance, before it asks (issue #10: it killed a job at epoch
 * 7/60 without a word, and said "results synced back" before anything was).
 */
import type { InstanceInfo } from '../../cloud/ec2.js';
import type { LiveJob } from '../live-job.js';
import { since } from '../ls/table.js';

export interface Target {
  instance: InstanceInfo;
  job: LiveJob;
  /** Where its results come back to; undefined: they are not brought back (and why). */
  into: string | undefined;
  notBack?: string;
}

/** A local time a user reads: "14:05" today, "2026-11-29 14:05" before. */
export function localTime(d: Date, now = new Date()): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
  return d.toDateString() === now.toDateString()
    ? hm
    : `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${hm}`;
}

/** What runs there, for the list shown before asking (down, down --orphans); none: nothing to say. */
export function jobLine(job: LiveJob): string | undefined {
  switch (job.state) {
    case 'running':
      return `its job is running since ${localTime(job.started)} (${since(job.started)}): ${job.command ?? 'an interactive shell'} — it will be killed`;
    case 'unknown':
      return `what runs there is unknown (${job.why}): any job there will be killed`;
    case 'finished':
      return `its last job ended (status ${job.status})`;
    case 'killed':
      return 'its last job was killed';
    default:
      return undefined; // none, or not running: nothing to say
  }
}

export function describeTarget(t: Target): string[] {
  const i = t.instance;
  const job = jobLine(t.job);
  const back =
    t.into === undefined
      ? `results are NOT brought back (${t.notBack ?? 'not asked'})`
      : i.state === 'stopped'
        ? `it is stopped: it will be started to bring its results back into ${t.into}, then terminated`
        : `results will be synced back into ${t.into}, then it is terminated`;
  return [`  ${i.tags.Name ?? ''} ${i.id} (${i.state}, ${i.type})`, ...(job ? [`    ${job}`] : []), `    ${back}`];
}
