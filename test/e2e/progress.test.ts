/**
 * Progress you can see (issue #12): a booting instance used to give 27 s of silence. On a
 * terminal, one live status line (what is waited for, a spinner, the elapsed time), gone before
 * anything else is printed; not on a terminal, plain timestamped lines and no control character;
 * --silent, nothing of ours. The closing line says what came back and what the session cost.
 */
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, cliLine, makeProject, reportedInstance, shq, tmuxPane, until, useSandbox } from './helpers.js';

/** sshd held back after RunInstances, as a machine still booting: the wait the line is for. */
const sb = useSandbox({ bootDelayMs: 6000 });

const CLOCK = String.raw`\d\d:\d\d:\d\d`;
const COST = String.raw`(≈ \$\d+\.\d\d|under \$0\.01) for \w+ of g4dn\.xlarge`;

describe('progress', () => {
  it('not on a terminal: timestamped lines for each wait, no control character, a closing line with the cost', async () => {
    const dir = makeProject(sb, 'progress-pipe', { 'in.txt': 'x' });
    const r = await cli(sb, ['cat in.txt > out.txt; echo ran'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran\n');
    // Nothing below a space but the newline (no \r, no ESC), and no spinner.
    expect(r.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    expect(r.stderr).not.toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/);
    const id = reportedInstance(r.stderr);
    for (const wait of [`waiting for ${id} to boot`, `syncing up to ${id}`, `syncing back from ${id}`])
      expect(r.stderr).toMatch(new RegExp(`^${CLOCK} ssh-ec2: ${wait}$`, 'm'));
    // The boot's two steps (running, then sshd answering) said once.
    expect(r.stderr.match(/waiting for i-\w+ to boot/g)).toHaveLength(1);
    // What came back, the command's measure (issue #14), then the cost.
    expect(r.stderr).toMatch(
      new RegExp(`^ssh-ec2: done in .*\\); 1 file brought back; peak memory [\\d.]+ [KMG]iB, \\w+; ${COST}$`, 'm'),
    );
  });

  it('--silent: nothing of ours on success, the command’s output alone', async () => {
    const dir = makeProject(sb, 'progress-silent', { 'in.txt': 'x' });
    const r = await cli(sb, ['--silent', 'cat in.txt; echo'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('x\n');
    expect(r.stderr).toBe('');
  });

  describe('on a terminal', () => {
    // The spinner is braille: a tmux server in a C locale would show it as `_` (and the check that
    // none is left would then hold for nothing). Its server and the CLI in it get a UTF-8 locale.
    process.env.LC_ALL = 'C.UTF-8';
    const socks: string[] = [];
    afterEach(async () => {
      for (const sock of socks.splice(0)) await execa('tmux', ['-S', sock, 'kill-server'], { reject: false });
    });

    it('shows the live line while the instance boots, and leaves none of it in the output', async () => {
      const dir = makeProject(sb, 'progress-tty', { 'in.txt': 'x' });
      const sock = join(sb.dir, 'progress-tty.sock');
      const exitFile = join(sb.dir, 'progress-tty.exit');
      socks.push(sock);
      const command = shq('echo command-output; cat in.txt; echo');
      const line = `${cliLine(sb, command)}; echo $? > ${shq(exitFile)}; sleep 600`;
      await tmuxPane(sock, dir, line);

      // Wrapped lines joined (-J): the closing line is wider than the pane.
      const capture = async () =>
        String((await execa('tmux', ['-S', sock, 'capture-pane', '-p', '-J', '-S', '-200'])).stdout);
      let seen = '';
      await until(async () => {
        seen = await capture();
        return /waiting for i-\w+ to boot · \d+s/.test(seen);
      }, 'the live line while the instance boots');
      expect(seen).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] waiting for i-\w+ to boot · \d+s/);

      await until(() => existsSync(exitFile), 'ssh-ec2 to exit', 90_000);
      const screen = await capture();
      expect(readFileSync(exitFile, 'utf8').trim(), screen).toBe('0');
      const lines = screen.split('\n').map((l) => l.trimEnd());
      // The command's output on lines of its own, and no status line left anywhere.
      expect(lines, screen).toContain('command-output');
      expect(lines, screen).toContain('x');
      expect(screen).not.toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]|waiting for|syncing (up|back)|· \d+s/);
      const closing = new RegExp(
        `^ssh-ec2: done in .*\\); nothing changed on the instance; peak memory [\\d.]+ [KMG]iB, \\w+; ${COST}$`,
      );
      expect(
        lines.some((l) => closing.test(l)),
        screen,
      ).toBe(true);
    });
  });
});
