import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinCommand, normalizeRemoteDir, sessionCommand, shQuote } from '../../src/remote/remote-command.js';
import { randomCommand, rng } from '../fixtures/random-command.js';

/**
 * Runs the words ssh would send the way sshd does ("$SHELL" -c words), with a $SHELL that records
 * the command string it is finally given and the directory it runs in.
 */
function runAsSshd(dir: string, command: string | undefined) {
  const home = mkdtempSync(join(tmpdir(), 'rc-'));
  const recorder = join(home, 'recorder');
  writeFileSync(
    recorder,
    '#!/bin/sh\nprintf %s "$1" > "$HOME/flag"; printf %s "$2" > "$HOME/got"; pwd > "$HOME/cwd"\n',
    { mode: 0o755 },
  );
  execFileSync('/bin/sh', ['-c', sessionCommand(dir, command)], {
    env: { PATH: process.env.PATH, HOME: home, SHELL: recorder },
    cwd: home,
  });
  return {
    flag: readFileSync(join(home, 'flag'), 'utf8'),
    got: readFileSync(join(home, 'got'), 'utf8'),
    cwd: readFileSync(join(home, 'cwd'), 'utf8').trim(),
    home: realpathSync(home),
  };
}

describe('the remote command', () => {
  it('reaches the remote shell exactly, whatever it contains (300 random strings)', () => {
    const next = rng(42);
    for (let i = 0; i < 300; i++) {
      const command = randomCommand(next);
      const r = runAsSshd('proj', command);
      expect(r.flag).toBe('-c');
      expect(r.got, `case ${i}: ${JSON.stringify(command)}`).toBe(command);
    }
  });

  it('keeps trailing newlines and runs in the project directory, whatever its name', () => {
    const dir = "my proj 'ü' $x";
    const r = runAsSshd(dir, 'make train\n\n');
    expect(r.got).toBe('make train\n\n');
    expect(r.cwd).toBe(join(r.home, dir));
  });

  it('opens a login shell without a command', () => {
    const r = runAsSshd('p', undefined);
    expect(r.flag).toBe('-l');
    expect(r.cwd.endsWith('/p')).toBe(true);
  });

  it('joins words with spaces, as ssh does', () => {
    expect(joinCommand(['who', 'am', 'i'])).toBe('who am i');
    expect(joinCommand(['source activate x; make train'])).toBe('source activate x; make train');
    expect(joinCommand([])).toBeUndefined();
  });

  it.each([
    ['proj', 'proj'],
    ['~/proj/', 'proj'],
    ['~', '.'],
    ['/data/x', '/data/x'],
  ])('remote dir %s → %s', (input, out) => expect(normalizeRemoteDir(input)).toBe(out));

  it('single-quotes our own words', () => {
    expect(execFileSync('/bin/sh', ['-c', `printf %s ${shQuote("a 'b' $c")}`]).toString()).toBe("a 'b' $c");
  });
});
