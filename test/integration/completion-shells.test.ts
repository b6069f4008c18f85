/**
 * The completion scripts loaded by the real shells (issue #12): bash and zsh always (the sandbox's
 * prerequisites install zsh), fish where it is installed. Each shell's own completion function is
 * run as a Tab would run it, and asks the built CLI (`ssh-ec2` on PATH) for the candidates. The
 * CLI answers without the AWS SDK (test/fixtures/no-aws-sdk.mjs).
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verbWords } from '../../src/commands/completion/candidates.js';
import { findProgram } from '../sandbox/prerequisites.js';
import { BIN, REPO } from '../e2e/helpers.js';

const HOOK = join(REPO, 'test', 'fixtures', 'no-aws-sdk.mjs');
const dir = mkdtempSync(join(tmpdir(), 'ssh-ec2-shells-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// `ssh-ec2` on PATH, as installed: the scripts call it by that name.
const binDir = join(dir, 'bin');
const home = join(dir, 'home');
mkdirSync(binDir);
symlinkSync(BIN, join(binDir, 'ssh-ec2'));
const env = {
  PATH: `${binDir}:${process.env.PATH}`,
  HOME: home,
  SSH_EC2_STATE_DIR: join(dir, 'state'),
  NODE_OPTIONS: `--import ${HOOK}`,
};
const shell = (program: string, script: string) =>
  execa(program, ['-c', script], { env, cwd: dir, reject: false, stdin: 'ignore', extendEnv: true });
const lines = (s: string) => s.split('\n').filter(Boolean);

describe('completion scripts in the shells', () => {
  it('the CLI answers __complete and prints the scripts without the AWS SDK', async () => {
    for (const argv of [
      ['__complete', 'down', ''],
      ['completion', 'bash'],
      ['__complete', '--'],
    ]) {
      const r = await execa(process.execPath, ['--import', HOOK, BIN, ...argv], {
        reject: false,
        env,
        stdin: 'ignore',
      });
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
    }
    const wrong = await execa(process.execPath, [BIN, 'completion', 'tcsh'], { reject: false, env, stdin: 'ignore' });
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr).toMatch(/bash, zsh, fish/);
  });

  it('bash: loads, registers ssh-ec2, and a Tab offers verbs, the flags of the verb typed, values', async () => {
    const tab = (words: string) =>
      shell(
        'bash',
        `source <(ssh-ec2 completion bash) && complete -p ssh-ec2 && COMP_WORDS=(${words}); ` +
          'COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _ssh_ec2; printf "%s\\n" "${COMPREPLY[@]}"',
      );
    const verbs = await tab(`ssh-ec2 ''`);
    expect(verbs.exitCode, verbs.stderr).toBe(0);
    expect(lines(verbs.stdout)[0]).toBe('complete -o default -F _ssh_ec2 ssh-ec2');
    expect(lines(verbs.stdout).slice(1)).toEqual(verbWords());
    expect(verbWords()).toEqual(expect.arrayContaining(['ls', 'status', 'down', 'config', 'completion']));
    expect(lines((await tab('ssh-ec2 down --')).stdout)).toEqual(
      expect.arrayContaining(['--yes', '--all', '--no-pull']),
    );
    expect(lines((await tab('ssh-ec2 --multi ""')).stdout).slice(1)).toEqual(['tmux', 'screen', 'none']);
    expect(lines((await tab('ssh-ec2 completion z')).stdout).slice(1)).toEqual(['zsh']);
  });

  it('zsh: loads after compinit, registers ssh-ec2, and its function offers what __complete prints', async () => {
    const zsh = await findProgram('zsh');
    expect(zsh, 'zsh is installed by the sandbox prerequisites').toBeDefined();
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, '.zshrc'), '');
    // compadd is the completion system's builtin (only inside a Tab): a function of the same name
    // stands in for it and prints what would be offered.
    const tab = (words: string) =>
      shell(
        'zsh',
        'autoload -Uz compinit && compinit -u -d $HOME/.zcompdump && source <(ssh-ec2 completion zsh) && ' +
          `print -r -- "registered $_comps[ssh-ec2]" && compadd() { print -rl -- "\${(@P)\${@[-1]}}" } && ` +
          `_files() { print -r -- FILES } && words=(${words}) && CURRENT=\${#words} && _ssh_ec2`,
      );
    const verbs = await tab(`ssh-ec2 ''`);
    expect(verbs.exitCode, verbs.stderr).toBe(0);
    expect(lines(verbs.stdout)).toEqual(['registered _ssh_ec2', ...verbWords()]);
    expect(lines((await tab('ssh-ec2 ls --')).stdout)).toEqual(expect.arrayContaining(['--all', '--region']));
    expect(lines((await tab('ssh-ec2 ls --')).stdout)).not.toContain('--yes');
    expect(lines((await tab(`ssh-ec2 make ''`)).stdout)).toEqual(['registered _ssh_ec2', 'FILES']);
  });

  it('fish: loads, and `complete -C` offers verbs and flags', async (t) => {
    if (!(await findProgram('fish'))) t.skip('fish is not installed (optional: bash and zsh are the tested shells)');
    const tab = (line: string) => shell('fish', `ssh-ec2 completion fish | source; complete -C '${line}'`);
    const verbs = await tab('ssh-ec2 l');
    expect(verbs.exitCode, verbs.stderr).toBe(0);
    expect(lines(verbs.stdout)).toEqual(expect.arrayContaining(['ls', 'logs']));
    expect(lines((await tab('ssh-ec2 down --y')).stdout)).toContain('--yes');
  });
});
