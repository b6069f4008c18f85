/**
 * The management verbs, which come first on the command line (`ssh-ec2 down --yes`):
 *   ls | status        this user's ssh-ec2 instances: directory, state, type, uptime, job, limits
 *   logs               follow this directory's job log without attaching
 *   pull               sync back now; the instance is left as it was (started only to pull: stopped again)
 *   down [NAME|--all]  sync back what can be, then terminate (asks first, unless --yes)
 * Each one finds instances only: nothing is ever launched by a verb.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { createInterface } from 'node:readline/promises';
import type { Cloud, InstanceInfo } from '../cloud/ec2.js';
import { hourlyPrice } from '../cloud/prices.js';
import { ExitCode, UsageError, UserError } from '../errors.js';
import { requirePrograms } from '../remote/exec.js';
import { jobCommand } from '../remote/on-instance.js';
import { resolvePaths } from '../state/paths.js';
import { connect } from '../session/connect.js';
import { localContext, localUser, newRun, originOf, type Run } from '../session/context.js';
import { loadCloud, runStory } from '../session/story.js';
import { jobStatus } from '../session/job.js';
import { LIMIT_TAGS } from '../session/limits.js';
import { TAG } from '../session/plan.js';
import { bringUp, LOGIN_TAG, NoInstanceError, provision } from '../session/provision.js';
import { findOwn, ownerOf, whose } from '../session/owner.js';
import { localPrograms, pinnedIn, type SessionDeps } from '../session/run-session.js';
import { requireRsync, rsyncSource } from '../remote/rsync-capabilities.js';

export const VERBS = ['ls', 'status', 'logs', 'pull', 'down'] as const;
export type Verb = (typeof VERBS)[number];

export const isVerb = (word: string | undefined): word is Verb => (VERBS as readonly string[]).includes(word ?? '');

export interface VerbDeps extends SessionDeps {
  stdout: NodeJS.WritableStream;
}

export async function runVerb(verb: Verb, deps: VerbDeps): Promise<number> {
  const args = deps.options.command;
  if (verb !== 'down' && args.length > 0)
    throw new UsageError(`ssh-ec2 ${verb} takes no arguments (got "${args.join(' ')}")`);
  if (verb === 'down' && (args.length > 1 || (args.length === 1 && deps.options.all)))
    throw new UsageError('ssh-ec2 down takes one instance name, or --all');
  // ls asks each instance about its job over ssh but answers without (a "?"): no need to refuse.
  if (verb !== 'ls' && verb !== 'status') await requirePrograms(localPrograms(deps.options));
  switch (verb) {
    case 'ls':
    case 'status':
      return list(deps);
    case 'logs':
      return logs(deps);
    case 'pull':
      return pull(deps);
    case 'down':
      return down(deps, args[0]);
  }
}

/** This directory's instance, started if stopped (nothing launched), connected. */
async function reachOwn(state: Run, signal: AbortSignal): Promise<void> {
  const got = await provision({
    options: state.options,
    plan: state.plan,
    cloud: state.cloud!,
    log: state.log,
    lockPath: state.paths.lock(state.plan.projectId),
    signal,
    mayLaunch: false,
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
  await connect(state, got, signal);
  state.facts.ran = true; // whatever is there may be the user's
}

async function pull(deps: VerbDeps): Promise<number> {
  const state = localContext(deps, deps.cwd);
  // An rsync that cannot bring files back is said before a stopped instance is started for nothing.
  if (deps.options.rsync) await requireRsync(rsyncSource(state), ['back']);
  return runStory(deps, state, async (s, signal) => {
    await reachOwn(s, signal);
    s.facts.finalState = s.facts.origin === 'started' ? 'stop' : 'leave';
  });
}

async function logs(deps: VerbDeps): Promise<number> {
  const state = localContext(deps, deps.cwd);
  return runStory(deps, state, async (s) => {
    const all = (await findOwn({ cloud: s.cloud!, plan: s.plan, log: s.log, pinned: pinnedIn(s.paths) })).instances;
    const found = all.find((i) => i.state === 'running' || i.state === 'pending');
    s.facts.leftAsItIs = 'logs';
    if (!found) {
      const any = all[0];
      if (!any) throw new NoInstanceError('no job log to show', s.plan.projectDir);
      throw new UserError(
        `${any.id} is ${any.state}: its job log is on its disk`,
        ExitCode.nothingThere,
        'ssh-ec2 --attach restarts it and brings the results back, the log (ssh-ec2-job.log) included.',
      );
    }
    const instance = await bringUp({ cloud: s.cloud!, log: s.log }, found);
    s.facts.instance = instance;
    const conn = await connect(s, {
      instance,
      launched: false,
      started: false,
      user: s.options.user ?? instance.tags[LOGIN_TAG] ?? 'ubuntu',
    });
    const job = await jobStatus(conn, s.plan.projectId);
    if (job.state === 'none')
      throw new UserError(
        `no job on ${instance.id} for this directory`,
        ExitCode.nothingThere,
        'Start one with ssh-ec2 --detach CMD.',
      );
    const follow = conn.attach(jobCommand('follow', s.plan.projectId), { tty: false });
    s.kill = follow.kill;
    s.facts.exitStatus =
      (await follow.done).exitCode === ExitCode.connectionLost ? ExitCode.connectionLost : ExitCode.ok;
  });
}

/** This caller's instances (any host), newest first; those tagged by ssh-ec2 0.1 as owner.ts allows. */
async function mine(deps: VerbDeps, cloud: Cloud): Promise<InstanceInfo[]> {
  const owner = await ownerOf(cloud, deps.log);
  const local = localUser(deps.env);
  const found = await cloud.findInstances({}, undefined, [
    { Name: `tag:${TAG.user}`, Values: [...new Set([owner, local])] },
  ]);
  const w = whose(found, { owner, localUser: local, pinned: pinnedIn(resolvePaths(deps.env)) });
  return [...w.own, ...w.adopt]
    .filter((i) => i.tags[TAG.project] !== undefined)
    .sort((a, b) => (b.launchTime?.getTime() ?? 0) - (a.launchTime?.getTime() ?? 0));
}

async function list(deps: VerbDeps): Promise<number> {
  const cloud = await loadCloud(deps);
  const instances = await mine(deps, cloud);
  if (instances.length === 0) {
    deps.log.info('no ssh-ec2 instances (running or stopped) for you in this region');
    return ExitCode.ok;
  }
  const jobs = await Promise.all(instances.map((i) => liveJob(deps, cloud, i)));
  const rows = instances.map((i, n) => {
    const deadline = i.tags[LIMIT_TAGS.deadline];
    const price = hourlyPrice(cloud.region, i.type);
    return [
      i.tags.Name ?? i.id,
      i.id,
      i.state,
      i.type + (price !== undefined && i.state === 'running' ? ` ($${price.toFixed(2)}/h)` : ''),
      i.state === 'running' && i.launchTime ? since(i.launchTime) : '-',
      jobs[n]!,
      `idle ${i.tags[LIMIT_TAGS.idleTimeout] ?? '-'}, max ${i.tags[LIMIT_TAGS.maxTime] ?? '-'}${deadline && deadline !== 'none' ? ` (until ${deadline})` : ''}`,
      `${i.tags[TAG.host] === hostname() ? '' : `${i.tags[TAG.host] ?? '?'}:`}${i.tags[TAG.dir] ?? '?'}`,
    ];
  });
  deps.stdout.write(table([['NAME', 'ID', 'STATE', 'TYPE', 'UP', 'JOB', 'LIMITS', 'DIRECTORY'], ...rows]));
  return ExitCode.ok;
}

/** `ls` does not wait for an instance whose ssh is not up (yet): its job shows as "?". */
const LS_SSH_TIMEOUT_MS = 15_000;

/**
 * The job of a running instance, asked over ssh; "?" when it cannot be asked. Only an instance
 * whose host key is pinned here is asked: ls does not wait for the console to check a new key, and
 * a key it pinned unchecked would be trusted by every later run.
 */
async function liveJob(deps: VerbDeps, cloud: Cloud, i: InstanceInfo): Promise<string> {
  if (i.state !== 'running' || !i.tags[TAG.project]) return '-';
  if (!pinnedIn(resolvePaths(deps.env))(i.id)) return '?';
  const state = newRun(
    localContext({ ...deps, log: { ...deps.log, info: () => {}, warn: () => {} } }, deps.cwd),
    cloud,
  );
  try {
    const conn = await connect(
      state,
      { instance: i, launched: false, started: false, user: deps.options.user ?? i.tags[LOGIN_TAG] ?? 'ubuntu' },
      undefined,
      { timeoutMs: LS_SSH_TIMEOUT_MS, letIn: false, hostKeyWaitMs: 0 },
    );
    const job = await jobStatus(conn, i.tags[TAG.project]);
    await conn.close({ keep: true });
    switch (job.state) {
      case 'running':
        return `running ${since(new Date(job.started * 1000))}`;
      case 'finished':
        return `ended (${job.status})`;
      case 'killed':
        return 'killed';
      default:
        return 'none';
    }
  } catch {
    await state.conn?.close({ keep: true });
    return '?';
  }
}

async function down(deps: VerbDeps, name: string | undefined): Promise<number> {
  const own = localContext(deps, deps.cwd);
  const cloud = await loadCloud(deps);
  let targets: InstanceInfo[];
  if (deps.options.all || name) {
    targets = (await mine(deps, cloud)).filter((i) => deps.options.all || i.tags.Name === name || i.id === name);
    if (targets.length === 0)
      throw new UserError(
        name ? `no ssh-ec2 instance of yours named ${name}` : 'no ssh-ec2 instance of yours to end',
        ExitCode.nothingThere,
        'ssh-ec2 ls lists them.',
      );
  } else {
    targets = (await findOwn({ cloud, plan: own.plan, log: deps.log, pinned: pinnedIn(own.paths) })).instances;
    if (targets.length === 0) throw new NoInstanceError('nothing to end', own.plan.projectDir);
  }
  const here = (i: InstanceInfo) => i.tags[TAG.host] === hostname() && existsSync(i.tags[TAG.dir] ?? '\0');
  // As for pull: an rsync that cannot bring files back is said before a stopped instance is started for nothing.
  if (deps.options.rsync && targets.some(here)) await requireRsync(rsyncSource(own), ['back']);
  const lines = targets.map(
    (i) =>
      `  ${i.tags.Name ?? ''} ${i.id} (${i.state}, ${i.type}) ${here(i) ? `results synced back into ${i.tags[TAG.dir]}` : 'its directory is not on this machine: results are NOT brought back'}`,
  );
  if (!deps.options.yes && !(await confirm(deps, `Terminate ${targets.length} instance(s)?\n${lines.join('\n')}\n`))) {
    deps.log.info('nothing done');
    return ExitCode.ok;
  }
  let status: number = ExitCode.ok;
  for (const i of targets) {
    const rsync = deps.options.rsync && here(i);
    const options = { ...deps.options, rsync, remoteDir: i.tags[TAG.remoteDir] ?? deps.options.remoteDir };
    const state = localContext({ ...deps, options }, rsync ? (i.tags[TAG.dir] ?? deps.cwd) : deps.cwd);
    const start = { cloud, endJobs: true, facts: { instance: i, finalState: 'terminate' as const } };
    const r = await runStory(
      { ...deps, options },
      state,
      async (s, signal) => {
        if (!rsync) return; // nothing to bring back: terminated as it is
        const instance = await bringUp({ cloud: s.cloud, log: s.log, signal, options }, i);
        s.facts.instance = instance;
        await connect(
          s,
          { instance, launched: false, started: false, user: options.user ?? i.tags[LOGIN_TAG] ?? 'ubuntu' },
          signal,
        );
        s.facts.ran = true;
      },
      start,
    ).catch((err: unknown) => {
      deps.log.error(`${i.id}: ${(err as Error).message}`);
      return err instanceof UserError ? err.exitCode : ExitCode.internal;
    });
    if (r !== ExitCode.ok) status = r;
  }
  await removeSecurityGroups(deps, cloud);
  return status;
}

/** ssh-ec2's security groups go with the last instance that used them. */
async function removeSecurityGroups(deps: VerbDeps, cloud: Cloud): Promise<void> {
  try {
    const { deleted, inUse } = await cloud.removeUnusedSecurityGroups();
    if (deleted > 0) deps.log.info(`removed ${deleted} unused ssh-ec2 security group(s)`);
    if (inUse > 0)
      deps.log.detail(
        `${inUse} ssh-ec2 security group(s) still in use (instances running, stopped or shutting down); a later ssh-ec2 down removes them`,
      );
  } catch (err) {
    deps.log.warn(`could not remove the unused security group: ${(err as Error).message}`);
  }
}

async function confirm(deps: VerbDeps, question: string): Promise<boolean> {
  if (!deps.stdinIsTTY)
    throw new UsageError(
      'ssh-ec2 down asks for confirmation, but stdin is not a terminal',
      'Add --yes to terminate without asking.',
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question}[y/N] `)).trim());
  } finally {
    rl.close();
  }
}

function since(d: Date): string {
  const minutes = Math.max(0, Math.round((Date.now() - d.getTime()) / 60_000));
  return minutes < 60 ? `${minutes}m` : `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return (
    rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n') +
    '\n'
  );
}
