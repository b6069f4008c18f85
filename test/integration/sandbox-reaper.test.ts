// A test run killed outright (SIGKILL: no stop(), no exit handler) leaves a sandbox behind, with
// an instance's user, sshd and sessions; the reaper (run before every test run) removes them all.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { reapStaleSandboxes } from '../sandbox/reaper.js';
import { REPO } from '../e2e/helpers.js';

// The child (reaper-child.ts): a sandbox with one running instance and a process there, then it waits to be killed.
const CHILD = join(REPO, 'test', 'integration', 'reaper-child.ts');

describe('the reaper', () => {
  it("removes a killed run's instance users, their processes, its daemons and its dir", async () => {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
    // One process (node with tsx's loader, not the tsx CLI, which would fork a node that outlives its kill).
    const child = execa('node', ['--import', 'tsx', CHILD], {
      cwd: REPO,
      reject: false,
      stdin: 'ignore',
      env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    let line: string;
    try {
      line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('\n')) resolve(out.trim());
        });
        void child.then((r) => reject(new Error(`the child ended first: ${r.stderr}`)));
      });
    } catch (err) {
      child.kill('SIGKILL'); // (it never ends by itself)
      throw err;
    }
    const { dir, user, uid } = JSON.parse(line) as { dir: string; user: string; uid: number };
    const sshds = async () =>
      (await execa('pgrep', ['-f', `${dir}/`], { reject: false })).stdout.split('\n').filter(Boolean);
    expect(await sshds()).not.toEqual([]);
    child.kill('SIGKILL');
    await child;
    // Still there: nothing of it went with the killed process.
    expect(readFileSync('/etc/passwd', 'utf8')).toContain(`${user}:`);

    // (Not asserting it was this call that reaped it: another test run's global setup may, meanwhile.)
    await reapStaleSandboxes();
    expect((await execa('id', [user], { reject: false })).exitCode).not.toBe(0);
    expect(existsSync(dir)).toBe(false);
    expect(await sshds()).toEqual([]);
    const states = (await execa('ps', ['-U', String(uid), '-o', 'stat='], { reject: false })).stdout
      .split('\n')
      .filter(Boolean);
    expect(states.filter((s) => !s.startsWith('Z'))).toEqual([]);
  }, 60_000);
});
