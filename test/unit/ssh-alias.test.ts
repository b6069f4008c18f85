/**
 * The ssh alias's local pieces (issue #12): the Include line in a temporary HOME's ~/.ssh/config
 * (idempotent, reversible byte for byte), our config file's entries, and the relay's route as
 * ssh -G describes it (a user's ProxyJump and ProxyCommand still apply).
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { routeFrom } from '../../src/commands/proxy-connect/route.js';
import { addInclude, hasInclude, removeInclude, userSshConfig } from '../../src/commands/ssh-config/include.js';
import { aliasName, renderAliases } from '../../src/state/aliases.js';
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

describe('the aliases file', () => {
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
      "  ProxyCommand env SSH_EC2_STATE_DIR=/st /usr/bin/node /opt/ssh-ec2/bin/ssh-ec2.js proxy-connect i-0abc --region eu-west-1 --user ubuntu --ssh-config '/c/ssh cfg'\n",
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
