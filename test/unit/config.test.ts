/**
 * The config files and presets (issue #12): the precedence table of README "Config files and
 * presets", errors naming file:line in each file, preset selection, and `ssh-ec2 config` through
 * the real entry.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/args.js';
import { findVerb } from '../../src/commands/registry.js';
import { ExitCode, UsageError } from '../../src/errors.js';
import { presetNames, readConfigFiles } from '../../src/options/config-files.js';
import { loadOptions } from '../../src/options/load.js';
import { readToml } from '../../src/options/toml-lines.js';
import type { FlagValues, OptionKey } from '../../src/options.js';
import { FakeCloud } from '../fakes/cloud.js';
import { cli, machine, type Machine } from '../fakes/cli.js';

let root: string;
let project: string;
let env: Record<string, string>;
const USER_FILE = '~/.config/ssh-ec2/config.toml';

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'ssh-ec2-config-'));
  project = join(root, 'project');
  mkdirSync(join(root, '.config', 'ssh-ec2'), { recursive: true });
  mkdirSync(project);
  env = { HOME: root };
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const writeUser = (text: string) => writeFileSync(join(root, '.config', 'ssh-ec2', 'config.toml'), text);
const writeProject = (text: string) => writeFileSync(join(project, '.ssh-ec2.toml'), text);
const load = (flags: FlagValues = {}, more: Record<string, string> = {}) =>
  loadOptions({ flags, env: { ...env, ...more }, cwd: project, command: [] });

const LAYERS = ['flag', 'preset', 'env', 'dotenv', 'project', 'user', 'default'] as const;
type Layer = (typeof LAYERS)[number];

/** One string, one duration and one boolean setting, with the value each layer gives it. */
const TABLE: {
  key: OptionKey;
  file: string;
  envName: string;
  values: Record<Layer, string>;
  expected: Record<Layer, unknown>;
}[] = [
  {
    key: 'instanceTypes',
    file: 'instance-type',
    envName: 'AWS_INSTANCE_TYPE',
    values: {
      flag: 'f1.large',
      preset: 'p1.large',
      env: 'e1.large',
      dotenv: 'd1.large',
      project: 'r1.large',
      user: 'u1.large',
      default: '',
    },
    expected: {
      flag: ['f1.large'],
      preset: ['p1.large'],
      env: ['e1.large'],
      dotenv: ['d1.large'],
      project: ['r1.large'],
      user: ['u1.large'],
      default: ['g4dn.xlarge'],
    },
  },
  {
    key: 'maxTime',
    file: 'max-time',
    envName: 'SSH_EC2_MAX_TIME',
    values: { flag: '1h', preset: '2h', env: '3h', dotenv: '4h', project: '5h', user: '6h', default: '' },
    expected: {
      flag: 3_600_000,
      preset: 7_200_000,
      env: 10_800_000,
      dotenv: 14_400_000,
      project: 18_000_000,
      user: 21_600_000,
      default: undefined,
    },
  },
  {
    key: 'cache',
    file: 'cache',
    envName: 'SSH_EC2_CACHE',
    // Each layer says the opposite of the one below it, so the winner shows in the value too.
    values: {
      flag: 'false',
      preset: 'true',
      env: 'false',
      dotenv: 'true',
      project: 'false',
      user: 'true',
      default: '',
    },
    expected: { flag: false, preset: true, env: false, dotenv: true, project: false, user: true, default: true },
  },
];

