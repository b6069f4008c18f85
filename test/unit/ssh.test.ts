import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  forwardArgs,
  isModernSsh,
  masterControlArgv,
  masterStartArgv,
  parseOpensshVersion,
  remoteArgv,
  rsyncSshArgv,
  sshConfigPath,
  type SshTarget,
  wantsTerminal,
} from '../../src/remote/ssh.js';

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

  it('name our files to ssh whatever their path holds: ssh itself reads back the same paths', () => {
    // ssh -G prints the options as ssh understood them, its %-tokens expanded (a space cannot be told
    // apart there, as several files print space-separated: e2e/host-key.test.ts runs a state directory with one).
    const odd = `/st "a'b" \\ %h %%/`;
    const files = { knownHostsFile: `${odd}known_hosts/i-0abc`, controlPath: `${odd}s.sock` };
    const argv = masterStartArgv({ ...target, ...files, configFile: '/dev/null' });
    const seen = execFileSync('ssh', ['-G', ...argv.slice(1, argv.indexOf('--')), target.host], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).split('\n');
    expect(seen).toContain(`userknownhostsfile ${odd}known_hosts/i-0abc`);
    expect(seen).toContain(`controlpath ${odd}s.sock`);
    expect(sshConfigPath('/plain/path')).toBe('/plain/path');
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
    const argv = remoteArgv(target, 'cd x && ls', {
      tty: true,
      forwards: { local: ['8888:localhost:8888'], dynamic: ['1080'] },
    });
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

  it("neutralise what a user's config would run besides our command, in every ssh we start", () => {
    const rsh = rsyncSshArgv(target);
    const all = {
      master: masterStartArgv(target),
      check: masterControlArgv(target, 'check'),
      exit: masterControlArgv(target, 'exit'),
      command: remoteArgv(target, 'ls'),
      session: remoteArgv(target, 'ls', { tty: true }),
      forwarding: remoteArgv(target, 'ls', { tty: true, forwards: { local: ['8888:localhost:8888'] } }),
      rsync: rsh,
    };
    for (const [name, argv] of Object.entries(all)) {
      expect([name, opt(argv, 'RemoteCommand')]).toEqual([name, 'none']);
      expect([name, opt(argv, 'PermitLocalCommand')]).toEqual([name, 'no']);
    }
    // A terminal only for the user's own terminal session: never under rsync or the master.
    for (const argv of [all.master, all.command, all.rsync]) expect(argv).toContain('-T');
    expect(all.session).toContain('-tt');
    // The config's forwards are cleared, except where the session's own are asked for.
    for (const argv of [all.master, all.command, all.session, all.rsync])
      expect(opt(argv, 'ClearAllForwardings')).toBe('yes');
    expect(opt(all.forwarding, 'ClearAllForwardings')).toBeUndefined();
  });

  it('keep a config from running no session, no input or a fork, with options only an OpenSSH 8.7+ takes', () => {
    expect(parseOpensshVersion('OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026')).toBe(902);
    expect(parseOpensshVersion('OpenSSH_8.6p1, LibreSSL 3.3.6')).toBe(806);
    expect(parseOpensshVersion('Sun_SSH_1.1')).toBeUndefined();
    expect([isModernSsh(806), isModernSsh(807), isModernSsh(1001), isModernSsh(undefined)]).toEqual([
      false,
      true,
      true,
      false,
    ]);
    const modern = { ...target, modernSsh: true };
    for (const argv of [remoteArgv(modern, 'ls'), remoteArgv(modern, 'ls', { tty: true }), rsyncSshArgv(modern)]) {
      expect([opt(argv, 'SessionType'), opt(argv, 'StdinNull'), opt(argv, 'ForkAfterAuthentication')]).toEqual([
        'default',
        'no',
        'no',
      ]);
    }
    for (const argv of [remoteArgv(target, 'ls'), rsyncSshArgv(target), masterStartArgv(modern)])
      expect(opt(argv, 'SessionType')).toBeUndefined();
  });
});

describe('the terminal on the instance', () => {
  // Issue #10: a terminal only when stdin and stdout are both terminals (output into a file stays clean).
  it.each([
    [undefined, true, true, true],
    [undefined, true, false, false],
    [undefined, false, true, false],
    [undefined, false, false, false],
    [true, false, false, true],
    [false, true, true, false],
  ])('--tty %s, stdin a terminal %s, stdout %s → %s', (forced, stdinIsTTY, stdoutIsTTY, tty) => {
    expect(wantsTerminal(forced, { stdinIsTTY, stdoutIsTTY })).toBe(tty);
  });
});
