/**
 * `.rsyncignore` files with exactly git's `.gitignore` semantics, nested ones included, for both
 * directions of the sync. One implementation decides what is ignored (the `ignore` package, one
 * matcher per directory, deeper files taking precedence as in git); rsync is then handed the
 * ignored paths as anchored excludes, so it still walks and compares the tree natively.
 * Translating the rules into rsync filters instead would not be exact: `!` is last-match-wins in
 * git but first-match-wins in rsync, and `a/b` is anchored in git but not in rsync.
 *
 * For the sync up, one more rule set is consulted after the user's: files that usually hold
 * secrets (SECRET_FILES, SECRET_DIRS) are held back unless the user's rules re-include that very
 * path with `!`. Sending credentials to a machine others may reach is the mistake that cannot be
 * undone, so the default is to keep them, and saying `!.env` once is the price of sending one.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, normalize, sep } from 'node:path';
import ignore, { type Ignore } from 'ignore';

export const IGNORE_FILE = '.rsyncignore';
/** Our own directory in the project (backups, partial files): never synced either way. */
export const OWN_DIR = '.ssh-ec2';

/**
 * Names of files (and symlinks) that usually hold secrets: env files, private keys, credential
 * stores. Matched against the name alone, at any depth. `.env.example` and the like are held back
 * too: they are meant to hold no secrets, but often do; `!.env.example` sends one.
 */
export const SECRET_FILES = ['.env', '.env.*', '*.pem', '*.key', 'id_*', '!id_*.pub', '.netrc', '.git-credentials'];
/** Directories (and symlinks to them) of credentials: held back whole. */
export const SECRET_DIRS = ['.aws', '.ssh'];

const secretFiles = ignore().add(SECRET_FILES);
const secretDirs = ignore().add(SECRET_DIRS);

export type EntryType = 'dir' | 'file' | 'link';
/** What the rules say about a path: sent, ignored by .rsyncignore, or held back as a secret. */
export type Verdict = 'kept' | 'ignored' | 'secret';
export interface Entry {
  /** Relative to the project root, '/'-separated, no leading slash. */
  path: string;
  type: EntryType;
}

/**
 * The files a sync found not ignored (the base's), and the rules files its rules read (null: none
 * there). Matching 20,000 paths against the user's patterns is most of a walk's time: such a file
 * is taken as not ignored again while every rules file above it reads the same (its verdict
 * depends on no other), unless it looks like a secret (then whether a `!` rule names it counts).
 */
export interface Known {
  kept: ReadonlyMap<string, unknown>;
  texts: ReadonlyMap<string, string | null>;
}

export class IgnoreRules {
  private readonly matchers = new Map<string, Ignore | null>();
  private readonly texts = new Map<string, string | null>();
  private readonly verdicts = new Map<string, Verdict>();
  private readonly holdSecrets: boolean;
  private readonly known: Known | undefined;
  private readonly mounts: readonly string[];

  /** `holdSecrets`: for the sync up; the sync back brings whatever the instance made. */
  constructor(
    private readonly root: string,
    opts: { holdSecrets?: boolean; known?: Known; mounts?: readonly string[] } = {},
  ) {
    this.holdSecrets = opts.holdSecrets ?? false;
    this.known = opts.known;
    this.mounts = [OWN_DIR, ...(opts.mounts ?? [])];
  }

  /** The rules files read so far, by directory (null: none there): what `Known.texts` is given next time. */
  rulesRead(): ReadonlyMap<string, string | null> {
    return this.texts;
  }

  /** Is this path left out, by the rules of its own directory and every directory above? */
  ignored(path: string, type: EntryType): boolean {
    return this.classify(path, type) !== 'kept';
  }

  /**
   * `type` is what rsync sends: a link it copies as a directory is a 'dir'. `isLink` says the
   * path is a symlink on disk all the same, so its target is judged too.
   */
  classify(path: string, type: EntryType, isLink = type === 'link'): Verdict {
    // The sync judges each path up to three times (the walk here, the instance's listing): the
    // 100-pattern matcher once is enough.
    const key = `${type}${isLink ? 'l' : ''}\0${path}`;
    let verdict = this.verdicts.get(key);
    if (verdict === undefined) this.verdicts.set(key, (verdict = this.judge(path, type, isLink)));
    return verdict;
  }

