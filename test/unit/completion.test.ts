/**
 * `ssh-ec2 __complete` (commands/completion/candidates.ts): what each Tab offers, derived from the
 * declarations — a verb or flag added to them completes with no edit — and instance names read
 * from this machine's state files. Also the help and the command-line rules of issue #12.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { helpText, parseArgs } from '../../src/args.js';
import { commandFlags, complete, verbWords } from '../../src/commands/completion/candidates.js';
import { DEFAULT_COMMAND, findVerb, VERBS } from '../../src/commands/registry.js';
import { VERB_FLAGS } from '../../src/commands/types.js';
import { OPTION_SPECS, resolveOptions } from '../../src/options.js';

const state = mkdtempSync(join(tmpdir(), 'ssh-ec2-complete-'));
afterAll(() => rmSync(state, { recursive: true, force: true }));
const ctx = { env: { SSH_EC2_STATE_DIR: state }, cwd: state };
const tab = (...words: string[]) => complete(words, ctx);

describe('__complete', () => {
  it('the first word: every verb and alias of the registry, but the hidden ones ssh-ec2 calls itself', () => {
    expect(tab('')).toEqual(VERBS.filter((v) => !v.hidden).flatMap((v) => [v.name, ...(v.aliases ?? [])]));
    expect(tab('')).not.toContain('proxy-connect');
    expect(tab('')).toEqual(expect.arrayContaining(['ls', 'status', 'logs', 'pull', 'down', 'completion']));
    expect(tab('l')).toEqual(['ls', 'logs']);
  });

  it("a flag: every flag the command takes, from the settings' declarations, and only those", () => {
    const session = tab('-');
    for (const s of Object.values(OPTION_SPECS)) {
      if (s.flag && !s.hidden) expect(session).toContain(s.flag.length === 1 ? `-${s.flag}` : `--${s.flag}`);
    }
    expect(session).toEqual(expect.arrayContaining(['-i', '-I', '--multi', '--stop', '-l', '--help', '--version']));
    expect(session).not.toContain('--yes');
    expect(tab('--mu')).toEqual(['--multiplex', '--multi']);
    const down = tab('down', '--');
    expect(down).toEqual(expect.arrayContaining(['--yes', '--all', '--pull', '--no-pull', '--region', '--remote-dir']));
    expect(down).not.toContain('--detach');
    expect(tab('ls', '--')).not.toContain('--yes');
  });

  it("each verb's flags are those its help shows", async () => {
    for (const verb of VERBS) {
      const help = await helpText(verb);
      for (const f of commandFlags(verb).flatMap((x) => x.names)) {
        if (f !== '--help' && f !== '-h') expect(help, `${verb.name} ${f}`).toMatch(new RegExp(`${f}\\b`));
      }
      for (const [key, f] of Object.entries(VERB_FLAGS)) {
        if (!verb.flags?.includes(key as keyof typeof VERB_FLAGS))
          expect(tab(verb.name, '--')).not.toContain(`--${f.flag}`);
      }
    }
  });

  it('values where they are a closed set: --multi, the shells', () => {
    expect(tab('--multi', '')).toEqual(['tmux', 'screen', 'none']);
    expect(tab('-v', '--multiplex', 's')).toEqual(['screen']);
    expect(tab('completion', '')).toEqual(['bash', 'zsh', 'fish']);
    expect(tab('completion', 'z')).toEqual(['zsh']);
    expect(tab('--multi=s')).toEqual(['--multi=screen']);
    expect(tab('--multi', '=', 't')).toEqual(['tmux']);
  });

  it("instance names and ids from this machine's state files only (warm records, journals)", () => {
    mkdirSync(join(state, 'warm'), { recursive: true });
    mkdirSync(join(state, 'journals'), { recursive: true });
    const warm = { instance: { id: 'i-0abc', tags: { Name: 'me-project' } } };
    writeFileSync(join(state, 'warm', 'p1.json'), JSON.stringify(warm));
    writeFileSync(join(state, 'warm', 'broken.json'), '{');
    writeFileSync(join(state, 'journals', 'p2.123.json'), JSON.stringify({ instanceId: 'i-0def' }));
    expect(tab('down', '')).toEqual(['i-0abc', 'i-0def', 'me-project']);
    expect(tab('down', 'me')).toEqual(['me-project']);
    expect(tab('--name', '')).toEqual(['i-0abc', 'i-0def', 'me-project']);
  });

  it("preset names from this directory's config file and the user's", () => {
    const home = join(state, 'xdg');
    mkdirSync(join(home, 'ssh-ec2'), { recursive: true });
    writeFileSync(join(home, 'ssh-ec2', 'config.toml'), '[presets.cheap]\ninstance-type = "t3.micro"\n');
    writeFileSync(join(state, '.ssh-ec2.toml'), '# ours\n[presets.big]\nmax-time = "8h"\n');
    const withUser = { ...ctx, env: { ...ctx.env, XDG_CONFIG_HOME: home } };
    expect(complete(['--preset', ''], withUser).sort()).toEqual(['big', 'cheap']);
    expect(complete(['--preset', 'b'], withUser)).toEqual(['big']);
    rmSync(join(state, '.ssh-ec2.toml'));
  });

  it('nothing (the shell completes files) for a remote command, after --, or for a file-valued flag', () => {
    expect(tab('make', '')).toEqual([]);
    expect(tab('-v', '')).toEqual([]);
    expect(tab('-v', 'l')).toEqual([]);
    expect(tab('--', '')).toEqual([]);
    expect(tab('down', '--', '-')).toEqual([]);
    expect(tab('-i', '')).toEqual([]);
  });
});

describe('help and command line (issue #12)', () => {
  it.each([DEFAULT_COMMAND, ...VERBS.filter((v) => !v.hidden)].map((c) => [c.name, c]))(
    '%s has its own help, with examples',
    async (_n, c) => {
      const help = await helpText(c);
      expect(help).toContain('Examples:');
      for (const [example] of c.examples ?? []) expect(help.replace(/\s+/g, ' ')).toContain(example.split(' ')[0]);
      expect(c.examples?.length).toBeGreaterThan(0);
    },
  );

  it("the original's spelling -I my_key.pem is -i, attached or not", async () => {
    for (const argv of [
      ['--stop', '-I', 'my_key.pem', 'who am i'],
      ['-Imy_key.pem', 'who am i'],
    ]) {
      const a = await parseArgs(argv);
      const o = resolveOptions({ flags: a.flags, env: {}, dotenv: {}, command: a.command });
      expect([o.identity, o.command]).toEqual(['my_key.pem', ['who am i']]);
    }
    expect((await parseArgs(['-I', 'k.pem'], findVerb('down'))).flags.identity).toBe('k.pem');
  });

  it('`ssh-ec2 -- WORD` runs WORD remotely for every verb word; completion offers them all', async () => {
    for (const word of verbWords()) {
      expect(findVerb('--')).toBeUndefined();
      expect((await parseArgs(['--', word])).command).toEqual([word]);
    }
  });
});
