/**
 * What ssh-ec2 keeps on the instance, under ~/.ssh-ec2: the agent (agent.sh, which stops the
 * instance when the work is done), the job wrapper (job.sh, tmux/screen jobs), the library both
 * source (lib.sh) and the agent's settings. Pure builders of the remote commands that use them;
 * the scripts themselves are POSIX sh in src/agent/, the names both sides rely on are in
 * instance-contract.ts.
 */
import { readFileSync } from 'node:fs';
import { packageFile } from '../package-files.js';
import {
  AGENT_CONF,
  BIN_DIR,
  INSTANCE_SCRIPTS,
  INTERRUPTION_FILE,
  JOBS_DIR,
  NOTIFY_CONF,
  POWEROFF_FILE,
  PROGRESS_COMMAND,
  RESULTS_CONF,
  STATE_DIR,
} from './instance-contract.js';
import { dockerShell, type DockerRun } from './docker.js';
import { shQuote } from './remote-command.js';
import { parseUsage, type Usage } from './usage.js';

export { JOB_RUNNING_STATUS, MUX_MISSING_STATUS } from './instance-contract.js';

const JOB = `sh ~/${STATE_DIR}/job.sh`;

// From the bundle or the sources alike: the scripts ship in src/agent (package.json "files").
const readScript = (name: string) => readFileSync(packageFile(`src/agent/${name}`), 'utf8');

let scripts: [string, string][] | undefined;
/** Each script's name and content, in INSTANCE_SCRIPTS order. */
function agentScripts(): [string, string][] {
  return (scripts ??= INSTANCE_SCRIPTS.map((name) => [name, readScript(name)]));
}

export interface AgentSettings {
  instanceId: string;
  imdsUrl: string;
  poweroffCommand: string;
  /** Seconds; 0 = never. */
  idleTimeout: number;
  /** Epoch seconds; 0 = none. */
  deadline: number;
  /** Seconds. */
  jobGrace: number;
  /** Seconds, 0 = none: what the boot-time limit of a later boot counts from that boot (DEADLINE is this one's). */
  maxTime: number;
  /**
   * --results: where results.sh uploads the project's new files (absent: nowhere); 'keep': as the
   * run before said (an --attach: the job's upload is the one it was started with).
   */
  results?: ResultsUpload | 'keep';
  /** --on-interrupt ('' = none), and the project directory (relative to home) it runs in. */
  onInterrupt?: string;
  projectDir?: string;
  /** notify.sh's settings (NOTIFY_CONF, session/notify.ts notifyConf); 'keep': as the run before wrote them. */
  notify?: string | 'keep';
}

/** What results.sh reads from the agent's settings (the keys are described at its top). */
export interface ResultsUpload {
  /** s3://bucket/prefix/<directory name>/ */
  url: string;
  /** The project directory, relative to the home directory. */
  dir: string;
  /** The S3 endpoint when not AWS's (SSH_EC2_RESULTS_ENDPOINT). */
  endpoint?: string;
  region: string;
}

/** A plain session's command with --results: mark the project's files, then upload what changed. */
export const RESULTS_COMMANDS = {
  mark: `sh ~/${STATE_DIR}/results.sh mark`,
  upload: `sh ~/${STATE_DIR}/results.sh upload session-end`,
};

export function agentConf(s: AgentSettings): string {
  const lines: [string, string | number][] = [
    ['INSTANCE_ID', s.instanceId],
    ['IMDS_URL', s.imdsUrl],
    ['POWEROFF', s.poweroffCommand],
    ['IDLE_TIMEOUT', s.idleTimeout],
    ['DEADLINE', s.deadline],
    ['JOB_GRACE', s.jobGrace],
    ['MAX_TIME', s.maxTime],
    ['ON_INTERRUPT', s.onInterrupt ?? ''],
    ['PROJECT_DIR', s.projectDir ?? ''],
  ];
  return lines.map(([k, v]) => `${k}=${shQuote(String(v))}\n`).join('');
}

/** results.sh's settings (the keys are described at its top): all empty without --results. */
export function resultsConf(r: ResultsUpload | undefined): string {
  const lines: [string, string][] = [
    ['RESULTS_URL', r?.url ?? ''],
    ['RESULTS_DIR', r?.dir ?? ''],
    ['RESULTS_ENDPOINT', r?.endpoint ?? ''],
    ['RESULTS_REGION', r?.region ?? ''],
  ];
  return lines.map(([k, v]) => `${k}=${shQuote(v)}\n`).join('');
}

