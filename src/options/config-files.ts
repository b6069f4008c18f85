/**
 * The config files: the user's (`$XDG_CONFIG_HOME/ssh-ec2/config.toml`, by default under
 * ~/.config) and the project's (`.ssh-ec2.toml` in the project directory, beside .rsyncignore),
 * with their named presets (`[presets.big]`; a project preset replaces the user's of the same name).
 * Keys are the long flag names (`instance-type`, `max-time`); each value goes through the parser
 * its flag uses, so a bad value fails as the flag would, naming the file and line. Every value is
 * checked when the file is read, whichever layer wins: a file with an error is an error.
 * Where these layers sit among the others: options.ts resolveOptions.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { UsageError } from '../errors.js';
import { nearest } from '../flags-given.js';
import { OPTION_SPECS, type OptionKey } from '../options.js';
import { filePath, refuseInProject, RUN_MODES, USER_ONLY, type FileContext } from './file-rules.js';
import type { FinalState, Spec } from './spec.js';
import { readToml, type TomlEntry, type TomlValue } from './toml-lines.js';

export const PROJECT_FILE = '.ssh-ec2.toml';

/** One value a file gives: parsed, with the line it is on and the key it was written as. */
export interface FileValue {
  value: unknown;
  line: number;
  key: string;
}
export type FileValues = Partial<Record<OptionKey, FileValue>>;

/** A layer read from a file: its settings, or one preset's. */
export interface FileLayer {
  kind: 'project' | 'user' | 'preset';
  /** The file as the user reads it: `.ssh-ec2.toml`, `~/.config/ssh-ec2/config.toml`. */
  file: string;
  /** The preset's name, for a preset layer. */
  preset?: string;
  values: FileValues;
}

export interface ConfigFiles {
  project?: FileLayer;
  user?: FileLayer;
  /** Every preset of both files by name, the project's replacing the user's. */
  presets: Map<string, FileLayer>;
}

/** A setting's key in a file: its long flag, else its name in kebab case (`final-state`, `local-forwards`). */
export function fileKey(key: OptionKey): string {
  const flag = (OPTION_SPECS[key] as Spec<unknown>).flag;
  return flag && flag.length > 1 ? flag : key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `stop = true` as on the command line (--stop), beside `final-state = "stop"`. */
const FINAL_STATE_KEYS: Record<string, FinalState> = { terminate: 'terminate', stop: 'stop', leave: 'leave' };

function keyTable(): Map<string, OptionKey> {
  const m = new Map<string, OptionKey>();
  // --preset chooses among the files' presets: a file cannot name one; nor a run mode (file-rules.ts).
  for (const key of Object.keys(OPTION_SPECS) as OptionKey[])
    if (key !== 'preset' && !RUN_MODES[key]) m.set(fileKey(key), key);
  return m;
}

export function userConfigPath(env: Readonly<Record<string, string | undefined>>): string {
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'ssh-ec2', 'config.toml');
}

/**
 * Both files of `projectDir`, read and checked; a missing file is no layer. Without `projectDir`
 * (a verb that reads no project settings: proxy-connect), the user file alone.
 */
export function readConfigFiles(
  projectDir: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): ConfigFiles {
  const userPath = userConfigPath(env);
  const home = env.HOME || homedir();
  const shownUser = relative(home, userPath).startsWith('..') ? userPath : join('~', relative(home, userPath));
  const user = readOne(userPath, shownUser, { kind: 'user', dir: dirname(userPath), home });
  const project =
    projectDir === undefined
      ? undefined
      : readOne(join(projectDir, PROJECT_FILE), PROJECT_FILE, { kind: 'project', dir: projectDir, home });
  const presets = new Map([...(user?.presets ?? []), ...(project?.presets ?? [])]);
  return { user: user?.layer, project: project?.layer, presets };
}

/**
 * The presets' names for completion: never an error, and no parse — a file with a bad value
 * further down still offers its presets (their table lines are all it reads).
 */
