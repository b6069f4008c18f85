/**
 * Every setting of a session, declared once: flag, aliases, environment names (the original
 * ssh-ec2's included), default, help and parser. The `Options` type is derived from the
 * declarations, and `resolveOptions` is the one place that spells out the merge order:
 *   flags > environment > .env in the current directory > defaults.
 */
import { DEFAULT_IMAGE_PATTERNS } from './cloud/dlami.js';
import { UsageError } from './errors.js';
import { parseDuration } from './time.js';

export type FinalState = 'terminate' | 'stop' | 'leave';
export const FINAL_STATES: readonly FinalState[] = ['terminate', 'stop', 'leave'];

export const DEFAULT_INSTANCE_TYPE = 'g4dn.xlarge';
export const DEFAULT_REGION = 'eu-central-1';
/** The original's default instance profile; used only if it exists (see cloud/launch.ts). */
export const LEGACY_IAM_PROFILE = 'EC2ReadOnlyAccessToS3';

type Kind = 'string' | 'boolean' | 'strings';
type Group = 'Instance' | 'Connection' | 'Session' | 'Sync' | 'General';

interface Spec<T> {
  kind: Kind;
  /** Long flag name (without --); undefined for settings read only from the environment. */
  flag?: string;
  alias?: readonly string[];
  env?: readonly string[];
  describe: string;
  group: Group;
  /** Value when nothing is set; settings whose default depends on others stay undefined here. */
  default: T;
  /** Turns a raw string (from a flag, the environment or .env) into the value. */
  parse: (raw: string, source: string) => T;
  hidden?: boolean;
}

function spec<T>(s: Spec<T>): Spec<T> {
  return s;
}

const text = (raw: string) => raw;
const optionalText = (raw: string): string | undefined => (raw === '' ? undefined : raw);

function bool(raw: string, source: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new UsageError(`${source}: expected true or false, got "${raw}"`);
}

function list(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function positiveInt(raw: string, source: string): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) <= 0) {
    throw new UsageError(`${source}: expected a positive whole number, got "${raw}"`);
  }
  return Number(raw);
}

function finalState(raw: string, source: string): FinalState {
  const v = raw.trim().toLowerCase();
  if ((FINAL_STATES as readonly string[]).includes(v)) return v as FinalState;
  throw new UsageError(`${source}: expected terminate, stop or leave, got "${raw}"`);
}

function cidr(raw: string, source: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(raw.trim());
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) {
    throw new UsageError(`${source}: expected an IPv4 CIDR such as 203.0.113.7/32, got "${raw}"`);
  }
  // A /8 is already a big network's range; anything wider is a slip toward 0.0.0.0/0.
  if (Number(m[5]) < 8) {
    const what = Number(m[5]) === 0 ? 'the whole internet' : `1/${2 ** Number(m[5])} of the internet`;
    throw new UsageError(
      `${source}: refusing to open ssh to ${what} (${raw}); give your own address, e.g. 203.0.113.7/32, or your network's range (/8 at the widest)`,
    );
  }
  return raw.trim();
}

function subnetId(raw: string, source: string): string | undefined {
  const v = raw.trim();
  if (v === '') return undefined;
  if (!/^subnet-[0-9a-f]{8,17}$/.test(v))
    throw new UsageError(`${source}: expected a subnet id such as subnet-0123456789abcdef0, got "${raw}"`);
  return v;
}

export type Multiplexer = 'tmux' | 'screen' | 'none';

/** Empty (the original's Makefile recipes set MULTIPLEX="") means "not chosen": none, or tmux with --detach. */
function multiplexer(raw: string, source: string): Multiplexer | undefined {
  const v = raw.trim().toLowerCase();
  if (v === '') return undefined;
  if (v === 'tmux' || v === 'screen' || v === 'none') return v;
  throw new UsageError(`${source}: expected tmux, screen or none, got "${raw}"`);
}

/** "90s", "15m", "2h", "1h30m" → ms; "0", "off" or "none" → 0 (no limit). */
function duration(raw: string, source: string): number {
  const v = raw.trim().toLowerCase();
  if (v === '0' || v === 'off' || v === 'none') return 0;
  const ms = parseDuration(v);
  if (ms === undefined)
    throw new UsageError(`${source}: expected a duration such as 90s, 15m or 2h (or off), got "${raw}"`);
  return ms;
}

