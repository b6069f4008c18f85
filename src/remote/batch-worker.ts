/**
 * The laptop's side of a batch's worker (src/agent/worker.sh): the settings it reads, the script
 * that starts it on an instance, and the commands that ask it what it did. Pure builders and
 * parsers, no I/O (as on-instance.ts); the files they read and write are described at the top of
 * worker.sh, their names in instance-contract.ts.
 */
import {
  BATCH_CONF,
  BATCH_DIR,
  BATCH_JOB_FILES,
  BATCH_JOB_LOG,
  BATCH_JOB_PROGRESS,
  BATCH_JOB_STARTED,
  BATCH_JOB_STATE,
  BATCH_MANIFEST,
  JOB_RUNNING_STATUS,
  JOBS_DIR,
  MUX_MISSING_STATUS,
  STATE_DIR,
  USAGE_FILE,
  WORKER_CANCEL,
  WORKER_FILE,
} from './instance-contract.js';
import { shQuote } from './remote-command.js';

export interface BatchConf {
  batch: string;
  lane: number;
  queueUrl: string;
  /** SSH_EC2_QUEUE_ENDPOINT: the SQS endpoint when not AWS's. */
  queueEndpoint?: string;
  region: string;
  /** Relative to $HOME. */
  projectDir: string;
  retries: number;
  /** --setup: run once, in projectDir, before the first job. */
  setup?: string;
  /** s3://bucket/prefix/<batch>/ */
  resultsUrl?: string;
  resultsEndpoint?: string;
  notifyUrl?: string;
  /**
   * JSON members the laptop knows ("batch":…,"instance":…,"region":…), without braces; the worker
   * adds "job", "command" and "results" of each job (session/notify.ts's shape).
   */
  notifyFields?: string;
  /** A message's visibility while its job runs (the heartbeat extends it every third); default 300. */
  visibilitySeconds?: number;
  /** The longest receive wait (SQS long poll, at most 20); default 10. Tests make it short. */
  pollSeconds?: number;
}

/** The detached job.sh job that runs a batch's worker on an instance. */
export const workerJobId = (batch: string): string => `batch-${batch}`;

/** ~/.ssh-ec2/batch/<batch>, relative to $HOME. */
const batchDir = (batch: string): string => `${STATE_DIR}/${BATCH_DIR}/${batch}`;
const jobDir = (batch: string, job: string): string => `${batchDir(batch)}/${JOBS_DIR}/${job}`;

/** Where a job's files are copied on its instance (relative to $HOME): what `batch collect` rsyncs. */
export const jobFilesDir = (batch: string, job: string): string => `${jobDir(batch, job)}/${BATCH_JOB_FILES}`;

/** BATCH_CONF's text: shell-quoted KEY=VALUE lines (the keys are described at the top of worker.sh). */
export function batchConf(c: BatchConf): string {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const lines: [string, string | number][] = [
    ['BATCH', c.batch],
    ['LANE', c.lane],
    ['QUEUE_URL', c.queueUrl],
    ['QUEUE_ENDPOINT', c.queueEndpoint ?? ''],
    ['REGION', c.region],
    ['PROJECT_DIR', c.projectDir],
    ['RETRIES', c.retries],
    ['SETUP_B64', c.setup ? b64(c.setup) : ''],
    ['RESULTS_URL', c.resultsUrl ?? ''],
    ['RESULTS_ENDPOINT', c.resultsEndpoint ?? ''],
    ['NOTIFY_URL', c.notifyUrl ?? ''],
    ['NOTIFY_FIELDS', c.notifyFields ?? ''],
    ['VISIBILITY', c.visibilitySeconds ?? 300],
    ['POLL_SECONDS', c.pollSeconds ?? 10],
  ];
  return lines.map(([k, v]) => `${k}=${shQuote(String(v))}\n`).join('');
}

/**
 * One `sh -s` script: writes batch.conf and manifest.json under ~/.ssh-ec2/batch/<batch>/ (the
 * agent's files are installed already by prepareInstance), then starts the worker as a detached
 * tmux job through job.sh; prints `started` or why not (`running`: a worker of this batch runs
 * here already; `no-mux`: no tmux; `failed N`).
 * The job runs in the batch's directory, so that its own tmux log is never one of a job's files.
 */
export function startWorkerScript(conf: BatchConf, manifestJson: string): string {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const dir = batchDir(conf.batch);
  // Each written to a new file of this writer's own ($$), renamed over the old one whole.
  const write = (name: string, text: string) =>
    `printf %s ${b64(text)} | base64 -d > "$D/${name}.new.$$" && mv -f "$D/${name}.new.$$" "$D/${name}" || exit 1`;
  const id = workerJobId(conf.batch);
  const command = `sh ~/${STATE_DIR}/worker.sh ${shQuote(conf.batch)}`;
  return [
    'cd ~ || exit 1',
    `D=${shQuote(dir)}`,
    'mkdir -p "$D" || exit 1',
    write(BATCH_CONF, batchConf(conf)),
    write(BATCH_MANIFEST, manifestJson),
    `sh ~/${STATE_DIR}/job.sh start ${shQuote(id)} tmux ${shQuote(dir)} 1 ${b64(command)} ${shQuote(id)}`,
    'rc=$?',
    `case $rc in 0) echo started ;; ${JOB_RUNNING_STATUS}) echo running ;; ${MUX_MISSING_STATUS}) echo no-mux ;; *) echo "failed $rc" ;; esac`,
    '',
  ].join('\n');
}

