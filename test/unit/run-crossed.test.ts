// runCrossed, with two small local programs in place of openrsync's server and the ssh running
// the instance's rsync: both are tracked while they run (the journal lists them, so the run after
// a SIGKILL ends them), and a failure is named after the side that failed, not after the side
// that lost its peer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SubprocessError } from '../../src/errors.js';
import { MissingProgramError, onSpawn, run, runCrossed, runningPrograms } from '../../src/remote/exec.js';
import type { RsyncCapabilities } from '../../src/remote/rsync-capabilities.js';
import { rsyncFailed } from '../../src/sync/sync-up.js';

const dir = mkdtempSync(join(tmpdir(), 'ssh-ec2-crossed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The local side: reads until its input ends, then fails as rsync does when its peer went away. */
const localLosingPeer = [
  'sh',
  '-c',
  'cat >/dev/null; echo "rsync: connection unexpectedly closed (0 bytes received so far) [receiver]" >&2; exit 12',
];
const caps = { path: '/usr/bin/openrsync' } as RsyncCapabilities;

async function failure(p: Promise<unknown>): Promise<SubprocessError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SubprocessError);
  return err as SubprocessError;
}

describe('runCrossed', () => {
  it('feeds each one the other output and returns when both exit 0', async () => {
    const [a, b] = await runCrossed(
      ['sh', '-c', 'echo ping; read x; [ "$x" = pong ]'],
      ['sh', '-c', 'read x; [ "$x" = ping ] && echo pong'],
    );
    expect([a.exitCode, b.exitCode]).toEqual([0, 0]);
  });

  it('tracks both programs while they run, like run does', async () => {
    const fifo = join(dir, 'release');
    await run(['mkfifo', fifo]);
    let spawns = 0;
    onSpawn(() => spawns++);
    const a = ['sh', '-c', 'read x; [ "$x" = go ]'];
    const b = ['sh', '-c', 'read x < "$1"; echo go', 'sh', fifo];
    const ours = () => runningPrograms().filter((p) => [a, b].some((argv) => p.argv.join('\0') === argv.join('\0')));
    const done = runCrossed(a, b);
    try {
      const programs = ours();
      expect(programs.map((p) => p.argv)).toEqual([a, b]);
      expect(spawns).toBe(2);
      // Both are alive: b waits for the release, a for b.
      for (const p of programs) expect(() => process.kill(p.pid, 0)).not.toThrow();
    } finally {
      onSpawn(undefined);
      writeFileSync(fifo, 'x\n');
    }
    await done;
    expect(ours()).toEqual([]);
  });

  it('the remote side failing (rsync missing there: ssh exits 127) is the error, with its message', async () => {
    const ssh = ['sh', '-c', 'echo "bash: line 1: rsync: command not found" >&2; exit 127'];
    const err = await failure(runCrossed(localLosingPeer, ssh));
    expect(err).toMatchObject({ command: ssh, exitCode: 127, stderr: 'bash: line 1: rsync: command not found' });
    const why = rsyncFailed(err, 'back', caps);
    expect(why.message).toBe('rsync is missing on the instance (bash: line 1: rsync: command not found)');
  });

  it('the local side failing is the error when the remote side only lost its peer', async () => {
    const local = ['sh', '-c', 'echo "rsync: write failed on \\"x\\": No space left on device (28)" >&2; exit 11'];
    const ssh = ['sh', '-c', 'cat >/dev/null; echo "rsync: connection unexpectedly closed" >&2; exit 12'];
    const err = await failure(runCrossed(local, ssh));
    expect(err).toMatchObject({ command: local, exitCode: 11 });
    expect(rsyncFailed(err, 'back', caps).message).toMatch(
      /^the local disk is full \(rsync: write failed on "x": No space left on device \(28\)\)$/,
    );
  });

  it('a lost connection (ssh exits 255) is named as such, with ssh message', async () => {
    const ssh = ['sh', '-c', 'echo "Connection to 127.0.0.1 closed by remote host." >&2; exit 255'];
    const err = await failure(runCrossed(localLosingPeer, ssh));
    expect(err).toMatchObject({ command: ssh, exitCode: 255 });
    expect(rsyncFailed(err, 'back', caps).message).toBe(
      'the connection to the instance was lost (Connection to 127.0.0.1 closed by remote host.)',
    );
  });

  it('a program that is not installed is a MissingProgramError', async () => {
    await expect(runCrossed(['ssh-ec2-no-such-program'], ['sh', '-c', 'cat >/dev/null'])).rejects.toBeInstanceOf(
      MissingProgramError,
    );
  });
});
