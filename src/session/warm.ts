/**
 * The warm start: this directory's instance is known (an earlier run here connected to it, checked
 * its host key and left it running) and its ssh master is still open, so it is running. It is
 * asked through that connection which instance it is (its metadata service, as the agent asks
 * before a poweroff), and the run goes on with what the earlier run learnt: no AWS call, no SDK
 * loaded (the cloud port is lazy: cloud/lazy.ts), unless the final state or a limit needs one.
 * Anything that does not match — another AWS context, a pinned key that changed, no master, another
 * instance answering — falls back to the API path (provision.ts), said with -v. A machine that
 * answers under another id has its master closed first, so the API path cannot reuse it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { lazyCloud } from '../cloud/lazy.js';
import type { Cloud, InstanceInfo } from '../cloud/port.js';
import { loginUser, type Options } from '../options.js';
import { Connection } from '../remote/connection.js';
import { run as exec, runAllowFailure } from '../remote/exec.js';
import { STATE_DIR } from '../remote/instance-contract.js';
import { masterControlArgv, remoteArgv } from '../remote/ssh.js';
import type { Paths } from '../state/paths.js';
import { sshLog } from '../state/leftovers.js';
import { sshTarget } from './connect.js';
import type { LocalContext, Run } from './context.js';
import { limitTags } from './limits.js';
import type { Provisioned } from './provision.js';
import { typesToStart } from './start-stopped.js';
import { loadCloud, type StoryDeps } from './story.js';

/** What a run that connected to this directory's instance learnt, for the next one (JSON). */
export interface KnownInstance {
  instance: Omit<InstanceInfo, 'launchTime'> & { launchTime?: string };
  user: string;
  region: string;
  /** Which AWS account and region the run worked in (awsContext): another one falls back. */
  context: string;
  /** The pinned host key file's contents when it was checked (sha256). */
  pin: string;
}

/** How long the instance has to say which it is over the master (a live one answers in a round trip). */
const ASK_TIMEOUT_MS = 10_000;

export const knownFile = (paths: Paths, projectId: string): string => join(paths.state, 'warm', `${projectId}.json`);

/** The instance known here, if it was learnt in this same AWS context; else why not. */
export function readKnown(
  paths: Paths,
  projectId: string,
  context: string,
): { known: KnownInstance } | { none: string } {
  let known: KnownInstance;
  try {
    known = JSON.parse(readFileSync(knownFile(paths, projectId), 'utf8')) as KnownInstance;
  } catch {
    return { none: 'no instance known here' };
  }
  if (!wellFormed(known)) return { none: 'the record of the instance known here is unreadable' };
  if (known.context !== context) return { none: `the AWS settings changed since ${known.instance.id} was used here` };
  return { known };
}

/** A record as rememberInstance writes it (another version's, or a hand-edited one, is not used). */
function wellFormed(k: unknown): k is KnownInstance {
  const r = k as Partial<KnownInstance> | null;
  const i = r?.instance as Partial<InstanceInfo> | undefined;
  return (
    typeof r?.context === 'string' &&
    typeof r.pin === 'string' &&
    typeof r.user === 'string' &&
    typeof r.region === 'string' &&
    typeof i?.id === 'string' &&
    typeof i.type === 'string' &&
    typeof i.tags === 'object' &&
    i.tags !== null
  );
}

/**
 * Which AWS account and region a run works in, as far as this machine can tell without asking:
 * the region asked for, the environment that picks the credentials and endpoint, and the AWS
 * config and credentials files as they are (a change falls back once). Hashed: no key is stored.
 */
