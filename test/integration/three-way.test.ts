/**
 * The three-way rules of the sync (issue #10) as a table, over real files: a project synced up
 * once (the base), then edited here, on the "instance", on both, files deleted on either side,
 * renamed, created there; then one sync, up or back, and each row's files checked on both sides.
 * Real rsync (this machine's, and a Mac's rsync 2.6.9 and openrsync from ../shared/tools: a
 * missing one fails the test) and the real remote listing (GNU find), with a local stand-in for
 * ssh that runs the command as sshd would; the "instance" is another temp directory, its rsync
 * this machine's rsync 3 (an instance always has one).
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '../../src/remote/connection.js';
import type { SshTarget } from '../../src/remote/ssh.js';
import { syncBack } from '../../src/sync/sync-back.js';
import { syncUp } from '../../src/sync/sync-up.js';
import { backupStamp } from '../../src/sync/three-way.js';
import { createLogger } from '../../src/ui/logger.js';

const TOOLS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'tools');
const RSYNCS: Record<string, () => string | undefined> = {
  "this machine's rsync": () => undefined,
  'rsync 2.6.9 (macOS ≤ 14)': () => tool('rsync-2.6.9'),
  'openrsync (macOS 15+)': () => tool('openrsync'),
};
function tool(name: string): string {
  const path = join(TOOLS, name, 'bin', 'rsync');
  expect(existsSync(path), `${path} is needed (see ../shared/tools/README.md)`).toBe(true);
  return path;
}

const NOW = new Date('2026-11-30T04:00:00Z');
const BESIDE = (stem: string, ext: string) => `${stem}.ec2-${backupStamp(NOW)}${ext}`;
type Tree = Record<string, string>;

/** Each row: what both sides held at the base, the edits since, and what each sync must leave. */
interface Row {
  name: string;
  base: Tree;
  /** The base's files were made just before the first sync (not an hour before). */
  fresh?: boolean;
  here?: (dir: string) => void;
  there?: (dir: string) => void;
  /** After the sync back: here, and there (undefined: absent). */
  back: { here: Tree; there: Tree };
  up: { here: Tree; there: Tree };
}
const write = (dir: string, path: string, text: string) => writeFileSync(join(dir, path), text);
/** Rewrites a file with text of the same size, its new time in the same second as the old one (rsync's measure). */
const sameSecond = (dir: string, path: string, text: string) => {
  const second = Math.floor(statSync(join(dir, path)).mtimeMs / 1000);
  write(dir, path, text);
  utimesSync(join(dir, path), second + 0.5, second + 0.5);
};
const ROWS: Row[] = [
  {
    name: 'edited here',
    base: { 'a.py': 'a0' },
    here: (d) => write(d, 'a.py', 'a1'),
    back: { here: { 'a.py': 'a1' }, there: { 'a.py': 'a0' } },
    up: { here: { 'a.py': 'a1' }, there: { 'a.py': 'a1' } },
  },
  {
    name: 'edited on the instance',
    base: { 'b.py': 'b0' },
    there: (d) => write(d, 'b.py', 'b1'),
    back: { here: { 'b.py': 'b1' }, there: { 'b.py': 'b1' } },
    up: { here: { 'b.py': 'b0' }, there: { 'b.py': 'b1' } },
  },
  {
    name: 'edited on both',
    base: { 'c.py': 'c0' },
    here: (d) => write(d, 'c.py', 'cL'),
    there: (d) => write(d, 'c.py', 'cRemote'),
    // The copy beside is made on the instance, then brought home: both sides hold it (and agree on it).
    back: {
      here: { 'c.py': 'cL', [BESIDE('c', '.py')]: 'cRemote' },
      there: { 'c.py': 'cRemote', [BESIDE('c', '.py')]: 'cRemote' },
    },
    up: {
      here: { 'c.py': 'cL', [BESIDE('c', '.py')]: 'cRemote' },
      there: { 'c.py': 'cL', [BESIDE('c', '.py')]: 'cRemote' },
    },
  },
  {
    name: 'deleted here',
    base: { 'd.py': 'd0' },
    here: (d) => rmSync(join(d, 'd.py')),
    back: { here: {}, there: { 'd.py': 'd0' } },
    up: { here: {}, there: {} },
  },
  {
    name: 'deleted on the instance',
    base: { 'e.py': 'e0' },
    there: (d) => rmSync(join(d, 'e.py')),
    back: { here: { 'e.py': 'e0' }, there: {} },
    up: { here: { 'e.py': 'e0' }, there: { 'e.py': 'e0' } },
  },
  {
    name: 'renamed here',
    base: { 'old.py': 'module' },
    here: (d) => renameSync(join(d, 'old.py'), join(d, 'new.py')),
    back: { here: { 'new.py': 'module' }, there: { 'old.py': 'module' } },
    up: { here: { 'new.py': 'module' }, there: { 'new.py': 'module' } },
  },
  {
    name: 'created on the instance',
    base: {},
    there: (d) => write(d, 'made.txt', 'made'),
    back: { here: { 'made.txt': 'made' }, there: { 'made.txt': 'made' } },
    up: { here: {}, there: { 'made.txt': 'made' } },
  },
  {
    name: 'deleted here, changed on the instance (nothing lost)',
    base: { 'g.py': 'g0' },
    here: (d) => rmSync(join(d, 'g.py')),
    there: (d) => write(d, 'g.py', 'g1'),
    back: { here: { 'g.py': 'g1' }, there: { 'g.py': 'g1' } },
    up: { here: {}, there: { 'g.py': 'g1' } },
  },
  {
    // `ssh-ec2 -- python eval.py > results.txt`: the shell makes it empty, it is sent, the output lands here.
    name: 'filled here by a redirect while the instance kept it empty',
    base: { 'results.txt': '' },
    fresh: true,
    here: (d) => write(d, 'results.txt', 'accuracy 0.93\n'),
    back: { here: { 'results.txt': 'accuracy 0.93\n' }, there: { 'results.txt': '' } },
    up: { here: { 'results.txt': 'accuracy 0.93\n' }, there: { 'results.txt': 'accuracy 0.93\n' } },
  },
  {
    name: 'rewritten on the instance, same size, in the same second',
    base: { 'h.txt': 'epoch 1' },
    there: (d) => sameSecond(d, 'h.txt', 'epoch 2'),
    back: { here: { 'h.txt': 'epoch 2' }, there: { 'h.txt': 'epoch 2' } },
    up: { here: { 'h.txt': 'epoch 1' }, there: { 'h.txt': 'epoch 2' } },
  },
  {
    name: 'edited here, same size, in the same second',
    base: { 'k.txt': 'aaaa' },
    here: (d) => sameSecond(d, 'k.txt', 'bbbb'),
    back: { here: { 'k.txt': 'bbbb' }, there: { 'k.txt': 'aaaa' } },
    up: { here: { 'k.txt': 'bbbb' }, there: { 'k.txt': 'bbbb' } },
  },
  {
    name: 'rewritten by the job, several times',
    base: { 'model.bin': 'w0' },
    there: (d) => (write(d, 'model.bin', 'w1'), write(d, 'model.bin', 'w22')),
    back: { here: { 'model.bin': 'w22' }, there: { 'model.bin': 'w22' } },
    up: { here: { 'model.bin': 'w0' }, there: { 'model.bin': 'w22' } },
  },
];

