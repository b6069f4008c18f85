/**
 * Every setting of a session, declared once (options/*-options.ts): flag, aliases, environment
 * names (the original ssh-ec2's included), default, help and parser. The `Options` type is derived
 * from the declarations, and `resolveOptions` is the one place that spells out the merge order:
 *   flags > environment > .env in the current directory > defaults.
 * The verbs' own flags (`down --yes`) are declared with the verbs (commands/).
 */
import { INSTANCE_OPTIONS } from './options/instance-options.js';
import { CONNECTION_OPTIONS, GENERAL_OPTIONS, SESSION_OPTIONS, SYNC_OPTIONS } from './options/session-options.js';
import type { Spec } from './options/spec.js';

export {
  DEFAULT_INSTANCE_TYPE,
  DEFAULT_REGION,
  LEGACY_IAM_PROFILE,
  MIN_VOLUME_GIB,
} from './options/instance-options.js';
export { FINAL_STATES, type FinalState, type Multiplexer, type Spec } from './options/spec.js';

/** In the order the help shows them. */
export const OPTION_SPECS = {
  ...INSTANCE_OPTIONS,
  ...CONNECTION_OPTIONS,
  ...SESSION_OPTIONS,
  ...SYNC_OPTIONS,
  ...GENERAL_OPTIONS,
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

/** The tag recording an instance's login user, written at launch (the image's default user, or --user). */
export const LOGIN_TAG = 'ssh-ec2:login';

/** Whom to log in as on an instance found (not launched) by this run: --user, else what its launch recorded. */
export function loginUser(o: Pick<Options, 'user'>, tags: Readonly<Record<string, string>>): string {
  return o.user ?? tags[LOGIN_TAG] ?? 'ubuntu';
}
