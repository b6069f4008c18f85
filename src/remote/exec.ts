/**
 * The only module that starts other programs. Commands are argv arrays run without a shell,
 * so shell injection is impossible by construction; failures become a typed SubprocessError.
 * Every program gets childEnv(): no AWS_* variable ever reaches one.
 */
import type { Writable } from 'node:stream';
import { execa, execaSync } from 'execa';
import { ConfigError, SubprocessError } from '../errors.js';
import { track } from './children.js';

export { onSpawn, runningPrograms, type Spawned } from './children.js';

export interface RunOptions {
  input?: string | Buffer;
  cwd?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Where stderr goes when it must not be a pipe (a forked ssh master would hold a pipe open). */
  stderrFile?: string;
  /** Aborting kills the program (SIGTERM). */
  signal?: AbortSignal;
  /** Each piece of stdout as it comes (a progress count); stdout is still returned whole. */
  onStdout?: (chunk: string) => void;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * The environment of a program we start: `env` (default: ours) without any AWS_* variable. None
 * of ssh, rsync or ssh-keygen needs one, and ssh sends whatever its `SendEnv` names (`SendEnv
 * AWS_*` is not rare, and rsync runs ssh too): the credentials would land on the instance.
 */
export function childEnv(env: Readonly<Record<string, string | undefined>> = process.env): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && !/^AWS_/i.test(e[0])),
  );
}

/** Runs a program to completion and captures its output; throws SubprocessError unless it exits 0. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const result = await runAllowFailure(argv, opts);
  if (result.exitCode !== 0) {
    throw new SubprocessError(argv, result.exitCode, result.signal, result.stderr);
  }
  return result;
}

/**
 * Like run, but a non-zero exit is a result, not an error. The program runs in a process group of
 * its own: a Ctrl-C or a closed terminal signals ssh-ec2's group, and ssh-ec2 decides what to end;
 * the finish still needs its rsync and ssh, which must not die with the first Ctrl-C.
 */
