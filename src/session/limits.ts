/**
 * The time limits the on-instance agent enforces, and the tags that show them (`ssh-ec2 ls`, and
 * any reaper reading tags). A limit given on the command line (or environment, .env) wins;
 * otherwise the one recorded on the instance by an earlier run; otherwise the default.
 */
import type { InstanceInfo } from '../cloud/ec2.js';
import { describePrice } from '../cloud/prices.js';
import { OPTION_SPECS, type Options } from '../options.js';
import type { AgentSettings, BootLimitSettings } from '../remote/on-instance.js';
import { parseDuration } from '../time.js';
import { budgetTimeWithGrace, maxTimeWithBudget } from './budget.js';

export const LIMIT_TAGS = {
  idleTimeout: 'ssh-ec2:idle-timeout',
  maxTime: 'ssh-ec2:max-time',
  deadline: 'ssh-ec2:deadline',
  jobGrace: 'ssh-ec2:job-grace',
} as const;

export const DEFAULT_IDLE_TIMEOUT_MS = OPTION_SPECS.idleTimeout.fallback;
export const DEFAULT_JOB_GRACE_MS = OPTION_SPECS.jobGrace.fallback;

export interface Limits {
  idleTimeoutMs: number;
  /** The instance's own max time (options, tag, default): what its tag says, and later boots count. */
  maxTimeMs: number;
  /** --budget's time (budget.ts), counted from this session's start only: never the instance's. */
  budgetMs?: number;
  jobGraceMs: number;
  /** When the agent stops the instance whatever runs; undefined = no hard limit. */
  deadline?: Date;
}

/**
 * `fresh`: launched or started by this run, so max-time counts from now; otherwise from the
 * instance's launch time (EC2's LaunchTime is the last start).
 */
export function resolveLimits(
  o: Pick<Options, 'idleTimeout' | 'maxTime' | 'jobGrace'> & { budget?: number },
  instance: Pick<InstanceInfo, 'tags' | 'launchTime'>,
  fresh: boolean,
  now = new Date(),
  /** The instance's hourly price: --budget becomes a max time (budget.ts). */
  hourly?: number,
): Limits {
  const pick = (given: number | undefined, tag: string, fallback: number) =>
    given ?? parseTagDuration(instance.tags[tag]) ?? fallback;
  const maxTimeMs = pick(o.maxTime, LIMIT_TAGS.maxTime, OPTION_SPECS.maxTime.fallback);
  // The budget is this session's: counted from now, not from an earlier session's launch or start
  // (a reused instance would be stopped mid-command), and not written into the max-time tag that
  // later runs without --budget inherit.
  const budgetMs = budgetTimeWithGrace(o.budget, hourly);
  const since = fresh ? now : (instance.launchTime ?? now);
  const ends = [
    ...(maxTimeMs > 0 ? [since.getTime() + maxTimeMs] : []),
    ...(budgetMs !== undefined ? [now.getTime() + budgetMs] : []),
  ];
  return {
    idleTimeoutMs: pick(o.idleTimeout, LIMIT_TAGS.idleTimeout, DEFAULT_IDLE_TIMEOUT_MS),
    maxTimeMs,
    ...(budgetMs !== undefined && { budgetMs }),
    jobGraceMs: pick(o.jobGrace, LIMIT_TAGS.jobGrace, DEFAULT_JOB_GRACE_MS),
    deadline: ends.length > 0 ? new Date(Math.min(...ends)) : undefined,
  };
}

export function limitTags(l: Limits): Record<string, string> {
  return {
    [LIMIT_TAGS.idleTimeout]: formatDuration(l.idleTimeoutMs),
    [LIMIT_TAGS.maxTime]: formatDuration(l.maxTimeMs),
    [LIMIT_TAGS.jobGrace]: formatDuration(l.jobGraceMs),
    [LIMIT_TAGS.deadline]: l.deadline ? l.deadline.toISOString().replace(/\.\d+Z$/, 'Z') : 'none',
  };
}

/** Nothing will stop this instance by itself: its tags say the idle timeout and the max time are off. */
export function withoutLimit(tags: Record<string, string>): boolean {
  return tags[LIMIT_TAGS.idleTimeout] === 'off' && tags[LIMIT_TAGS.maxTime] === 'off';
}

