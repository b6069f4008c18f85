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
import type { FinalState } from './options/spec.js';
export { FINAL_STATES, type FinalState, type Multiplexer, type Spec } from './options/spec.js';
export { originOf, rethrowFrom, withOrigin } from './options/origins.js';

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
  /** Where each setting not left to its default came from, as its error messages name it (originOf). */
  origins?: Partial<Record<OptionKey, string>>;
  /** The final state a plain run here applies: this one's, without its flags (the final state is per run). */
  plainFinalState?: { state: FinalState; source?: string };
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
  const origins: Partial<Record<OptionKey, string>> = {};
  const out: Record<string, unknown> = { command, flagged, origins };
  for (const [key, s] of Object.entries(OPTION_SPECS) as [OptionKey, Spec<unknown>][]) {
    const { value, source } = resolveOne(key, s, flags, env, dotenv);
    out[key] = value;
    if (source) origins[key] = source;
  }
  out.plainFinalState = plainFinalState(env, dotenv);
  return out as Options;
}

/** What a next run here without flags would apply; a bad value there is that run's error, not this one's. */
function plainFinalState(env: Sources['env'], dotenv: Sources['dotenv']): Options['plainFinalState'] {
  try {
    const { value, source } = resolveOne('finalState', OPTION_SPECS.finalState, {}, env, dotenv);
    return { state: value as FinalState, source };
  } catch {
    return { state: OPTION_SPECS.finalState.default };
  }
}

function resolveOne(
  key: OptionKey,
  s: Spec<unknown>,
  flags: FlagValues,
  env: Sources['env'],
  dotenv: Sources['dotenv'],
): { value: unknown; source?: string } {
  const flagValue = flags[key];
  if (flagValue !== undefined) {
    const flag = s.flag ?? key;
    const source = flag.length === 1 ? `-${flag}` : `--${flag}`;
    if (typeof flagValue === 'boolean') return { value: flagValue, source };
    if (Array.isArray(flagValue)) {
      const value =
        s.kind === 'strings'
          ? flagValue.flatMap((v) => toArray(s.parse(v, source)))
          : s.parse(flagValue.at(-1) ?? '', source);
      return { value, source };
    }
    return { value: s.parse(flagValue, source), source };
  }
  for (const layer of [env, dotenv]) {
    for (const name of s.env ?? []) {
      const raw = layer[name];
      if (raw === undefined) continue;
      const source = layer === env ? name : `${name} (in .env)`;
      return { value: s.parse(raw, source), source };
    }
  }
  return { value: s.default };
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