export async function runAllowFailure(
  argv: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult & { signal?: string }> {
  const [file, ...args] = argv as [string, ...string[]];
  const child = execa(file, args, {
    detached: true,
    reject: false,
    input: opts.input,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    stdout: opts.stderrFile ? 'ignore' : 'pipe',
    stderr: opts.stderrFile ? { file: opts.stderrFile, append: true } : 'pipe',
    cwd: opts.cwd,
    env: childEnv(opts.env),
    extendEnv: false,
    timeout: opts.timeoutMs,
    cancelSignal: opts.signal,
    stripFinalNewline: false,
    encoding: 'utf8',
  });
  const untrack = track(child.pid, argv, { ownGroup: true });
  const onStdout = opts.onStdout;
  if (onStdout) child.stdout?.on('data', (d: Buffer | string) => onStdout(String(d)));
  const r = await child.finally(untrack);
  if (r.failed && r.exitCode === undefined && !r.signal) throw notStarted(argv, r);
  return {
    stdout: typeof r.stdout === 'string' ? r.stdout : '',
    stderr: typeof r.stderr === 'string' ? r.stderr : '',
    exitCode: r.exitCode ?? 128 + 15,
    signal: r.signal ?? undefined,
  };
}

/**
 * Runs two programs, each one's stdout feeding the other's stdin (an rsync server on this side of
 * an ssh whose remote rsync is the client: see rsync.ts serverPullArgv). Like run, it throws
 * SubprocessError unless both exit 0. Both are tracked like run's programs (the journal lists
 * them), each in a process group of its own.
 */
export async function runCrossed(
  a: readonly string[],
  b: readonly string[],
  opts: { timeoutMs?: number } = {},
): Promise<[RunResult, RunResult]> {
  const start = (argv: readonly string[]) => {
    const [file, ...args] = argv as [string, ...string[]];
    return execa(file, args, {
      detached: true,
      reject: false,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      env: childEnv(),
      extendEnv: false,
      timeout: opts.timeoutMs,
      buffer: { stdout: false },
      encoding: 'buffer',
    });
  };
  const pa = start(a);
  const pb = start(b);
  pa.stdout!.pipe(pb.stdin!);
  pb.stdout!.pipe(pa.stdin!);
  const untrack = [track(pa.pid, a, { ownGroup: true }), track(pb.pid, b, { ownGroup: true })];
  // One ending first closes the other's input: it then ends too (or is ended by its own error).
  const results = await Promise.all([pa, pb]).finally(() => untrack.forEach((u) => u()));
  // execa gives a buffered output as a Uint8Array, not a Buffer.
  const sides = results.map((r, i) => {
    const argv = i === 0 ? a : b;
    if (r.failed && r.exitCode === undefined && !r.signal) throw notStarted(argv, r);
    return {
      argv,
      exitCode: r.exitCode,
      signal: r.signal ?? undefined,
      stderr: r.stderr instanceof Uint8Array ? Buffer.from(r.stderr).toString('utf8') : '',
    };
  }) as [CrossedSide, CrossedSide];
  const failure = crossedFailure(sides);
  if (failure) throw failure;
  return [
    { stdout: '', stderr: sides[0].stderr, exitCode: 0 },
    { stdout: '', stderr: sides[1].stderr, exitCode: 0 },
  ];
}

interface CrossedSide {
  argv: readonly string[];
  exitCode: number | undefined;
  signal: string | undefined;
  stderr: string;
}

/**
 * The error of two crossed programs, named after the side that failed first in truth. One failing
 * makes the other fail too, of its lost peer (rsync's exit 12, "connection unexpectedly closed",
 * or SIGPIPE): the side that failed otherwise is the cause, and `b` (the remote side) when both
 * look alike. Its stderr is the message (the other's only says its peer went away), or the
 * other's when it said nothing.
 */
function crossedFailure(sides: readonly [CrossedSide, CrossedSide]): SubprocessError | undefined {
  const failed = sides.filter((s) => s.exitCode !== 0 || s.signal);
  if (failed.length === 0) return undefined;
  const lostPeer = (s: CrossedSide) => s.exitCode === 12 || s.signal === 'SIGPIPE';
  const cause = failed.filter((s) => !lostPeer(s)).at(-1) ?? failed.at(-1)!;
  const other = sides.find((s) => s !== cause)!;
  return new SubprocessError(
    cause.argv,
    cause.exitCode,
    cause.signal,
    cause.stderr.trim() ? cause.stderr : other.stderr,
  );
}

export interface AttachedResult {
  exitCode: number;
  signal?: string;
}

/**
 * Runs a program with the user's terminal (stdin, stdout, stderr inherited), for the session
 * itself. `kill` lets the caller end it (signals during the session). `ownGroup`: in a process
 * group (and session) of its own, out of reach of the terminal's Ctrl-C, which ssh-ec2 then
 * decides about — only for a program that does not read the terminal itself: out of its session,
 * job control (Ctrl-Z, a background run) would no longer stop it from reading the keyboard.
 * `input`: 'none' reads nothing from here (following a log); 'relay' gives it our stdin through a
 * pipe, ssh-ec2 reading the terminal in its place (see relayStdin).
 */
export function runAttached(
  argv: readonly string[],
  opts: {
    env?: Record<string, string | undefined>;
    ownGroup?: boolean;
    input?: 'inherit' | 'none' | 'relay';
    cwd?: string;
  } = {},
): {
  done: Promise<AttachedResult>;
  kill: (signal?: NodeJS.Signals) => void;
} {
  const [file, ...args] = argv as [string, ...string[]];
  const input = opts.input ?? 'inherit';
  const child = execa(file, args, {
    stdin: input === 'none' ? 'ignore' : input === 'relay' ? 'pipe' : 'inherit',
    stdout: 'inherit',
    stderr: 'inherit',
    reject: false,
    env: childEnv(opts.env),
    extendEnv: false,
    detached: opts.ownGroup ?? false,
    cwd: opts.cwd,
  });
  const untrack = track(child.pid, argv, { ownGroup: opts.ownGroup ?? false });
  const unrelay = input === 'relay' && child.stdin ? relayStdin(child.stdin) : () => {};
  const done = child.then((r) => {
    untrack();
    unrelay();
    if (r.exitCode === undefined && !r.signal) throw notStarted(argv, r);
    return { exitCode: r.exitCode ?? 128 + signalNumber(r.signal), signal: r.signal ?? undefined };
  });
  return { done, kill: (signal = 'SIGTERM') => void child.kill(signal) };
}

/**
 * Our stdin copied into a program's, for a program that must be out of the terminal's reach yet
 * read what is typed there (ssh without a terminal on the instance, stdin a terminal here: see
 * run-session.ts). ssh-ec2 stays in the terminal's foreground group and reads it as ssh would
 * have: cooked, a line at a time (no raw mode: no terminal there to interpret keys), Ctrl-D
 * giving end of file, which ends the program's stdin in turn. Returns the undoing: once the
 * program is over, the terminal is no longer read (nothing typed later is taken from the shell).
 */
function relayStdin(to: Writable): () => void {
  // The program may end without reading all (or any) of it: its closed pipe is no error of ours.
  to.on('error', () => {});
  // A terminal gone (a closed window) may fail the read (EIO): the end of the input, never a
  // crash of the run, which still has its finish to do (the SIGHUP says the rest).
  const ended = () => to.end();
  process.stdin.on('error', ended);
  process.stdin.pipe(to);
  return () => {
    process.stdin.unpipe(to);
    process.stdin.off('error', ended);
    process.stdin.pause();
  };
}

function signalNumber(name: string | undefined): number {
  const table: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return table[name ?? ''] ?? 15;
}

/**
 * A program that could not be started at all. Not found (a minimal container without ssh, an
 * rsync uninstalled) is the environment, not a bug: one line saying which program and how to
 * get it, exit 3.
 */
function notStarted(argv: readonly string[], r: { code?: string; message?: string }): Error {
  if (r.code === 'ENOENT') return new MissingProgramError(argv[0]!);
  return new SubprocessError(argv, undefined, undefined, r.message ?? '');
}

const OPENSSH =
  'Install the OpenSSH client (macOS has it; Debian/Ubuntu: sudo apt install openssh-client; Fedora: sudo dnf install openssh-clients).';
const INSTALL: Record<string, string> = {
  ssh: OPENSSH,
  'ssh-keygen': OPENSSH,
  rsync:
    'Install rsync (macOS: brew install rsync; Debian/Ubuntu: sudo apt install rsync; Fedora: sudo dnf install rsync), or run with --no-rsync.',
  ps: 'Install ps (Debian/Ubuntu: sudo apt install procps).',
};

export class MissingProgramError extends ConfigError {
  constructor(readonly program: string) {
    super(
      `${program} is not installed here (not found on PATH)`,
      INSTALL[program] ?? `Install ${program}, or put it on PATH.`,
    );
  }
}

/** Fails with a MissingProgramError for the first of `names` not on PATH. */
export async function requirePrograms(names: readonly string[]): Promise<void> {
  for (const name of names) if (!(await hasProgram(name))) throw new MissingProgramError(name);
}

/**
 * Runs a short program synchronously (for the few questions asked where nothing may wait on
 * the event loop, like the journal's recovery). Never throws for its exit status.
 */
export function runSync(argv: readonly string[]): RunResult {
  const [file, ...args] = argv as [string, ...string[]];
  const r = execaSync(file, args, {
    reject: false,
    stdin: 'ignore',
    env: childEnv({ ...process.env, LC_ALL: 'C' }),
    extendEnv: false,
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.failed && r.exitCode === undefined && !r.signal) throw notStarted(argv, r);
  return {
    stdout: typeof r.stdout === 'string' ? r.stdout : '',
    stderr: typeof r.stderr === 'string' ? r.stderr : '',
    exitCode: r.exitCode ?? 128 + 15,
  };
}

/** Is a program on PATH? */
export async function hasProgram(name: string): Promise<boolean> {
  const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', name], {
    reject: false,
    env: childEnv(),
    extendEnv: false,
  });
  return r.exitCode === 0;
}
