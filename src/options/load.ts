/**
 * Every source of settings read for a run in `cwd`: .env and the config files there and in the
 * user's config directory, then resolveOptions' merge. The entry (cli.ts) calls it; nothing below
 * reads the files or the environment again. `project: false` (a verb that declares
 * noProjectSettings): the user file and the environment only — the directory ssh happened to be
 * started in is no project of the instance it reaches.
 */
import { readDotenv } from '../dotenv.js';
import { knownEnvNames, resolveOptions, type FlagValues, type Options } from '../options.js';
import { readConfigFiles } from './config-files.js';

export async function loadOptions(o: {
  flags: FlagValues;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  command: string[];
  project?: boolean;
}): Promise<Options> {
  const { project = true, ...sources } = o;
  const dotenv = project ? await readDotenv(o.cwd, new Set(knownEnvNames())) : { values: {}, lines: {} };
  const files = readConfigFiles(project ? o.cwd : undefined, o.env);
  return resolveOptions({ ...sources, dotenv: dotenv.values, dotenvLines: dotenv.lines, files });
}