/**
 * One script, fed to `sh -s` on the instance: installs or updates the agent, the job wrapper
 * and the libraries they source (each file replaced whole, libraries first), writes the agent's
 * settings, makes sure the agent runs, and prints (then forgets) why the agent last powered the
 * instance off, if it did. With `job`, in the same round trip: that job's state (a line `job …`,
 * parsed by parsePrepared) and whether its multiplexer is there (`no-mux`).
 */
export function prepareScript(settings: AgentSettings, job?: { id: string; mux: 'tmux' | 'screen' }): string {
  // Each writer its own new file ($$: this shell's pid), renamed over the old one whole: two runs
  // preparing the same instance at once (two terminals in one directory) must not share one.
  const file = (name: string, content: string) => {
    const eof = 'SSH_EC2_END_OF_FILE';
    if (content.split('\n').includes(eof)) throw new Error(`${name} contains ${eof}`);
    const next = `${name}.new.$$`;
    return `cat > ${next} <<'${eof}'\n${content}${content.endsWith('\n') ? '' : '\n'}${eof}\nif cmp -s ${next} ${name}; then rm -f ${next}; else mv -f ${next} ${name}; fi\n`;
  };
  return [
    'set -e',
    // One command a line: `set -e` does not stop at a failure inside an `a && b` list (a `jobs`
    // that cannot be made would leave the files written in the home directory).
    `mkdir -p ~/${STATE_DIR}/${JOBS_DIR}`,
    `chmod 700 ~/${STATE_DIR}`,
    `cd ~/${STATE_DIR}`,
    ...agentScripts().map(([name, content]) => file(name, content)),
    // A batch job's progress command, on its PATH (worker.sh puts ~/.ssh-ec2/bin there).
    'chmod 755 progress.sh',
    `mkdir -p ${BIN_DIR}`,
    `ln -sfn ../progress.sh ${BIN_DIR}/${PROGRESS_COMMAND}`,
    file(AGENT_CONF, agentConf(settings)),
    // Written by every run that starts something: one without --results turns an earlier one's off.
    ...(settings.results === 'keep' ? [] : [file(RESULTS_CONF, resultsConf(settings.results))]),
    // An agent already running: this boot's, so a spot notice it wrote is pending (EC2 has not
    // acted yet), and is left for the session's watch; none: the notice is from before a stop.
    `pending=; if [ -f ${INTERRUPTION_FILE} ] && (. ./lib.sh && running_daemon >/dev/null); then pending=1; fi`,
    ...(settings.notify === 'keep' ? [] : [file(NOTIFY_CONF, settings.notify ?? '')]),
    'sh agent.sh start >/dev/null 2>&1 </dev/null',
    `if [ -f ${POWEROFF_FILE} ]; then printf "poweroff %s\\n" "$(cat ${POWEROFF_FILE})"; rm -f ${POWEROFF_FILE}; fi`,
    // A spot notice the agent saw before the instance was stopped: said by the run that starts it again.
    `if [ -z "$pending" ] && [ -f ${INTERRUPTION_FILE} ]; then printf "interruption %s\\n" "$(cat ${INTERRUPTION_FILE})"; rm -f ${INTERRUPTION_FILE}; fi`,
    ...(job
      ? [`printf 'job %s\\n' "$(${jobCommand('status', job.id)})"`, `command -v ${job.mux} >/dev/null || echo no-mux`]
      : []),
    '',
  ].join('\n');
}

/** What prepareScript printed: why the agent last powered off, the job's state if asked. */
export function parsePrepared(out: string): {
  poweroff?: { reason: string; at: number };
  interruption?: { action: string; time: string };
  job?: JobState;
  muxMissing: boolean;
} {
  const poweroff = /^poweroff (\S+) (\d+)/m.exec(out);
  const interruption = /^interruption (\S+) (\S+)/m.exec(out);
  const job = /^job (.*)$/m.exec(out);
  return {
    poweroff: poweroff ? { reason: poweroff[1]!, at: Number(poweroff[2]) } : undefined,
    interruption: interruption ? { action: interruption[1]!, time: interruption[2]! } : undefined,
    job: job ? parseJobStatus(job[1]!) : undefined,
    muxMissing: /^no-mux$/m.test(out),
  };
}

export function jobStartCommand(o: {
  id: string;
  mux: 'tmux' | 'screen';
  dir: string;
  detached: boolean;
  command: string | undefined;
  /** Names this start: an interrupt given the same (jobInterrupt) waits for this job, not an earlier one. */
  token: string;
  /** --docker: the job runs its command (or shell) in this container, by the line dockerShell builds. */
  docker?: DockerRun;
}): string {
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  const cmd = o.command === undefined ? '-' : b64(o.command);
  // job.sh sets c to the command, then evaluates this line (ours, every word quoted).
  const docker = o.docker ? ` ${b64(dockerShell(o.docker, o.command === undefined ? undefined : '"$c"'))}` : '';
  return `${JOB} start ${o.id} ${o.mux} ${shQuote(o.dir)} ${o.detached ? 1 : 0} ${cmd} ${o.token}${docker}`;
}

