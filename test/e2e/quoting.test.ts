/**
 * The command reaches the remote shell exactly, through the whole chain: the CLI's argument
 * parsing, ssh, sshd, our wrapper, and in the job modes job.sh under real tmux and screen. The
 * login shell of the sandbox user is a recorder: run by sshd for our own plumbing (no
 * SSH_EC2_SESSION, TMUX or STY in its environment) it is /bin/sh; run for the user's command it
 * writes down the string it was given instead of running it.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomCommand, rng } from '../fixtures/random-command.js';
import { cli, makeProject, reportedInstance, instanceState, useSandbox } from './helpers.js';

const sb = useSandbox();
let got: string;

beforeAll(async () => {
  got = join(sb.latestHome, 'got'); // every run here uses the one instance the first launches
  const recorder = join(sb.dir, 'recorder');
  writeFileSync(
    recorder,
    '#!/bin/sh\nif [ -z "$SSH_EC2_SESSION$TMUX$STY" ]; then exec /bin/sh "$@"; fi\n[ "$1" = -c ] && printf %s "$2" > "$HOME/got.tmp" && mv "$HOME/got.tmp" "$HOME/got"\n',
    { mode: 0o755 },
  );
  sb.setLoginShell(recorder);
});

afterAll(async () => {
  // The instance is left running by these runs: end it, so the sandbox stops cleanly.
  await cli(sb, ['down', '--all', '--yes'], { cwd: sb.dir });
});

/** The string the remote shell was given, once the command (or the detached job) got there. */
async function received(): Promise<string> {
  for (let i = 0; !existsSync(got); i++) {
    if (i > 400) throw new Error('the command never reached the shell');
    await new Promise((r) => setTimeout(r, 25));
  }
  return readFileSync(got, 'utf8');
}

describe('the command through the whole chain', () => {
  const modes: [string, string[], number][] = [
    ['plain ssh', [], 10],
    ['tmux', ['--multi', 'tmux'], 3],
    ['screen', ['--multi', 'screen'], 3],
    ['--detach (tmux)', ['--detach'], 3],
    ['--detach --multi screen', ['--detach', '--multi', 'screen'], 3],
  ];
  it.each(modes)('%s: random strings reach the shell exactly', async (_name, flags, count) => {
    const dir = makeProject(sb, 'quoting');
    const next = rng(flags.length * 1000 + count);
    for (let i = 0; i < count; i++) {
      const command = randomCommand(next);
      rmSync(got, { force: true });
      // `--` so that a string starting with "-" is the command, never a flag.
      const r = await cli(sb, ['--leave', ...flags, '--', command], { cwd: dir });
      expect(r.exitCode, `${JSON.stringify(command)}\n${r.stderr}`).toBe(0);
      expect(await received(), `case ${i}`).toBe(command);
      expect(await instanceState(sb, reportedInstance(r.stderr))).toBe('running');
    }
  });
});
