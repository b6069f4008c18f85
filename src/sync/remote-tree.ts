/**
 * The instance's side of the sync, over the master connection: its tree with each file's size and
 * mtime (GNU find on the instance, whatever the local rsync: no --itemize-changes, no --files-from,
 * which a Mac's rsyncs lack), and the two changes the three-way rules make there by themselves:
 * a copy beside a file changed on both sides, and the removal of a file deleted here.
 * `.ssh-ec2/` (ours) is never listed, so never copied nor removed.
 */
import { enterDir, shQuote } from '../remote/remote-command.js';
import { findMtime, type Sig } from './base.js';
import { OWN_DIR, type Entry } from './ignore-rules.js';
import type { SyncParams } from './sync-up.js';

/** Beyond this many ignored directories the remote listing is not pruned (the command line stays short). */
const MAX_PRUNE = 500;

export interface RemoteTree {
  /** Parents before children. */
  entries: Entry[];
  /** Files and links: size and mtime. */
  sigs: Map<string, Sig>;
  /**
   * The project directory's file system keeps times finer than the second (a file just touched
   * there got a fraction): a whole-second time there was set (by rsync, a `cp -p`), not left by an
   * edit. Unknown (the probe could not write): false, the careful answer.
   */
  fineTimes: boolean;
}

/** The remote tree, without descending into known-ignored directories nor into ours. */
export async function listRemote(
  p: Pick<SyncParams, 'conn' | 'remoteDir' | 'mounts'>,
  prune: Entry[],
): Promise<RemoteTree> {
  // A mounted data volume may hold millions of files: never walked.
  const pruned = [
    ...[OWN_DIR, ...(p.mounts ?? [])].map((path) => ({ path, type: 'dir' as const })),
    ...(prune.length <= MAX_PRUNE ? prune : []),
  ];
  const paths = pruned.map((e) => `-path ${shQuote(`./${findEscape(e.path)}`)}`);
  const pruneExpr = `\\( ${paths.join(' -o ')} \\) -prune -o `;
  // A file made now, in our own directory there (never listed, never synced), and gone at once.
  const probe = `mkdir -p ${OWN_DIR} && t=$(mktemp ${OWN_DIR}/mtime.XXXXXX) && find "$t" -printf %T@; rm -f "$t"`;
  const r = await p.conn.exec(
    `${enterDir(p.remoteDir)} && { { ${probe}; } 2>/dev/null; ` +
      `printf '\\0' && find . -mindepth 1 ${pruneExpr}-printf '%y %s %T@ %P\\0'; }`,
  );
  const [probed = '', ...records] = r.stdout.split('\0');
  const tree: RemoteTree = { entries: [], sigs: new Map(), fineTimes: /^\d+\.\d*[1-9]/.test(probed) };
  for (const record of records) {
    const m = /^(\S) (\d+) (\S+) ([^]+)$/.exec(record);
    if (!m) continue;
    const [, kind, size, mtime, path] = m as unknown as [string, string, string, string, string];
    const type = kind === 'd' ? 'dir' : kind === 'l' ? 'link' : 'file';
    tree.entries.push({ path, type });
    if (type !== 'dir') tree.sigs.set(path, { s: Number(size), m: findMtime(mtime) });
  }
  return tree;
}

/**
 * Signatures of these files on the instance (parsed as listRemote's); one no longer there is absent.
 * The names go on stdin: any number, any name.
 */
export async function statRemote(
  p: Pick<SyncParams, 'conn' | 'remoteDir'>,
  paths: string[],
): Promise<Map<string, Sig>> {
  const sigs = new Map<string, Sig>();
  if (paths.length === 0) return sigs;
  const find = `exec find "$@" -prune -printf "%y %s %T@ %p\\0"`;
  const r = await p.conn.exec(`${enterDir(p.remoteDir)} && { xargs -0 sh -c '${find}' sh 2>/dev/null || true; }`, {
    input: paths.map((path) => `./${path}\0`).join(''),
  });
  for (const record of r.stdout.split('\0')) {
    const m = /^(\S) (\d+) (\S+) \.\/([^]+)$/.exec(record);
    if (m && m[1] !== 'd') sigs.set(m[4]!, { s: Number(m[2]), m: findMtime(m[3]!) });
  }
  return sigs;
}

