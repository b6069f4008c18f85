/**
 * `ssh-ec2 ls` asks each running instance for its job over ssh, without waiting for the console to
 * check a host key it has not seen: so it only asks instances whose key a session here has pinned
 * (checked), and never pins one itself (a key it kept unchecked would be trusted by every later run).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, instanceState, localState, makeProject, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();

const jobColumn = (stdout: string, id: string): string | undefined =>
  stdout
    .split('\n')
    .find((l) => l.includes(id))
    // TYPE, UP, COST (issue #13: `$0.01 so far, $0.658/h`), then JOB.
    ?.match(/g4dn\.xlarge\s+\S+\s+\$[\d.]+ so far, \$[\d.]+\/h\s+(\S+)/)?.[1];

describe('ls and host keys', () => {
  it('an instance whose key is not pinned here: "?" for its job, no key pinned; the next session still checks it against the console', async () => {
    const dir = makeProject(sb, 'ls-unpinned');
    // Another machine (its own state directory, so its own pins and ssh sockets) uses the instance.
    const elsewhere = { SSH_EC2_STATE_DIR: join(sb.dir, 'other-machine-state') };
    const first = await cli(sb, ['--leave', 'true'], { cwd: dir, env: elsewhere });
    expect(first.exitCode, first.stderr).toBe(0);
    const id = reportedInstance(first.stderr);
    expect(existsSync(join(elsewhere.SSH_EC2_STATE_DIR, 'known_hosts', id))).toBe(true);
    // There, its key is pinned (checked by that session): ls asks it.
    const there = await cli(sb, ['ls'], { cwd: dir, env: elsewhere });
    expect(there.exitCode, there.stderr).toBe(0);
    expect(jobColumn(there.stdout, id), there.stdout).toBe('none');

    // Here, this machine never connected to it.
    const pin = localState(sb, 'known_hosts', id);
    expect(existsSync(pin)).toBe(false);
    sb.clearCalls();
    const ls = await cli(sb, ['ls'], { cwd: dir });
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(jobColumn(ls.stdout, id), ls.stdout).toBe('?');
    expect(existsSync(pin)).toBe(false);
    expect(sb.calls('GetConsoleOutput')).toEqual([]);

    sb.clearCalls();
    const next = await cli(sb, ['-v', 'true'], { cwd: dir });
    expect(next.exitCode, next.stderr).toBe(0);
    expect(reportedInstance(next.stderr)).toBe(id);
    expect(next.stderr).toMatch(new RegExp(`host key of ${id} matches its console output`));
    expect(sb.calls('GetConsoleOutput').length).toBeGreaterThan(0);
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});
