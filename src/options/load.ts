/**
 * Every source of settings read for a run in `cwd`: .env and the config files there and in the
 * user's config directory, then resolveOptions' merge. The entry (cli.ts) calls it; nothing below
 * reads the files or the environment again.
 */
import { readDotenv } from '../dotenv.js';
import { knownEnvNames, resolveOptions, type FlagValues, type Options } from '../options.js';
import { readConfigFiles } from './config-files.js';

export async function loadOptions(o: {
  flags: FlagValues;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  command: string[];
}): Promise<Options> {
  const dotenv = await readDotenv(o.cwd, new Set(knownEnvNames()));
  const files = readConfigFiles(o.cwd, o.env);
  return resolveOptions({ ...o, dotenv: dotenv.values, dotenvLines: dotenv.lines, files });
}
