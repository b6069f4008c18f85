/**
 * --help and --version answer at once: they must never load the AWS SDK (seconds of start-up
 * and ~80 MiB), whatever a module on the start-up path imports. Runs the built CLI with a
 * resolve hook that fails any import of the SDK.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, REPO } from '../e2e/helpers.js';

const HOOK = join(REPO, 'test', 'fixtures', 'no-aws-sdk.mjs');

describe('start-up', () => {
  it.each([['--version'], ['--help'], ['ls', '--help']])('%j loads no AWS SDK module', async (...args) => {
    const r = await execa(process.execPath, ['--import', HOOK, BIN, ...args], { reject: false, stdin: 'ignore' });
    expect(r.stderr).not.toMatch(/AWS SDK was loaded/);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it('the hook does catch a command that loads the SDK', async () => {
    const r = await execa(
      process.execPath,
      ['--import', HOOK, '-e', "await import('@aws-sdk/client-ec2')", '--input-type=module'],
      { reject: false, stdin: 'ignore', cwd: REPO },
    );
    expect(r.stderr).toMatch(/the AWS SDK was loaded: @aws-sdk\/client-ec2/);
  });
});
