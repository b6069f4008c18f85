// Where ssh-ec2 keeps its sockets, keys and rsh wrappers: a directory whose path ssh and openrsync
// can name (issue #8: openrsync splits -e on spaces whatever the quotes, ssh an -o value), made so
// that nobody else's directory or planted link is ever used.
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { plainDir, plainTempDir, privateDir, resolvePaths } from '../../src/state/paths.js';

const uid = userInfo().uid;

function thrownBy(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('the runtime directory', () => {
  it.each([
    ['/run/user/501/ssh-ec2', '/run/user/501/ssh-ec2'],
    ['/var/folders/x_/T/ssh-ec2-501', '/var/folders/x_/T/ssh-ec2-501'],
    ['/Users/a b/run/ssh-ec2', '/tmp/ssh-ec2-501'],
    ['/tmp/tab\there/ssh-ec2', '/tmp/ssh-ec2-501'],
    ["/tmp/it's/ssh-ec2", '/tmp/ssh-ec2-501'],
    ['/tmp/"q"/ssh-ec2', '/tmp/ssh-ec2-501'],
    ['/tmp/back\\slash/ssh-ec2', '/tmp/ssh-ec2-501'],
    // ssh expands %-tokens in a ControlPath: /run/100%/x.sock would name another file.
    ['/run/100%/ssh-ec2', '/tmp/ssh-ec2-501'],
    ['/tmp/%h/ssh-ec2', '/tmp/ssh-ec2-501'],
  ])('%j: %j', (dir, chosen) => {
    expect(plainDir(dir, 501)).toBe(chosen);
  });

  it('an XDG_RUNTIME_DIR or TMPDIR holding a space is replaced by /tmp/ssh-ec2-<uid>', () => {
    expect(resolvePaths({ XDG_RUNTIME_DIR: '/run/a b' }).runtime).toBe(`/tmp/ssh-ec2-${uid}`);
    expect(resolvePaths({ XDG_RUNTIME_DIR: '/run/user/7' }).runtime).toBe('/run/user/7/ssh-ec2');
    const before = process.env.TMPDIR;
    process.env.TMPDIR = '/var/my tmp';
    try {
      expect(resolvePaths({}).runtime).toBe(`/tmp/ssh-ec2-${uid}`);
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
  });
});

describe('privateDir', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'ssh-ec2-paths-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('makes a directory only we can use, and takes it again', () => {
    const dir = join(root, 'ssh-ec2-1');
    expect(privateDir(dir)).toBe(dir);
    expect(lstatSync(dir).mode & 0o777).toBe(0o700);
    expect(privateDir(dir)).toBe(dir);
  });

  it.each([
    ['a link planted there, to a directory', (dir: string) => symlinkSync(mkdtempSync(join(root, 'elsewhere-')), dir)],
    ['a link planted there, to nothing', (dir: string) => symlinkSync(join(root, 'nothing'), dir)],
    ['a directory others may enter', (dir: string) => (mkdirSync(dir), chmodSync(dir, 0o755))],
    ...(uid === 0
      ? [
          [
            'a directory of someone else',
            (dir: string) => (mkdirSync(dir, { mode: 0o700 }), chownSync(dir, 4242, 4242)),
          ],
        ]
      : []),
  ] as [string, (dir: string) => void][])('refuses %s: one line, exit 3', (_what, plant) => {
    const dir = join(root, 'ssh-ec2-1');
    plant(dir);
    expect(thrownBy(() => privateDir(dir))).toMatchObject({
      name: 'UserError',
      exitCode: 3,
      message: expect.stringMatching(`^cannot use ${dir}: `),
    });
  });
});

describe("plainTempDir (the rsync probe's scratch directory)", () => {
  const made: string[] = [];
  afterEach(() => made.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('is a new private directory in a plain TMPDIR', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'ssh-ec2-plain-'));
    made.push(tmp);
    const dir = plainTempDir('ssh-ec2-rsync-probe-', tmp);
    expect(dir.startsWith(join(tmp, 'ssh-ec2-rsync-probe-'))).toBe(true);
    expect(lstatSync(dir).mode & 0o777).toBe(0o700);
  });

  // A TMPDIR that ssh or openrsync cannot name a file in: a random name in /tmp, never the fixed
  // /tmp/ssh-ec2-<uid> (whoever made that first would make every probe fail, whatever we set).
  it.each(['/var/my tmp', "/var/it's", '/var/100%'])('%j: a random private directory in /tmp', (tmp) => {
    const dir = plainTempDir('ssh-ec2-rsync-probe-', tmp);
    made.push(dir);
    expect(dir).toMatch(/^\/tmp\/ssh-ec2-rsync-probe-[^/]+$/);
    expect(lstatSync(dir).mode & 0o777).toBe(0o700);
    expect(lstatSync(dir).uid).toBe(uid);
    const again = plainTempDir('ssh-ec2-rsync-probe-', tmp);
    made.push(again);
    expect(again).not.toBe(dir);
  });
});