/** The tags that differ from what the instance has (nothing to write most of the time). */
export function changedTags(instance: InstanceInfo, tags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([k, v]) => instance.tags[k] !== v));
}

export function agentSettings(
  o: Pick<Options, 'imdsUrl' | 'poweroffCommand'> & Partial<Pick<Options, 'onInterrupt'>>,
  instanceId: string,
  l: Limits,
  projectDir?: string,
): AgentSettings {
  return {
    instanceId,
    ...onInstance(o, l),
    ...(o.onInterrupt && { onInterrupt: o.onInterrupt }),
    ...(projectDir && { projectDir }),
    deadline: l.deadline ? Math.floor(l.deadline.getTime() / 1000) : 0,
    jobGrace: Math.round(l.jobGraceMs / 1000),
  };
}

/**
 * What the agent and the boot-time limit both get: the poweroff, and the limits in seconds. The
 * agent's MAX_TIME is what later boots count (its DEADLINE holds this session's budget); the
 * boot-time limit of a launch (`boot`) counts the budget too: that first boot is this session's.
 */
function onInstance(o: Pick<Options, 'imdsUrl' | 'poweroffCommand'>, l: Limits, boot = false) {
  return {
    imdsUrl: o.imdsUrl,
    poweroffCommand: o.poweroffCommand,
    idleTimeout: Math.round(l.idleTimeoutMs / 1000),
    maxTime: Math.round((boot ? maxTimeWithBudget(l.maxTimeMs, l.budgetMs) : l.maxTimeMs) / 1000),
  };
}

/** The limits of an instance about to be launched: the run's own (options, else defaults). */
export const launchLimits = (
  o: Pick<Options, 'idleTimeout' | 'maxTime' | 'jobGrace'> & { budget?: number },
  now = new Date(),
  hourly?: number,
): Limits => resolveLimits(o, { tags: {} }, true, now, hourly);

/** The boot-time limit's settings (user data): the same limits, counted from each boot. */
export function bootLimitSettings(
  o: Pick<Options, 'imdsUrl' | 'poweroffCommand'>,
  user: string,
  l: Limits,
): BootLimitSettings {
  return { user, ...onInstance(o, l, true) };
}

/** 5400000 → "1h30m"; 0 → "off". */
export function formatDuration(ms: number): string {
  if (ms <= 0) return 'off';
  let s = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.join('');
}

function parseTagDuration(v: string | undefined): number | undefined {
  return v === 'off' ? 0 : v === undefined ? undefined : parseDuration(v);
}

/**
 * What an instance left under a detached job or shell costs and what will stop it, for the line
 * that leaves it (a `--detach`, a Ctrl-b d): "g4dn.xlarge, about $0.53/hour on demand. It stops
 * itself …", or that nothing will.
 */
export function leftRunningNote(
  region: string,
  type: string,
  l: Limits | undefined,
  what: 'job' | 'shell',
  now = new Date(),
): string {
  const stops: string[] = [];
  if (l && what === 'job') {
    if (l.jobGraceMs > 0) stops.push(`${formatDuration(l.jobGraceMs)} after the job ends with nobody attached`);
    else if (l.idleTimeoutMs > 0) stops.push(`${formatDuration(l.idleTimeoutMs)} after the job ends with nobody there`);
  } else if (l && l.idleTimeoutMs > 0) {
    stops.push(`after ${formatDuration(l.idleTimeoutMs)} with no terminal attached and nothing running in the shell`);
  }
  if (l?.deadline) stops.push(`at ${localTime(l.deadline, now)} whatever runs (--max-time)`);
  const price = `${type}, ${describePrice(region, type)}.`;
  return stops.length > 0
    ? `${price} It stops itself ${stops.join(', or ')}.`
    : `${price} No limit stops it (--idle-timeout and --max-time off): end it with ssh-ec2 down.`;
}

/** "14:05", or "Dec 1 14:05" when not today: local time, as the user reads a clock. */
function localTime(d: Date, now: Date): string {
  const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  return d.toDateString() === now.toDateString()
    ? hm
    : `${d.toLocaleString('en-US', { month: 'short', day: 'numeric' })} ${hm}`;
}
