/**
 * What the next run in a directory says of a spot interruption: the record an interrupted session
 * left (`<state>/interruptions/<projectId>.json`: which instance, what EC2 was to do and when,
 * whether the results were already home), else what the instance itself tells — the agent's file
 * on a stopped instance's disk, or its StateReason (Server.SpotInstanceShutdown /
 * Server.SpotInstanceTermination). Said once: the record is removed when read, the file by the
 * agent's exchange that read it.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstanceInfo } from '../cloud/ec2.js';
import type { Paths } from '../state/paths.js';
import type { Logger } from '../ui/logger.js';
import { localTime } from '../ui/words.js';

export interface Interruption {
  instanceId: string;
  /** What EC2 was to do: stop, terminate (or hibernate). */
  action: string;
  /** When, as the metadata service said it (ISO 8601). */
  time: string;
  /** The results had come home by the three-way rules after the notice. */
  resultsHome: boolean;
}

const recordPath = (paths: Paths, projectId: string) => join(paths.state, 'interruptions', `${projectId}.json`);

export function writeInterruptionRecord(paths: Paths, projectId: string, r: Interruption): void {
  const path = recordPath(paths, projectId);
  try {
    mkdirSync(join(paths.state, 'interruptions'), { recursive: true, mode: 0o700 });
    writeFileSync(`${path}.tmp`, `${JSON.stringify(r)}\n`, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  } catch {
    // Only words for the next run: a full disk must not end this one.
  }
}

/** The record an interrupted run here left, removed as it is read. */
export function takeInterruptionRecord(paths: Paths, projectId: string): Interruption | undefined {
  const path = recordPath(paths, projectId);
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as Interruption;
    rmSync(path, { force: true });
    return typeof r.instanceId === 'string' && typeof r.action === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The StateReason codes of an instance EC2 took back (the SDK gives us StateReason.Message, which starts with it). */
const SPOT_REASONS: Record<string, string> = {
  'Server.SpotInstanceShutdown': 'stop',
  'Server.SpotInstanceTermination': 'terminate',
};

/** What EC2 did to a spot instance, from its StateReason; nothing for any other reason. */
export function spotActionOf(stateReason: string | undefined): string | undefined {
  const code = stateReason?.split(':')[0]?.trim();
  return code ? SPOT_REASONS[code] : undefined;
}

const when = (time: string): string => {
  const d = new Date(time);
  return Number.isNaN(d.getTime()) ? '' : ` at ${localTime(d)}`;
};

/**
 * The line of a run that finds an interrupted run's record: what happened, and what this run does
 * about it (the provision that follows starts the stopped instance, or launches a new one).
 */
export function recordLine(r: Interruption): string {
  const what = `the last run's instance ${r.instanceId} was interrupted by EC2 (spot)${when(r.time)}`;
  if (r.action === 'stop' || r.action === 'hibernate') return `${what}: it was stopped, resuming on its disk`;
  return `${what}: it was terminated, so this run starts on a new instance; ${
    r.resultsHome
      ? 'its results were already home'
      : 'its results could not all be brought home before (what came back is here)'
  }`;
}

/** At the start of a run: says what the last run's record tells, and returns it (its instance is not said again). */
export function tellLastInterruption(log: Logger, paths: Paths, projectId: string): Interruption | undefined {
  const r = takeInterruptionRecord(paths, projectId);
  if (r) log.warn(recordLine(r));
  return r;
}

/**
 * Once the agent's exchange is done on an instance this run found stopped or running: what the
 * instance tells of an interruption nobody here saw (a detached job, a closed laptop) — the agent's
 * file, else the StateReason it had before this run started it.
 */
export function tellInterruptionFound(
  log: Logger,
  instance: InstanceInfo,
  found: { action: string; time: string } | undefined,
  told: Interruption | undefined,
): void {
  if (told?.instanceId === instance.id) return;
  const action = found?.action ?? spotActionOf(instance.stateReason);
  if (!action) return;
  log.warn(
    `the last run's instance ${instance.id} was interrupted by EC2 (spot)${found ? when(found.time) : ''}: ` +
      `it was ${action === 'terminate' ? 'terminated' : 'stopped'}, resuming on its disk`,
  );
}
