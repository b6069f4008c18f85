/**
 * Every setting of a session, declared once (options/*-options.ts): flag, aliases, environment
 * names (the original ssh-ec2's included), default, help and parser. The `Options` type is derived
 * from the declarations, and `resolveOptions` is the one place that spells out the merge order:
 *   flags > the chosen preset > environment > .env > project file > user file > defaults
 * (.env and the project file `.ssh-ec2.toml` in the current directory; the files: config-files.ts).
 * The verbs' own flags (`down --yes`) are declared with the verbs (commands/).
 */
import { INSTANCE_OPTIONS } from './options/instance-options.js';
import { CONTAINER_OPTIONS } from './options/container-options.js';
import { CONNECTION_OPTIONS, GENERAL_OPTIONS, SESSION_OPTIONS, SYNC_OPTIONS } from './options/session-options.js';
import { GIT_OPTIONS } from './options/git-options.js';
import { HOOK_OPTIONS } from './options/hook-options.js';
import { BATCH_OPTIONS } from './options/batch-options.js';
import type { Spec } from './options/spec.js';

export {
  DEFAULT_INSTANCE_TYPE,
  DEFAULT_REGION,
  LEGACY_IAM_PROFILE,
  MIN_VOLUME_GIB,
} from './options/instance-options.js';
import type { FinalState } from './options/spec.js';
export { FINAL_STATES, type FinalState, type Multiplexer, type Spec } from './options/spec.js';
export { originOf, rethrowFrom, withOrigin, type From } from './options/origins.js';
import type { From } from './options/origins.js';
import type { ConfigFiles, FileLayer } from './options/config-files.js';
import { UsageError } from './errors.js';
import { refuseInProject, USER_ONLY } from './options/file-rules.js';

/** In the order the help shows them. */
export const OPTION_SPECS = {
  ...INSTANCE_OPTIONS,
  ...CONNECTION_OPTIONS,
  ...SESSION_OPTIONS,
  ...CONTAINER_OPTIONS,
  ...HOOK_OPTIONS,
  ...SYNC_OPTIONS,
  ...GIT_OPTIONS,
  ...BATCH_OPTIONS,
  ...GENERAL_OPTIONS,
} as const;

type SpecValue<S> = S extends Spec<infer T> ? T : never;
export type Options = { -readonly [K in keyof typeof OPTION_SPECS]: SpecValue<(typeof OPTION_SPECS)[K]> } & {
  /** The remote command words; empty for an interactive shell. */
  command: string[];
  /**
   * The settings given on this command line: as flags, or by a preset named there (--preset) — not
   * by the environment, .env, a file or a default.
   */
  flagged?: ReadonlySet<OptionKey>;
  /** Where each setting not left to its default came from, as its error messages name it (originOf). */
  origins?: Partial<Record<OptionKey, string>>;
  /** Where each setting not left to its default came from, for `ssh-ec2 config`. */
  from?: Partial<Record<OptionKey, From>>;
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
  /** The line of each name in .env, for `ssh-ec2 config`. */
  dotenvLines?: Readonly<Record<string, number>>;
  /** The config files (options/config-files.ts); none when not given. */
  files?: ConfigFiles;
  command: string[];
}

/** One layer's answer for a setting: its value, as error messages name its origin, and as `config` shows it. */
type Found = { value: unknown; source: string; from: From };
type Layer = (key: OptionKey, s: Spec<unknown>) => Found | undefined;

/**
 * flags > the chosen preset > environment > .env > project file > user file > defaults, for every
 * declared setting (README "Config files and presets" holds the table; test/unit/config.test.ts tests it).
 */
export function resolveOptions(sources: Sources): Options {
  const { flags, command } = sources;
  const flagged = new Set((Object.keys(flags) as OptionKey[]).filter((k) => flags[k] !== undefined));
  const origins: Partial<Record<OptionKey, string>> = {};
  const from: Partial<Record<OptionKey, From>> = {};
  const out: Record<string, unknown> = { command, flagged, origins, from };
  refuseUserOnlyInDotenv(sources);
  const layers = layersOf(sources, true);
  for (const [key, s] of Object.entries(OPTION_SPECS) as [OptionKey, Spec<unknown>][]) {
    const found = resolveOne(key, s, layers);
    out[key] = found ? found.value : s.default;
    if (found) {
      origins[key] = found.source;
      from[key] = found.from;
    }
  }
  // A preset named on the command line is as explicit a choice as the flags it stands for.
  if (from.preset?.from === 'flag') for (const key of presetKeys(from)) flagged.add(key);
  out.plainFinalState = plainFinalState(sources);
  return out as Options;
}

/**
 * `.env` comes with the project, as `.ssh-ec2.toml` does: a cloned one may not set what acts on
 * this machine or widens who reaches it or your account (USER_ONLY), whichever layer would win.
 * The environment itself still may.
 */
function refuseUserOnlyInDotenv({ dotenv, dotenvLines = {} }: Sources): void {
  for (const key of Object.keys(USER_ONLY) as OptionKey[]) {
    const s: Spec<unknown> = OPTION_SPECS[key];
    for (const name of s.env ?? []) {
      const raw = dotenv[name];
      // Empty is not set, or (AWS_IAM_INSTANCE_PROFILE=) no instance profile: neither reaches further.
      if (raw === undefined || raw === '') continue;
      refuseInProject(key, name, s, `.env:${dotenvLines[name] ?? '?'}`, "the project's .env");
    }
  }
}

