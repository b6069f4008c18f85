/**
 * All of ssh-ec2's own output goes through here, to stderr: stdout belongs to the remote command.
 * Colour only on a TTY and never with NO_COLOR. Phases are timed for the closing summary.
 */
import { Chalk, type ChalkInstance } from 'chalk';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string, hint?: string): void;
  /** Shown with -v only. */
  detail(message: string): void;
  /** Runs fn as a named phase and records how long it took. */
  phase<T>(name: string, fn: () => Promise<T>): Promise<T>;
  timings(): readonly { name: string; ms: number }[];
  summary(prefix: string): void;
  readonly verbose: boolean;
}

export interface LoggerOptions {
  verbose?: boolean;
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: Readonly<Record<string, string | undefined>>;
  now?: () => number;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const stream = opts.stream ?? process.stderr;
  const env = opts.env ?? process.env;
  const now = opts.now ?? (() => performance.now());
  const colour = Boolean(stream.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb';
  const c: ChalkInstance = new Chalk({ level: colour ? 1 : 0 });
  const phases: { name: string; ms: number }[] = [];
  const write = (line: string) => stream.write(`${line}\n`);
  const tag = c.bold('ssh-ec2:');

  return {
    verbose: Boolean(opts.verbose),
    info: (m) => write(`${tag} ${m}`),
    warn: (m) => write(`${tag} ${c.yellow('warning:')} ${m}`),
    error: (m, hint) => write(`${tag} ${c.red('error:')} ${m}${hint ? `\n${tag} ${c.dim(hint)}` : ''}`),
    detail: (m) => {
      if (opts.verbose) write(`${tag} ${c.dim(m)}`);
    },
    async phase(name, fn) {
      const start = now();
      try {
        return await fn();
      } finally {
        const ms = now() - start;
        phases.push({ name, ms });
        // The closing line rounds to 0.1 s; this is the figure to compare (the bench reads it).
        if (opts.verbose) write(`${tag} ${c.dim(`phase ${name}: ${ms.toFixed(1)} ms`)}`);
      }
    },
    timings: () => phases,
    summary(prefix) {
      if (phases.length === 0) return;
      const total = phases.reduce((sum, p) => sum + p.ms, 0);
      const parts = phases.map((p) => `${p.name} ${formatSeconds(p.ms)}`);
      write(`${tag} ${prefix} in ${formatSeconds(total)} (${parts.join(' · ')})`);
    },
  };
}

export function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}
