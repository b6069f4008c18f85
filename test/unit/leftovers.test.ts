import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forgetInstance, sshLog, sweepRuntime } from '../../src/state/leftovers.js';
import { resolvePaths } from '../../src/state/paths.js';

function dirs() {
  const root = mkdtempSync(join(tmpdir(), 'leftovers-'));
  const paths = resolvePaths({ SSH_EC2_STATE_DIR: join(root, 'state'), XDG_RUNTIME_DIR: join(root, 'run') });
  mkdirSync(paths.runtime, { recursive: true });
  mkdirSync(join(paths.state, 'known_hosts'), { recursive: true });
  return paths;
}

/** A pid no process has: a child that has exited and been reaped. */
const deadPid = () => spawnSync('true').pid!;

describe('leftovers (issue #10, problem 9)', () => {
  it("a run's scratch files go once it has ended, or once the next run finds its process gone", () => {
    const paths = dirs();
    const dead = deadPid();
    const alive = process.ppid; // the test runner's parent: alive, and not us
    const files = [
      `push-${process.pid}.exclude`,
      `pull-${process.pid}-home.exclude`,
      `rsh-${process.pid}.sh`,
      `push-${dead}.exclude`,
      `pull-${dead}.exclude`,
      `rsh-${dead}.sh`,
      `push-${alive}.exclude`,
      `rsh-${alive}.sh`,
      'abc123.sock',
    ];
    for (const f of files) writeFileSync(join(paths.runtime, f), 'x');
    sweepRuntime(paths);
    expect(readdirSync(paths.runtime).sort()).toEqual(['abc123.sock', `push-${alive}.exclude`, `rsh-${alive}.sh`]);
  });

  it('an ssh log left empty goes after a while; one being written, or with something in it, stays', () => {
    const paths = dirs();
    const old = (Date.now() - 3600_000) / 1000;
    writeFileSync(sshLog(paths, 'i-0000000000000000a'), '');
    utimesSync(sshLog(paths, 'i-0000000000000000a'), old, old);
    writeFileSync(sshLog(paths, 'i-0000000000000000b'), ''); // an attempt is writing it now
    writeFileSync(sshLog(paths, 'i-0000000000000000c'), 'Connection refused\n');
    utimesSync(sshLog(paths, 'i-0000000000000000c'), old, old);
    sweepRuntime(paths);
    expect(existsSync(sshLog(paths, 'i-0000000000000000a'))).toBe(false);
    expect(existsSync(sshLog(paths, 'i-0000000000000000b'))).toBe(true);
    expect(existsSync(sshLog(paths, 'i-0000000000000000c'))).toBe(true);
  });

  it("an ended instance's pinned host key, ssh log and Instance Connect keys go; another instance's stay", () => {
    const paths = dirs();
    const key = (name: string, id: string) => {
      writeFileSync(join(paths.runtime, `${name}.key`), 'PRIVATE');
      writeFileSync(join(paths.runtime, `${name}.key.pub`), `ssh-ed25519 AAAA ssh-ec2-${id}\n`);
    };
    for (const id of ['i-0000000000000000a', 'i-0000000000000000b']) {
      writeFileSync(paths.knownHosts(id), 'key');
      writeFileSync(sshLog(paths, id), 'log');
    }
    key('k1', 'i-0000000000000000a');
    key('k2', 'i-0000000000000000a');
    key('k3', 'i-0000000000000000b');
    key('k4', 'i-0000000000000000a1'); // a longer id that starts the same: another instance
    forgetInstance(paths, 'i-0000000000000000a');
    expect(existsSync(paths.knownHosts('i-0000000000000000a'))).toBe(false);
    expect(existsSync(sshLog(paths, 'i-0000000000000000a'))).toBe(false);
    expect(existsSync(paths.knownHosts('i-0000000000000000b'))).toBe(true);
    expect(existsSync(sshLog(paths, 'i-0000000000000000b'))).toBe(true);
    expect(
      readdirSync(paths.runtime)
        .filter((f) => f.includes('.key'))
        .sort(),
    ).toEqual(['k3.key', 'k3.key.pub', 'k4.key', 'k4.key.pub']);
  });
});
