/**
 * The instance's side of a run from git (issue #14): instead of the sync up, the project directory
 * there is made a checkout of the source (git-source.ts) — `git init` and a fetch the first time
 * (a clone into a directory that may already hold the agent's state or earlier results), a fetch
 * later — at the commit asked (--git: yours) or the branch's head (--git-url). Tracked files are
 * forced to that commit; untracked ones (earlier results) stay. Never over work that did not come
 * home: a file the checkout would replace or remove that differs from it there (changed since the
 * last checkout, or not the commit's where a first one lands) must be one the sync's base knows on
 * the instance's side (sent from here or brought home), else the run is refused, nothing checked out
 * (`ssh-ec2 pull` brings them home). A repository that tracks a mount point (--volume's `data/`) is
 * refused: the checkout would write into the data volume.
 *
 * An ssh URL is fetched over a connection of its own with your ssh agent forwarded for that one
 * command (private repositories); the git server's host key is checked against your known_hosts
 * lines for it, sent with the script, else accepted on first use (StrictHostKeyChecking
 * accept-new, for that fetch only). An https URL gets no credentials of yours: a token in it is
 * your choice (it stays in the instance's .git/config; never printed here).
 *
 * `checkoutOnInstance` needs only a Connection: a batch job's setup can call it the same way.
 */
import { ConfigError, ExitCode, SubprocessError, UserError } from '../errors.js';
import type { Connection } from '../remote/connection.js';
import { enterDir, shQuote } from '../remote/remote-command.js';
import { loadBase } from '../sync/base.js';
import { markGitCheckout, saveCheckoutBase, type CheckedOut } from '../sync/git-base.js';
import { statRemote } from '../sync/remote-tree.js';
import type { Logger } from '../ui/logger.js';
import { shownUrl, sshHost, type GitSource } from './git-source.js';

export interface Checkout {
  how: 'cloned' | 'fetched';
  commit: string;
  /** Each checked-out file: its blob id (git ls-files -s). */
  files: { path: string; blob: string }[];
}

/** What the script found instead of checking out: files it would overwrite, or a mount point it tracks. */
export type Held = { changed: string[] } | { tracks: string };

/**
 * The script run on the instance (sh, on its stdin): prints how, the commit, then `git ls-files -s -z`;
 * or, before any checkout, `tracks M` (a mount point the commit tracks), or, unless `force`,
 * `changed` and the files it would overwrite that differ from the commit and from HEAD (NUL-separated).
 */
