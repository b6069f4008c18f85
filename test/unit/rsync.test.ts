import { EVERY_CAPABILITY } from '../fixtures/rsync-capabilities.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { enterDir } from '../../src/remote/remote-command.js';
import {
  excludeFileText,
  explainRsyncFailure,
  pullArgv,
  pushArgv,
  rshArg,
  rshScript,
  rsyncMessage,
  serverPullArgv,
  transferredFiles,
  verboseNames,
} from '../../src/remote/rsync.js';
import { findRsync, missingFor, tooOld, type RsyncCapabilities } from '../../src/remote/rsync-capabilities.js';

// What the probes found for the three rsyncs (test/integration/rsync-capabilities.test.ts checks
// these against the real programs); here they only drive the builders.
const ALL: RsyncCapabilities = {
  path: '/usr/bin/rsync',
  version: 'rsync  version 3.2.7  protocol version 31',
  ...EVERY_CAPABILITY,
};
const RSYNC_269: RsyncCapabilities = { ...ALL, version: 'rsync  version 2.6.9  protocol version 29' };
const OPENRSYNC: RsyncCapabilities = {
  ...ALL,
  version: 'openrsync: protocol version 27',
  pull: false,
  safeLinks: false,
  backupDir: false,
  outFormat: false,
};
const BARE: RsyncCapabilities = {
  ...ALL,
  path: '/opt/old/rsync',
  compress: false,
  from0: false,
  outFormat: false,
  verboseList: false,
};

const common = {
  rsh: '/run/ssh-ec2/rsh-1.sh',
  remote: 'ubuntu@h',
  remoteDir: "my proj 'x' $HOME",
  excludeFile: '/x/ex',
  localDir: '/p',
};

describe('rsync command lines, from the capability set', () => {
  it.each([
    ['rsync 3', ALL, ['--compress', '--from0', '--out-format=%l %n']],
    ['rsync 2.6.9', RSYNC_269, ['--compress', '--from0', '--out-format=%l %n']],
    ['openrsync', OPENRSYNC, ['--compress', '--from0', '-v']],
    ['an rsync without the extras', BARE, []],
  ] as const)('%s: push and pull carry exactly the options it has', (_name, caps, extras) => {
    const push = pushArgv({ ...common, localDir: '/p' }, caps);
    const pull = pullArgv(common, caps);
    for (const argv of [push, pull]) {
      expect(argv[0]).toBe(caps.path);
      for (const optional of ['--compress', '--from0', '--out-format=%l %n', '-v'])
        expect(argv.includes(optional)).toBe((extras as readonly string[]).includes(optional));
      // Never: a deletion, an option no Mac rsync has, a % for openrsync to crash on.
      expect(
        argv.some((a) => a.startsWith('--delete') || a === '--protect-args' || a === '-s' || a.startsWith('--iconv')),
      ).toBe(false);
      if (!caps.outFormat) expect(argv.some((a) => a.includes('%'))).toBe(false);
      expect(argv[argv.indexOf('-e') + 1]).toBe(`/bin/sh ${common.rsh}`);
      expect(argv).toContain(`--rsync-path=${enterDir(common.remoteDir)} && rsync`);
      expect(argv).toContain('--exclude-from=/x/ex');
    }
    // No --update: what must not be overwritten there the three-way rules exclude (issue #10).
    expect(push).toContain('--copy-unsafe-links');
    expect(push).not.toContain('--update');
    expect(push.slice(-2)).toEqual(['/p/', 'ubuntu@h:./']);
    // No backups: what must not be replaced here the three-way rules exclude (issue #10).
    expect(pull).toContain('--safe-links');
    expect(pull.some((a) => a.startsWith('--backup'))).toBe(false);
    expect(pull.slice(-2)).toEqual(['ubuntu@h:./', '/p/']);
  });

  it('the remote directory reaches the remote shell exactly (real sh), whatever its name', () => {
    for (const dir of ['sp ace \'q\' "d" $HOME `x` ;', '-dash', 'ü/u\u0308 nfd', 'new\nline', '*[?]']) {
      const home = mkdtempSync(join(tmpdir(), 'rd-'));
      const rsyncPath = pushArgv({ ...common, remoteDir: dir, localDir: '/p' }, ALL)
        .find((a) => a.startsWith('--rsync-path='))!
        .slice('--rsync-path='.length);
      // What sshd runs: the login shell with the words rsync sent; `pwd -P` stands in for rsync.
      const pwd = execFileSync('sh', ['-c', rsyncPath.replace(/ && rsync$/, ' && pwd -P')], { cwd: home }).toString();
      expect(pwd).toBe(`${join(home, dir)}\n`);
    }
  });

  it('the rsh wrapper hands ssh its exact argv, then what rsync adds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rsh-'));
    const argv = [
      'printf',
      '%s|',
      "it's",
      'a "b"',
      '$HOME',
      '-o',
      'ProxyCommand=ssh -W %h:%p "bastion host"',
      'new\nline',
    ];
    const script = join(dir, 'rsh');
    writeFileSync(script, rshScript(argv), { mode: 0o700 });
    const out = execFileSync(script, ['host', 'cd x && rsync --server .']).toString();
    expect(out).toBe(`${[...argv.slice(2), 'host', 'cd x && rsync --server .'].join('|')}|`);
  });

  it.each([
    ['/run/user/1000/ssh-ec2/rsh-1.sh', '/bin/sh /run/user/1000/ssh-ec2/rsh-1.sh'],
    ['/tmp/my dir/rsh-1.sh', "/bin/sh '/tmp/my dir/rsh-1.sh'"],
    ["/tmp/it's/rsh-1.sh", `/bin/sh "/tmp/it's/rsh-1.sh"`],
  ])('-e %s is given as %s', (path, arg) => {
    expect(rshArg(path)).toBe(arg);
  });
});