describe('the precedence: flags > preset > environment > .env > project file > user file > defaults', () => {
  const cases = TABLE.flatMap((row) => LAYERS.map((top) => [row.file, top, row] as const));
  it.each(cases)('%s: %s beats every layer below it', async (_f, top, row) => {
    // Every layer from `top` down gives the setting; the ones above it give nothing.
    const has = (layer: Layer) => LAYERS.indexOf(layer) >= LAYERS.indexOf(top);
    const toml = (v: string) => (row.key === 'cache' ? v : `"${v}"`);
    const v = row.values;
    writeUser(`${has('user') ? `${row.file} = ${toml(v.user)}\n` : ''}[presets.x]\nregion = "us-east-2"\n`);
    writeProject(
      `${has('project') ? `${row.file} = ${toml(v.project)}\n` : ''}` +
        `[presets.big]\n${has('preset') ? `${row.file} = ${toml(v.preset)}\n` : ''}`,
    );
    if (has('dotenv')) writeFileSync(join(project, '.env'), `# a comment\n${row.envName}=${v.dotenv}\n`);
    const flags: FlagValues = { preset: 'big' };
    if (has('flag')) flags[row.key] = row.key === 'cache' ? v.flag === 'true' : v.flag;
    const o = await load(flags, has('env') ? { [row.envName]: v.env } : {});
    expect(o[row.key]).toEqual(row.expected[top]);
    expect(o.from?.[row.key]?.from ?? 'default').toBe(top);
    const where: Partial<Record<Layer, unknown>> = {
      preset: { from: 'preset', preset: 'big', file: '.ssh-ec2.toml', line: 3 },
      dotenv: { from: 'dotenv', name: row.envName, file: '.env', line: 2 },
      project: { from: 'project', file: '.ssh-ec2.toml', line: 1 },
      user: { from: 'user', file: USER_FILE, line: 1 },
    };
    if (top in where) expect(o.from?.[row.key]).toEqual(where[top]);
  });
});

describe('the files', () => {
  it('read comments, quoted strings with escapes, integers, booleans and one-line arrays', () => {
    const tables = readToml(
      '# top\nname = "a \\"b\\" \\u00e9" # trailing\nraw = \'C:\\x\'\nn = 1_000\nb = false\nl = ["x", \'y\',]\n[presets."my big"]\n',
      'f',
    );
    expect(tables[0]!.entries.map((e) => [e.key, e.value, e.line])).toEqual([
      ['name', 'a "b" é', 2],
      ['raw', 'C:\\x', 3],
      ['n', 1000, 4],
      ['b', false, 5],
      ['l', ['x', 'y'], 6],
    ]);
    expect(tables[1]!.path).toEqual(['presets', 'my big']);
  });

  it('honour XDG_CONFIG_HOME for the user file', async () => {
    mkdirSync(join(root, 'xdg', 'ssh-ec2'), { recursive: true });
    writeFileSync(join(root, 'xdg', 'ssh-ec2', 'config.toml'), 'region = "ap-south-1"\n');
    writeUser('region = "us-west-1"\n');
    const o = await load({}, { XDG_CONFIG_HOME: join(root, 'xdg') });
    expect(o.region).toBe('ap-south-1');
  });

  it('take every declared setting by its long flag name, and the final state as --stop does', async () => {
    writeProject(
      'stop = true\nvolume-size = 200\nimage-owner = ["amazon", "123456789012"]\nL = "8888:localhost:8888"\n',
    );
    await expect(load()).rejects.toThrow('.ssh-ec2.toml:4: unknown setting "L"');
    writeProject(
      'stop = true\nvolume-size = 200\nimage-owner = ["amazon", "123456789012"]\nlocal-forwards = "8888:a:8"\n',
    );
    const o = await load();
    expect([o.finalState, o.volumeSize, o.imageOwners, o.localForwards]).toEqual([
      'stop',
      200,
      ['amazon', '123456789012'],
      ['8888:a:8'],
    ]);
  });

  const errors: [what: string, text: string, message: string][] = [
    [
      'a syntax error',
      'region = "eu-west-1"\n\nmax-time = 8h\n',
      ':3: 8h is not a TOML value: put text in quotes ("8h")',
    ],
    ['an unterminated string', '# c\ninstance-type = "p4d\n', ':2: unterminated string'],
    ['an unknown key', 'cache = true\nmax-tme = "8h"\n', ':2: unknown setting "max-tme" (did you mean max-time?)'],
    [
      'an unknown key in a preset',
      '[presets.big]\ninstance_type = "p4d.24xlarge"\n',
      ':2: unknown setting "instance_type"',
    ],
    [
      'a bad value',
      '\n\n\nmax-time = "8x"\n',
      ':4: max-time: expected a duration such as 90s, 15m or 2h (or off), got "8x"',
    ],
    ['a bad value in a preset', '[presets.big]\nssh-cidr = "0.0.0.0/0"\n', ':2: ssh-cidr: refusing to open ssh'],
    ['a boolean for text', 'instance-type = true\n', ':1: instance-type: expected text in quotes'],
    ['a table that is not a preset', '[preset.big]\n', ':1: unknown table [preset.big]'],
  ];
  it.each(
    errors.flatMap(([what, text, message]) => (['project', 'user'] as const).map((f) => [what, f, text, message])),
  )('%s in the %s file is a usage error naming the file and line', async (_what, file, text, message) => {
    (file === 'project' ? writeProject : writeUser)(text);
    const err = await load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(`${file === 'project' ? '.ssh-ec2.toml' : USER_FILE}${message}`);
    expect((err as Error).message.startsWith(file === 'project' ? '.ssh-ec2.toml:' : `${USER_FILE}:`)).toBe(true);
  });
});