export function awsContext(options: Pick<Options, 'region'>, env: Readonly<Record<string, string | undefined>>) {
  const home = env.HOME ?? '';
  const files = [env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config')];
  files.push(env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials'));
  const stamp = (f: string) => {
    try {
      const s = statSync(f);
      return `${f}:${s.size}:${s.mtimeMs}`;
    } catch {
      return `${f}:none`;
    }
  };
  const vars = Object.entries(env).filter(([k]) => k.startsWith('AWS_') && k !== 'AWS_SECRET_ACCESS_KEY');
  const key = JSON.stringify([options.region ?? null, vars.sort(), files.map(stamp)]);
  return createHash('sha256').update(key).digest('hex');
}

/** What a session learns before it starts: this directory's known instance, or why there is none. */
export interface Warmth {
  context: string;
  known?: KnownInstance;
  none?: string;
}

export function warmth(local: LocalContext, env: Readonly<Record<string, string | undefined>>): Warmth {
  const context = awsContext(local.options, env);
  return { context, ...readKnown(local.paths, local.plan.projectId, context) };
}

/** With an instance known: the cloud port, loaded at its first call (said with -v), in the region learnt. */
export function warmCloud(w: Warmth, deps: StoryDeps): Cloud | undefined {
  if (!w.known) return undefined;
  const region = w.known.region;
  return lazyCloud(
    region,
    () => loadCloud({ ...deps, options: { region } }, { askCaller: false }),
    (first) => deps.log.detail(`loading the AWS SDK (first call: ${first})`),
  );
}

/**
 * The instance, verified over its open master, or undefined (the reason said with -v): then the
 * API path provisions. On success the run knows its instance as provision would have told it.
 */
export async function warmInstance(run: Run, w: Warmth): Promise<Provisioned | undefined> {
  const { log } = run;
  const { known } = w;
  if (!known) {
    log.detail(`no warm start: ${w.none ?? 'no instance known here'}; asking AWS`);
    return undefined;
  }
  const why = w.none ?? (await check(run, known));
  if (why) {
    log.detail(`no warm start: ${why}; asking AWS`);
    return undefined;
  }
  const { launchTime, ...rest } = known.instance;
  const instance: InstanceInfo = {
    ...rest,
    state: 'running',
    launchTime: launchTime ? new Date(launchTime) : undefined,
  };
  run.facts.instance = instance;
  run.facts.origin = 'found';
  run.journal?.note({ step: 'connecting', instanceId: instance.id, launched: false });
  log.detail(`warm start: ${instance.id} answered over the open connection as itself, its host key as pinned`);
  log.info(`using instance ${instance.id} (${instance.type}, running)`);
  return { instance, launched: false, started: false, user: known.user, warm: true };
}

/** Why the known instance cannot be used without asking AWS; undefined: it can. */
async function check(run: Run, known: KnownInstance): Promise<string | undefined> {
  const { options, paths, log } = run;
  const id = known.instance.id;
  const user = loginUser(options, known.instance.tags);
  if (user !== known.user) return `${id}'s login user is ${known.user}, not ${user}`;
  const asked = typesToStart(options, { ...known.instance, launchTime: undefined });
  if (!asked.includes(known.instance.type))
    return `--instance-type ${asked.join(',')} asked, ${id} is ${known.instance.type}`;
  const host = known.instance.publicIp ?? known.instance.privateIp ?? '';
  const keys = { identityFile: options.identity, refresh: async () => {}, dispose: () => {} };
  const conn = new Connection(sshTarget(id, host, user, keys, options, paths), keys, log, sshLog(paths, id));
  const pin = pinOf(paths, id);
  if (!pin) return `no host key pinned for ${id}`;
  if (!(await conn.alive())) return `no open ssh connection to ${id}`;
  // The master was let in under the key pinned then: another pin now must be checked anew.
  if (pin !== known.pin) return notUsed(run, conn, `the host key pinned for ${id} changed since it was checked`);
  const ask = `IMDS_URL='${options.imdsUrl.replaceAll("'", '')}'; . "$HOME/${STATE_DIR}/poweroff.sh" && imds_instance_id`;
  let answer: string;
  try {
    answer = (await exec(remoteArgv(conn.target, ask), { timeoutMs: ASK_TIMEOUT_MS })).stdout.trim();
  } catch (err) {
    // A master that does not answer (a laptop woken from sleep: its TCP connection is gone) would
    // still pass `-O check`: the API path must open a new one, not hang on it.
    const what = (err as Error).message.split('\n')[0];
    return notUsed(run, conn, `${id} did not say which instance it is over the open connection (${what})`);
  }
  if (answer === id) return undefined;
  return notUsed(run, conn, `the machine behind the open connection to ${id} says it is ${answer || 'nothing'}`);
}

/**
 * A master that cannot be trusted any more stops taking new sessions (sessions under way, maybe
 * another terminal's, go on), so that nothing of this run, nor the API path after it, goes through
 * it; the known instance is forgotten.
 */
async function notUsed(run: Run, conn: Connection, why: string): Promise<string> {
  await runAllowFailure(masterControlArgv(conn.target, 'stop'), { timeoutMs: 10_000 });
  forgetKnown(run.paths, run.plan.projectId);
  return `${why}: that connection is no longer used`;
}

function pinOf(paths: Paths, id: string): string | undefined {
  try {
    return createHash('sha256')
      .update(readFileSync(paths.knownHosts(id)))
      .digest('hex');
  } catch {
    return undefined;
  }
}

/**
 * Remembers this directory's instance once the run has connected to it, checked its host key and
 * set up its agent: what it is (with the limit tags just written), where, as whom, in which AWS
 * context. A stop or terminate forgets it (forgetKnown); a master gone makes it unused anyway.
 */
export function rememberInstance(run: Run, got: Provisioned, context: string): void {
  const { paths, plan, facts } = run;
  const pin = pinOf(paths, got.instance.id);
  if (!pin || !facts.limits) return;
  const tags = { ...got.instance.tags, ...limitTags(facts.limits) };
  const known: KnownInstance = {
    instance: { ...got.instance, tags, launchTime: got.instance.launchTime?.toISOString() },
    user: got.user,
    region: run.cloud.region,
    context,
    pin,
  };
  const file = knownFile(paths, plan.projectId);
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(`${file}.${process.pid}.tmp`, `${JSON.stringify(known)}\n`, { mode: 0o600 });
    renameSync(`${file}.${process.pid}.tmp`, file);
  } catch {
    // Only a shortcut: the next run asks AWS.
  }
}

/** Forgets this directory's known instance. Never throws: it is only a shortcut. */
export function forgetKnown(paths: Paths, projectId: string): void {
  try {
    rmSync(knownFile(paths, projectId), { force: true });
  } catch {
    // an unwritable state directory: the master's check still stands guard
  }
}

/**
 * An instance just stopped or terminated (by a session's finish, or `down` from anywhere): no run
 * may reach it warm while it shuts down — every directory's record naming it goes, and its master
 * is closed, whoever opened it (a master open when a run reused it is not that run's to close).
 * Never throws: the instance is already ended; failing here must not say otherwise.
 */
export async function forgetEnded(paths: Paths, instanceId: string): Promise<void> {
  const dir = join(paths.state, 'warm');
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    // none known
  }
  for (const name of names) {
    try {
      const k = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Partial<KnownInstance> | null;
      if (k?.instance?.id === instanceId) rmSync(join(dir, name), { force: true });
    } catch {
      // unreadable or gone: not used anyway
    }
  }
  const socket = paths.controlPath(instanceId);
  if (!existsSync(socket)) return;
  // Only the local socket is spoken to: no configuration, no network.
  const close = ['ssh', '-F', '/dev/null', '-o', `ControlPath=${socket}`, '-O', 'exit', 'ssh-ec2-master'];
  await runAllowFailure(close, { timeoutMs: 10_000 }).catch(() => {});
}
