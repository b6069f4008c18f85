/**
 * The capability probe against the real programs: this machine's rsync 3 and a Mac's rsync 2.6.9
 * and openrsync (../shared/tools; a missing one fails the test). Then the builders' command line
 * run by each Mac rsync against a real rsync 3 at the far end, through a stand-in for ssh.
 */
import { EVERY_CAPABILITY } from '../fixtures/rsync-capabilities.js';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runAllowFailure } from '../../src/remote/exec.js';
import { excludeFileText, pullArgv, pushArgv, rshScript, transferredFiles } from '../../src/remote/rsync.js';
import { findRsync, localRsync, type RsyncCapabilities } from '../../src/remote/rsync-capabilities.js';
import { probeRsync } from '../../src/remote/rsync-probe.js';

const TOOLS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'tools');
const MAC: Record<'rsync-2.6.9' | 'openrsync', string> = {
  'rsync-2.6.9': join(TOOLS, 'rsync-2.6.9', 'bin', 'rsync'),
  openrsync: join(TOOLS, 'openrsync', 'bin', 'rsync'),
};

function macRsync(tool: keyof typeof MAC): string {
  expect(existsSync(MAC[tool]), `${MAC[tool]} is needed (see ../shared/tools/README.md)`).toBe(true);
  return MAC[tool];
}

const everything = EVERY_CAPABILITY;

