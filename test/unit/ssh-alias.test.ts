/**
 * The ssh alias's local pieces (issue #12): the Include line in a temporary HOME's ~/.ssh/config
 * (idempotent, reversible byte for byte), our config file's entries, and the relay's route as
 * ssh -G describes it (a user's ProxyJump and ProxyCommand still apply).
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { routeFrom } from '../../src/commands/proxy-connect/route.js';
import { addInclude, hasInclude, removeInclude, userSshConfig } from '../../src/commands/ssh-config/include.js';
import { ConfigError } from '../../src/errors.js';
import { aliasName, renderAliases, sharedNames } from '../../src/state/aliases.js';
import { resolvePaths } from '../../src/state/paths.js';

const home = () => mkdtempSync(join(tmpdir(), 'alias-home-'));

describe('the Include line', () => {
  it('is added once at the top, and --remove gives the file back byte for byte', () => {
    const env = { HOME: home() };
    const file = userSshConfig(env);
    const mine = 'Host *\r\n  ServerAliveInterval 30\n\n# no newline at the end';
    const ours = '/state dir/ssh_config';
    expect(addInclude(join(env.HOME, '.ssh', 'config'), ours)).toBe(true); // no ~/.ssh at all: made
    expect(statSync(join(env.HOME, '.ssh')).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('Include "/state dir/ssh_config"\n');
    expect(removeInclude(file, ours)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('');

    writeFileSync(file, mine);
    expect(addInclude(file, ours)).toBe(true);
    expect(addInclude(file, ours)).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(`Include "/state dir/ssh_config"\n${mine}`);
    expect(hasInclude(file, ours)).toBe(true);
    expect(removeInclude(file, ours)).toBe(true);
    expect(removeInclude(file, ours)).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(mine);
  });
});

describe('the Include line where ssh reads it', () => {
  const ours = '/st/ssh_config';
  it('writes through a symlinked ~/.ssh/config (dotfiles managers): the link stays', () => {
    const h = home();
    mkdirSync(join(h, '.ssh'));
    const real = join(h, 'dotfiles-ssh-config');
    writeFileSync(real, 'Host a\n');
    symlinkSync(real, join(h, '.ssh', 'config'));
    const file = userSshConfig({ HOME: h });
    expect(addInclude(file, ours)).toBe(true);
    expect(lstatSync(file).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toBe('Include /st/ssh_config\nHost a\n');
    expect(removeInclude(file, ours)).toBe(true);
    expect(lstatSync(file).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toBe('Host a\n');
  });
  it('below a Host line is not effective: moved to the top', () => {
    const file = join(home(), 'config');
    writeFileSync(file, 'Host *\n  User me\nInclude /st/ssh_config\n');
    expect(hasInclude(file, ours)).toBe(false);
    expect(addInclude(file, ours)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('Include /st/ssh_config\nHost *\n  User me\n');
    expect(addInclude(file, ours)).toBe(false);
  });
  it("--remove takes only our unindented line, not an identical one inside the user's Host block", () => {
    const file = join(home(), 'config');
    const theirs = 'Host box\n  Include /st/ssh_config\n';
    writeFileSync(file, `Include /st/ssh_config\n${theirs}`);
    expect(removeInclude(file, ours)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(theirs);
  });
  it('--remove takes away a file ssh-ec2 made that is now empty, never one the user had', () => {
    const h = home();
    const file = userSshConfig({ HOME: h });
    const st = mkdtempSync(join(tmpdir(), 'alias-state-'));
    expect(addInclude(file, join(st, 'ssh_config'))).toBe(true);
    expect(removeInclude(file, join(st, 'ssh_config'))).toBe(true);
    expect(existsSync(file)).toBe(false);
    writeFileSync(file, '');
    expect(addInclude(file, join(st, 'ssh_config'))).toBe(true);
    expect(removeInclude(file, join(st, 'ssh_config'))).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('');
  });
  it('a file system refusal is a ConfigError of one line (~/.ssh/config a directory)', () => {
    const h = home();
    const file = userSshConfig({ HOME: h });
    mkdirSync(file, { recursive: true });
    for (const step of [() => hasInclude(file, ours), () => addInclude(file, ours), () => removeInclude(file, ours)]) {
      let thrown: unknown;
      try {
        step();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      expect((thrown as Error).message).toMatch(/^cannot change .*config: EISDIR/);
      expect((thrown as Error).message).not.toContain('\n');
    }
  });
});

describe('the aliases file', () => {
  const program = { node: '/usr/bin/node', bin: '/b/ssh-ec2.js', modernSsh: false };
  it('runs the ProxyCommand with the AWS profile and endpoint the alias was written with', () => {
    const paths = resolvePaths({ SSH_EC2_STATE_DIR: '/st', XDG_RUNTIME_DIR: '/run/u' });
    const text = renderAliases(
      [{ id: 'i-1', name: 'n', user: 'u', region: 'r', profile: "work's", endpoint: 'http://127.0.0.1:5000' }],
      paths,
      program,
    );
    expect(text).toContain(
      "  ProxyCommand env SSH_EC2_STATE_DIR=/st 'AWS_PROFILE=work'\\''s' AWS_ENDPOINT_URL=http://127.0.0.1:5000 /usr/bin/node",
    );
  });
  it('a name shared by two instances is no alias: each is reached by its id only', () => {
    const paths = resolvePaths({ SSH_EC2_STATE_DIR: '/st', XDG_RUNTIME_DIR: '/run/u' });
    const records = [
      { id: 'i-1', name: 'me-api', user: 'u', region: 'eu-west-1' },
      { id: 'i-2', name: 'me-api', user: 'u', region: 'us-east-1' },
      { id: 'i-3', name: 'me-web', user: 'u', region: 'eu-west-1' },
    ];
    expect([...sharedNames(records)]).toEqual(['ec2-me-api']);
    const text = renderAliases(records, paths, program);
    expect(text).toMatch(/^Host i-1$/m);
    expect(text).toMatch(/^Host i-2$/m);
    expect(text).toMatch(/^Host ec2-me-web i-3$/m);
    expect(text).not.toContain('ec2-me-api');
  });

  it('sets everything the connection needs, so a Host * after it changes nothing', () => {
    const paths = resolvePaths({ SSH_EC2_STATE_DIR: '/st', XDG_RUNTIME_DIR: '/run/u' });
    const text = renderAliases(
      [{ id: 'i-0abc', name: 'me-my dir', user: 'ubuntu', region: 'eu-west-1', sshConfig: '/c/ssh cfg' }],
      paths,
      { node: '/usr/bin/node', bin: '/opt/ssh-ec2/bin/ssh-ec2.js', modernSsh: true },
    );
    expect(aliasName('me-my dir')).toBe('ec2-me-my-dir');
    expect(text).toContain('Host ec2-me-my-dir i-0abc\n');
    expect(text).toContain(
      "  ProxyCommand env -u AWS_PROFILE -u AWS_ENDPOINT_URL SSH_EC2_STATE_DIR=/st /usr/bin/node /opt/ssh-ec2/bin/ssh-ec2.js proxy-connect i-0abc --region eu-west-1 --user ubuntu --ssh-config '/c/ssh cfg'\n",
    );
    for (const line of [
      'HostKeyAlias i-0abc',
      'UserKnownHostsFile /st/known_hosts/i-0abc',
      'StrictHostKeyChecking yes',
      'IdentityFile /st/aliases/i-0abc',
      'IdentitiesOnly yes',
      'RemoteCommand none',
      'RequestTTY auto',
      'PermitLocalCommand no',
      'ControlMaster no',
      'SessionType default',
      'ForkAfterAuthentication no',
    ])
      expect(text).toContain(`  ${line}\n`);
  });
});

describe('the relay route', () => {
  const o = { address: '203.0.113.5', modernSsh: false };
  it('is a TCP connection where nothing is in between', () => {
    expect(routeFrom('hostname 127.0.0.1\nport 2201\nproxyjump none\n', o)).toEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 2201,
    });
  });
  it("goes through the user's jump hosts with ssh -W", () => {
    expect(routeFrom('hostname 203.0.113.5\nport 22\nproxyjump a,bastion\n', { ...o, configFile: '/c' })).toEqual({
      kind: 'program',
      argv: [
        'ssh',
        '-F',
        '/c',
        '-J',
        'a',
        '-o',
        'RemoteCommand=none',
        '-o',
        'PermitLocalCommand=no',
        '-W',
        '203.0.113.5:22',
        '--',
        'bastion',
      ],
    });
  });
  it("runs the user's ProxyCommand with its tokens", () => {
    expect(routeFrom('hostname 10.0.0.1\nport 22\nproxycommand nc -X 5 %h %p\n', o)).toEqual({
      kind: 'program',
      argv: ['sh', '-c', 'exec nc -X 5 10.0.0.1 22'],
    });
  });
});