/** What a next run here without flags would apply; a bad value there is that run's error, not this one's. */
function plainFinalState(sources: Sources): Options['plainFinalState'] {
  try {
    const found = resolveOne('finalState', OPTION_SPECS.finalState, layersOf(sources, false));
    return found
      ? { state: found.value as FinalState, source: found.source }
      : { state: OPTION_SPECS.finalState.default };
  } catch {
    return { state: OPTION_SPECS.finalState.default };
  }
}

function presetKeys(from: Partial<Record<OptionKey, From>>): OptionKey[] {
  return (Object.keys(from) as OptionKey[]).filter((k) => from[k]?.from === 'preset');
}

function resolveOne(key: OptionKey, s: Spec<unknown>, layers: readonly Layer[]): Found | undefined {
  for (const layer of layers) {
    const found = layer(key, s);
    if (found) return found;
  }
  return undefined;
}

/** The layers, highest first; without the flags (and a preset they chose) for plainFinalState. */
function layersOf(sources: Sources, withFlags: boolean): Layer[] {
  const { flags, env, dotenv, dotenvLines = {}, files } = sources;
  const environment: Layer = (_key, s) => {
    for (const name of s.env ?? []) {
      const raw = env[name];
      if (raw !== undefined && (raw !== '' || s.emptyIsValue))
        return { value: s.parse(raw, name), source: name, from: { from: 'env', name } };
    }
    return undefined;
  };
  const dotenvLayer: Layer = (_key, s) => {
    for (const name of s.env ?? []) {
      const raw = dotenv[name];
      if (raw === undefined || (raw === '' && !s.emptyIsValue)) continue;
      const source = `${name} (in .env)`;
      return {
        value: s.parse(raw, source),
        source,
        from: { from: 'dotenv', name, file: '.env', line: dotenvLines[name] },
      };
    }
    return undefined;
  };
  const flagLayer: Layer = (key, s) => fromFlag(key, s, flags);
  const presetName = resolveOne(
    'preset',
    OPTION_SPECS.preset,
    withFlags ? [flagLayer, environment, dotenvLayer] : [environment, dotenvLayer],
  );
  const preset = presetName
    ? chosenPreset(presetName.value as string | undefined, presetName.source, files)
    : undefined;
  return [
    ...(withFlags ? [flagLayer] : []),
    ...(preset ? [fileLayer(preset)] : []),
    environment,
    dotenvLayer,
    ...(files?.project ? [fileLayer(files.project)] : []),
    ...(files?.user ? [fileLayer(files.user)] : []),
  ];
}

function chosenPreset(name: string | undefined, source: string, files: ConfigFiles | undefined): FileLayer | undefined {
  if (name === undefined) return undefined;
  const preset = files?.presets.get(name);
  if (preset) return preset;
  const known = [...(files?.presets.keys() ?? [])].sort();
  const listed = known.length ? `known: ${known.join(', ')}` : 'the config files define none';
  throw new UsageError(
    `${source}: no preset named "${name}"; ${listed}`,
    'Presets are [presets.NAME] tables in .ssh-ec2.toml or ~/.config/ssh-ec2/config.toml.',
  );
}

function fileLayer(layer: FileLayer): Layer {
  return (key) => {
    const v = layer.values[key];
    if (!v) return undefined;
    const at = `${layer.file}:${v.line}`;
    const from: From =
      layer.kind === 'preset'
        ? { from: 'preset', preset: layer.preset!, file: layer.file, line: v.line }
        : { from: layer.kind, file: layer.file, line: v.line };
    const source = layer.kind === 'preset' ? `${at} (preset ${layer.preset}): ${v.key}` : `${at}: ${v.key}`;
    return { value: v.value, source, from };
  };
}

/** A setting as the command line spells it (`-L`, `--volume`); the final state's flag is its value (`--stop`). */
export function flagSpelling(key: OptionKey, finalState?: unknown): string {
  // The final state has no flag of its own: --terminate, --stop or --leave gave it (args.ts).
  const flag = key === 'finalState' ? String(finalState) : ((OPTION_SPECS[key] as Spec<unknown>).flag ?? key);
  return flag.length === 1 ? `-${flag}` : `--${flag}`;
}

function fromFlag(key: OptionKey, s: Spec<unknown>, flags: FlagValues): Found | undefined {
  const flagValue = flags[key];
  if (flagValue === undefined) return undefined;
  const source = flagSpelling(key, flagValue);
  const found = (value: unknown): Found => ({ value, source, from: { from: 'flag', name: source } });
  if (typeof flagValue === 'boolean') return found(flagValue);
  if (Array.isArray(flagValue)) {
    return found(
      s.kind === 'strings'
        ? flagValue.flatMap((v) => toArray(s.parse(v, source)))
        : s.parse(flagValue.at(-1) ?? '', source),
    );
  }
  return found(s.parse(flagValue, source));
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
