/** The settings of the connection, the session on the instance and the sync (help groups of those names). */
import { normalS3Url } from '../cloud/s3-location.js';
import {
  bool,
  duration,
  finalState,
  forward,
  multiplexer,
  optionalText,
  spec,
  text,
  dollars,
  type FinalState,
  type Multiplexer,
} from './spec.js';
import { UsageError } from '../errors.js';

export const CONNECTION_OPTIONS = {
  identity: spec({
    kind: 'string',
    flag: 'identity',
    // -I: the original README's spelling (`ssh-ec2 --stop -I my_key.pem "who am i"`).
    alias: ['i', 'I'],
    env: ['AWS_PEM'],
    group: 'Connection',
    default: undefined,
    defaultText: 'a fresh key pushed with EC2 Instance Connect',
    parse: optionalText,
    describe: 'ssh private key of the EC2 key pair',
  }),
  user: spec({
    kind: 'string',
    flag: 'user',
    env: ['AWS_INSTANCE_USER'],
    group: 'Connection',
    default: undefined,
    // Recorded on the instance at launch: loginUser() in options.ts.
    defaultText: "the image's: ubuntu, ec2-user, …",
    parse: optionalText,
    describe: 'login user on the instance',
  }),
  sshConfig: spec({
    kind: 'string',
    flag: 'ssh-config',
    env: ['SSH_EC2_SSH_CONFIG'],
    group: 'Connection',
    default: undefined,
    parse: optionalText,
    describe: 'ssh config file passed to every ssh and rsync (ssh -F)',
  }),
  localForwards: spec({
    kind: 'strings',
    flag: 'L',
    group: 'Connection',
    default: [] as string[],
    parse: forward('L'),
    describe: 'forward a local port for the session (ssh -L syntax), repeatable',
  }),
  remoteForwards: spec({
    kind: 'strings',
    flag: 'R',
    group: 'Connection',
    default: [] as string[],
    parse: forward('R'),
    describe: 'forward a remote port for the session (ssh -R syntax), repeatable',
  }),
  reconnectTimeout: spec({
    kind: 'string',
    flag: 'reconnect-timeout',
    env: ['SSH_EC2_RECONNECT_TIMEOUT'],
    group: 'Connection',
    default: 90_000 as number,
    parse: duration,
    describe:
      'after a lost connection, how long to keep trying to reach the instance again before giving up; off: a single try',
  }),
  hostKeyTimeout: spec({
    kind: 'string',
    flag: 'host-key-timeout',
    env: ['SSH_EC2_HOST_KEY_TIMEOUT'],
    group: 'Connection',
    default: 60_000 as number,
    parse: duration,
    describe:
      'on first contact with an instance, how long to wait (after ssh answers) for its host key fingerprints on its console before trusting the key on first use; off: no wait',
  }),
  dynamicForwards: spec({
    kind: 'strings',
    flag: 'D',
    group: 'Connection',
    default: [] as string[],
    parse: forward('D'),
    describe: 'SOCKS proxy on a local port for the session (ssh -D syntax), repeatable',
  }),
} as const;