/** A connection whose "ssh" runs the command here, as sshd would run it on the instance. */
function localConnection(scratch: string): Connection {
  const rsh = join(scratch, 'rsh');
  writeFileSync(rsh, '#!/bin/sh\nshift\nexec sh -c "$*"\n');
  chmodSync(rsh, 0o755);
  const target: SshTarget = { host: 'instance', user: 'u', hostKeyAlias: 'i', knownHostsFile: '/k', controlPath: '/c' };
  return {
    rsyncSsh: [rsh],
    remote: 'instance',
    target,
    exec: async (command: string, opts: { input?: string } = {}) => ({
      stdout: execFileSync('sh', ['-c', command], { encoding: 'utf8', input: opts.input, cwd: homedir() }),
      stderr: '',
      exitCode: 0,
    }),
  } as unknown as Connection;
}

function files(root: string, under = ''): Tree {
  const out: Tree = {};
  for (const e of readdirSync(join(root, under), { withFileTypes: true })) {
    const path = under ? `${under}/${e.name}` : e.name;
    if (path === '.ssh-ec2') continue;
    if (e.isDirectory()) Object.assign(out, files(root, path));
    else out[path] = readFileSync(join(root, path), 'utf8');
  }
  return out;
}

beforeAll(() => {
  // openrsync's sync back runs `ssh … 'the instance's side'`: a stand-in that runs that side here.
  const bin = mkdtempSync(join(tmpdir(), 'fake-ssh-'));
  writeFileSync(join(bin, 'ssh'), '#!/bin/sh\nfor a; do last=$a; done\ncd\nexec sh -c "$last"\n');
  chmodSync(join(bin, 'ssh'), 0o755);
  process.env.PATH = `${bin}:${process.env.PATH}`;
});

