// A session-only setting and ssh-ec2 batch (src/commands/batch/session-only.ts): given on the
// command line, refused (exit 2); from a config file or the environment, set aside for the batch
// with one line naming it and its source — except --git-url and --dry-run, refused from anywhere.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withoutSessionOnly } from '../../src/commands/batch/session-only.js';
import { ExitCode, UsageError } from '../../src/errors.js';
import { resolveOptions, type FlagValues } from '../../src/options.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';

const resolve = (env: Record<string, string>, flags: FlagValues = {}) =>
  resolveOptions({ flags, env, dotenv: {}, command: [] });

describe('withoutSessionOnly', () => {
  it('from the environment: back to its default, one line each naming it and its source', () => {
    const lines: string[] = [];
    const o = withoutSessionOnly(
      resolve({
        SSH_EC2_SYNC_EVERY: '5m',
        SSH_EC2_VOLUME: 'data:50',
        SSH_EC2_DOCKER: 'ubuntu:24.04',
        AWS_FINAL_STATE: 'stop',
        MULTIPLEX: 'screen',
        SSH_EC2_ON_SUCCESS: 'say done',
        SSH_EC2_GIT: '1',
        SSH_EC2_MAX_TIME: '2h',
      }),
      (l) => lines.push(l),
    );
    expect(lines).toEqual([
      '--multiplex (from MULTIPLEX) is a session setting: this batch does without it',
      '--stop (from AWS_FINAL_STATE) is a session setting: this batch does without it',
      '--sync-every (from SSH_EC2_SYNC_EVERY) is a session setting: this batch does without it',
      '--volume (from SSH_EC2_VOLUME) is a session setting: this batch does without it',
      '--docker (from SSH_EC2_DOCKER) is a session setting: this batch does without it',
      '--git (from SSH_EC2_GIT) is a session setting: this batch does without it',
      '--on-success (from SSH_EC2_ON_SUCCESS) is a session setting: this batch does without it',
    ]);
    expect(o).toMatchObject({
      syncEvery: 0,
      volume: undefined,
      docker: undefined,
      finalState: 'terminate',
      multiplex: undefined,
      onSuccess: undefined,
      git: false,
      maxTime: 7_200_000,
    });
    expect(Object.keys(o.origins ?? {})).toEqual(['maxTime']);
  });

  it('nothing session-only: the same settings, no line', () => {
    const lines: string[] = [];
    const o = resolve({ SSH_EC2_MAX_TIME: '2h' });
    expect(withoutSessionOnly(o, (l) => lines.push(l))).toEqual(o);
    expect(lines).toEqual([]);
  });

  it.each([
    [{ syncEvery: '5m' }, '--sync-every is not for ssh-ec2 batch'],
    [{ volume: 'data' }, '--volume is not for ssh-ec2 batch'],
    [{ docker: 'ubuntu:24.04' }, '--docker is not for ssh-ec2 batch'],
    [{ finalState: 'stop' }, '--stop is not for ssh-ec2 batch'],
    [{ multiplex: 'tmux' }, '--multiplex is not for ssh-ec2 batch'],
    [{ tty: false }, '--tty is not for ssh-ec2 batch'],
  ] as [FlagValues, string][])('%j as a flag: refused, even where the environment sets it too', (flags, said) => {
    const env = { SSH_EC2_SYNC_EVERY: '1m', SSH_EC2_VOLUME: 'v', SSH_EC2_DOCKER: 'd', AWS_FINAL_STATE: 'leave' };
    const lines: string[] = [];
    expect(() => withoutSessionOnly(resolve(env, flags), (l) => lines.push(l))).toThrow(said);
  });

  it('--git-url from the environment is refused still: the jobs would run other files', () => {
    const run = () => withoutSessionOnly(resolve({ SSH_EC2_GIT_URL: 'https://example.com/r.git' }), () => {});
    expect(run).toThrow(UsageError);
    expect(run).toThrow(
      "--git-url (from SSH_EC2_GIT_URL) is not for ssh-ec2 batch: not built for batches yet: the directory is synced up; the jobs would run this directory's files, not that repository's",
    );
  });
});

describe('ssh-ec2 batch with session settings from its config files', () => {
  let m: Machine;
  beforeEach(() => {
    m = machine();
    writeFileSync(join(m.project, 'jobs.txt'), 'echo one\n');
    writeFileSync(
      join(m.project, '.ssh-ec2.toml'),
      'sync-every = "5m"\nvolume = "data"\ndocker = "ubuntu:24.04"\n\n[presets.gpu]\nvolume = "gpu-data"\n',
    );
    mkdirSync(join(m.env.HOME, '.config', 'ssh-ec2'), { recursive: true });
    writeFileSync(join(m.env.HOME, '.config', 'ssh-ec2', 'config.toml'), 'stop = true\n');
  });
  afterEach(() => m.cleanup());

  it('set aside, a line each naming the file and line; the batch goes on to its next check', async () => {
    // --spot without --results: the first refusal after the set-aside, before anything of AWS.
    const r = await cli(m, new FakeCloud(), ['batch', 'jobs.txt', '--spot']);
    expect(r.lines).toEqual([
      'ssh-ec2: --stop (from ~/.config/ssh-ec2/config.toml:1: stop) is a session setting: this batch does without it',
      'ssh-ec2: --sync-every (from .ssh-ec2.toml:1: sync-every) is a session setting: this batch does without it',
      'ssh-ec2: --volume (from .ssh-ec2.toml:2: volume) is a session setting: this batch does without it',
      'ssh-ec2: --docker (from .ssh-ec2.toml:3: docker) is a session setting: this batch does without it',
      expect.stringContaining('ssh-ec2: error: a batch with spot jobs needs --results'),
      'ssh-ec2: Run ssh-ec2 --help for usage.',
    ]);
    expect(r.regions).toEqual([]);
  });

  it('the same given as a flag, or by a preset named on the command line: refused in one line, exit 2', async () => {
    for (const [argv, said] of [
      [
        ['--volume', 'other'],
        'ssh-ec2: error: --volume is not for ssh-ec2 batch: a data volume attaches to one instance',
      ],
      [
        ['--preset', 'gpu'],
        'ssh-ec2: error: --volume (from .ssh-ec2.toml:6 (preset gpu): volume) is not for ssh-ec2 batch: a data volume attaches to one instance',
      ],
    ]) {
      const r = await cli(m, new FakeCloud(), ['batch', 'jobs.txt', ...argv]);
      expect(r.status, r.lines.join('\n')).toBe(ExitCode.usage);
      expect(r.lines[0]).toBe(said);
      expect(r.regions).toEqual([]);
    }
  });
});
