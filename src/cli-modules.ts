/**
 * What the entry (cli.ts) needs beyond `--version`, loaded in one piece once it is needed: the
 * parser (yargs), the settings, the commands' declarations (not their code: each command's
 * `load`), the logger.
 */
export { helpText, parseArgs } from './args.js';
export { DEFAULT_COMMAND, findVerb } from './commands/registry.js';
export { loadOptions } from './options/load.js';
export { createLogger } from './ui/logger.js';
