/**
 * All of ssh-ec2's own output goes through here, to stderr: stdout belongs to the remote command.
 * Colour only on a TTY and never with NO_COLOR. Phases are timed for the closing summary.
 *
 * Waits show as progress (status-line.ts): a live line on a terminal, plain timestamped lines
 * otherwise. --silent keeps errors and warnings only (the command's own output is not ours to hold back).
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { clock, statusLine, type StatusLine } from './status-line.js';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string, hint?: string): void;
  /** Shown with -v only. */
  detail(message: string): void;
  /** Runs fn as a named phase and records how long it took. */
  phase<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Runs fn while `text` says what is being waited for: on a terminal a live status line (spinner,
   * elapsed time, what `update` last said), erased when fn settles; otherwise one timestamped line.
   */
  progress<T>(text: string, fn: (update: (detail: string) => void) => Promise<T>): Promise<T>;
  /** A part of the closing line (what came back, what the session cost). */
  outcome(part: string): void;
  timings(): readonly { name: string; ms: number }[];
  summary(prefix: string): void;
  readonly verbose: boolean;
}

export interface LoggerOptions {
  verbose?: boolean;
  /** Errors only. */
  silent?: boolean;
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  env?: Readonly<Record<string, string | undefined>>;
  now?: () => number;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stderr;
  const env = opts.env ?? process.env;
  const now = opts.now ?? (() => performance.now());
  const terminal = Boolean(stream.isTTY) && env.TERM !== 'dumb';
  const colour = terminal && env.NO_COLOR === undefined;
  const c: ChalkInstance = new Chalk({ level: colour ? 1 : 0 });
  const phases: { name: string; ms: number }[] = [];
  const outcomes: string[] = [];
  const silent = Boolean(opts.silent);
  const verbose = Boolean(opts.verbose) && !silent;
  // Every line of ours goes out with the status line erased first; its next frame (≤ 100 ms) brings
  // it back below, so a burst of lines (-v's file list) is not a burst of redraws.
  const status: StatusLine | undefined = terminal && !silent ? statusLine(stream, now, c) : undefined;
  const write = (line: string) => {
    status?.erase();
    stream.write(`${line}\n`);
  };
  const say = (line: string) => {
    if (!silent) write(line);
  };
  const tag = c.bold('ssh-ec2:');
  // Not a terminal: each wait is said once, with the time; one wait said in two steps (the instance
  // running, then its sshd answering) is said once.
  let lastPlain: string | undefined;

  return {
    verbose,
    info: (m) => say(`${tag} ${m}`),
    // Said even with --silent: a warning is what the user must act on (an instance left running
    // where they asked for its end, a file not sent).
    warn: (m) => write(`${tag} ${c.yellow('warning:')} ${m}`),
    error: (m, hint) => write(`${tag} ${c.red('error:')} ${m}${hint ? `\n${tag} ${c.dim(hint)}` : ''}`),
    detail: (m) => {
      if (verbose) write(`${tag} ${c.dim(m)}`);
    },
    async phase(name, fn) {
      const start = now();
      try {
        return await fn();
      } finally {
        const ms = now() - start;
        phases.push({ name, ms });
        // The closing line rounds to 0.1 s; this is the figure to compare (the bench reads it).
        if (verbose) write(`${tag} ${c.dim(`phase ${name}: ${ms.toFixed(1)} ms`)}`);
      }
    },
    async progress(text, fn) {
      if (silent) return fn(() => undefined);
      if (!status) {
        if (text !== lastPlain) write(`${clock(new Date())} ${tag} ${text}`);
        lastPlain = text;
        return fn(() => undefined);
      }
      const shown = status.show(text);
      try {
        return await fn(shown.update);
      } finally {
        shown.end();
      }
    },
    outcome: (part) => outcomes.push(part),
    timings: () => phases,
    summary(prefix) {
      if (phases.length === 0 || silent) return;
      const total = phases.reduce((sum, p) => sum + p.ms, 0);
      const parts = phases.map((p) => `${p.name} ${formatSeconds(p.ms)}`);
      // The outcomes after the phases, without parentheses: the bench reads the phases' (…).
      const after = outcomes.map((o) => `; ${o}`).join('');
      write(`${tag} ${prefix} in ${formatSeconds(total)} (${parts.join(' · ')})${after}`);
    },
  };
}

export function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}
