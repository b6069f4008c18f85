/**
 * The instance's side of a run from git (issue #14): instead of the sync up, the project directory
 * there is made a checkout of the source (git-source.ts) — `git init` and a fetch the first time
 * (a clone into a directory that may already hold the agent's state or earlier results), a fetch
 * later — at the commit asked (--git: yours) or the branch's head (--git-url). Tracked files are
 * forced to that commit; untracked ones (earlier results) stay.
 *
 * An ssh URL is fetched over a connection of its own with your ssh agent forwarded for that one
 * command (private repositories); the git server's host key is checked against your known_hosts
 * lines for it, sent with the script, else accepted on first use (StrictHostKeyChecking
 * accept-new, for that fetch only). An https URL gets no credentials of yours: a token in it is
 * your choice (it stays in the instance's .git/config; never printed here).
 *
 * `checkoutOnInstance` needs only a Connection: a batch job's setup can call it the same way.
 */
import { ConfigError, SubprocessError } from '../errors.js';
import type { Connection } from '../remote/connection.js';
import { enterDir, shQuote } from '../remote/remote-command.js';
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

/** The script run on the instance (sh, on its stdin): prints how, the commit, then `git ls-files -s -z`. */
export function checkoutScript(s: GitSource, remoteDir: string): string {
  const remoteRef = `refs/remotes/origin/${s.branch}`;
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
    `git -c advice.detachedHead=false checkout -q -f --detach ${shQuote(s.commit ?? remoteRef)}`,
    `printf '%s %s\\n' "$how" "$(git rev-parse HEAD)"`,
    'git ls-files -s -z',
    '',
  ].join('\n');
}

/** Parses the script's output. */
export function parseCheckout(out: string): Checkout {
  const nl = out.indexOf('\n');
  const [how, commit = ''] = out.slice(0, nl).split(' ');
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
  o: { agent: boolean; signal?: AbortSignal },
): Promise<Checkout> {
  const forwardAgent = o.agent && sshHost(s.url) !== undefined;
  try {
    const r = await conn.execLong('sh -s', { input: checkoutScript(s, remoteDir), forwardAgent, signal: o.signal });
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
  p: { conn: Connection; localDir: string; remoteDir: string; instanceId: string; log: Logger; signal?: AbortSignal },
  s: GitSource,
  agent: boolean,
): Promise<Checkout> {
  // Before anything is there: a run killed mid-checkout must not bring the instance's .git home either.
  markGitCheckout(p.localDir, p.instanceId);
  const got = await checkoutOnInstance(p.conn, s, p.remoteDir, { agent, signal: p.signal });
  const sigs = await statRemote(
    p,
    got.files.map((f) => f.path),
  );
  const files: CheckedOut[] = got.files.flatMap((f) => {
    const sig = sigs.get(f.path);
    return sig ? [{ ...f, sig }] : [];
  });
  saveCheckoutBase(p.localDir, p.instanceId, files, { sameHere: s.sameHere });
  const head = s.commit ? '' : ` (the head of ${s.branch})`;
  p.log.info(`git: ${got.how} ${shownUrl(s.url)} at ${got.commit.slice(0, 12)}${head}`);
  return got;
}

export interface GitRun {
  source: GitSource;
  /** Your ssh agent is there to forward (SSH_AUTH_SOCK set). */
  agent: boolean;
}

/**
 * A session's checkout, in place of its sync up, while the agent is installed (`prepared`): both
 * are over before a failure of either goes on to the finish (no ssh of ours runs beside it).
 */
export async function checkoutBeside(
  prepared: Promise<unknown>,
  p: Parameters<typeof checkoutForRun>[0],
  git: GitRun,
): Promise<void> {
  const checkout = p.log.phase('checkout', () => checkoutForRun(p, git.source, git.agent));
  const [agent, done] = await Promise.allSettled([prepared, checkout]);
  for (const r of [agent, done]) if (r.status === 'rejected') throw r.reason;
}