describe('the sync back through a local rsync server (openrsync)', () => {
  const o = {
    remoteDir: "my proj 'x' $HOME",
    remoteExcludeFile: '.ssh-ec2/pull-1.exclude',
    localDir: '/p',
  };
  it("the local side is the receiving server with the same guarantees; the instance's rsync sends through the channel", () => {
    const { local, remote } = serverPullArgv(o, OPENRSYNC);
    expect(local).toEqual([
      OPENRSYNC.path,
      '--server',
      '-rlpt',
      '--safe-links', // no backups since issue #10: the three-way rules' excludes keep what must stay
      '.',
      '/p/',
    ]);
    expect(
      remote.startsWith(
        `${enterDir(o.remoteDir)} && exec 3<&0 4>&1 && rsync --recursive --links --perms --times --safe-links --from0 --exclude-from="$HOME"/'.ssh-ec2/pull-1.exclude' -e `,
      ),
    ).toBe(true);
    // Nothing of rsync's own output may enter the channel.
    expect(remote.endsWith(` ./ ssh-ec2:. >&2; s=$?; rm -f "$HOME"/'.ssh-ec2/pull-1.exclude'; exit $s`)).toBe(true);
    expect(remote).not.toMatch(/--delete|%/);
  });
  it('the bridge, run by a real sh, copies both ways between rsync and the channel', () => {
    const { remote } = serverPullArgv(o, OPENRSYNC);
    const bridge = /-e '([^']*)'/.exec(remote)![1]!;
    // As rsync runs it: its stdin is what rsync sends (to fd 4), its stdout what rsync reads (from fd 3).
    const out = execFileSync('sh', [
      '-c',
      `exec 3<<'EOF'\nfrom the channel\nEOF\necho to the channel | ${bridge} 4>&1 | cat`,
    ]).toString();
    expect(out.split('\n').sort()).toEqual(['', 'from the channel', 'to the channel']);
  });
});

