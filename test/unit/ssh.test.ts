import { describe, expect, it } from 'vitest';
import { forwardArgs, masterStartArgv, remoteArgv, rsyncSshArgv, type SshTarget } from '../../src/remote/ssh.js';

const target: SshTarget = {
  host: '203.0.113.9',
  user: 'ubuntu',
  hostKeyAlias: 'i-0abc',
  knownHostsFile: '/state/known_hosts/i-0abc',
  controlPath: '/run/ssh-ec2/0123456789ab.sock',
  configFile: '/home/me/my ssh config',
  identityFile: '/k/key',
};

function opt(argv: string[], name: string): string | undefined {
  const i = argv.findIndex((a, j) => argv[j - 1] === '-o' && a.startsWith(`${name}=`));
  return i === -1 ? undefined : argv[i]!.slice(name.length + 1);
}

describe('ssh command lines', () => {
  it('pin host keys per instance in our own file, never ~/.ssh/known_hosts', () => {
    const argv = masterStartArgv(target);
    expect(opt(argv, 'HostKeyAlias')).toBe('i-0abc');
    expect(opt(argv, 'UserKnownHostsFile')).toBe('/state/known_hosts/i-0abc');
    expect(opt(argv, 'StrictHostKeyChecking')).toBe('accept-new');
    expect(opt(argv, 'UpdateHostKeys')).toBe('no');
  });

  it('open one background master with keepalives, and pass the user config', () => {
    const argv = masterStartArgv(target);
    expect(opt(argv, 'ControlMaster')).toBe('yes');
    expect(opt(argv, 'ControlPath')).toBe(target.controlPath);
    expect(opt(argv, 'ServerAliveInterval')).toBe('15');
    expect(argv).toContain('-f');
    expect(argv.slice(argv.indexOf('-F'), argv.indexOf('-F') + 2)).toEqual(['-F', '/home/me/my ssh config']);
    expect(argv.slice(-2)).toEqual(['--', '203.0.113.9']);
  });

  it('run commands through the master, with a tty only when asked, forwards included', () => {
    const argv = remoteArgv(target, 'cd x && ls', { tty: true, forwards: { local: ['8888:localhost:8888'], dynamic: ['1080'] } });
    expect(opt(argv, 'ControlMaster')).toBe('no');
    expect(argv).toContain('-tt');
    expect(opt(argv, 'ExitOnForwardFailure')).toBe('yes');
    expect(argv.slice(-3)).toEqual(['--', '203.0.113.9', 'cd x && ls']);
    expect(remoteArgv(target, 'ls')).toContain('-T');
    expect(forwardArgs({ remote: ['9000:localhost:9000'] })).toEqual(['-R', '9000:localhost:9000']);
  });

  it('give rsync the ssh as an argv (its wrapper script execs it), never a string to split', () => {
    const argv = rsyncSshArgv(target);
    expect(argv[0]).toBe('ssh');
    expect(argv).toContain('/home/me/my ssh config');
    expect(opt(argv, 'ControlMaster')).toBe('no');
    expect(opt(argv, 'BatchMode')).toBe('yes');
  });
});