/** One command printing everything the table needs from this instance, parsed by parseBatchReport. */
export function batchReportCommand(batch: string): string {
  const line = (word: string, file: string) =>
    `[ -f "$d/${file}" ] && printf '${word} %s %s\\n' "$n" "$(cat "$d/${file}")"`;
  return [
    `cd ~/${shQuote(batchDir(batch))} 2>/dev/null || exit 0`,
    `[ -f ${WORKER_FILE} ] && printf 'worker %s\\n' "$(cat ${WORKER_FILE})"`,
    `[ -f setup/status ] && printf 'setup %s\\n' "$(cat setup/status)"`,
    `for d in ${JOBS_DIR}/*/; do d=\${d%/}; n=\${d##*/}; [ -d "$d" ] || continue`,
    line('job', BATCH_JOB_STATE),
    line('started', BATCH_JOB_STARTED),
    line('progress', BATCH_JOB_PROGRESS),
    line('usage', USAGE_FILE),
    'done',
    'exit 0',
  ].join('; ');
}

export interface JobReport {
  name: string;
  state: 'running' | 'done' | 'failed' | 'retried' | 'interrupted';
  attempt: number;
  status?: number;
  /** Epoch seconds. */
  started?: number;
  ended?: number;
  progress?: number;
  peakKiB?: number;
  wallSeconds?: number;
}

export interface BatchReport {
  worker?: { state: 'running' | 'done' | 'setup-failed' | 'interrupted'; at: number };
  setupStatus?: number;
  jobs: JobReport[];
}

const WORKER_STATES = new Set(['running', 'done', 'setup-failed', 'interrupted']);
const int = (s: string | undefined): number | undefined => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);

/** What batchReportCommand printed; lines it does not know are skipped. */
export function parseBatchReport(out: string): BatchReport {
  const report: BatchReport = { jobs: [] };
  const jobs = new Map<string, JobReport>();
  const extra = new Map<string, Partial<JobReport>>();
  const more = (name: string) => extra.get(name) ?? extra.set(name, {}).get(name)!;
  for (const line of out.split('\n')) {
    const w = line.trim().split(/\s+/);
    const [word, name] = w;
    if (word === 'worker' && name !== undefined && WORKER_STATES.has(name) && int(w[2]) !== undefined)
      report.worker = { state: name as NonNullable<BatchReport['worker']>['state'], at: int(w[2])! };
    else if (word === 'setup' && int(name) !== undefined) report.setupStatus = int(name);
    else if (word === 'job' && name) {
      const job = parseState(name, w.slice(2));
      if (job) jobs.set(name, job);
    } else if (word === 'started' && name && int(w[2]) !== undefined) more(name).started = int(w[2]);
    else if (word === 'progress' && name && int(w[2]) !== undefined && int(w[2])! <= 100)
      more(name).progress = int(w[2]);
    else if (word === 'usage' && name && int(w[3]) !== undefined) {
      more(name).wallSeconds = int(w[3]);
      if (int(w[2]) !== undefined) more(name).peakKiB = int(w[2]);
    }
  }
  for (const [name, job] of jobs) {
    const x = extra.get(name) ?? {};
    // A running attempt's measure and start are its own; those files may be an earlier attempt's.
    const usage = job.state === 'running' ? {} : { peakKiB: x.peakKiB, wallSeconds: x.wallSeconds };
    const merged: JobReport = { ...job, started: job.started ?? x.started, progress: x.progress, ...usage };
    report.jobs.push(Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as JobReport);
  }
  return report;
}

/** A job's state line (worker.sh writes it whole): see BatchReport. */
function parseState(name: string, w: string[]): JobReport | undefined {
  const [state, attempt, a, b] = [w[0], int(w[1]), int(w[2]), int(w[3])];
  if (attempt === undefined) return undefined;
  switch (state) {
    case 'running':
      return a === undefined ? undefined : { name, state, attempt, started: a };
    case 'interrupted':
      return a === undefined ? undefined : { name, state, attempt, ended: a };
    case 'done':
    case 'failed':
    case 'retried':
      return a === undefined || b === undefined ? undefined : { name, state, attempt, status: a, ended: b };
    default:
      return undefined;
  }
}

/** Prints the job's log (all its attempts on this instance); nothing when it has none here. */
export const batchLogCommand = (batch: string, job: string): string =>
  `cat ~/${shQuote(`${jobDir(batch, job)}/${BATCH_JOB_LOG}`)} 2>/dev/null; exit 0`;

/**
 * Stops the worker: no new message taken, the running command SIGTERMed, its attempt NOT re-sent.
 * The cancel file first (the worker reads it when the signal comes), then SIGTERM to the worker's
 * job's process group (its command among it), as the agent does on a spot notice.
 */
export function batchCancelCommand(batch: string): string {
  const id = workerJobId(batch);
  return [
    `mkdir -p ~/${shQuote(batchDir(batch))} && : > ~/${shQuote(`${batchDir(batch)}/${WORKER_CANCEL}`)}`,
    `set -- $(sh ~/${STATE_DIR}/job.sh status ${shQuote(id)} 2>/dev/null)`,
    `if [ "\${1:-}" = running ] && [ "\${2:-0}" -gt 0 ]; then kill -TERM "-$2" 2>/dev/null || kill -TERM "$2" 2>/dev/null; fi`,
    'exit 0',
  ].join('; ');
}
