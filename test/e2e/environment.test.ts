/**
 * What the environment causes, not the user's command nor a bug: a local program missing, the
 * multiplexer (tmux or screen) missing on the instance. Each is one clear line and a documented exit
 * status (3), never "internal error"; nothing is launched for nothing, nothing is left running.
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, instanceState, makeProject, pathWithout, remotePath, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();

describe('a local program missing (a PATH without it)', () => {
  it.each([
    ['ssh', ['true'], /ssh is not installed here \(not found on PATH\)\nssh-ec2: Install the OpenSSH client/],
    [
      'rsync',
      ['true'],
      /rsync is not installed here \(not found on PATH\)\nssh-ec2: Install rsync \(macOS: brew install rsync;.*or run with --no-rsync/,
    ],
    ['rsync', ['pull'], /rsync is not installed here/],
  ])(
    '%s, for ssh-ec2 %j: one line saying which and how to install it, exit 3, no AWS call',
    async (program, args, message) => {
      const dir = makeProject(sb, `no-${program}`);
      sb.clearCalls();
      const r = await cli(sb, args, { cwd: dir, env: { PATH: pathWithout(sb, program) } });
      expect(r.exitCode, r.stderr).toBe(3);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/^ssh-ec2: error: .+\nssh-ec2: .+\n$/);
      expect(sb.calls()).toEqual([]);
    },
  );
});

describe('the multiplexer missing on the instance', () => {
  // The instance's shell leaves the multiplexer off its PATH: its ~/.bashrc (which bash reads for a
  // command sent over ssh) puts a directory holding everything else first and alone, as an image
  // without it would have it. Written into the sandbox's home skeleton, so the instance launched gets it.
  async function withoutOnInstance<T>(mux: string, body: () => Promise<T>): Promise<T> {
    const bashrc = join(sb.homeSkeleton, '.bashrc');
    writeFileSync(bashrc, `PATH=${pathWithout(sb, mux)}\n`);
    try {
      return await body();
    } finally {
      rmSync(bashrc, { force: true });
    }
  }

  // Detached and foreground jobs meet the missing multiplexer on two paths (job.ts): each is tried
  // with each multiplexer.
  it.each([
    ['tmux', ['--detach', 'touch ran.txt']],
    ['tmux', ['--multi', 'tmux', 'touch ran.txt']],
    ['screen', ['--detach', '--multi', 'screen', 'touch ran.txt']],
    ['screen', ['--multi', 'screen', 'touch ran.txt']],
  ])(
    '%s missing, %j: exit 3, one line saying so and what to do, nothing run, the instance it launched terminated',
    async (mux, args) => {
      const other = mux === 'tmux' ? 'screen' : 'tmux';
      const name = `no-${mux}-${args.slice(0, -1).join('').replace(/\W/g, '')}`;
      const dir = makeProject(sb, name);
      const r = await withoutOnInstance(mux, () => cli(sb, args, { cwd: dir }));
      expect(r.exitCode, r.stderr).toBe(3);
      expect(r.stderr).toContain(
        `ssh-ec2: error: ${mux} is not installed on the instance: the job was not started\nssh-ec2: Install it there`,
      );
      expect(r.stderr).toContain(`or use --multi ${other}`);
      expect(r.stderr.match(/not installed/g), 'said once').toHaveLength(1);
      const id = reportedInstance(r.stderr);
      expect(existsSync(join(remotePath(sb, name, id), 'ran.txt'))).toBe(false);
      expect(await instanceState(sb, id)).toBe('terminated');
    },
  );
});

describe('the local file system, probed', () => {
  it('here (Linux: case- and normalisation-sensitive) results whose names differ only so all come home as they are, nothing set aside', async () => {
    const dir = makeProject(sb, 'names');
    const r = await cli(
      sb,
      [
        'printf upper > Data.csv; printf lower > data.csv; printf nfc > "$(printf \'caf\\303\\251\')"; printf nfd > "$(printf \'cafe\\314\\201\')"',
      ],
      { cwd: dir },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/kept apart/);
    expect(
      readdirSync(dir)
        .filter((n) => n !== '.ssh-ec2')
        .sort(),
    ).toEqual(['Data.csv', 'caf\u00e9', 'cafe\u0301', 'data.csv'].sort());
    expect(readdirSync(join(dir, '.ssh-ec2'))).not.toContain('collisions');
  });
});