describe('the exclude file', () => {
  const entries = [
    { path: 'a b', type: 'file' as const },
    { path: 'dir', type: 'dir' as const },
  ];
  it('is NUL-separated where --from0 works, one pattern a line otherwise', () => {
    expect(excludeFileText(entries, ALL)).toBe('/.ssh-ec2/\0/a b\0/dir/\0');
    expect(excludeFileText(entries, BARE)).toBe('/.ssh-ec2/\n/a b\n/dir/\n');
  });
  it('a name with a line break cannot be excluded without --from0: said in one line with the fix (exit 3)', () => {
    const err = (() => {
      try {
        excludeFileText([...entries, { path: 'secret\n.env', type: 'file' }], BARE);
      } catch (e) {
        return e as { exitCode: number; message: string; hint: string };
      }
      throw new Error('no error');
    })();
    expect(err.exitCode).toBe(ExitCode.config);
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(/line breaks/);
    expect(err.hint).toMatch(/brew install rsync/);
  });
});

describe('transferred files', () => {
  it.each([
    // Each name after its size (for the progress line's bytes): a name that starts with digits keeps them.
    ['--out-format', ALL, '4096 a/\n12 a/b\n0 c d\n3 7 days.txt\n', ['a/b', 'c d', '7 days.txt']],
    [
      'rsync 2.6.9 -v',
      { ...ALL, outFormat: false },
      'building file list ... done\na/\na/b\nlink -> a/b\n\nsent 220 bytes  received 86 bytes\ntotal size is 4  speedup is 0.01\n',
      ['a/b', 'link'],
    ],
    [
      'openrsync -v',
      OPENRSYNC,
      'Transfer starting: 3 files\n-dash\nc d\n\nsent 242 bytes  received 76 bytes\n',
      ['-dash', 'c d'],
    ],
    [
      'rsync 2.6.9 -v, receiving',
      { ...ALL, outFormat: false },
      'receiving file list ... done\nignoring unsafe symlink "x" -> "/etc"\nr.txt\n\nsent 1 bytes\n',
      ['r.txt'],
    ],
  ] as const)('%s', (_name, caps, stdout, names) => {
    expect(transferredFiles(stdout, caps)).toEqual(names);
  });
  it('are unknown (not zero) when the rsync cannot list them', () => {
    expect(transferredFiles('anything', BARE)).toBeUndefined();
    expect(verboseNames('')).toEqual([]);
  });
});