export const SESSION_OPTIONS = {
  finalState: spec({
    kind: 'string',
    env: ['AWS_FINAL_STATE'],
    group: 'Session',
    default: 'terminate' as FinalState,
    parse: finalState,
    describe: 'terminate, stop or leave',
  }),
  multiplex: spec({
    kind: 'string',
    flag: 'multiplex',
    alias: ['multi'],
    env: ['MULTIPLEX'],
    group: 'Session',
    default: undefined as Multiplexer | undefined,
    defaultText: 'none; tmux with --detach',
    parse: multiplexer,
    describe: 'run the session in tmux or screen (it survives a lost connection; --attach comes back), or none',
  }),
  detach: spec({
    kind: 'boolean',
    flag: 'detach',
    alias: ['d'],
    group: 'Session',
    default: false,
    parse: bool,
    describe: 'start the command in tmux/screen and return at once; the instance keeps running',
  }),
  attach: spec({
    kind: 'boolean',
    flag: 'attach',
    alias: ['a', 'finish', 'f'],
    group: 'Session',
    default: false,
    parse: bool,
    describe: "reattach to this directory's job; when it has ended, sync back and apply the final state",
  }),
  tty: spec({
    kind: 'boolean',
    flag: 'tty',
    group: 'Session',
    default: undefined as boolean | undefined,
    defaultText: 'when stdin and stdout are both terminals',
    parse: bool,
    describe: 'allocate a terminal on the instance (--no-tty: never); -t is --terminate',
  }),
  // The agent's limits stay unset unless given: a limit recorded on the instance by an earlier
  // run wins over the fallback (limits.ts).
  idleTimeout: spec({
    kind: 'string',
    flag: 'idle-timeout',
    env: ['SSH_EC2_IDLE_TIMEOUT'],
    group: 'Session',
    default: undefined as number | undefined,
    fallback: 60 * 60_000,
    parse: duration,
    describe: 'the agent stops the instance after this long with no job and no ssh session; off to disable',
  }),
  maxTime: spec({
    kind: 'string',
    flag: 'max-time',
    env: ['SSH_EC2_MAX_TIME'],
    group: 'Session',
    default: undefined as number | undefined,
    fallback: 0,
    parse: duration,
    describe: 'the agent stops the instance this long after it was launched or started, job or not',
  }),
  maxHourlyCost: spec({
    kind: 'string',
    flag: 'max-hourly-cost',
    env: ['SSH_EC2_MAX_HOURLY_COST'],
    group: 'Session',
    default: undefined as number | undefined,
    parse: dollars,
    describe: 'refuse to launch a type whose hourly price (USD) is above this, or unknown (exit 11)',
  }),
  budget: spec({
    kind: 'string',
    flag: 'budget',
    env: ['SSH_EC2_BUDGET'],
    group: 'Session',
    default: undefined as number | undefined,
    parse: dollars,
    describe:
      "a session's estimated cost (USD) above this: said, and the instance stopped once the results are back; the agent stops it too",
  }),
  jobGrace: spec({
    kind: 'string',
    flag: 'job-grace',
    env: ['SSH_EC2_JOB_GRACE'],
    group: 'Session',
    default: undefined as number | undefined,
    fallback: 10 * 60_000,
    parse: duration,
    describe:
      'after a detached job (or one whose connection was lost) ends with nobody attached, the agent stops the instance this much later',
  }),
  capacityTimeout: spec({
    kind: 'string',
    flag: 'capacity-timeout',
    env: ['SSH_EC2_CAPACITY_TIMEOUT'],
    group: 'Session',
    default: (5 * 60_000) as number,
    parse: duration,
    describe: 'how long to keep trying to start a stopped instance while EC2 has no capacity for it; off: a single try',
  }),
  poweroffCommand: spec({
    kind: 'string',
    env: ['SSH_EC2_POWEROFF_COMMAND'],
    group: 'Session',
    default: 'sudo shutdown -h now',
    parse: text,
    describe: 'the command the agent runs on the instance to power it off',
  }),
  mountCommand: spec({
    kind: 'string',
    env: ['SSH_EC2_MOUNT_COMMAND'],
    group: 'Session',
    default: '',
    defaultText: 'the block device, formatted on first use',
    parse: text,
    describe: 'what stands in for mounting the data volume on the instance (tests)',
  }),
  imdsUrl: spec({
    kind: 'string',
    env: ['SSH_EC2_IMDS_URL'],
    group: 'Session',
    default: 'http://169.254.169.254',
    parse: text,
    describe: 'the metadata service the agent asks which instance it runs on',
  }),
  onInterrupt: spec({
    kind: 'string',
    flag: 'on-interrupt',
    env: ['SSH_EC2_ON_INTERRUPT'],
    group: 'Session',
    default: undefined,
    defaultText: 'none',
    parse: optionalText,
    describe:
      'a command run on the instance, in the project directory, when EC2 gives notice that it takes the spot instance back (at most 60 s)',
  }),
} as const;