describe('presets', () => {
  beforeEach(() => {
    writeUser(
      '[presets.big]\nregion = "us-east-1"\ninstance-type = "p3.2xlarge"\n[presets.cheap]\ninstance-type = "t3.micro"\n',
    );
    writeProject('[presets.big]\ninstance-type = "p4d.24xlarge"\nmax-time = "8h"\n');
  });

  it('are chosen by --preset or SSH_EC2_PRESET; a project preset replaces the user one of the same name', async () => {
    const big = await load({ preset: 'big' });
    expect([big.instanceTypes, big.maxTime, big.region]).toEqual([['p4d.24xlarge'], 8 * 3_600_000, undefined]);
    const cheap = await load({}, { SSH_EC2_PRESET: 'cheap' });
    expect(cheap.instanceTypes).toEqual(['t3.micro']);
    expect(cheap.from?.instanceTypes).toEqual({ from: 'preset', preset: 'cheap', file: USER_FILE, line: 5 });
    expect((await load({ preset: 'cheap' }, { SSH_EC2_PRESET: 'big' })).instanceTypes).toEqual(['t3.micro']);
    expect((await load()).instanceTypes).toEqual(['g4dn.xlarge']);
  });

  it('an unknown one is a usage error listing the known ones', async () => {
    const err = await load({ preset: 'huge' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(ExitCode.usage);
    expect((err as Error).message).toBe('--preset: no preset named "huge"; known: big, cheap');
    await expect(load({}, { SSH_EC2_PRESET: 'x' })).rejects.toThrow('SSH_EC2_PRESET: no preset named "x"');
  });

  it('presetNames lists both files, for completion, even with a broken file', () => {
    expect(presetNames(project, env)).toEqual(['big', 'cheap']);
    writeProject('[presets.gpu]\nmax-time = 8h\n');
    expect(presetNames(project, env)).toEqual(['big', 'cheap', 'gpu']);
    expect(readConfigFiles(join(root, 'nowhere'), { HOME: join(root, 'nobody') })).toEqual({ presets: new Map() });
  });
});

describe('ssh-ec2 config', () => {
  let m: Machine;
  beforeEach(() => {
    m = machine();
    mkdirSync(join(m.env.HOME, '.config', 'ssh-ec2'), { recursive: true });
    writeFileSync(join(m.env.HOME, '.config', 'ssh-ec2', 'config.toml'), 'region = "us-east-1"\ncache = false\n');
    writeFileSync(
      join(m.project, '.ssh-ec2.toml'),
      '# ours\nmax-time = "2h"\n[presets.big]\ninstance-type = "p4d.24xlarge"\n',
    );
    writeFileSync(join(m.project, '.env'), 'SSH_EC2_IDLE_TIMEOUT=5m\n');
  });
  afterEach(() => m.cleanup());

  it('prints every setting, its value and where it came from, asking AWS nothing', async () => {
    const cloud = new FakeCloud();
    const r = await cli(m, cloud, ['config', '--preset', 'big', '--job-grace', '3m', '--stop'], {
      env: { SSH_EC2_CAPACITY_TIMEOUT: '1m' },
    });
    expect(r.status).toBe(0);
    const line = (key: string) =>
      r.stdout
        .split('\n')
        .find((l) => l.startsWith(`${key} `))
        ?.replace(/ +/g, ' ');
    expect(line('instance-type')).toBe('instance-type p4d.24xlarge preset big (.ssh-ec2.toml:4)');
    expect(line('job-grace')).toBe('job-grace 3m flag --job-grace');
    expect(line('capacity-timeout')).toBe('capacity-timeout 1m env SSH_EC2_CAPACITY_TIMEOUT');
    expect(line('idle-timeout')).toBe('idle-timeout 5m .env:1 (SSH_EC2_IDLE_TIMEOUT)');
    expect(line('max-time')).toBe('max-time 2h project file .ssh-ec2.toml:2');
    expect(line('region')).toBe('region us-east-1 user file ~/.config/ssh-ec2/config.toml:1');
    expect(line('cache')).toBe('cache false user file ~/.config/ssh-ec2/config.toml:2');
    expect(line('reconnect-timeout')).toBe('reconnect-timeout 1m30s default');
    expect(line('final-state')).toBe('final-state stop flag --stop');
    expect(r.lines).toEqual([
      `ssh-ec2: config files (where present): ${m.env.HOME}/.config/ssh-ec2/config.toml, ./.ssh-ec2.toml`,
    ]);
    expect(r.regions).toEqual([]);
    expect(cloud.calls).toEqual([]);
  });

  it('--json: {setting: {value, from, …}} with the file and line', async () => {
    const r = await cli(m, new FakeCloud(), ['config', '--json'], { env: { SSH_EC2_PRESET: 'big' } });
    expect(r.status).toBe(0);
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(json['instance-type']).toEqual({
      value: ['p4d.24xlarge'],
      from: 'preset',
      preset: 'big',
      file: '.ssh-ec2.toml',
      line: 4,
    });
    expect(json['max-time']).toEqual({ value: '2h', from: 'project', file: '.ssh-ec2.toml', line: 2 });
    expect(json['idle-timeout']).toEqual({
      value: '5m',
      from: 'dotenv',
      name: 'SSH_EC2_IDLE_TIMEOUT',
      file: '.env',
      line: 1,
    });
    expect(json.preset).toEqual({ value: 'big', from: 'env', name: 'SSH_EC2_PRESET' });
    expect(json.user).toEqual({ value: null, from: 'default', default: "the image's: ubuntu, ec2-user, …" });
    expect(json.cache).toEqual({ value: false, from: 'user', file: '~/.config/ssh-ec2/config.toml', line: 2 });
  });

  it('--presets lists the names; an unknown preset or a bad file is exit 2 naming it', async () => {
    expect((await cli(m, new FakeCloud(), ['config', '--presets'])).stdout).toBe('big\n');
    const unknown = await cli(m, new FakeCloud(), ['config', '--preset', 'small']);
    expect(unknown.status).toBe(ExitCode.usage);
    expect(unknown.lines[0]).toContain('no preset named "small"; known: big');
    writeFileSync(join(m.project, '.ssh-ec2.toml'), 'max-time = "8x"\n');
    const bad = await cli(m, new FakeCloud(), ['ls']);
    expect(bad.status).toBe(ExitCode.usage);
    expect(bad.lines[0]).toContain('.ssh-ec2.toml:1: max-time: expected a duration');
    expect(bad.regions).toEqual([]);
  });
});

describe('the word config', () => {
  it('is the verb only as the first word; after -- it runs on the instance', async () => {
    expect(findVerb('config')?.name).toBe('config');
    expect((await parseArgs(['--', 'config'])).command).toEqual(['config']);
    expect((await parseArgs(['-v', 'config', '--json'])).command).toEqual(['config', '--json']);
  });

  it('--preset is taken by every verb; --json and --presets by config only', async () => {
    for (const verb of ['ls', 'logs', 'pull', 'down', 'config'])
      expect((await parseArgs(['--preset', 'big'], findVerb(verb))).flags.preset).toBe('big');
    expect((await parseArgs(['--json', '--presets'], findVerb('config'))).verbFlags).toEqual({
      json: true,
      presets: true,
    });
    await expect(parseArgs(['--json'], findVerb('logs'))).rejects.toThrow('ssh-ec2 logs does not take --json');
  });
});