export function checkoutScript(
  s: GitSource,
  remoteDir: string,
  o: { force?: boolean; mounts?: readonly string[] } = {},
): string {
  const remoteRef = `refs/remotes/origin/${s.branch}`;
  const target = shQuote(s.commit ?? remoteRef);
  const list = '.git/ssh-ec2-changed';
  const hostKeys =
    s.knownHosts.length > 0
      ? [
          'kh=$(mktemp) && trap \'rm -f "$kh"\' EXIT',
          `printf '%s\\n' ${s.knownHosts.map(shQuote).join(' ')} >"$kh"`,
          `export GIT_SSH_COMMAND="ssh -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$kh"`,
        ]
      : sshHost(s.url)
        ? [`export GIT_SSH_COMMAND='ssh -o StrictHostKeyChecking=accept-new'`]
        : [];
  // The repository's own upload-pack is the git that checks its ownership: trusted there.
  const trust = s.sharedPath ? ` --upload-pack=${shQuote(`git -c safe.directory='${s.sharedPath}' upload-pack`)}` : '';
  return [
    'set -e',
    "command -v git >/dev/null 2>&1 || { echo 'git is not installed on the instance' >&2; exit 1; }",
    enterDir(remoteDir),
    'if [ -d .git ]; then how=fetched; else how=cloned; git init -q; fi',
    `git config remote.origin.url ${shQuote(s.url)}`,
    `git config --replace-all remote.origin.fetch '+refs/heads/*:refs/remotes/origin/*'`,
    ...hostKeys,
    `GIT_TERMINAL_PROMPT=0 git fetch${trust} -q origin ${shQuote(`+refs/heads/${s.branch}:${remoteRef}`)}`,
    ...(o.mounts ?? []).map(
      (m) => `[ -z "$(git ls-tree --name-only ${target} -- ${shQuote(m)})" ] || { echo tracks ${shQuote(m)}; exit 0; }`,
    ),
    ...(o.force
      ? []
      : [
          // Tracked files changed there since the last checkout, and untracked (or ignored) ones at a path it tracks.
          `if git rev-parse -q --verify HEAD >/dev/null; then git diff --name-only -z HEAD --; fi >${list}`,
          `git ls-tree -r -z --name-only ${target} | xargs -0r git --literal-pathspecs ls-files -z -o -- >${list}.u`,
          // Of those, the ones whose content is not the commit's (a scratch index holding it).
          `GIT_INDEX_FILE=${list}.i git read-tree ${target}`,
          `xargs -0r env GIT_INDEX_FILE=${list}.i git --literal-pathspecs diff --name-only -z -- <${list}.u >>${list}`,
          `if [ -s ${list} ]; then echo changed; cat ${list}; exit 0; fi`,
        ]),
    `git -c advice.detachedHead=false checkout -q -f --detach ${target}`,
    `printf '%s %s\\n' "$how" "$(git rev-parse HEAD)"`,
    'git ls-files -s -z',
    '',
  ].join('\n');
}

/** Parses the script's output. */
export function parseCheckout(out: string): Checkout | Held {
  const nl = out.indexOf('\n');
  const [how, commit = ''] = out.slice(0, nl).split(' ');
  if (how === 'tracks') return { tracks: commit };
  if (how === 'changed')
    return {
      changed: out
        .slice(nl + 1)
        .split('\0')
        .filter(Boolean),
    };
  const files: Checkout['files'] = [];
  for (const rec of out.slice(nl + 1).split('\0')) {
    const m = /^(\d+) ([0-9a-f]+) \d+\t([^]+)$/.exec(rec);
    // A submodule (160000) is a commit, not a file: nothing of it is checked out here.
    if (m && m[1] !== '160000') files.push({ path: m[3]!, blob: m[2]! });
  }
  return { how: how === 'fetched' ? 'fetched' : 'cloned', commit, files };
}

/**
 * Makes the checkout in `remoteDir` on the instance; `agent`: your ssh agent is there to forward
 * (SSH_AUTH_SOCK set), used only for an ssh URL.
 */
export async function checkoutOnInstance(
  conn: Connection,
  s: GitSource,
  remoteDir: string,
  o: { agent: boolean; signal?: AbortSignal; force?: boolean; mounts?: readonly string[] },
): Promise<Checkout | Held> {
  const forwardAgent = o.agent && sshHost(s.url) !== undefined;
  try {
    const input = checkoutScript(s, remoteDir, o);
    const r = await conn.execLong('sh -s', { input, forwardAgent, signal: o.signal });
    return parseCheckout(r.stdout);
  } catch (err) {
    if (!(err instanceof SubprocessError)) throw err;
    const lines = err.stderr.trim().split('\n');
    // git's first complaint says why; its last is the same advice whatever the cause.
    const why = shownUrl(lines.find((l) => /^(fatal|error):/.test(l)) ?? lines.at(-1) ?? '') || `exit ${err.exitCode}`;
    throw new ConfigError(
      `the checkout of ${shownUrl(s.url)} (${s.branch}) on the instance failed: ${why}`,
      sshHost(s.url) && !forwardAgent
        ? 'A private repository over ssh needs your ssh agent (SSH_AUTH_SOCK) with its key loaded.'
        : 'Check that the instance can reach the repository, and that the branch and commit are there.',
      { cause: err },
    );
  }
}