describe('the probe finds what each rsync can do', () => {
  it.each([
    ['rsync 3 (this machine)', () => findRsync(undefined, process.env), /^rsync {2}version 3\./, everything],
    ['rsync 2.6.9', () => macRsync('rsync-2.6.9'), /^rsync {2}version 2\.6\.9 /, everything],
    // openrsync aborts (an assertion) once it has received a file, and crashes on a % in --out-format.
    [
      'openrsync',
      () => macRsync('openrsync'),
      /^openrsync: protocol version 27$/,
      { ...everything, pull: false, safeLinks: false, backupDir: false, outFormat: false },
    ],
  ] as const)('%s', async (_name, path, version, expected) => {
    const caps = await probeRsync(path());
    expect(caps.version).toMatch(version);
    expect(Object.fromEntries(Object.entries(caps).filter(([k]) => k !== 'path' && k !== 'version'))).toEqual(expected);
  });

  it('is cached per binary: the answer is read back, and a changed binary is probed again', async () => {
    const bin = join(mkdtempSync(join(tmpdir(), 'rsync-bin-')), 'rsync');
    copyFileSync(macRsync('rsync-2.6.9'), bin);
    const first = mkdtempSync(join(tmpdir(), 'state-'));
    const probed = await localRsync({ program: bin, stateDir: first });
    const [cacheFile] = readdirSync(join(first, 'rsync'));
    // Another state directory holding a doctored answer for the same binary: read, not probed.
    const second = mkdtempSync(join(tmpdir(), 'state-'));
    mkdirSync(join(second, 'rsync'));
    writeFileSync(join(second, 'rsync', cacheFile!), JSON.stringify({ ...probed, version: 'from the cache' }));
    expect((await localRsync({ program: bin, stateDir: second })).version).toBe('from the cache');
    // The binary changes (an upgrade in place): its cached answer no longer applies.
    const third = mkdtempSync(join(tmpdir(), 'state-'));
    mkdirSync(join(third, 'rsync'));
    writeFileSync(join(third, 'rsync', cacheFile!), JSON.stringify({ ...probed, version: 'stale' }));
    utimesSync(bin, new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect((await localRsync({ program: bin, stateDir: third })).version).toMatch(/^rsync {2}version 2\.6\.9 /);
    expect(readdirSync(join(third, 'rsync'))).toHaveLength(2);
  });
});

describe('an answer a slow or full machine caused is not cached', () => {
  /** A stand-in for this machine's rsync 3 that does `onCompress` when asked to --compress (-z at the far end). */
  function standIn(onCompress: string): string {
    const bin = join(mkdtempSync(join(tmpdir(), 'rsync-bin-')), 'rsync');
    const real = findRsync(undefined, process.env);
    // --compress, or -z in a cluster of short options: only those (an argument such as
    // --exclude-from=/tmp/…z… is a path, whatever letters its random name has).
    writeFileSync(
      bin,
      `#!/bin/sh\nfor a in "$@"; do if printf '%s' "$a" | grep -qE '^(--compress|-[a-zA-Z]*z[a-zA-Z]*)$'; then [ "$1" = --server ] || { ${onCompress}; }; fi; done\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
    return bin;
  }
  const cached = (state: string) => (existsSync(join(state, 'rsync')) ? readdirSync(join(state, 'rsync')) : []);

  it('a probe past its time limit: that capability is missing for this run, nothing is cached, -v says why', async () => {
    // It never answers, whatever the limit: the limit, not the machine's speed, decides.
    const bin = standIn('exec sleep 600');
    const state = mkdtempSync(join(tmpdir(), 'state-'));
    const details: string[] = [];
    const caps = await localRsync({
      program: bin,
      stateDir: state,
      probeTimeoutMs: 2000,
      log: { detail: (m) => details.push(m) },
    });
    expect(caps.compress).toBe(false);
    expect(cached(state)).toEqual([]);
    // (A very busy machine may time out other probes too: they would join the same line.)
    expect(details).toHaveLength(1);
    expect(details[0]).toMatch(/^rsync probe not cached: .*compress: rsync ended by SIGTERM/);
  });

  it('a genuine refusal (an unknown option) is cached', async () => {
    const bin = standIn('echo "rsync: --compress: unknown option" >&2; exit 1');
    const state = mkdtempSync(join(tmpdir(), 'state-'));
    const details: string[] = [];
    const caps = await localRsync({
      program: bin,
      stateDir: state,
      probeTimeoutMs: 20_000,
      log: { detail: (m) => details.push(m) },
    });
    expect(caps.compress).toBe(false);
    expect(caps.push).toBe(true);
    expect(cached(state)).toHaveLength(1);
    expect(details).toEqual([]);
  });
});

/**
 * ssh as far as rsync can tell: drops our -o options and the host, and hands the rest, joined
 * with spaces, to a shell whose PATH has this machine's rsync 3 (the instance's).
 */
const FAKE_SSH = `#!/bin/sh\nwhile [ "$1" = -o ]; do shift 2; done\nshift\nexec env PATH=${dirname(findRsync(undefined, process.env))}:/usr/bin:/bin /bin/sh -c "$*"\n`;

function names(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).sort();
}

describe("the builders' command lines, run by a Mac rsync against rsync 3", () => {
  const tricky = ['sp ace', 'q\'uo"te', '-dash', 'caf\u00e9', 'cafe\u0301', 'new\nline', '$HOME *'];

  async function setup(caps: RsyncCapabilities) {
    const root = mkdtempSync(join(tmpdir(), 'mac-sync-'));
    const home = join(root, 'home');
    const local = join(root, 'local');
    mkdirSync(home);
    mkdirSync(local);
    for (const n of tricky) writeFileSync(join(local, n), `${n}\n`);
    writeFileSync(join(local, 'secret.env'), 'held back\n');
    const ssh = join(root, 'fake ssh');
    writeFileSync(ssh, FAKE_SSH, { mode: 0o700 });
    const rsh = join(root, 'rsh');
    // An ssh option with spaces and quotes, as an ssh config path in "Application Support" has.
    writeFileSync(
      rsh,
      rshScript([ssh, '-o', 'UserKnownHostsFile=/Users/me/Library/Application Support/it\'s "here"']),
      { mode: 0o700 },
    );
    const excludeFile = join(root, 'ex');
    writeFileSync(excludeFile, excludeFileText([{ path: 'secret.env', type: 'file' }], caps));
    return {
      root,
      home,
      local,
      common: { rsh, remote: 'host', remoteDir: "proj 'x' $HOME", excludeFile, localDir: local },
    };
  }

  it.each(['rsync-2.6.9', 'openrsync'] as const)(
    '%s: the sync up delivers every name byte for byte, minus the excluded',
    async (tool) => {
      const caps = await probeRsync(macRsync(tool));
      const { home, local, common } = await setup(caps);
      const r = await runAllowFailure(pushArgv(common, caps), { cwd: home });
      expect(r.exitCode, r.stderr).toBe(0);
      const remote = join(home, "proj 'x' $HOME");
      expect(names(remote)).toEqual([...tricky].sort());
      for (const n of tricky) expect(readFileSync(join(remote, n), 'utf8')).toBe(`${n}\n`);
      expect(transferredFiles(r.stdout, caps)?.filter((n) => !n.startsWith('\\#')).length).toBeGreaterThan(0);
      expect(names(local)).toContain('secret.env');
    },
  );

  it('rsync-2.6.9: the sync back brings every name back byte for byte', async () => {
    const caps = await probeRsync(macRsync('rsync-2.6.9'));
    const { home, local, common } = await setup(caps);
    const remote = join(home, "proj 'x' $HOME");
    mkdirSync(remote);
    for (const n of tricky) writeFileSync(join(remote, n), `remote ${n}\n`);
    writeFileSync(join(remote, 'secret.env'), 'not brought back\n');
    const r = await runAllowFailure(pullArgv({ ...common }, caps), { cwd: home });
    expect(r.exitCode, r.stderr).toBe(0);
    for (const n of tricky) {
      expect(readFileSync(join(local, n), 'utf8')).toBe(`remote ${n}\n`);
    }
    expect(readFileSync(join(local, 'secret.env'), 'utf8')).toBe('held back\n');
  });

  it('openrsync: the sync back dies receiving from rsync 3 (why the probe says pull: false)', async () => {
    const caps = await probeRsync(macRsync('openrsync'));
    const { home, common } = await setup(caps);
    const remote = join(home, "proj 'x' $HOME");
    mkdirSync(remote);
    for (let i = 0; i < 50; i++) writeFileSync(join(remote, `f${i}`), 'x'.repeat(10_000));
    const r = await runAllowFailure(pullArgv({ ...common }, { ...caps, outFormat: false }), {
      cwd: home,
    });
    expect(r.exitCode).not.toBe(0);
  });
});