async function scenario(program: string | undefined, direction: 'up' | 'back') {
  const local = mkdtempSync(join(tmpdir(), 'here-'));
  const remote = mkdtempSync(join(tmpdir(), 'there-'));
  const scratch = mkdtempSync(join(tmpdir(), 'scratch-'));
  let log = '';
  const stream = new PassThrough();
  stream.on('data', (d: Buffer) => (log += String(d)));
  const p = {
    conn: localConnection(scratch),
    localDir: local,
    remoteDir: remote,
    instanceId: 'i-0123',
    scratchDir: scratch,
    rsync: { program, stateDir: scratch },
    log: createLogger({ stream, env: {} }),
    now: NOW,
  };
  // The project as it was an hour ago, synced up once: the base.
  const hourAgo = new Date(Date.now() - 3600_000);
  for (const row of ROWS)
    for (const [path, text] of Object.entries(row.base)) {
      write(local, path, text);
      if (!row.fresh) utimesSync(join(local, path), hourAgo, hourAgo);
    }
  await syncUp(p);
  for (const row of ROWS) {
    row.here?.(local);
    row.there?.(remote);
  }
  await (direction === 'up' ? syncUp(p) : syncBack(p));
  return { local, remote, log };
}

const pick = (tree: Tree, row: Row): Tree => {
  const names = new Set([...Object.keys(row.base), ...Object.keys(row.up.here), ...Object.keys(row.back.here)]);
  for (const t of [row.up.there, row.back.there]) for (const n of Object.keys(t)) names.add(n);
  return Object.fromEntries(Object.entries(tree).filter(([n]) => names.has(n)));
};

describe.each(Object.entries(RSYNCS))('the three-way sync with %s', (_name, program) => {
  it.each(['back', 'up'] as const)('sync %s: every row of the table', async (direction) => {
    const { local, remote } = await scenario(program(), direction);
    const here = files(local);
    const there = files(remote);
    for (const row of ROWS) {
      expect({ row: row.name, here: pick(here, row) }).toEqual({ row: row.name, here: row[direction].here });
      expect({ row: row.name, there: pick(there, row) }).toEqual({ row: row.name, there: row[direction].there });
    }
  });
});

/** A project here and its directory on the "instance", empty, synced with this rsync (this machine's by default). */
function project(instanceId: string, program?: string) {
  const local = mkdtempSync(join(tmpdir(), 'here-'));
  const remote = mkdtempSync(join(tmpdir(), 'there-'));
  const scratch = mkdtempSync(join(tmpdir(), 'scratch-'));
  const p = {
    conn: localConnection(scratch),
    localDir: local,
    remoteDir: remote,
    instanceId,
    scratchDir: scratch,
    rsync: { program, stateDir: scratch },
    log: createLogger({ stream: new PassThrough(), env: {} }),
    now: NOW,
  };
  return { local, remote, scratch, p };
}

describe('a result made on the instance, brought home, then deleted here', () => {
  it('is neither brought back nor removed from the instance: a sync up removes only what it sent', async () => {
    const { local, remote, p } = project('i-0456');
    write(local, 'train.py', 'code');
    write(local, 'old.py', 'module');
    await syncUp(p);
    write(remote, 'ckpt.pt', 'weights'); // the job's result
    await syncBack(p);
    expect(files(local)).toEqual({ 'train.py': 'code', 'old.py': 'module', 'ckpt.pt': 'weights' });
    rmSync(join(local, 'ckpt.pt')); // to free the laptop's disk: the instance keeps it
    rmSync(join(local, 'old.py')); // a module deleted here: it goes from the instance too
    await syncUp(p);
    expect(files(remote)).toEqual({ 'train.py': 'code', 'ckpt.pt': 'weights' });
    await syncBack(p);
    expect(files(local)).toEqual({ 'train.py': 'code' });
  });
});