  private judge(path: string, type: EntryType, isLink: boolean): Verdict {
    // Ours, and a mount point (the data volume: `mounts`), whatever the user's rules say.
    if (this.mounts.some((m) => path === m || path.startsWith(`${m}/`))) return 'ignored';
    if (type !== 'dir' && this.knownKept(path) && !(this.holdSecrets && this.looksSecret(path, type, isLink)))
      return 'kept';
    const user = this.userVerdict(path, type);
    if (user === 'ignored') return 'ignored';
    // Only a `!` rule matching this very path overrides the secret rules; a re-included parent
    // directory does not.
    if (user !== 'unignored' && this.holdSecrets && this.looksSecret(path, type, isLink)) return 'secret';
    return 'kept';
  }

  private knownKept(path: string): boolean {
    if (!this.known?.kept.has(path)) return false;
    const texts = this.known.texts;
    for (let i = path.indexOf('/'), dir = ''; ; i = path.indexOf('/', i + 1)) {
      this.matcher(dir);
      if (texts.get(dir) !== this.texts.get(dir)) return false; // read now: a string or null
      if (i === -1) return true;
      dir = path.slice(0, i);
    }
  }

  private userVerdict(path: string, type: EntryType): 'ignored' | 'unignored' | undefined {
    const segments = path.split('/');
    // git never descends into a symlink, so only a real directory gets the trailing slash
    // that `dir/` patterns need.
    for (let depth = segments.length - 1; depth >= 0; depth--) {
      const base = segments.slice(0, depth).join('/');
      const matcher = this.matcher(base);
      if (!matcher) continue;
      const relative = segments.slice(depth).join('/') + (type === 'dir' ? '/' : '');
      const verdict = matcher.test(relative);
      if (verdict.ignored) return 'ignored';
      if (verdict.unignored) return 'unignored';
    }
    return undefined;
  }

  private looksSecret(path: string, type: EntryType, isLink: boolean): boolean {
    const name = basename(path);
    if (type === 'dir' ? secretDirs.ignores(name) : secretFiles.ignores(name) || (isLink && secretDirs.ignores(name)))
      return true;
    if (!isLink) return false;
    // A link outside the project is sent as its content: judge it by what it points at too
    // (`creds -> ~/.aws/credentials`).
    let pointsAt: string;
    try {
      pointsAt = readlinkSync(join(this.root, path));
    } catch {
      // A link listed on the instance that is not one here (not here at all, or a file): its name
      // alone decides — the sync up never sends what is only there.
      return false;
    }
    const target = pointsAt.split('/').filter((p) => p && p !== '.' && p !== '..');
    return (
      target.some((segment) => secretDirs.ignores(segment)) ||
      (target.length > 0 && secretFiles.ignores(target.at(-1)!))
    );
  }

  private matcher(dir: string): Ignore | null {
    let m = this.matchers.get(dir);
    if (m === undefined) {
      const text = readRules(this.root, dir);
      m = text === null ? null : ignore({ allowRelativePaths: true }).add(text);
      this.matchers.set(dir, m);
      this.texts.set(dir, text);
    }
    return m;
  }
}

