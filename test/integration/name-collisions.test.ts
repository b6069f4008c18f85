/**
 * The sync back to a file system that takes names differing only in case or Unicode
 * normalisation for one file (a Mac's APFS). This machine's file systems tell them all apart, so
 * the Mac is played through the platform adapter (the probe's answer); everything else is real:
 * rsync and the remote listing (find), with a local "ssh" that runs the command as sshd would
 * (joined and handed to sh -c), the "instance" being another temp directory.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/remote/connection.js';
import { localPlatform, type NameFolding } from '../../src/state/platform.js';
import { backupStamp, syncBack } from '../../src/sync/sync-back.js';
import { createLogger } from '../../src/ui/logger.js';

const NFC = 'caf\u00e9.txt';
const NFD = 'cafe\u0301.txt';
const NOW = new Date('2026-11-30T04:00:00Z');
const SIDE = `.ssh-ec2/collisions/${backupStamp(NOW)}`;

/** The instance's results, and what the project directory already holds here. */
const REMOTE: Record<string, string> = {
  'DATA.csv': 'upper',
  'Data.csv': 'title',
  'data.csv': 'lower',
  [NFC]: 'composed',
  [NFD]: 'decomposed',
  'out/a': 'a', // out/ and Out/ merge (a directory is no file to overwrite)
  'Out/b': 'b',
  'Model/w.bin': 'weights', // a directory, and a file of the same name but for case
  model: 'a file',
  'notes.md': 'theirs', // here it is Notes.md: never written through another spelling
  'keep.txt': 'newer',
  ['caf\u00e9-here.txt']: 'updated', // here it is decomposed: the same file, updated
};
const LOCAL: Record<string, string> = { 'Notes.md': 'mine', 'keep.txt': 'old', ['cafe\u0301-here.txt']: 'before' };

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'names-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

/** Every file under `root` (relative path → content), the three-way base aside. */
function files(root: string, under = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(join(root, under), { withFileTypes: true })) {
    const path = under ? `${under}/${e.name}` : e.name;
    if (path === '.ssh-ec2/base') continue;
    if (e.isDirectory()) Object.assign(out, files(root, path));
    else out[path] = readFileSync(join(root, path), 'utf8');
  }
  return out;
}

/** A connection whose "ssh" runs the command here, as sshd would run it on the instance. */
function localConnection(scratch: string): Connection {
  const rsh = join(scratch, 'rsh');
  writeFileSync(rsh, '#!/bin/sh\nshift\nexec sh -c "$*"\n');
  chmodSync(rsh, 0o755);
  return {
    rsyncSsh: [rsh],
    remote: 'instance',
    exec: async (command: string, opts: { input?: string } = {}) => ({
      stdout: execFileSync('sh', ['-c', command], { encoding: 'utf8', input: opts.input }),
      stderr: '',
      exitCode: 0,
    }),
  } as unknown as Connection;
}

async function bringBack(folding: NameFolding | 'probed'): Promise<{ local: string; log: string }> {
  const remote = tree(REMOTE);
  const local = tree(LOCAL);
  const scratch = mkdtempSync(join(tmpdir(), 'scratch-'));
  let log = '';
  const stream = new PassThrough();
  stream.on('data', (d: Buffer) => (log += String(d)));
  await syncBack({
    conn: localConnection(scratch),
    localDir: local,
    remoteDir: remote,
    instanceId: 'i-test',
    scratchDir: scratch,
    rsync: { stateDir: scratch },
    log: createLogger({ stream, env: {} }),
    now: NOW,
    platform: folding === 'probed' ? localPlatform : { nameFolding: () => folding },
  });
  return { local, log };
}

describe('results whose names this file system takes for one', () => {
  it('all kept: one of each by the sync back, the others in .ssh-ec2/collisions/<stamp>/<n>/, said in one line (case- and normalisation-insensitive file system simulated through the platform adapter)', async () => {
    const { local, log } = await bringBack({ caseInsensitive: true, normalisationInsensitive: true });
    expect(files(local)).toEqual({
      // the first of each group in byte order; the merged directories; the local files as they were
      'DATA.csv': 'upper',
      [NFD]: 'decomposed',
      'out/a': 'a',
      'Out/b': 'b',
      'Model/w.bin': 'weights',
      'Notes.md': 'mine',
      'keep.txt': 'old', // changed on both sides (no base yet): yours stays, the instance's beside it
      [`keep.ec2-${backupStamp(NOW)}.txt`]: 'newer',
      ['caf\u00e9-here.txt']: 'updated', // (on the Mac: the same file as the local one)
      ['cafe\u0301-here.txt']: 'before',
      // the others, none beside another of its group
      [`${SIDE}/1/Data.csv`]: 'title',
      [`${SIDE}/2/data.csv`]: 'lower',
      [`${SIDE}/1/${NFC}`]: 'composed',
      [`${SIDE}/1/model`]: 'a file',
      [`${SIDE}/1/notes.md`]: 'theirs',
    });
    const warnings = log.split('\n').filter((l) => /only in case or Unicode normalisation/.test(l));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^ssh-ec2: warning: 5 result\\(s\\) kept apart in ${SIDE}/ \\(`));
    for (const named of ['1/Data.csv', '2/data.csv', `1/${NFC}`, '1/model', '1/notes.md'])
      expect(warnings[0]).toContain(named);
  });

  it('only case folded: the two normalisations are two files there, both come home (case-insensitive, normalisation-sensitive file system simulated through the platform adapter)', async () => {
    const { local } = await bringBack({ caseInsensitive: true, normalisationInsensitive: false });
    const got = files(local);
    expect(got[NFC]).toBe('composed');
    expect(got[NFD]).toBe('decomposed');
    expect(got[`${SIDE}/2/data.csv`]).toBe('lower');
  });

  it("on this machine's own file system, probed for real (case- and normalisation-sensitive): every name comes home as it is, nothing set aside, nothing said", async () => {
    const { local, log } = await bringBack('probed');
    expect(localPlatform.nameFolding(join(local, '.ssh-ec2'))).toEqual({
      caseInsensitive: false,
      normalisationInsensitive: false,
    });
    expect(files(local)).toEqual({
      ...REMOTE,
      'Notes.md': 'mine',
      ['cafe\u0301-here.txt']: 'before',
      'keep.txt': 'old', // changed on both sides (no base yet): yours stays, the instance's beside it
      [`keep.ec2-${backupStamp(NOW)}.txt`]: 'newer',
    });
    expect(log).not.toMatch(/only in case/);
    expect(readdirSync(join(local, '.ssh-ec2'))).not.toContain('collisions');
  });
});