function forward(kind: 'L' | 'R' | 'D') {
  return (raw: string, source: string): string[] => {
    const ok = kind === 'D' ? /^([^\s:]+:)?\d+$/.test(raw) : /^[^\s]+:\d*:?[^\s]*$/.test(raw) && raw.includes(':');
    if (!ok)
      throw new UsageError(
        `${source}: "${raw}" is not an ssh forward spec (e.g. ${kind === 'D' ? '1080' : '8888:localhost:8888'})`,
      );
    return [raw];
  };
}

export const OPTION_SPECS = {
  // Instance
  region: spec({
    kind: 'string',
    flag: 'region',
    env: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
    group: 'Instance',
    default: undefined,
    parse: optionalText,
    describe: `AWS region (else the SDK's profile region, else ${DEFAULT_REGION})`,
  }),
  instanceTypes: spec({
    kind: 'string',
    flag: 'instance-type',
    env: ['AWS_INSTANCE_TYPE'],
    group: 'Instance',
    default: [DEFAULT_INSTANCE_TYPE],
    parse: (raw, source) => {
      const v = list(raw);
      if (v.length === 0) throw new UsageError(`${source}: empty instance type`);
      return v;
    },
    describe: `instance type (default ${DEFAULT_INSTANCE_TYPE})`,
  }),
  imageId: spec({
    kind: 'string',
    flag: 'image-id',
    env: ['AWS_IMAGE_ID'],
    group: 'Instance',
    default: undefined,
    parse: optionalText,
    describe: 'image (AMI) id; skips the image lookup',
  }),
  // Unset means the default image (cloud/dlami.ts): its two name patterns, and the instance types it supports.
  imageName: spec({
    kind: 'string',
    flag: 'image-name',
    env: ['AWS_IMAGE_NAME'],
    group: 'Instance',
    default: undefined,
    parse: optionalText,
    describe: `image name pattern; the newest matching image of the pinned owners is used (default: the Deep Learning OSS Nvidia Driver AMI, "${DEFAULT_IMAGE_PATTERNS.join('" or "')}")`,
  }),
  imageOwners: spec({
    kind: 'strings',
    flag: 'image-owner',
    env: ['SSH_EC2_IMAGE_OWNER'],
    group: 'Instance',
    default: ['amazon'],
    parse: list,
    describe: 'image owners to trust (account ids or aliases; default amazon)',
  }),
  keyName: spec({
    kind: 'string',
    flag: 'key-name',
    env: ['AWS_KEY_NAME'],
    group: 'Instance',
    default: undefined,
    parse: optionalText,
    describe: 'EC2 key pair name (default $TRIGRAM, then $USER); used with -i',
  }),
  trigram: spec({
    kind: 'string',
    env: ['TRIGRAM'],
    group: 'Instance',
    default: undefined,
    parse: optionalText,
    describe: "the original's per-user key name",
  }),
  name: spec({
    kind: 'string',
    flag: 'name',
    env: ['AWS_NAME_INSTANCE'],
    group: 'Instance',
    default: undefined,
    parse: optionalText,
    describe: 'instance Name tag (default <key name>-<directory name>)',
  }),
  iamProfile: spec({
    kind: 'string',
    flag: 'iam-profile',
    env: ['AWS_IAM_INSTANCE_PROFILE'],
    group: 'Instance',
    default: LEGACY_IAM_PROFILE as string | undefined,
    parse: optionalText,
    describe: `instance profile for the instance (default ${LEGACY_IAM_PROFILE} when it exists; "" for none)`,
  }),
  userData: spec({
    kind: 'string',
    flag: 'user-data',
    env: ['AWS_USER_DATA'],
    group: 'Instance',
    default: undefined,
    parse: optionalText,
    describe: 'user data: a file path, or the script itself',
  }),
  volumeSize: spec({
    kind: 'string',
    flag: 'volume-size',
    env: ['SSH_EC2_VOLUME_SIZE'],
    group: 'Instance',
    default: undefined as number | undefined,
    parse: positiveInt,
    describe: 'root volume size in GiB (default: the image size, at least 100)',
  }),
  subnetId: spec({
    kind: 'string',
    flag: 'subnet-id',
    env: ['SSH_EC2_SUBNET_ID'],
    group: 'Instance',
    default: undefined,
    parse: subnetId,
    describe: 'subnet to launch in (its VPC is used); needed where the region has no default VPC',
  }),
  securityGroup: spec({
    kind: 'string',
    flag: 'security-group',
    env: ['SSH_EC2_SECURITY_GROUP'],
    group: 'Instance',
    default: undefined,
    parse: optionalText,
    describe:
      "a security group of the instance's VPC (id sg-… or name), used as it is: ssh-ec2 never changes its rules",
  }),
  sshCidr: spec({
    kind: 'string',
    flag: 'ssh-cidr',
    env: ['SSH_EC2_SSH_CIDR'],
    group: 'Instance',
    default: undefined,
    parse: cidr,
    describe: 'who may reach port 22 (default: your public address /32)',
  }),
  ipUrl: spec({
    kind: 'string',
    env: ['SSH_EC2_IP_URL'],
    group: 'Instance',
    default: 'https://checkip.amazonaws.com',
    parse: text,
    describe: 'where your public address is asked',
  }),
  // Connection
  identity: spec({
    kind: 'string',
    flag: 'identity',
    alias: ['i'],
    env: ['AWS_PEM'],
    group: 'Connection',
    default: undefined,
    parse: optionalText,
    describe: 'ssh private key of the EC2 key pair (default: a fresh key pushed with EC2 Instance Connect)',
  }),
  user: spec({
    kind: 'string',
    flag: 'user',
    env: ['AWS_INSTANCE_USER'],
    group: 'Connection',
    default: undefined,
    parse: optionalText,
    describe: 'login user on the instance (default from the image: ubuntu, ec2-user, …)',
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
      'after a lost connection, how long to keep trying to reach the instance again before giving up (default 90s; off: a single try)',
  }),
  hostKeyTimeout: spec({
    kind: 'string',
    flag: 'host-key-timeout',
    env: ['SSH_EC2_HOST_KEY_TIMEOUT'],
    group: 'Connection',
    default: 60_000 as number,
    parse: duration,
    describe:
      'on first contact with an instance, how long to wait (after ssh answers) for its host key fingerprints on its console before trusting the key on first use (default 1m; off: no wait)',
  }),
  dynamicForwards: spec({
    kind: 'strings',
    flag: 'D',
    group: 'Connection',
    default: [] as string[],
    parse: forward('D'),
    describe: 'SOCKS proxy on a local port for the session (ssh -D syntax), repeatable',
  }),
  // Session
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
    parse: multiplexer,
    describe:
      'run the session in tmux or screen (it survives a lost connection; --attach comes back), or none (default; tmux with --detach)',
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
  idleTimeout: spec({
    kind: 'string',
    flag: 'idle-timeout',
    env: ['SSH_EC2_IDLE_TIMEOUT'],
    group: 'Session',
    default: undefined as number | undefined,
    parse: duration,
    describe:
      'the agent stops the instance after this long with no job and no ssh session (default 1h; off to disable)',
  }),
  maxTime: spec({
    kind: 'string',
    flag: 'max-time',
    env: ['SSH_EC2_MAX_TIME'],
    group: 'Session',
    default: undefined as number | undefined,
    parse: duration,
    describe: 'the agent stops the instance this long after it was launched or started, job or not (default off)',
  }),
  jobGrace: spec({
    kind: 'string',
    flag: 'job-grace',
    env: ['SSH_EC2_JOB_GRACE'],
    group: 'Session',
    default: undefined as number | undefined,
    parse: duration,
    describe:
      'after a detached job (or one whose connection was lost) ends with nobody attached, the agent stops the instance this much later (default 10m)',
  }),
  capacityTimeout: spec({
    kind: 'string',
    flag: 'capacity-timeout',
    env: ['SSH_EC2_CAPACITY_TIMEOUT'],
    group: 'Session',
    default: (5 * 60_000) as number,
    parse: duration,
    describe:
      'how long to keep trying to start a stopped instance while EC2 has no capacity for it (default 5m; off: a single try)',
  }),
  poweroffCommand: spec({
    kind: 'string',
    env: ['SSH_EC2_POWEROFF_COMMAND'],
    group: 'Session',
    default: 'sudo shutdown -h now',
    parse: text,
    describe: 'the command the agent runs on the instance to power it off',
  }),
  imdsUrl: spec({
    kind: 'string',
    env: ['SSH_EC2_IMDS_URL'],
    group: 'Session',
    default: 'http://169.254.169.254',
    parse: text,
    describe: 'the metadata service the agent asks which instance it runs on',
  }),
  // Sync
  remoteDir: spec({
    kind: 'string',
    flag: 'remote-dir',
    env: ['AWS_RSYNC_DIR'],
    group: 'Sync',
    default: undefined,
    parse: optionalText,
    describe: "directory on the instance, relative to home (default: this directory's name)",
  }),
  rsyncProgram: spec({
    kind: 'string',
    env: ['SSH_EC2_RSYNC'],
    group: 'Sync',
    default: undefined,
    parse: optionalText,
    describe: 'the local rsync to use (default: the first rsync on PATH)',
  }),
  rsync: spec({
    kind: 'boolean',
    flag: 'rsync',
    group: 'Sync',
    default: true,
    parse: bool,
    describe: 'sync the directory up before and back after (--no-rsync: neither)',
  }),
  yes: spec({
    kind: 'boolean',
    flag: 'yes',
    alias: ['y'],
    group: 'General',
    default: false,
    parse: bool,
    describe: 'down: do not ask for confirmation',
  }),
  all: spec({
    kind: 'boolean',
    flag: 'all',
    group: 'General',
    default: false,
    parse: bool,
    describe: "down, ls: all of your ssh-ec2 instances, not only this directory's",
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
} as const;

type SpecValue<S> = S extends Spec<infer T> ? T : never;
export type Options = { -readonly [K in keyof typeof OPTION_SPECS]: SpecValue<(typeof OPTION_SPECS)[K]> } & {
  /** The remote command words; empty for an interactive shell. */
  command: string[];
  /** The settings given as flags on this command line (not by the environment, .env or default). */
  flagged?: ReadonlySet<OptionKey>;
};
export type OptionKey = keyof typeof OPTION_SPECS;

/** Raw values as given on the command line (already split, before parsing). */
export type FlagValues = Partial<Record<OptionKey, string | string[] | boolean>>;

export interface Sources {
  flags: FlagValues;
  env: Readonly<Record<string, string | undefined>>;
  dotenv: Readonly<Record<string, string>>;
  command: string[];
}

/** flags > environment > .env > defaults, for every declared setting. */
export function resolveOptions({ flags, env, dotenv, command }: Sources): Options {
  const flagged = new Set((Object.keys(flags) as OptionKey[]).filter((k) => flags[k] !== undefined));
  const out: Record<string, unknown> = { command, flagged };
  for (const [key, s] of Object.entries(OPTION_SPECS) as [OptionKey, Spec<unknown>][]) {
    out[key] = resolveOne(key, s, flags, env, dotenv);
  }
  return out as Options;
}

function resolveOne(
  key: OptionKey,
  s: Spec<unknown>,
  flags: FlagValues,
  env: Sources['env'],
  dotenv: Sources['dotenv'],
): unknown {
  const flagValue = flags[key];
  if (flagValue !== undefined) {
    const flag = s.flag ?? key;
    const source = flag.length === 1 ? `-${flag}` : `--${flag}`;
    if (typeof flagValue === 'boolean') return flagValue;
    if (Array.isArray(flagValue)) {
      return s.kind === 'strings'
        ? flagValue.flatMap((v) => toArray(s.parse(v, source)))
        : s.parse(flagValue.at(-1) ?? '', source);
    }
    return s.parse(flagValue, source);
  }
  for (const layer of [env, dotenv]) {
    for (const name of s.env ?? []) {
      const raw = layer[name];
      if (raw !== undefined) return s.parse(raw, layer === env ? name : `${name} (in .env)`);
    }
  }
  return s.default;
}

function toArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

/** Names of environment variables the tool reads, for .env filtering and docs. */
export function knownEnvNames(): string[] {
  return Object.values(OPTION_SPECS).flatMap((s) => [...(s.env ?? [])]);
}