/** The rules file of this directory, or null when it has none. */
function readRules(root: string, dir: string): string | null {
  try {
    return readFileSync(join(root, dir, IGNORE_FILE), 'utf8');
  } catch (err) {
    if (!['ENOENT', 'ENOTDIR', 'EISDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    return null;
  }
}

export interface LocalTree {
  /** The topmost ignored paths (an ignored directory's content is not listed). */
  ignored: Entry[];
  /** Held back as secrets (only with `holdSecrets` rules); not in `ignored`. */
  secrets: Entry[];
  /** Symlinks whose target lies outside the project. */
  outsideLinks: string[];
  /** How many non-ignored entries the walk saw. */
  kept: number;
  /** The kept files and links (not directories): what the three-way rules compare. */
  files: string[];
}

export interface WalkOptions {
  /**
   * Walk into the links to directories that rsync `--copy-unsafe-links` (the sync up) sends as
   * their content, as if they were real directories at the link's path: the rules apply under
   * them and the exclude paths name them by the link. The sync back leaves such links alone.
   */
  followUnsafeLinks?: boolean;
}

/** Walks the project, never descending into an ignored directory. */
export function walkLocal(root: string, rules = new IgnoreRules(root), opts: WalkOptions = {}): LocalTree {
  const tree: LocalTree = { ignored: [], secrets: [], outsideLinks: [], kept: 0, files: [] };
  // Real paths of the directories being walked, the root down to the current one. One of them
  // met again below itself is a loop through a link, which rsync would copy over and over (40
  // levels deep, then fail): it is excluded.
  const open = new Set<string>();
  const visit = (dir: string, real: string) => {
    let entries;
    try {
      entries = readdirSync(join(root, dir), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') return; // rsync will report it
      throw err;
    }
    open.add(real);
    for (const e of entries) {
      const path = dir === '' ? e.name : `${dir}/${e.name}`;
      const isLink = e.isSymbolicLink();
      const outside = isLink && pointsOutside(root, path);
      const copiedDir = outside && opts.followUnsafeLinks === true && isDirectory(join(root, path));
      const type: EntryType = copiedDir || e.isDirectory() ? 'dir' : isLink ? 'link' : 'file';
      const verdict = rules.classify(path, type, isLink);
      if (verdict !== 'kept') {
        (verdict === 'secret' ? tree.secrets : tree.ignored).push({ path, type });
        continue;
      }
      if (outside) tree.outsideLinks.push(path);
      if (type !== 'dir') {
        tree.kept++;
        tree.files.push(path);
        continue;
      }
      const childReal = copiedDir ? realpathSync(join(root, path)) : join(real, e.name);
      if (open.has(childReal)) {
        tree.ignored.push({ path, type });
        continue;
      }
      tree.kept++;
      visit(path, childReal);
    }
    open.delete(real);
  };
  visit('', realpathSync(root));
  return tree;
}

/**
 * Is the symlink at `path` (relative to root) unsafe in rsync's sense: absolute, or climbing
 * above root from where it sits in the transfer (judged by its text, as rsync does)?
 */
export function pointsOutside(root: string, path: string): boolean {
  const target = readlinkSync(join(root, path));
  if (isAbsolute(target)) return true;
  const resolved = normalize(join(path, '..', target));
  return resolved === '..' || resolved.startsWith(`..${sep}`) || isAbsolute(resolved);
}

/**
 * Classifies a listing of the remote tree (parents before children, as `find` prints it) with
 * the local rules; returns the topmost ignored entries.
 */
export function ignoredInListing(entries: Iterable<Entry>, rules: IgnoreRules): Entry[] {
  const ignoredDirs = new Set<string>();
  const out: Entry[] = [];
  for (const e of entries) {
    if (underIgnoredDir(e.path, ignoredDirs)) continue;
    if (rules.ignored(e.path, e.type)) {
      out.push(e);
      if (e.type === 'dir') ignoredDirs.add(e.path);
    }
  }
  return out;
}

function underIgnoredDir(path: string, dirs: ReadonlySet<string>): boolean {
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    if (dirs.has(path.slice(0, i))) return true;
  }
  return false;
}

/**
 * An rsync exclude pattern matching exactly this path from the transfer root. rsync treats
 * backslashes as escapes only in patterns with a wildcard character, so a name is escaped
 * only when it contains one of them. A trailing slash limits the rule to directories.
 */
export function anchoredExclude(e: Entry): string {
  const escaped = /[*?[]/.test(e.path) ? e.path.replace(/[\\*?[]/g, '\\$&') : e.path;
  return `/${escaped}${e.type === 'dir' ? '/' : ''}`;
}

/**
 * What every rsync of ours leaves out, whatever it is told besides: our directory and each mount
 * point (the data volume). The walks leave the mount point out too, but rsync walks on its own
 * when handed an exclude list (a sync back over INCLUDE_LIMIT, a pull aside): it would bring the
 * whole volume home, or, the other way, write over it.
 */
const alwaysOut = (mounts: readonly string[]): string[] => [
  `/${OWN_DIR}/`,
  ...mounts.map((path) => anchoredExclude({ path, type: 'dir' })),
];

/** NUL-separated exclude list for `rsync --from0 --exclude-from`, which survives any file name. */
export function excludeList(paths: Iterable<Entry>, mounts: readonly string[] = []): string {
  const patterns = [...alwaysOut(mounts), ...[...paths].map(anchoredExclude)];
  return patterns.map((p) => `${p}\0`).join('');
}

/** NUL-separated include-only filter: ours and the mounts left out, each entry brought, everything else left out. */
export function includeOnlyList(only: Iterable<Entry>, mounts: readonly string[] = []): string {
  const rules = [...alwaysOut(mounts).map((p) => `- ${p}`), ...[...only].map((e) => `+ ${anchoredExclude(e)}`), '- *'];
  return rules.map((r) => `${r}\0`).join('');
}

/** True if `p` is a file that exists and is a directory. */
export function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
