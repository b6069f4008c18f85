/**
 * The entry: parse, resolve settings, run, and turn every error into an exit status — the only
 * place that does. A UserError prints one line and a hint; anything else is a bug and prints
 * its stack with "please report".
 */
import { readFileSync } from 'node:fs';
import { ExitCode, UserError } from './errors.js';
import { packageFile } from './package-files.js';
import type { SessionDeps } from './session/run-session.js';
import type { StoryDeps } from './session/story.js';
import type { Logger } from './ui/logger.js';

export { enableCompileCache } from './compile-cache.js';

export interface Io {
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  stdout: NodeJS.WritableStream;
  stdinIsTTY: boolean;
  stdoutIsTTY: boolean;
  /** ssh-ec2's own output (the logger's); process.stderr by default. */
  stderr?: NodeJS.WritableStream;
  /** The cloud port, for tests (test/fakes/cloud.ts); by default the EC2 client (story.ts loadCloud). */
  loadCloud?: SessionDeps['loadCloud'];
  /** The batch port, for tests (test/fakes/batch-cloud.ts); by default AWS's (batch/clouds.ts). */
  loadBatchCloud?: StoryDeps['loadBatchCloud'];
}

const defaultIo = (): Io => ({
  env: process.env,
  cwd: process.cwd(),
  stdout: process.stdout,
  stdinIsTTY: Boolean(process.stdin.isTTY),
  stdoutIsTTY: Boolean(process.stdout.isTTY),
});

/**
 * A closed terminal (SIGHUP) makes every later write to it fail (EIO). Unheard, that error would
 * end the process in the middle of the finish (sync back, final state); the output is lost
 * instead, and the work goes on.
 */
function surviveLostTerminal(): void {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
}

export async function main(argv: readonly string[], io: Io = defaultIo()): Promise<number> {
  if (io.stdout === process.stdout) surviveLostTerminal();
  // The version alone is answered before the rest is loaded (yargs, the settings, the logger), in
  // about the time of a bare `node` (issue #11). With anything else, the parser decides.
  if (argv.length === 1 && argv[0] === '--version') {
    io.stdout.write(`${version()}\n`);
    return ExitCode.ok;
  }
  // The completion scripts ask at every Tab: answered from the declarations alone (no yargs, no SDK).
  if (argv[0] === '__complete') {
    const { complete } = await import('./commands/completion/candidates.js');
    for (const c of complete(argv.slice(1), { env: io.env, cwd: io.cwd })) io.stdout.write(`${c}\n`);
    return ExitCode.ok;
  }
  const m = await import('./cli-modules.js');
  let log: Logger = m.createLogger({ env: io.env, stream: io.stderr });
  try {
    const verb = m.findVerb(argv[0]);
    const command = verb ?? m.DEFAULT_COMMAND;
    const args = await m.parseArgs(verb ? argv.slice(1) : argv, command);
    if (args.help) {
      io.stdout.write(`${await m.helpText(command)}\n`);
      return ExitCode.ok;
    }
    if (args.version) {
      io.stdout.write(`${version()}\n`);
      return ExitCode.ok;
    }
    const options = await m.loadOptions({
      flags: args.flags,
      env: io.env,
      cwd: io.cwd,
      command: args.command,
      project: !command.noProjectSettings,
    });
    log = m.createLogger({ env: io.env, verbose: options.verbose, silent: options.silent, stream: io.stderr });
    const { run } = await command.load();
    try {
      return await run({
        options,
        env: io.env,
        cwd: io.cwd,
        log,
        stdinIsTTY: io.stdinIsTTY,
        stdoutIsTTY: io.stdoutIsTTY,
        stdout: io.stdout,
        word: verb ? argv[0]! : '',
        flags: args.verbFlags,
        loadCloud: io.loadCloud,
        loadBatchCloud: io.loadBatchCloud,
      });
    } finally {
      // A run's scratch files, once it has ended (a killed run's: by the next one). Loaded only
      // now: the sweep asks `ps` (execa), which the help does not need.
      const [{ sweepRuntime }, { resolvePaths }] = await Promise.all([
        import('./state/leftovers.js'),
        import('./state/paths.js'),
      ]);
      sweepRuntime(resolvePaths(io.env));
    }
  } catch (err) {
    return report(err, log);
  }
}

function report(err: unknown, log: Logger): number {
  if (err instanceof UserError) {
    log.error(err.message, err.hint);
    return err.exitCode;
  }
  // No public issue tracker is named here: the package declares no repository.
  log.error(
    `internal error, please report it to the ssh-ec2 maintainers with the stack below\n${(err as Error)?.stack ?? String(err)}`,
  );
  return ExitCode.internal;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
