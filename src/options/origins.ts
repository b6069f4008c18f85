/**
 * Where a setting's value came from — `--instance-type`, `AWS_INSTANCE_TYPE`, or
 * `AWS_INSTANCE_TYPE (in .env)` — for the errors found only once the value is used (an instance type
 * AWS does not know): every bad value names its origin, as the parsers' own errors do (issue #10).
 */
import type { OptionKey, Options } from '../options.js';

/** The origin of a setting's value; undefined when it is the default. */
export function originOf(o: Pick<Options, 'origins'>, key: OptionKey): string | undefined {
  return o.origins?.[key];
}

/**
 * The error, its message led by the origin of the value it is about (as the parsers say it). With
 * `value`, only an error naming that value is about it (not, say, a network failure on the way).
 */
export function withOrigin<E>(err: E, o: Pick<Options, 'origins'>, key: OptionKey, value?: string): E {
  const origin = originOf(o, key);
  const about = err instanceof Error && (value === undefined || err.message.includes(value));
  if (origin && about && !err.message.startsWith(`${origin}:`)) err.message = `${origin}: ${err.message}`;
  return err;
}

/** For `.catch`: rethrows the error with the origin of the value it is about. */
export function rethrowFrom(o: Pick<Options, 'origins'>, key: OptionKey, value?: string): (err: unknown) => never {
  return (err) => {
    throw withOrigin(err, o, key, value);
  };
}

/** Where a setting's value came from, for `ssh-ec2 config` (its text and its --json). */
export type From =
  | { from: 'flag'; name: string }
  | { from: 'preset'; preset: string; file: string; line: number }
  | { from: 'env'; name: string }
  | { from: 'dotenv'; name: string; file: '.env'; line?: number }
  | { from: 'project' | 'user'; file: string; line: number }
  | { from: 'default' };
