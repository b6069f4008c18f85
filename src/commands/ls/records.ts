/**
 * ssh-ec2 ls --json: one record per instance and per other resource, with stable camelCase field
 * names (README: "Machine-readable output"). A field that does not apply is null, never missing,
 * so a script can rely on every key. A new field is added at the end; none is renamed.
 */
import { volumeMonthlyPrice } from '../../cloud/prices.js';
import { instanceHourly } from '../../session/session-cost.js';
import type { InstanceInfo, TaggedResource } from '../../cloud/port.js';
import { LIMIT_TAGS, withoutLimit } from '../../session/limits.js';
import { TAG } from '../../session/plan.js';
import { VOLUME_TAG } from '../../session/volume-tag.js';
import type { LiveJob } from '../live-job.js';

const HOURS_PER_MONTH = 730;

const iso = (d: Date | undefined) => d?.toISOString() ?? null;
const ageOf = (d: Date | undefined, now: Date) =>
  d ? Math.max(0, Math.round((now.getTime() - d.getTime()) / 1000)) : null;
const round = (n: number | undefined) => (n === undefined ? null : Math.round(n * 10_000) / 10_000);

/** Where it belongs, from its tags (the same for every kind). */
function owner(tags: Record<string, string>) {
  return { directory: tags[TAG.dir] ?? null, host: tags[TAG.host] ?? null, user: tags[TAG.user] ?? null };
}

export function instanceRecord(region: string, i: InstanceInfo, job: LiveJob, now = new Date()) {
  const running = i.state === 'running';
  // A spot instance's is the price it launched at (its tag), none if unknown: never the on-demand one.
  const hourly = instanceHourly(region, i);
  const disk = Number(i.tags[VOLUME_TAG]);
  const month = disk > 0 ? volumeMonthlyPrice(region, disk) : undefined;
  // Running: the type's price; stopped: its disk's, by the hour (what it costs while it waits).
  const perHour = running ? hourly : i.state === 'stopped' && month !== undefined ? month / HOURS_PER_MONTH : undefined;
  const upHours = running && i.launchTime ? (now.getTime() - i.launchTime.getTime()) / 3_600_000 : undefined;
  return {
    kind: 'instance' as const,
    instanceId: i.id,
    name: i.tags.Name ?? null,
    region,
    state: i.state,
    type: i.type,
    launchedAt: iso(i.launchTime),
    ageSeconds: ageOf(i.launchTime, now),
    stoppedAt: iso(i.stoppedAt),
    costPerHour: round(perHour),
    // Since the last start (EC2's LaunchTime), at its hourly price (spot: the one it launched at): an estimate.
    costSoFar: round(hourly !== undefined && upHours !== undefined ? hourly * upHours : undefined),
    ...owner(i.tags),
    remoteDir: i.tags[TAG.remoteDir] ?? null,
    job: jobRecord(job),
    limits: {
      idleTimeout: i.tags[LIMIT_TAGS.idleTimeout] ?? null,
      maxTime: i.tags[LIMIT_TAGS.maxTime] ?? null,
      deadline: i.tags[LIMIT_TAGS.deadline] ?? null,
      none: withoutLimit(i.tags),
    },
  };
}

function jobRecord(job: LiveJob) {
  switch (job.state) {
    case 'running':
      return { state: job.state, command: job.command ?? null, startedAt: job.started.toISOString(), status: null };
    case 'finished':
      return { state: job.state, command: null, startedAt: null, status: job.status };
    default:
      return { state: job.state, command: null, startedAt: null, status: null };
  }
}

export function resourceRecord(region: string, r: TaggedResource, now = new Date()) {
  const month = r.kind === 'volume' && r.sizeGiB ? volumeMonthlyPrice(region, r.sizeGiB) : undefined;
  return {
    kind: r.kind,
    id: r.id,
    name: r.name ?? r.tags.Name ?? null,
    region,
    state: r.state ?? null,
    createdAt: iso(r.createdAt),
    ageSeconds: ageOf(r.createdAt, now),
    sizeGiB: r.sizeGiB ?? null,
    attachedTo: r.attachedTo ?? null,
    costPerMonth: round(month),
    ...owner(r.tags),
  };
}

export type InstanceRecord = ReturnType<typeof instanceRecord>;
export type ResourceRecord = ReturnType<typeof resourceRecord>;