describe('what the shortcuts of a quiet sync must not take for something else', () => {
  it("a link made on the instance only (a job's `latest -> run3`) does not stop the sync up", async () => {
    const { local, remote, p } = project('i-0457');
    write(local, 'a.py', 'a');
    await syncUp(p);
    symlinkSync('a.py', join(remote, 'latest'));
    await syncUp(p);
    expect(readlinkSync(join(remote, 'latest'))).toBe('a.py');
    expect(files(local)).toEqual({ 'a.py': 'a' });
  });

  it('a name rsync prints escaped is never taken for the file whose real name that is', async () => {
    const { local, remote, p } = project('i-0458');
    const hour = new Date(Date.now() - 3_600_000);
    write(local, 'a\nb', 'v0');
    write(local, 'a\\#012b', 'literal');
    for (const f of ['a\nb', 'a\\#012b']) utimesSync(join(local, f), hour, hour);
    await syncUp(p);
    write(local, 'a\nb', 'v1, longer');
    await syncUp(p);
    await syncBack(p);
    // Both sides hold the same: nothing comes beside as "changed on both".
    expect(files(local)).toEqual({ 'a\nb': 'v1, longer', 'a\\#012b': 'literal' });
    expect(files(remote)).toEqual(files(local));
  });
});

/**
 * An rsync that, when it is the sync back's transfer into `local` (the project last, --safe-links),
 * first saves `file` there as the user would during a long pull, then execs the real one.
 */
function editingRsync(real: string, local: string, file: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'editing-rsync-')), 'rsync');
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  writeFileSync(
    path,
    `#!/bin/sh\nfor a; do last=$a; done\ncase " $* " in *" --safe-links "*) [ "$last" = ${q(`${local}/`)} ] && ` +
      `printf %s ${q(text)} > ${q(join(local, file))};; esac\nexec ${q(real)} "$@"\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

describe.each(Object.entries(RSYNCS))('the sync back with %s touches only what it brings', (_name, program) => {
  it('an edit saved during the transfer stays; tricky names come; a directory where a file is here goes beside', async () => {
    const real = program() ?? execFileSync('sh', ['-c', 'command -v rsync'], { encoding: 'utf8' }).trim();
    const { local, remote, scratch, p } = project('i-0789', real);
    write(local, 'train.py', 'v1');
    await syncUp(p);
    write(remote, 'r[1] *.pt', 'weights'); // a wildcard in the name: escaped in the include rule
    execFileSync('mkdir', ['-p', join(remote, 'out/sub'), join(remote, 'new/empty')]);
    write(remote, 'out/sub/x.txt', 'x');
    write(local, 'out', 'notes');
    await syncBack({
      ...p,
      rsync: { program: editingRsync(real, local, 'train.py', 'v2, saved meanwhile'), stateDir: scratch },
    });
    expect(files(local)).toEqual({
      'train.py': 'v2, saved meanwhile',
      'r[1] *.pt': 'weights',
      out: 'notes',
      [`out.ec2-${backupStamp(NOW)}/sub/x.txt`]: 'x',
    });
    expect(statSync(join(local, 'new/empty')).isDirectory()).toBe(true);
  });
});

describe.each(Object.entries(RSYNCS))("the data volume's mount point, with %s", (_name, program) => {
  // The walks leave it out; rsync must too where it walks on its own (issue #13's review).
  const mounted = async () => {
    const { local, remote, p } = project('i-0790', program());
    write(local, 'train.py', 'v1');
    const q = { ...p, mounts: ['data'] };
    await syncUp(q);
    execFileSync('mkdir', ['-p', join(remote, 'data/set')]);
    write(remote, 'data/set/shard.bin', 'the whole volume');
    write(remote, 'out.txt', 'result');
    return { local, q };
  };

  it('a sync back handed an exclude list (over INCLUDE_LIMIT) brings nothing of it', async () => {
    const { local, q } = await mounted();
    await syncBack({ ...q, includeLimit: 0 });
    expect(files(local)).toEqual({ 'train.py': 'v1', 'out.txt': 'result' });
  });

  it('nor does a pull aside (names this file system takes for one)', async () => {
    const { local, q } = await mounted();
    write(q.remoteDir, 'Out.txt', 'other');
    await syncBack({
      ...q,
      platform: { nameFolding: () => ({ caseInsensitive: true, normalisationInsensitive: false }) },
    });
    const [stamp] = readdirSync(join(local, '.ssh-ec2/collisions'));
    expect(files(join(local, '.ssh-ec2/collisions', stamp!))).toEqual({ '1/out.txt': 'result' });
    expect(files(local)).toEqual({ 'train.py': 'v1', 'Out.txt': 'other' });
  });
});
