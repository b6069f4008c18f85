/**
 * The names and numbers ssh-ec2 shares with its scripts on the instance (src/agent/), declared
 * once on this side. The sh side declares them at the top of src/agent/lib.sh under the same
 * names; test/unit/instance-contract.test.ts checks each equal.
 */

/** The directory under the login user's home that holds the scripts, the agent's files and the jobs. */
export const STATE_DIR = '.ssh-ec2';

/** Its subdirectory of jobs, one directory per job id. */
export const JOBS_DIR = 'jobs';

/** The agent's settings, written by ssh-ec2 (shell-quoted KEY=VALUE lines). */
export const AGENT_CONF = 'agent.conf';

/**
 * Where --results uploads (results.sh), written by ssh-ec2 unless the run only attaches; a job
 * keeps a copy of it from its start, in its own directory.
 */
export const RESULTS_CONF = 'results.conf';

/**
 * Where a job's end is announced (--notify: notify.sh), written by ssh-ec2 unless the run only
 * attaches; a job keeps a copy of it from its start, in its own directory.
 */
export const NOTIFY_CONF = 'notify.conf';

/** A job's measure (usage.sh), in its directory: "PEAK_KIB WALL_SECONDS" (PEAK_KIB - if unknown). */
export const USAGE_FILE = 'usage';

/** "<reason> <epoch>", written by the agent before it powers off; ssh-ec2 shows and removes it. */
export const POWEROFF_FILE = 'poweroff';

/** The agent's reasons for powering off, as written to POWEROFF_FILE. */
export const REASON_MAX_TIME = 'max-time';
export const REASON_JOB_FINISHED = 'job-finished';
export const REASON_IDLE = 'idle';

/** A job's output log, in the project directory it runs in. */
export const JOB_LOG = 'ssh-ec2-job.log';

/**
 * "<action> <time>", written by the agent on a spot interruption notice (interruption.sh): the
 * action EC2 takes (stop, terminate, hibernate) and when (ISO 8601, as the metadata service says).
 */
export const INTERRUPTION_FILE = 'interruption';

/** The --on-interrupt hook's output log, in the project directory. */
export const INTERRUPT_LOG = 'ssh-ec2-interrupt.log';

/**
 * Batches (worker.sh): ~/.ssh-ec2/BATCH_DIR/<batch>/ holds BATCH_CONF (shell-quoted KEY=VALUE
 * lines, written by ssh-ec2), BATCH_MANIFEST (the jobs as the laptop parsed them), WORKER_FILE
 * ("<state> <epoch>": worker.sh says which), setup/{log,status}, and one directory per
 * job attempted here under JOBS_DIR; WORKER_CANCEL, written by `batch cancel`: stop, re-send nothing.
 */
export const BATCH_DIR = 'batch';
export const BATCH_CONF = 'batch.conf';
export const BATCH_MANIFEST = 'manifest.json';
export const WORKER_FILE = 'worker';
export const WORKER_CANCEL = 'cancel';

/**
 * A batch job's files: its state line, its output (all attempts here), its last progress (0..100),
 * the moment its attempt started (epoch), and the copy of the files its attempt made.
 */
export const BATCH_JOB_STATE = 'state';
export const BATCH_JOB_LOG = 'log';
export const BATCH_JOB_PROGRESS = 'progress';
export const BATCH_JOB_STARTED = 'started';
export const BATCH_JOB_FILES = 'files';

/** The command a batch job reports its progress with (ssh-ec2-progress N), in STATE_DIR/BIN_DIR. */
export const BIN_DIR = 'bin';
export const PROGRESS_COMMAND = 'ssh-ec2-progress';

/** job.sh start's exit status when a job is already running for the directory. */
export const JOB_RUNNING_STATUS = 75;

/** job.sh start's exit status when the multiplexer asked for (tmux or screen) is not on the instance. */
export const MUX_MISSING_STATUS = 76;

/**
 * The scripts installed in STATE_DIR, in the order they are installed: what is sourced before
 * what sources it, so a script never finds its library missing.
 */
export const INSTANCE_SCRIPTS = [
  'lib.sh',
  'results.sh',
  'usage.sh',
  'notify.sh',
  'poweroff.sh',
  'interruption.sh',
  'agent.sh',
  'job.sh',
  'queue.sh',
  'worker.sh',
  'progress.sh',
] as const;
