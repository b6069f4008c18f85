/**
 * --help and --version answer at once: they must never load the AWS SDK (seconds of start-up
 * and ~80 MiB), whatever a module on the start-up path imports. Runs the built CLI with a
 * hook that fails any import of the SDK (in the bundle: any file holding SDK code).
 */
import { execa } from 'execa';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

  it('the hook does catch the bundled SDK: `ls` loads the cloud port before any call', async () => {
    const r = await execa(process.execPath, ['--import', HOOK, BIN, 'ls'], {
      reject: false,
      stdin: 'ignore',
      env: { AWS_REGION: 'eu-central-1' },
    });
    expect(r.stderr).toMatch(/the AWS SDK was loaded: \S*@aws-sdk\/client-ec2\/\S* \(bundled in file:\S*\/dist\//);
  });

  // Needs the built CLI (npm run build). Under a Node with the cache (≥ 22.1) the directory is
  // made and filled by a run that loads more than its entry; under an older one, nothing is made.
  it('a cache directory that cannot be made costs the run nothing; a usable one is filled', async () => {
    const home = mkdtempSync(join(tmpdir(), 'ssh-ec2-cc-'));
    try {
      writeFileSync(join(home, 'file'), '');
      const run = (XDG_CACHE_HOME: string) =>
        execa(process.execPath, [BIN, '--help'], { env: { XDG_CACHE_HOME, HOME: home }, reject: false });
      // A path under a regular file: no one, root included, can make it.
      const blocked = await run(join(home, 'file', 'cache'));
      expect([blocked.exitCode, blocked.stderr]).toEqual([0, '']);
      const ok = await run(join(home, 'cache'));
      expect([ok.exitCode, ok.stderr]).toEqual([0, '']);
      const hasCache = 'enableCompileCache' in (await import('node:module'));
      const made = readdirSync(home).includes('cache');
      expect(made).toBe(hasCache);
      if (hasCache) expect(readdirSync(join(home, 'cache', 'ssh-ec2', 'compile-cache')).length).toBeGreaterThan(0);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