export const SYNC_OPTIONS = {
  remoteDir: spec({
    kind: 'string',
    flag: 'remote-dir',
    env: ['AWS_RSYNC_DIR'],
    group: 'Sync',
    default: undefined,
    defaultText: "this directory's name",
    parse: optionalText,
    describe: 'directory on the instance, relative to home',
  }),
  rsyncProgram: spec({
    kind: 'string',
    env: ['SSH_EC2_RSYNC'],
    group: 'Sync',
    default: undefined,
    defaultText: 'the first rsync on PATH',
    parse: optionalText,
    describe: 'the local rsync to use',
  }),
  syncEvery: spec({
    kind: 'string',
    flag: 'sync-every',
    env: ['SSH_EC2_SYNC_EVERY'],
    group: 'Sync',
    default: 0 as number,
    defaultText: 'off',
    parse: syncEvery,
    describe: 'while the command runs, bring new results back this often (gently: low priority, bounded bandwidth)',
  }),
  results: spec({
    kind: 'string',
    flag: 'results',
    env: ['SSH_EC2_RESULTS'],
    group: 'Sync',
    default: undefined,
    parse: normalS3Url,
    describe:
      "s3://bucket/prefix: when the command or job ends (and at a spot interruption notice) the instance uploads the directory's new and changed files to <prefix>/<directory name>/ with its instance profile (README: Results in S3)",
  }),
  resultsEndpoint: spec({
    kind: 'string',
    env: ['SSH_EC2_RESULTS_ENDPOINT'],
    group: 'Sync',
    default: undefined,
    defaultText: "AWS's",
    parse: optionalText,
    describe: "the S3 endpoint the instance's upload (--results) and pull --from-s3 use",
  }),
  queueEndpoint: spec({
    kind: 'string',
    env: ['SSH_EC2_QUEUE_ENDPOINT'],
    group: 'Sync',
    default: undefined,
    defaultText: "AWS's",
    parse: optionalText,
    describe: "the SQS endpoint a batch's queues are reached at, from here and from its instances (ssh-ec2 batch)",
  }),
  rsync: spec({
    kind: 'boolean',
    flag: 'rsync',
    group: 'Sync',
    default: true,
    parse: bool,
    describe: 'sync the directory up before and back after (--no-rsync: neither)',
  }),
} as const;

/** Below this, a pull (both trees listed, then rsync) would hardly end before the next is due. */
export const MIN_SYNC_EVERY_MS = 5_000;

/** 24 days: a timer's delay above 2^31 - 1 ms (24.8 days) is taken by Node as 1 ms, a pull without pause. */
export const MAX_SYNC_EVERY_MS = 24 * 86_400_000;

/** --sync-every: off, or a duration from MIN_SYNC_EVERY_MS to MAX_SYNC_EVERY_MS. */
function syncEvery(raw: string, source: string): number {
  const ms = duration(raw, source);
  if (ms !== 0 && ms < MIN_SYNC_EVERY_MS)
    throw new UsageError(`${source}: at least ${MIN_SYNC_EVERY_MS / 1000}s between pulls of the results, got "${raw}"`);
  if (ms > MAX_SYNC_EVERY_MS)
    throw new UsageError(
      `${source}: at most ${MAX_SYNC_EVERY_MS / 86_400_000}d between pulls of the results, got "${raw}"`,
    );
  return ms;
}

export const GENERAL_OPTIONS = {
  // Chooses one of the config files' presets (config-files.ts): resolveOptions reads it first.
  preset: spec({
    kind: 'string',
    flag: 'preset',
    env: ['SSH_EC2_PRESET'],
    group: 'General',
    default: undefined,
    parse: optionalText,
    describe: 'apply the named preset of the config files (.ssh-ec2.toml, ~/.config/ssh-ec2/config.toml)',
  }),
  verbose: spec({
    kind: 'boolean',
    flag: 'verbose',
    alias: ['v'],
    group: 'General',
    default: false,
    parse: bool,
    describe: 'list transferred files and ssh details (also --no-quiet)',
  }),
  // A flag only: an environment variable left set would quietly turn every run into a plan.
  dryRun: spec({
    kind: 'boolean',
    flag: 'dry-run',
    group: 'General',
    default: false,
    parse: bool,
    describe:
      'print what the run would do (instance, image, price, network, ssh and rsync lines, what goes up) and stop: nothing is changed',
  }),
  silent: spec({
    kind: 'boolean',
    flag: 'silent',
    env: ['SSH_EC2_SILENT'],
    group: 'General',
    default: false,
    parse: bool,
    describe: "print only errors, warnings and the command's own output (no progress, no closing line)",
  }),
} as const;
