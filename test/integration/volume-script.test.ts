/**
 * volume.sh's one irreversible step, under real sh: a file system is made only where blkid -p
 * says there is none (exit status 2); a probe that fails (sudo refused, a read error) formats
 * nothing. The programs it calls are stand-ins that log; the device is a block device node made
 * here (mknod: root, as the e2e tier runs), as the script looks for one.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { volumeScript } from '../../src/remote/on-instance.js';

function attempt(o: { blkid: number; sudo?: number }) {
  const home = mkdtempSync(join(tmpdir(), 'volume-sh-'));
  const bin = join(home, 'bin');
  mkdirSync(bin);
  const log = join(home, 'log');
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  // Refusing the probe only (a sudo rule that allows mkfs but not blkid, say).
  stub('sudo', o.sudo ? `[ "$1" = blkid ] && { echo 'sudo: refused' >&2; exit ${o.sudo}; }; exec "$@"` : 'exec "$@"');
  stub('mountpoint', 'exit 1');
  stub('blkid', `echo "blkid $*" >> '${log}'; exit ${o.blkid}`);
  stub('mkfs.ext4', `echo "mkfs $*" >> '${log}'`);
  stub('mount', `echo "mount $*" >> '${log}'`);
  stub('chown', 'true');
  const dev = join(home, 'nvme1n1');
  execFileSync('mknod', [dev, 'b', '7', '250']);
  const script = volumeScript({ volumeId: 'vol-0abc', device: dev, mountPoint: 'proj/data', mountCommand: '' });
  const r = spawnSync('sh', ['-s'], {
    input: script,
    encoding: 'utf8',
    env: { ...process.env, HOME: home, PATH: `${bin}:${process.env.PATH}` },
  });
  let calls = '';
  try {
    calls = readFileSync(log, 'utf8');
  } catch {
    // nothing called
  }
  return { status: r.status, stderr: r.stderr, calls: calls.trim().split('\n').filter(Boolean), dev };
}

describe.skipIf(process.getuid?.() !== 0)('volume.sh formats only a device blkid -p finds empty', () => {
  it('nothing found (exit status 2): formatted, then mounted', () => {
    const r = attempt({ blkid: 2 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls).toEqual([`blkid -p ${r.dev}`, `mkfs -q -L ssh-ec2-data ${r.dev}`, `mount ${r.dev} proj/data`]);
  });

  it('a file system found: mounted as it is', () => {
    const r = attempt({ blkid: 0 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls).toEqual([`blkid -p ${r.dev}`, `mount ${r.dev} proj/data`]);
  });

  it.each([1, 4, 8])('the probe failed (exit status %i): neither formatted nor mounted, said', (status) => {
    const r = attempt({ blkid: status });
    expect(r.status).not.toBe(0);
    expect(r.calls).toEqual([`blkid -p ${r.dev}`]);
    expect(r.stderr).toContain(`blkid -p: exit status ${status}): not formatted`);
  });

  it('sudo refused the probe: nothing formatted', () => {
    const r = attempt({ blkid: 2, sudo: 1 });
    expect(r.status).not.toBe(0);
    expect(r.calls).toEqual([]);
  });
});
