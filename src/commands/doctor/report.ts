/**
 * doctor's answer: one check a line (`ok`, `FAIL` or `warn`, its name, what was found), each
 * failure or warning followed by its fix on one line; or, with --json, the same as an array of
 * {check, status, detail, fix}. Pure: the names and fields are documented in README ("ssh-ec2 doctor").
 */

export type Status = 'ok' | 'fail' | 'warn';

export interface Check {
  /** Stable: scripts read it (README lists them). */
  check: string;
  status: Status;
  /** What was found, in one line. */
  detail: string;
  /** How to make it pass, in one line; null when it passes. */
  fix: string | null;
}

export const ok = (check: string, detail: string): Check => ({ check, status: 'ok', detail, fix: null });
export const fail = (check: string, detail: string, fix: string | undefined): Check => ({
  check,
  status: 'fail',
  detail,
  fix: fix ?? null,
});
export const warn = (check: string, detail: string, fix?: string): Check => ({
  check,
  status: 'warn',
  detail,
  fix: fix ?? null,
});

const WORD: Record<Status, string> = { ok: 'ok', fail: 'FAIL', warn: 'warn' };
/** Wide enough for every name but permission:AuthorizeSecurityGroupIngress, which would push every line right. */
const NAME_WIDTH = 30;

/** One check as the terminal shows it: its line, and its fix on the next one. */
export function formatCheck(c: Check): string {
  const line = `${WORD[c.status].padEnd(4)}  ${c.check.padEnd(NAME_WIDTH)} ${c.detail}\n`;
  return c.fix ? `${line}${' '.repeat(6)}fix: ${c.fix}\n` : line;
}

export function formatJson(checks: readonly Check[]): string {
  return `${JSON.stringify(checks, null, 2)}\n`;
}

/** Every needed check passed: warnings do not fail. */
export const passed = (checks: readonly Check[]): boolean => checks.every((c) => c.status !== 'fail');
