/**
 * What a setting's declaration holds (options.ts gathers them), and the parsers that turn a raw
 * string — from a flag, the environment or .env — into its value, naming where it came from when
 * it is wrong.
 */
import { UsageError } from '../errors.js';
import { parseDuration } from '../time.js';

export type FinalState = 'terminate' | 'stop' | 'leave';
export const FINAL_STATES: readonly FinalState[] = ['terminate', 'stop', 'leave'];

export type Multiplexer = 'tmux' | 'screen' | 'none';

type Kind = 'string' | 'boolean' | 'strings';
export type Group = 'Instance' | 'Connection' | 'Session' | 'Sync' | 'Batch' | 'General';

export interface Spec<T> {
  kind: Kind;
  /** Long flag name (without --); undefined for settings read only from the environment. */
  flag?: string;
  alias?: readonly string[];
  env?: readonly string[];
  describe: string;
  group: Group;
  /** Value when nothing is set; settings whose default depends on others stay undefined here. */
  default: T;
  /** What the help shows as the default of a setting whose default is decided later (from the image, …). */
  defaultText?: string;
  /** Turns a raw string (from a flag, the environment or .env) into the value. */
  parse: (raw: string, source: string) => T;
  hidden?: boolean;
  /** How a value that may hold a secret (a token in a URL) is shown by `ssh-ec2 config`, text and --json. */
  shown?: (value: string) => string;
  /**
   * An empty environment or .env value is the value (`AWS_IAM_INSTANCE_PROFILE=`: no profile), where
   * the README says so. For every other setting, empty is not set: the layers below decide (the
   * original's Makefiles export MULTIPLEX="").
   */
  emptyIsValue?: boolean;
}

/**
 * `fallback`: for a setting left undefined so that something recorded elsewhere wins (an agent
 * limit recorded on the instance: limits.ts), the value used when nothing gives one.
 */
export function spec<T, F extends NonNullable<T> | undefined = undefined>(
  s: Spec<T> & { fallback?: F },
): Spec<T> & { fallback: F } {
  return s as Spec<T> & { fallback: F };
}

export const text = (raw: string) => raw;
export const optionalText = (raw: string): string | undefined => (raw === '' ? undefined : raw);

export function bool(raw: string, source: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new UsageError(`${source}: expected true or false, got "${raw}"`);
}

export function list(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function positiveInt(raw: string, source: string): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) <= 0) {
    throw new UsageError(`${source}: expected a positive whole number, got "${raw}"`);
  }
  return Number(raw);
}

/** A price in USD per hour, as EC2 takes it (a decimal string: "0.35"); empty: none. */
export function usd(raw: string, source: string): string | undefined {
  const v = raw.trim().replace(/^\$/, '');
  if (v === '') return undefined;
  // ".5" as --budget takes it; sent to EC2 as "0.5".
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(v) || Number(v) <= 0)
    throw new UsageError(`${source}: expected a price in USD per hour such as 0.35, got "${raw}"`);
  return String(Number(v));
}

export function finalState(raw: string, source: string): FinalState {
  const v = raw.trim().toLowerCase();
  if ((FINAL_STATES as readonly string[]).includes(v)) return v as FinalState;
  throw new UsageError(`${source}: expected terminate, stop or leave, got "${raw}"`);
}

export function cidr(raw: string, source: string): string {
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

export function subnetId(raw: string, source: string): string | undefined {
  const v = raw.trim();
  if (v === '') return undefined;
  if (!/^subnet-[0-9a-f]{8,17}$/.test(v))
    throw new UsageError(`${source}: expected a subnet id such as subnet-0123456789abcdef0, got "${raw}"`);
  return v;
}

/** Empty (the original's Makefile recipes set MULTIPLEX="") means "not chosen": none, or tmux with --detach. */
export function multiplexer(raw: string, source: string): Multiplexer | undefined {
  const v = raw.trim().toLowerCase();
  if (v === '') return undefined;
  if (v === 'tmux' || v === 'screen' || v === 'none') return v;
  throw new UsageError(`${source}: expected tmux, screen or none, got "${raw}"`);
}

/** "90s", "15m", "2h", "1h30m" → ms; "0", "off" or "none" → 0 (no limit). */
export function duration(raw: string, source: string): number {
  const v = raw.trim().toLowerCase();
  if (v === '0' || v === 'off' || v === 'none') return 0;
  const ms = parseDuration(v);
  if (ms === undefined)
    throw new UsageError(`${source}: expected a duration such as 90s, 15m or 2h (or off), got "${raw}"`);
  return ms;
}

export function forward(kind: 'L' | 'R' | 'D') {
  return (raw: string, source: string): string[] => {
    const ok = kind === 'D' ? /^([^\s:]+:)?\d+$/.test(raw) : /^[^\s]+:\d*:?[^\s]*$/.test(raw) && raw.includes(':');
    if (!ok)
      throw new UsageError(
        `${source}: "${raw}" is not an ssh forward spec (e.g. ${kind === 'D' ? '1080' : '8888:localhost:8888'})`,
      );
    return [raw];
  };
}

/** "2", "0.50", "$1.5" → US dollars (a cost guardrail: --max-hourly-cost, --budget); positive. */
export function dollars(raw: string, source: string): number {
  const v = raw.trim().replace(/^\$/, '');
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(v) || Number(v) <= 0)
    throw new UsageError(`${source}: expected an amount in US dollars such as 2 or 0.50, got "${raw}"`);
  return Number(v);
}
