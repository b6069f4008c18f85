import { describe, expect, it } from 'vitest';
import { helpText, parseArgs } from '../../src/args.js';
import { DEFAULT_COMMAND, findVerb, VERBS } from '../../src/commands/registry.js';
import { UsageError } from '../../src/errors.js';
import { OPTION_SPECS, resolveOptions } from '../../src/options.js';
import { formatDuration } from '../../src/session/limits.js';

describe('the command registry', () => {
  it.each([DEFAULT_COMMAND, ...VERBS].map((c) => [c.name, c]))(
    '%s has a summary, a usage, and loads',
    async (_n, c) => {
      expect(c.summary.length).toBeGreaterThan(10);
      expect(c.usage.length).toBeGreaterThan(0);
      expect(typeof (await c.load()).run).toBe('function');
      if (c.settings !== 'all') for (const key of c.settings) expect(OPTION_SPECS).toHaveProperty(key);
    },
  );

  it('the help lists every verb, its aliases and its summary; each verb has its own help', async () => {
    const help = await helpText();
    for (const verb of VERBS) {
      expect(help).toContain(verb.summary);
      for (const word of [verb.name, ...(verb.aliases ?? [])]) expect(help).toMatch(new RegExp(`\\b${word}\\b`));
      const own = await helpText(verb);
      expect(own).toMatch(new RegExp(`^Usage: ssh-ec2 ${verb.name}`));
      expect(own).toContain(verb.summary);
    }
  });

  it('a verb is only a verb as the first word, by its name or an alias', () => {
    expect(findVerb('ls')?.name).toBe('ls');
    expect(findVerb('status')?.name).toBe('ls');
    expect(findVerb('down')?.name).toBe('down');
    expect(findVerb('make')).toBeUndefined();
    expect(findVerb(undefined)).toBeUndefined();
  });

  it("a verb's help shows its own flags and the settings it reads, not the others", async () => {
    const down = await helpText(findVerb('down'));
    expect(down).toContain('--yes');
    expect(down).toContain('--all');
    expect(down).toContain('--remote-dir');
    expect(down).not.toContain('--detach');
    const ls = await helpText(findVerb('ls'));
    expect(ls).toContain('--all');
    expect(ls).not.toContain('--yes');
    expect(ls).toContain('(also: ssh-ec2 status)');
  });
});

describe('verb flags', () => {
  it('are parsed for every command (for now), apart from the settings', async () => {
    const down = findVerb('down');
    expect((await parseArgs(['--yes', '--all'], down)).verbFlags).toEqual({ yes: true, all: true });
    expect((await parseArgs(['-y'], down)).verbFlags).toEqual({ yes: true });
    expect((await parseArgs(['--no-yes'], down)).verbFlags).toEqual({ yes: false });
    expect((await parseArgs(['--all'], findVerb('logs'))).verbFlags).toEqual({ all: true });
    expect((await parseArgs(['--yes'])).verbFlags).toEqual({ yes: true });
    const o = resolveOptions({ ...(await parseArgs(['--yes'], down)), env: {}, dotenv: {} });
    expect(o).not.toHaveProperty('yes');
  });

  it('`down NAME --yes`: options end at NAME, so --yes is a word after it', async () => {
    const a = await parseArgs(['my-box', '--yes'], findVerb('down'));
    expect(a.command).toEqual(['my-box', '--yes']);
    expect(a.verbFlags).toEqual({});
  });

  it('the session refuses them, before any AWS call', async () => {
    const { run } = await DEFAULT_COMMAND.load();
    const ctx = (flags: object) => ({ flags, options: { command: [] } }) as unknown as Parameters<typeof run>[0];
    await expect(run(ctx({ yes: true }))).rejects.toThrow(
      new UsageError('--yes is for the verbs (ssh-ec2 down --yes); to run a command named so, put it after --'),
    );
    await expect(run(ctx({ all: true }))).rejects.toThrow(/^--all is for the verbs/);
  });

  it('a verb still takes every setting (which ones it refuses is for issue #10)', async () => {
    const a = await parseArgs(['--detach', '--region', 'us-east-1', '-t'], findVerb('pull'));
    expect(a.flags).toMatchObject({ detach: true, region: 'us-east-1', finalState: 'terminate' });
    await expect(parseArgs(['--bogus'], findVerb('ls'))).rejects.toBeInstanceOf(UsageError);
  });
});

describe('defaults in the help come from the declarations', () => {
  it('shows every declared default, and the fallback of the agent limits', async () => {
    const help = (await helpText()).replace(/\s+/g, ' ');
    expect(help).toContain('(default g4dn.xlarge)');
    expect(help).toContain('(default amazon)');
    expect(help).toContain('(default 90s)');
    expect(help).toContain(`(default ${formatDuration(OPTION_SPECS.idleTimeout.fallback)})`);
    expect(help).toContain('(default 10m)');
    expect(help).toContain('(default off)');
    expect(help).toContain('at least 100)');
  });
});
