import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitKeeps, listFiles, makeTrickyTree } from '../fixtures/tricky-tree.js';
import {
  arrivedBefore,
  cli,
  instanceState,
  linksStayHome,
  makeProject,
  remotePath,
  reportedInstance,
  useSandbox,
} from './helpers.js';

const sb = useSandbox();

describe('sync up', () => {
  it('sends exactly what git would keep for the same .rsyncignore rules, whatever the names', async () => {
    const name = "tricky proj 'ü' $HOME";
    const dir = makeTrickyTree(join(sb.dir, 'projects', name));
    const kept = gitKeeps(dir); // before the run: it writes its base into .ssh-ec2/ (never sent)
    const r = await cli(sb, ['--leave', 'true'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const arrived = listFiles(remotePath(sb, name));
    expect([...arrived].sort()).toEqual([...kept].sort());
    await cli(sb, ['true'], { cwd: dir });
  });

  it('removes on the instance only what was deleted here while its copy there is the one sent; --no-rsync syncs nothing either way', async () => {
    const dir = makeProject(sb, 'no-delete', { 'a.txt': 'a' });
    expect((await cli(sb, ['--leave', 'echo result > r.txt'], { cwd: dir })).exitCode).toBe(0);
    rmSync(join(dir, 'r.txt'));
    rmSync(join(dir, 'a.txt'));
    expect(
      (await cli(sb, ['--leave', '--no-rsync', 'cat r.txt a.txt; echo more > later.txt'], { cwd: dir })).stdout,
    ).toBe('result\na');
    expect(existsSync(join(dir, 'later.txt'))).toBe(false);
    expect(existsSync(join(dir, 'r.txt'))).toBe(false);
    // Deleted here (issue #10): what was sent from here is gone from the instance by the next sync
    // up; a result made there (r.txt) stays there; neither is brought back.
    const last = await cli(sb, ['--', 'ls'], { cwd: dir });
    expect(last.exitCode).toBe(0);
    expect(last.stdout).toBe('later.txt\nr.txt\n');
    expect(last.stderr).toMatch(/removed from the instance \(deleted here\): a\.txt\n/);
    expect(readFileSync(join(dir, 'later.txt'), 'utf8')).toBe('more\n');
    expect(existsSync(join(dir, 'r.txt'))).toBe(false);
    expect(existsSync(join(dir, 'a.txt'))).toBe(false);
  });

  it('never overwrites a file changed on the instance since the last sync', async () => {
    const dir = makeProject(sb, 'newer', { 'model.txt': 'v1\n' });
    expect((await cli(sb, ['--leave', 'true'], { cwd: dir })).exitCode).toBe(0);
    // The instance changes it while ssh-ec2 does not bring it back...
    expect((await cli(sb, ['--leave', '--no-rsync', 'sleep 1; echo v2 > model.txt'], { cwd: dir })).exitCode).toBe(0);
    // ...so the next sync up must not clobber that result with the older local copy.
    const r = await cli(sb, ['cat model.txt'], { cwd: dir });
    expect(r.stdout).toBe('v2\n');
    expect(readFileSync(join(dir, 'model.txt'), 'utf8')).toBe('v2\n');
  });
});

describe('sync back', () => {
  it('brings new and changed files, lists them, keeps no backups, and never deletes locally', async () => {
    const dir = makeProject(sb, 'back', {
      'model.txt': 'old\n',
      'in.txt': 'in\n',
      '.rsyncignore': '*.log\ncheckpoints/\n',
    });
    const r = await cli(
      sb,
      [
        'echo new > model.txt; mkdir -p out; echo r > out/results.txt; rm in.txt; echo l > x.log; mkdir checkpoints; echo c > checkpoints/c.pt; exit 4',
      ],
      { cwd: dir },
    );
    expect(r.exitCode).toBe(4);
    expect(readFileSync(join(dir, 'model.txt'), 'utf8')).toBe('new\n');
    expect(readFileSync(join(dir, 'out/results.txt'), 'utf8')).toBe('r\n');
    expect(readFileSync(join(dir, 'in.txt'), 'utf8')).toBe('in\n');
    expect(existsSync(join(dir, 'x.log'))).toBe(false);
    expect(existsSync(join(dir, 'checkpoints'))).toBe(false);
    // The job rewrote its own output: the normal case, said by the list of what came back (issue #10).
    expect(r.stderr).toMatch(/brought back: (model\.txt, out\/results\.txt|out\/results\.txt, model\.txt)\n/);
    expect(r.stderr).not.toMatch(/replaced|backups/);
    expect(existsSync(join(dir, '.ssh-ec2', 'backups'))).toBe(false);
    expect(await instanceState(sb, reportedInstance(r.stderr))).toBe('terminated');
  });

  it('never follows remote links out of the project, nor writes through local ones', async () => {
    await linksStayHome(sb, 'links');
  });

  it('when it fails, stops the instance instead of terminating it, and says how to recover', async () => {
    const dir = makeProject(sb, 'pull-fails');
    const r = await cli(sb, ['mkdir out; echo precious > out/result.txt; chmod 000 out'], { cwd: dir });
    expect(r.exitCode).toBe(0);
    const id = reportedInstance(r.stderr);
    // The real cause, named: a directory on the instance that cannot be read (met by its listing).
    expect(r.stderr).toMatch(/sync back failed: .*'\.\/out': Permission denied/);
    expect(r.stderr).toMatch(/stopped, not terminated/);
    expect(await instanceState(sb, id)).toBe('stopped');
    // The recovery it prints works once the cause is fixed.
    await sb.latestMachine().runAsUser(`chmod 755 ${JSON.stringify(join(remotePath(sb, 'pull-fails'), 'out'))}`);
    const again = await cli(sb, ['--terminate', 'true'], { cwd: dir });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(readFileSync(join(dir, 'out/result.txt'), 'utf8')).toBe('precious\n');
    expect(await instanceState(sb, id)).toBe('terminated');
  });
});

describe('sync up failing', () => {
  it('runs nothing, exits 6 with one clear line, and terminates the instance it launched', async () => {
    const dir = makeProject(sb, 'up-fails', { 'a.txt': 'a' });
    // The project directory on the new instance exists but belongs to someone else: rsync cannot
    // write. Made once the instance is launched, while the run waits for its Instance Connect key.
    const pushing = sb.hold('SendSSHPublicKey');
    const ending = sb.hold('TerminateInstances'); // to look at its disk before it goes
    const run = cli(sb, ['touch ran.txt'], { cwd: dir });
    await arrivedBefore(pushing, run, 'its Instance Connect key');
    mkdirSync(remotePath(sb, 'up-fails'), { recursive: true, mode: 0o755 });
    pushing.release();
    await arrivedBefore(ending, run, 'terminating the instance it launched');
    const ranThere = existsSync(join(remotePath(sb, 'up-fails'), 'ran.txt'));
    ending.release();
    const r = await run;
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.stderr).toMatch(
      /error: sync up failed, nothing was run: permission denied on the instance \(rsync: .*(Permission denied|Operation not permitted)/,
    ); // EACCES or EPERM, as rsync meets the directory
    // The hint names that cause; the disk only when rsync says it is full.
    expect(r.stderr).toMatch(/must be writable by the login user/);
    expect(r.stderr).not.toMatch(/disk/);
    expect(ranThere).toBe(false);
    expect(await instanceState(sb, reportedInstance(r.stderr))).toBe('terminated');
  });

  it("while the agent's install still runs there: the finish waits for it, and terminates the instance", async () => {
    // The agent's start made slow (its setsid), as a loaded instance makes it: the sync up fails
    // first. The install's shell on the instance must not pass for another session, or the
    // instance would be left running. Written into the sandbox's home skeleton, so the instance launched gets it.
    const slow = join(sb.homeSkeleton, '.slow-bin');
    mkdirSync(slow, { recursive: true });
    writeFileSync(join(slow, 'setsid'), '#!/bin/sh\nsleep 15\nexec /usr/bin/setsid "$@"\n', { mode: 0o755 });
    writeFileSync(join(sb.homeSkeleton, '.bashrc'), 'PATH="$HOME/.slow-bin:$PATH"\n');
    try {
      const dir = makeProject(sb, 'up-fails-slow-agent', { 'a.txt': 'a' });
      const pushing = sb.hold('SendSSHPublicKey');
      const ending = sb.hold('TerminateInstances');
      const run = cli(sb, ['touch ran.txt'], { cwd: dir });
      await arrivedBefore(pushing, run, 'its Instance Connect key');
      mkdirSync(remotePath(sb, 'up-fails-slow-agent'), { recursive: true, mode: 0o755 });
      pushing.release();
      await arrivedBefore(ending, run, 'terminating the instance it launched');
      ending.release();
      const r = await run;
      expect(r.exitCode, r.stderr).toBe(6);
      expect(r.stderr).toMatch(/error: sync up failed, nothing was run: permission denied on the instance/);
      expect(r.stderr).not.toMatch(/another session/);
      expect(await instanceState(sb, reportedInstance(r.stderr))).toBe('terminated');
    } finally {
      rmSync(slow, { recursive: true, force: true });
      rmSync(join(sb.homeSkeleton, '.bashrc'), { force: true });
    }
  });
});