/**
 * The checkout, then its files recorded as the sync's base (sync/git-base.ts), so that the sync
 * back brings what the command made or changed, never the checkout itself. The phase a session
 * runs in place of the sync up.
 */
export async function checkoutForRun(
  p: {
    conn: Connection;
    localDir: string;
    remoteDir: string;
    instanceId: string;
    log: Logger;
    signal?: AbortSignal;
    mounts?: readonly string[];
  },
  s: GitSource,
  agent: boolean,
): Promise<Checkout> {
  // Before anything is there: a run killed mid-checkout must not bring the instance's .git home either.
  markGitCheckout(p.localDir, p.instanceId);
  const o = { agent, signal: p.signal, mounts: p.mounts };
  let got = await checkoutOnInstance(p.conn, s, p.remoteDir, o);
  if ('tracks' in got)
    throw new ConfigError(
      `${shownUrl(s.url)} tracks ${got.tracks}/, where the data volume (--volume) is mounted: nothing checked out`,
      `Move the repository's ${got.tracks}/ elsewhere, or run without --volume.`,
    );
  if ('changed' in got) {
    await refuseUnsaved(p, got.changed);
    got = await checkoutOnInstance(p.conn, s, p.remoteDir, { ...o, force: true });
    if (!('files' in got)) throw new Error(`the checkout did not happen on a second try: ${JSON.stringify(got)}`);
  }
  const sigs = await statRemote(
    p,
    got.files.map((f) => f.path),
  );
  const files: CheckedOut[] = got.files.flatMap((f) => {
    const sig = sigs.get(f.path);
    return sig ? [{ ...f, sig }] : [];
  });
  saveCheckoutBase(p.localDir, p.instanceId, files);
  const head = s.commit ? '' : ` (the head of ${s.branch})`;
  p.log.info(`git: ${got.how} ${shownUrl(s.url)} at ${got.commit.slice(0, 12)}${head}`);
  return got;
}

/**
 * Refuses (exit 6) when a file the checkout would overwrite is not the one the sync's base last saw
 * there: a change made on the instance that never came home. Absent there: nothing to lose.
 */
async function refuseUnsaved(p: Parameters<typeof checkoutForRun>[0], changed: string[]): Promise<void> {
  const sigs = await statRemote(p, changed);
  const base = loadBase(p.localDir, p.instanceId);
  const unsaved = [...sigs].filter(([path, sig]) => {
    const r = base.get(path)?.r;
    return !r || r.s !== sig.s || r.m !== sig.m;
  });
  if (unsaved.length === 0) return;
  const names = unsaved.map(([path]) => path);
  const shown = names.length > 3 ? `${names.slice(0, 3).join(', ')}, … (${names.length})` : names.join(', ');
  throw new UserError(
    `${p.instanceId} has changes not brought home: ${shown} — run \`ssh-ec2 pull\` first`,
    ExitCode.syncUp,
    'The checkout would overwrite them; nothing was checked out or run.',
  );
}

export interface GitRun {
  source: GitSource;
  /** Your ssh agent is there to forward (SSH_AUTH_SOCK set). */
  agent: boolean;
}

/**
 * A session's checkout, in place of its sync up, while the agent is installed (`prepared`): both
 * are over before a failure of either goes on to the finish (no ssh of ours runs beside it). With a
 * mount (--volume), only once the agent is done: it mounts the volume, which the checkout must see.
 */
export async function checkoutBeside(
  prepared: Promise<unknown>,
  p: Parameters<typeof checkoutForRun>[0],
  git: GitRun,
): Promise<void> {
  if (p.mounts?.length) await prepared;
  const checkout = p.log.phase('checkout', () => checkoutForRun(p, git.source, git.agent));
  const [agent, done] = await Promise.allSettled([prepared, checkout]);
  for (const r of [agent, done]) if (r.status === 'rejected') throw r.reason;
}
