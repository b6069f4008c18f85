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
    // proxy-connect is ssh's (the ProxyCommand of an alias), not a person's: dispatched, not listed.
    expect(help).not.toContain('proxy-connect');
    for (const verb of VERBS.filter((v) => !v.hidden)) {
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
    expect(findVerb('doctor')?.name).toBe('doctor');
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
  it('are parsed for the verbs that declare them, apart from the settings', async () => {
    const down = findVerb('down');
    expect((await parseArgs(['--yes', '--all'], down)).verbFlags).toEqual({ yes: true, all: true });
    expect((await parseArgs(['-y'], down)).verbFlags).toEqual({ yes: true });
    expect((await parseArgs(['--no-yes'], down)).verbFlags).toEqual({ yes: false });
    expect((await parseArgs(['--no-pull'], down)).verbFlags).toEqual({ pull: false });
    expect((await parseArgs(['--all'], findVerb('ls'))).verbFlags).toEqual({ all: true });
    const o = resolveOptions({ ...(await parseArgs(['--yes'], down)), env: {}, dotenv: {} });
    expect(o).not.toHaveProperty('yes');
  });

  // Issue #10: `down NAME --yes` was refused (exit 2) — the parser halted at NAME.
  it.each([
    [['my-box', '--yes'], ['my-box'], { yes: true }],
    [['--yes', 'my-box'], ['my-box'], { yes: true }],
    [['my-box', '-y', '--no-pull'], ['my-box'], { yes: true, pull: false }],
    [['my-box', '--', '--yes'], ['my-box', '--yes'], {}],
  ])('a verb reads its options before and after its words: down %j', async (argv, words, verbFlags) => {
    const a = await parseArgs(argv, findVerb('down'));
    expect(a.command).toEqual(words);
    expect(a.verbFlags).toEqual(verbFlags);
  });

  it("the session's command words stay untouched, options in them included", async () => {
    const a = await parseArgs(['-v', 'ls', '-la', '--yes', '--stpo']);
    expect(a.command).toEqual(['ls', '-la', '--yes', '--stpo']);
    expect(a.flags).toEqual({ verbose: true });
  });

  it('the session refuses them, before any AWS call', async () => {
    await expect(parseArgs(['--yes'])).rejects.toThrow(
      new UsageError('--yes is for the verbs (ssh-ec2 down --yes); to run a command named so, put it after --'),
    );
    await expect(parseArgs(['--no-pull', 'make'])).rejects.toThrow(/^--no-pull is for the verbs/);
    const { run } = await DEFAULT_COMMAND.load();
    const ctx = (flags: object) => ({ flags, options: { command: [] } }) as unknown as Parameters<typeof run>[0];
    await expect(run(ctx({ all: true }))).rejects.toThrow(/^--all is for the verbs/);
  });

  // Issue #10: `ssh-ec2 ls -la` was taken silently as --leave --attach.
  it.each([
    ['ls', ['-la'], 'ssh-ec2 ls does not take -l (--leave)'],
    ['ls', ['--yes'], 'ssh-ec2 ls does not take --yes'],
    ['pull', ['--detach'], 'ssh-ec2 pull does not take --detach'],
    ['pull', ['-d', 'x'], 'ssh-ec2 pull does not take -d (--detach)'],
    ['logs', ['--all'], 'ssh-ec2 logs does not take --all'],
    ['logs', ['--max-time', '2h'], 'ssh-ec2 logs does not take --max-time'],
    ['down', ['my-box', '--stop'], 'ssh-ec2 down does not take --stop'],
    ['down', ['--multi', 'tmux', '--yes'], 'ssh-ec2 down does not take --multi (--multiplex)'],
  ])('ssh-ec2 %s refuses a flag it does not take: %j (exit 2)', async (verb, argv, message) => {
    const err = await parseArgs(argv, findVerb(verb)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).toBe(message);
  });

  it.each(['ls', 'logs', 'pull', 'down'])('ssh-ec2 %s accepts the wiring every verb accepts', async (verb) => {
    const argv = ['--region', 'eu-west-1', '--ssh-config', 'cfg', '--user', 'ubuntu', '--ssh-cidr', '10.0.0.0/8'];
    argv.push('--image-name', 'img*', '--image-owner', '123456789012', '-v');
    const a = await parseArgs(argv, findVerb(verb));
    expect(a.flags).toMatchObject({ region: 'eu-west-1', sshConfig: 'cfg', user: 'ubuntu', verbose: true });
    expect(a.flags).toMatchObject({ sshCidr: '10.0.0.0/8', imageName: 'img*', imageOwners: ['123456789012'] });
    expect(a.command).toEqual([]);
  });
});

describe('did you mean', () => {
  it.each([
    [undefined, ['--stpo'], 'unknown option --stpo (did you mean --stop?)'],
    [undefined, ['--detahc', 'make'], 'unknown option --detahc (did you mean --detach?)'],
    [undefined, ['--regin', 'x'], 'unknown option --regin (did you mean --region?)'],
    [undefined, ['--frobnicate'], 'unknown option --frobnicate'],
    [undefined, ['-x'], 'unknown option -x'],
    ['down', ['--yse'], 'unknown option --yse (did you mean --yes?)'],
    ['down', ['NAME', '--no-pul'], 'unknown option --no-pul (did you mean --no-pull?)'],
    ['ls', ['--al'], 'unknown option --al (did you mean --all?)'],
    // A verb suggests only what it takes: --stop is not for ls.
    ['ls', ['--stpo'], 'unknown option --stpo'],
  ])('%s %j: %s', async (verb, argv, message) => {
    const err = await parseArgs(argv, verb ? findVerb(verb) : undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(message);
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