/**
 * The listing, started now (before the walk here) without descending into `hint`, the directories
 * the last sync pruned; then, once the walk knows which to prune, taken if each of those is still
 * one of them (it lists more than it might: ignoredInListing leaves the rest out, as above
 * MAX_PRUNE), else listed again. It runs on the instance while this process walks.
 */
export function startListing(
  p: Pick<SyncParams, 'conn' | 'remoteDir' | 'mounts'>,
  hint: readonly string[] | undefined,
): (prune: Entry[]) => Promise<RemoteTree> {
  const early =
    hint &&
    listRemote(
      p,
      hint.map((path) => ({ path, type: 'dir' as const })),
    );
  void early?.catch(() => undefined); // awaited below, or not needed
  return (prune) => {
    const now = new Set(prune.map((e) => e.path));
    return early && hint.every((path) => now.has(path)) ? early : listRemote(p, prune);
  };
}

function findEscape(path: string): string {
  return path.replace(/[\\*?[]/g, '\\$&');
}

/** Copies (mode and mtime kept) of files (or whole directories) on the instance, each to its name beside it. */
export async function copyOnInstance(
  p: Pick<SyncParams, 'conn' | 'remoteDir'>,
  pairs: [string, string][],
  directories = false,
) {
  if (pairs.length === 0) return;
  // -R copies the links inside a directory as links (POSIX: no -L, no -H).
  const cp = directories ? 'cp -pR' : 'cp -p';
  const script = pairs.map(([from, to]) => `${cp} -- ${shQuote(from)} ${shQuote(to)}`).join(' &&\n');
  await p.conn.exec(`${enterDir(p.remoteDir)} && sh -e`, { input: `${script}\n` });
}

/** Removes files (never directories) from the instance's project directory. */
export async function removeOnInstance(p: Pick<SyncParams, 'conn' | 'remoteDir'>, paths: string[]) {
  if (paths.length === 0) return;
  const script = paths.map((path) => `rm -f -- ${shQuote(path)}`).join('\n');
  await p.conn.exec(`${enterDir(p.remoteDir)} && sh -e`, { input: `${script}\n` });
}

/** Sets these files' modification time to the epoch, so that rsync sees them differ from ours. */
export async function touchOnInstance(p: Pick<SyncParams, 'conn' | 'remoteDir'>, paths: string[]) {
  if (paths.length === 0) return;
  const script = paths.map((path) => `touch -m -d @0 -- ${shQuote(path)}`).join('\n');
  await p.conn.exec(`${enterDir(p.remoteDir)} && sh -e`, { input: `${script}\n` });
}

/** The instance's side as the rules compare it: its files and directories outside what the sync leaves out. */
export function remoteSide(
  tree: { entries: readonly Entry[]; sigs: Map<string, Sig> },
  leftOut: readonly Entry[],
): { remote: Map<string, Sig>; remoteDirs: string[] } {
  const dirs = new Map(tree.entries.filter((e) => e.type === 'dir').map((e) => [e.path, e]));
  return { remote: outside(tree.sigs, leftOut), remoteDirs: [...outside(dirs, leftOut).keys()] };
}

/** The entries (signatures, or anything by path) not under any of `excluded`. */
export function outside<T>(sigs: Map<string, T>, excluded: readonly Entry[]): Map<string, T> {
  const out = new Set(excluded.map((e) => e.path));
  const kept = new Map<string, T>();
  for (const [path, sig] of sigs) {
    let under = out.has(path);
    for (let i = path.indexOf('/'); i !== -1 && !under; i = path.indexOf('/', i + 1)) under = out.has(path.slice(0, i));
    if (!under) kept.set(path, sig);
  }
  return kept;
}
