/**
 * Reaching this directory's existing instance, as logs, pull and down do (and --attach, through
 * provision's `mayLaunch: false`): found by the directory's tags and the caller's identity
 * (owner.ts), never launched — none is a NoInstanceError (exit 7) saying what could not be done.
 */
import type { InstanceInfo } from '../cloud/ec2.js';
import { loginUser } from '../options.js';
import type { Connection } from '../remote/connection.js';
import { connect } from '../session/connect.js';
import { originOf, type Run, type RunContext } from '../session/context.js';
import { findOwn } from '../session/owner.js';
import { NoInstanceError, type NoInstanceVerb } from '../session/no-instance.js';
import { provision } from '../session/provision.js';
import { mountDataVolume } from '../session/data-volume.js';
import { pinnedIn } from '../session/run-session.js';

/** This directory's instances, in any state. */
export async function findExisting(state: RunContext, verb: NoInstanceVerb): Promise<InstanceInfo[]> {
  const { cloud, plan, log, paths } = state;
  const { instances } = await findOwn({ cloud, plan, log, pinned: pinnedIn(paths) });
  if (instances.length === 0) throw new NoInstanceError(verb, plan.projectDir, cloud.region);
  return instances;
}

/** This directory's instance, started if stopped (nothing launched), connected. */
export async function reachExisting(state: Run, signal: AbortSignal, verb: NoInstanceVerb): Promise<Connection> {
  const got = await provision({
    options: state.options,
    plan: state.plan,
    cloud: state.cloud,
    log: state.log,
    lockPath: state.paths.lock(state.plan.projectId),
    signal,
    mayLaunch: false,
    noInstance: verb,
    pinned: pinnedIn(state.paths),
    // Known to the finish as soon as it may be running: one found stopped (its start may have
    // succeeded though it failed) is stopped again, one found running is left so.
    onInstance: (i) => {
      state.facts.instance = i;
      state.facts.finalState = i.state === 'running' || i.state === 'pending' ? 'leave' : 'stop';
    },
  });
  state.facts.instance = got.instance;
  state.facts.origin = originOf(got);
  const conn = await connect(state, got, signal);
  state.facts.ran = true; // whatever is there may be the user's
  // Mounted again after a start (a mount does not outlive a stop): push may be sending into it.
  if (got.volume)
    await mountDataVolume(conn, got.volume, { ...state.options, remoteDir: state.plan.remoteDir, log: state.log });
  return conn;
}

/** Connects to a running instance a verb found itself: as --user, or the user its launch recorded. */
export function connectFound(
  state: Run,
  instance: InstanceInfo,
  signal?: AbortSignal,
  how?: Parameters<typeof connect>[3],
): Promise<Connection> {
  const user = loginUser(state.options, instance.tags);
  return connect(state, { instance, launched: false, started: false, user }, signal, how);
}