export const jobCommand = (op: 'attach' | 'follow' | 'status' | 'log', id: string): string => `${JOB} ${op} ${id}`;

/** A Ctrl-C typed into the job started with `token` (jobStartCommand), once it has begun. */
export const jobInterrupt = (id: string, token: string): string => `${JOB} interrupt ${id} ${token}`;

/** Prints how many other ssh connections carry a session on the instance. */
export const OTHER_SESSIONS = `${JOB} others`;

export type JobState =
  | { state: 'none' }
  | { state: 'running'; pid: number; started: number }
  | { state: 'finished'; status: number; ended: number; usage?: Usage }
  | { state: 'killed' };

/** Parses `job.sh status`. */
export function parseJobStatus(out: string): JobState {
  const [word, a, b, peak, wall] = out.trim().split(/\s+/);
  if (word === 'running') return { state: 'running', pid: Number(a), started: Number(b) };
  if (word === 'finished') {
    const usage = parseUsage(peak, wall);
    return { state: 'finished', status: Number(a), ended: Number(b), ...(usage && { usage }) };
  }
  if (word === 'killed') return { state: 'killed' };
  return { state: 'none' };
}

export const VOLUME_SCRIPT = 'volume.sh';

/**
 * The data volume's step (src/agent/volume.sh) for `sh -s`: its settings, then the script. The
 * mount point is relative to the home (the remote directory's `data`).
 */
export function volumeScript(s: {
  volumeId: string;
  device: string;
  mountPoint: string;
  mountCommand: string;
}): string {
  const settings: [string, string][] = [
    ['VOLUME_ID', s.volumeId],
    ['DEVICE', s.device],
    ['MOUNT_POINT', s.mountPoint],
    ['MOUNT_COMMAND', s.mountCommand],
  ];
  return ['cd ~', ...settings.map(([k, v]) => `${k}=${shQuote(v)}`), readScript(VOLUME_SCRIPT)].join('\n');
}

/**
 * The boot-time limit's script in src/agent, and its file name as a part of the user data (how
 * the sandbox finds it).
 */
export const BOOT_LIMIT_SCRIPT = 'boot-limit.sh';
export const BOOT_LIMIT_PART = 'ssh-ec2-boot-limit.sh';

/**
 * The boot-time limit powers nothing off within this many seconds of a boot: a run launching or
 * starting the instance connects well within it (and then its settings and agent take over).
 */
export const BOOT_GRACE_SECONDS = 60;

export interface BootLimitSettings {
  /** The login user, whose ~/.ssh-ec2 it shares with the agent. */
  user: string;
  /** Seconds, 0 = none. */
  idleTimeout: number;
  /** Seconds after boot, 0 = none. */
  maxTime: number;
  poweroffCommand: string;
  imdsUrl: string;
}

/**
 * The boot-time limit (src/agent/boot-limit.sh): a cloud-init boothook, run on every boot, that
 * stops the instance when no run installs the agent. Standalone (nothing is on the instance at
 * the first boot): its settings, then lib.sh and poweroff.sh, then itself, whole-line comments
 * and indentation left out so that it leaves room in EC2's 16 KB of user data for the user's own.
 */
export function bootLimitScript(s: BootLimitSettings): string {
  const code = (name: string) =>
    readScript(name)
      .split('\n')
      .map((line) => line.trimStart()) // safe here: no heredoc, and awk does not mind
      .filter((line) => line !== '' && !line.startsWith('#'))
      .join('\n');
  const settings: [string, string | number][] = [
    ['BOOT_USER', s.user],
    ['IDLE_TIMEOUT', s.idleTimeout],
    ['MAX_TIME', s.maxTime],
    ['BOOT_GRACE', BOOT_GRACE_SECONDS],
    ['POWEROFF', s.poweroffCommand],
    ['IMDS_URL', s.imdsUrl],
  ];
  return [
    '#!/bin/sh',
    '# ssh-ec2: the boot-time limit (stops this instance when no ssh-ec2 run installs its agent)',
    ...settings.map(([k, v]) => `${k}=${shQuote(String(v))}`),
    code('lib.sh'),
    code('poweroff.sh'),
    code(BOOT_LIMIT_SCRIPT),
    '',
  ].join('\n');
}