export function presetNames(projectDir: string, env: Readonly<Record<string, string | undefined>>): string[] {
  const names = new Set<string>();
  for (const path of [userConfigPath(env), join(projectDir, PROJECT_FILE)]) {
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(
      /^[ \t]*\[[ \t]*presets[ \t]*\.[ \t]*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))[ \t]*\]/gm,
    ))
      names.add(m[1] ?? m[2] ?? m[3]!);
  }
  return [...names].sort();
}

function readOne(
  path: string,
  shown: string,
  file: FileContext,
): { layer: FileLayer; presets: Map<string, FileLayer> } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
  const keys = keyTable();
  const layer: FileLayer = { kind: file.kind, file: shown, values: {} };
  const presets = new Map<string, FileLayer>();
  for (const table of readToml(text, shown)) {
    const at = `${shown}:${table.line}`;
    if (table.path.length === 0) {
      layer.values = checked(table.entries, keys, shown, file);
    } else if (table.path[0] === 'presets' && table.path.length === 2) {
      const name = table.path[1]!;
      presets.set(name, {
        kind: 'preset',
        file: shown,
        preset: name,
        values: checked(table.entries, keys, shown, file),
      });
    } else if (table.path.length === 1 && table.path[0] === 'presets') {
      if (table.entries.length) throw new UsageError(`${at}: a preset is a table of its own: [presets.NAME]`);
    } else {
      throw new UsageError(`${at}: unknown table [${table.path.join('.')}]; presets are [presets.NAME]`);
    }
  }
  return { layer, presets };
}

/** The entries of one table as settings, each parsed as its flag would be. */
function checked(
  entries: readonly TomlEntry[],
  keys: Map<string, OptionKey>,
  shown: string,
  file: FileContext,
): FileValues {
  const out: FileValues = {};
  for (const { key, value, line } of entries) {
    const at = `${shown}:${line}`;
    const setting = FINAL_STATE_KEYS[key] ? 'finalState' : keys.get(key);
    const mode = (Object.keys(RUN_MODES) as OptionKey[]).find((k) => fileKey(k) === key);
    if (mode) throw new UsageError(`${at}: ${key} is not a setting for a file: ${RUN_MODES[mode]}`);
    if (setting && file.kind === 'project' && USER_ONLY[setting])
      refuseInProject(setting, key, OPTION_SPECS[setting] as Spec<unknown>, at);
    if (!setting) {
      const close = nearest(key, [...keys.keys(), ...Object.keys(FINAL_STATE_KEYS)]);
      throw new UsageError(`${at}: unknown setting "${key}"${close ? ` (did you mean ${close}?)` : ''}`);
    }
    const previous = out[setting];
    if (previous) throw new UsageError(`${at}: ${key} sets the same as ${previous.key} (line ${previous.line})`);
    out[setting] = { value: parse(setting, key, value, `${at}: ${key}`, file), line, key };
  }
  return out;
}

function parse(setting: OptionKey, key: string, value: TomlValue, source: string, file: FileContext): unknown {
  const s = OPTION_SPECS[setting] as Spec<unknown>;
  if (FINAL_STATE_KEYS[key]) {
    if (value !== true) throw new UsageError(`${source}: only ${key} = true means something (or final-state = "…")`);
    return FINAL_STATE_KEYS[key];
  }
  if (typeof value === 'boolean' && s.kind !== 'boolean')
    throw new UsageError(`${source}: expected text in quotes, got ${value}`);
  if (Array.isArray(value))
    return s.kind === 'strings' ? value.flatMap((v) => [s.parse(v, source)].flat()) : s.parse(value.join(','), source);
  const raw = typeof value === 'string' ? filePath(setting, value, file, source) : String(value);
  return s.kind === 'strings' ? [s.parse(raw, source)].flat() : s.parse(raw, source);
}