describe('why an rsync failed', () => {
  const f = (stderr: string, exitCode: number | undefined = 23, signal?: string) => ({ stderr, exitCode, signal });
  it.each([
    [
      'up',
      f(
        'rsync: write failed on "/home/u/p/big": No space left on device (28)\nrsync error: error in file IO (code 11)',
        11,
      ),
      /disk is full/,
      /volume-size/,
    ],
    [
      'back',
      f('rsync: write failed on "/p/big": No space left on device (28)', 11),
      /local disk is full/,
      /Free space here/,
    ],
    [
      'up',
      f(
        'rsync: mkstemp "/home/u/p/.a.txt.x" failed: Permission denied (13)\nrsync error: some files/attrs were not transferred (see previous errors) (code 23)',
      ),
      /permission denied on the instance/,
      /writable by the login user/,
    ],
    [
      'up',
      f('rsync: --protect-args: unknown option\nrsync error: syntax or usage error (code 1)', 1),
      /refused an option/,
      /brew install rsync/,
    ],
    ['up', f('', 139), /crashed/, /brew install rsync/],
    [
      'back',
      f('rsync: io.c:370: io_write_buf_tagged_impl: Assertion failed.', undefined, 'SIGABRT'),
      /crashed \(SIGABRT\)/,
      /brew install rsync/,
    ],
    [
      'up',
      f('sh: 1: rsync: not found\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]', 127),
      /rsync is missing on the instance/,
      /apt-get install rsync/,
    ],
    [
      'up',
      f(
        'rsync: connection unexpectedly closed (0 bytes received so far) [sender]\nrsync error: error in rsync protocol data stream (code 12)',
        12,
      ),
      /connection to the instance was lost/,
      /network/,
    ],
    ['up', f('', undefined, 'SIGTERM'), /^rsync was ended \(SIGTERM\)$/, /Nothing was run/],
    ['up', f('rsync: something odd', 5), /^rsync failed$/, /See rsync's message/],
  ] as const)('%s: %j', (direction, failure, cause, hint) => {
    const why = explainRsyncFailure(failure, direction, '/usr/bin/rsync');
    expect(why.cause).toMatch(cause);
    expect(why.hint).toMatch(hint);
    // The disk is named only when rsync says it is full.
    if (!/No space/.test(failure.stderr)) expect(`${why.cause} ${why.hint}`).not.toMatch(/disk/);
  });
  it("quotes rsync's first own error, not its summary", () => {
    expect(
      rsyncMessage(
        'rsync: mkstemp "x" failed: Permission denied (13)\nrsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338)\n',
      ),
    ).toBe('rsync: mkstemp "x" failed: Permission denied (13)');
    expect(rsyncMessage('plain last line\n')).toBe('plain last line');
  });
});

describe('an rsync that cannot do what ssh-ec2 needs', () => {
  it('is named with what it cannot do, in one line with the fix', () => {
    expect(missingFor(OPENRSYNC, ['up'])).toEqual([]);
    // openrsync cannot receive as a client, but as a server: the sync back works that way.
    expect(missingFor(OPENRSYNC, ['up', 'back'])).toEqual([]);
    // A direction that does not work at all is named alone: its options could not be tried.
    expect(missingFor({ ...OPENRSYNC, receiveAsServer: false }, ['up', 'back'])).toEqual(['pull']);
    expect(missingFor({ ...ALL, copyUnsafeLinks: false, safeLinks: false }, ['up', 'back'])).toEqual([
      'copyUnsafeLinks',
      'safeLinks',
    ]);
    // No longer needed since the three-way rules (issue #10).
    expect(missingFor({ ...ALL, update: false, backupDir: false }, ['up', 'back'])).toEqual([]);
    expect(missingFor(RSYNC_269, ['up', 'back'])).toEqual([]);
    const err = tooOld(OPENRSYNC, ['pull']);
    // (the message of an openrsync that could not receive as a server either)
    expect(err.exitCode).toBe(ExitCode.config);
    expect(err.message).toBe(
      'your rsync (/usr/bin/rsync: openrsync: protocol version 27) cannot bring files back from the instance',
    );
    expect(err.hint).toMatch(/brew install rsync.*SSH_EC2_RSYNC/);
  });
});

describe('which rsync', () => {
  it('SSH_EC2_RSYNC (a path, or a name on PATH), else the first rsync on PATH; a missing one is a configuration error', () => {
    const a = mkdtempSync(join(tmpdir(), 'path-a-'));
    const b = mkdtempSync(join(tmpdir(), 'path-b-'));
    for (const [dir, name] of [
      [a, 'rsync'],
      [b, 'rsync'],
      [b, 'my-rsync'],
    ] as const)
      writeFileSync(join(dir, name), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(a, 'not-executable'), '', { mode: 0o644 });
    const env = { PATH: `${a}:${b}` };
    expect(findRsync(undefined, env)).toBe(join(a, 'rsync'));
    expect(findRsync('my-rsync', env)).toBe(join(b, 'my-rsync'));
    expect(findRsync(join(b, 'rsync'), env)).toBe(join(b, 'rsync'));
    expect(() => findRsync(join(a, 'not-executable'), env)).toThrow(/SSH_EC2_RSYNC=.* is not an executable file/);
    expect(() => findRsync(undefined, { PATH: '/nonexistent' })).toThrow(
      expect.objectContaining({ exitCode: ExitCode.config, message: expect.stringMatching(/rsync not found on PATH/) }),
    );
  });
});
