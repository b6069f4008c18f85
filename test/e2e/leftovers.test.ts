/**
 * What runs make for themselves in the runtime and state directories does not pile up (issue #10,
 * problem 9: after ~250 runs, 1,126 exclude lists, 242 empty ssh logs, keys of instances long
 * ended): a run's scratch files go when it ends, an instance's files when it has ended.
 */
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, ec2Client, instanceState, localState, makeProject, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();

/** Its own runtime directory, so the files counted are this test's alone. */
const runtimeRoot = () => join(sb.dir, 'rt');
const runtime = () => join(runtimeRoot(), 'ssh-ec2');
const env = () => ({ XDG_RUNTIME_DIR: runtimeRoot() });
const runtimeFiles = () => readdirSync(runtime()).filter((f) => !f.endsWith('.sock'));
const pinned = () => (existsSync(localState(sb, 'known_hosts')) ? readdirSync(localState(sb, 'known_hosts')) : []);

/** What a run killed while connected leaves: an Instance Connect key pair for its instance. */
function leftKey(id: string): string {
  const key = join(runtime(), 'a1b2c3d4e5f6.key');
  writeFileSync(key, 'PRIVATE\n', { mode: 0o600 });
  writeFileSync(`${key}.pub`, `ssh-ed25519 AAAAC3Nza ssh-ec2-${id}\n`);
  return key;
}

describe('leftovers', () => {
  it('runs one after another leave no growing pile: no exclude lists, rsh scripts, ssh logs, keys or pins', async () => {
    mkdirSync(runtimeRoot(), { recursive: true, mode: 0o700 });
    const dir = makeProject(sb, 'leftovers-runs', { 'a.txt': 'a\n', '.rsyncignore': 'data/\n' });
    for (let n = 0; n < 3; n++) {
      const r = await cli(sb, [`echo ${n} > out.txt`], { cwd: dir, env: env() });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(await instanceState(sb, reportedInstance(r.stderr))).toBe('terminated');
    }
    expect(runtimeFiles()).toEqual([]);
    expect(pinned()).toEqual([]);
  });

  it('the keys and pin of an instance ended by ssh-ec2 down go with it', async () => {
    const dir = makeProject(sb, 'leftovers-down');
    const r = await cli(sb, ['--leave', 'true'], { cwd: dir, env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    const id = reportedInstance(r.stderr);
    expect(pinned()).toEqual([id]);
    const key = leftKey(id);
    const down = await cli(sb, ['down', '--yes'], { cwd: dir, env: env() });
    expect(down.exitCode, down.stderr).toBe(0);
    expect(existsSync(key)).toBe(false);
    expect(existsSync(`${key}.pub`)).toBe(false);
    expect(pinned()).toEqual([]);
    expect(runtimeFiles()).toEqual([]);
  });

  it('an instance ended elsewhere (the console): ssh-ec2 ls sees it terminated, and its keys and pin go', async () => {
    const dir = makeProject(sb, 'leftovers-ls');
    const r = await cli(sb, ['--leave', 'true'], { cwd: dir, env: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    const id = reportedInstance(r.stderr);
    const key = leftKey(id);
    await ec2Client(sb).send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    const ls = await cli(sb, ['ls'], { cwd: dir, env: env() });
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(existsSync(key)).toBe(false);
    expect(pinned()).toEqual([]);
  });
});
