/**
 * One error hierarchy, caught in exactly one place (cli.ts), which turns it into an exit status.
 * A UserError is something the user can fix: one line, a hint, a documented exit code.
 * Anything else is a bug: the stack is printed with "please report".
 */

/** Exit statuses of ssh-ec2 itself. Any other status is the remote command's own. */
export const ExitCode = {
  ok: 0,
  usage: 2,
  config: 3,
  cloud: 4,
  capacity: 5,
  syncUp: 6,
  /** No instance or no job for this directory (--attach, logs, pull, down): nothing was launched. */
  nothingThere: 7,
  /** A job is already running for this directory (--detach). */
  jobRunning: 8,
  /** ssh-ec2 doctor: a check failed (each said with its fix). */
  checkFailed: 9,
  /** EC2 took the spot instance back (a notice during the session): the results were brought home first. */
  interrupted: 10,
  /** Refused or stopped by a cost guardrail: --max-hourly-cost, --budget (issue #13). */
  costGuard: 11,
  /** ssh-ec2 batch: some job failed after its retries (issue #14). */
  batchFailed: 12,
  internal: 70,
  connectionLost: 255,
} as const;

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad flag, bad value, conflicting options: detected before any AWS call. */
export class UsageError extends UserError {
  constructor(message: string, hint = 'Run ssh-ec2 --help for usage.') {
    super(message, ExitCode.usage, hint);
  }
}

/** Missing credentials, region, key file, VPC: the environment needs fixing. */
export class ConfigError extends UserError {
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, ExitCode.config, hint, options);
  }
}

/** AWS refused a call for a reason the user can act on (permissions, quota, bad image). */
export class CloudError extends UserError {
  constructor(
    message: string,
    hint?: string,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, ExitCode.cloud, hint, options);
  }
}

/** No capacity for the requested instance type(s) anywhere we were allowed to try. */
export class CapacityError extends UserError {
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, ExitCode.capacity, hint, options);
  }
}

/** A launch whose hourly price is above --max-hourly-cost (or unknown to ssh-ec2): nothing was launched. */
export class CostGuardError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.costGuard, hint);
  }
}

/** The ssh connection to the instance could not be made or was lost. */
export class ConnectionError extends UserError {
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, ExitCode.connectionLost, hint, options);
  }
}

/** A program we run (ssh, rsync, ssh-keygen) failed. */
export class SubprocessError extends Error {
  constructor(
    readonly command: readonly string[],
    readonly exitCode: number | undefined,
    readonly signal: string | undefined,
    readonly stderr: string,
  ) {
    const status = signal ? `killed by ${signal}` : `exit status ${exitCode}`;
    const detail = lastLine(stderr);
    super(`${command[0]} failed (${status})${detail ? `: ${detail}` : ''}`);
    this.name = 'SubprocessError';
  }
}

export function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.at(-1) ?? '';
}
