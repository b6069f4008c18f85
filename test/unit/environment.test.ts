// What the environment causes, as the one place that runs programs and the one place that waits
// report it: user errors with a documented exit status, never a bug's stack.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode, UserError } from '../../src/errors.js';
import { MissingProgramError, run, runAllowFailure, runAttached, runSync } from '../../src/remote/exec.js';
import { acquireLock } from '../../src/session/lock.js';
import { waitFor, WaitTimeout } from '../../src/time.js';

describe('a program that is not installed', () => {
  const absent = 'ssh-ec2-no-such-program';
  it.each([
    ['run', () => run([absent, '-x'])],
    ['runAllowFailure', () => runAllowFailure([absent])],
    ['runAttached', () => runAttached([absent]).done],
    ['runSync', async () => runSync([absent])],
  ])('%s: a MissingProgramError naming it, exit 3', async (_name, start) => {
    const err = await start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MissingProgramError);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(ExitCode.config);
    expect((err as Error).message).toBe(`${absent} is not installed here (not found on PATH)`);
  });

  it('the hint says how to install the programs ssh-ec2 needs', () => {
    expect(new MissingProgramError('rsync').hint).toMatch(/brew install rsync.*apt install rsync.*--no-rsync/);
    expect(new MissingProgramError('ssh').hint).toMatch(/openssh-client/);
  });

  it('a program that fails is still a SubprocessError (its exit status), not a missing one', async () => {
    await expect(run(['sh', '-c', 'exit 3'])).rejects.toMatchObject({ name: 'SubprocessError', exitCode: 3 });
  });
});

describe('a wait that never ends', () => {
  it('is a WaitTimeout: what was waited for, for how long, the hint; exit 4 (AWS did not do it)', async () => {
    let probes = 0;
    const err = await waitFor(
      async () => {
        probes++;
        return undefined;
      },
      { timeoutMs: 0, what: 'i-0abc to be running', hint: 'Look at it in the EC2 console.' },
    ).catch((e: unknown) => e);
    expect(probes).toBe(1);
    expect(err).toBeInstanceOf(WaitTimeout);
    expect(err).toMatchObject({
      message: 'timed out after 0s waiting for i-0abc to be running',
      exitCode: ExitCode.cloud,
      hint: 'Look at it in the EC2 console.',
    });
  });
});

describe("a directory's lock held too long by another live run", () => {
  it('is a WaitTimeout naming that run and what to do, exit 4, the lock left to its holder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lock-'));
    try {
      const path = join(dir, 'p.lock');
      writeFileSync(path, `${process.pid}\n`); // a live holder (this very process)
      const err = await acquireLock(path, { timeoutMs: 0 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WaitTimeout);
      expect(err).toMatchObject({
        exitCode: ExitCode.cloud,
        message: `timed out waiting for another ssh-ec2 here (pid ${process.pid}) to find or launch this directory's instance`,
      });
      expect((err as UserError).hint).toContain(`kill ${process.pid}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
