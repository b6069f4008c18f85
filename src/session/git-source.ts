/**
 * Where a run from git (--git, --git-url: issue #14) checks out from, decided here before any AWS
 * call: for --git, this directory's repository must hold nothing the instance would miss — no
 * uncommitted change, no commit its remote lacks (unless --git-push pushes it first) — and its
 * remote must be one the instance can reach. Each refusal is one line, exit 2, nothing launched.
 * Untracked files are allowed (a data scientist's outputs lie about): said in one line, as they
 * stay here. The instance's side is git-checkout.ts.
 */
import { resolve } from 'node:path';
import { ExitCode, UserError } from '../errors.js';
// Declared with the setting, so that `ssh-ec2 config` hides the token too without this module's code.
export { shownUrl } from '../options/git-options.js';
import type { Options } from '../options.js';
import { shownUrl } from '../options/git-options.js';
import { runAllowFailure, type RunResult } from '../remote/exec.js';
import { OWN_DIR } from '../sync/ignore-rules.js';
import type { Logger } from '../ui/logger.js';

export interface GitSource {
  /** What the instance fetches (an https token stays in it: never printed, see shownUrl). */
  url: string;
  /** The branch fetched. */
  branch: string;
  /** The commit checked out; none: the branch's head when the instance fetches it (--git-url). */
  commit?: string;
  /** For an ssh URL: the server's lines from your known_hosts (none: accepted on first use there). */
  knownHosts: string[];
  /**
   * A repository on a path the instance shares (SSH_EC2_GIT_LOCAL_PATHS, for tests): owned by
   * another user than the instance's, which git refuses ("dubious ownership") unless trusted.
   */
  sharedPath?: string;
}

export type GitSettings = Pick<Options, 'git' | 'gitUrl' | 'branch' | 'gitPush' | 'gitLocalPaths'>;

/** A run from git refused before any launch: exit 2, as a bad flag is. */
export class GitRefusal extends UserError {
  constructor(message: string, hint: string) {
    super(message, ExitCode.usage, hint);
  }
}

/** The settings that do not go together, refused with the other checks made before AWS (dry run too). */
export function checkGitSettings(o: GitSettings): void {
  if (o.git && o.gitUrl)
    throw new GitRefusal(
      '--git and --git-url both given',
      "Use one: --git (this directory's repository) or --git-url URL --branch B.",
    );
  if (o.gitUrl && !o.branch)
    throw new GitRefusal('--git-url needs --branch B', 'Name the branch to check out: --branch main.');
  if (o.branch && !o.gitUrl)
    throw new GitRefusal(
      '--branch is for --git-url',
      '--git checks out your current commit; --git-url URL --branch B another repository.',
    );
  if (o.gitPush && !o.git)
    throw new GitRefusal('--git-push is for --git', 'Add --git (it pushes the current branch to its upstream first).');
}

const PUSHES_COMMITS = '--git-push pushes commits, not';
const WOULD_MISS = '--git: the instance would not have your';

/** The source of this run's checkout, or undefined without --git/--git-url. --git-push pushes here. */
export async function gitSource(
  o: GitSettings,
  dir: string,
  env: Readonly<Record<string, string | undefined>>,
  log: Logger,
): Promise<GitSource | undefined> {
  checkGitSettings(o);
  if (o.gitUrl) {
    const url = reachableUrl(o.gitUrl, dir, o, '--git-url');
    return { url, branch: o.branch!, knownHosts: await knownHostLines(url, env), ...shared(url) };
  }
  if (!o.git) return undefined;
  const git = (...args: string[]) => runAllowFailure(['git', '-C', dir, ...args], { env: { ...env, LC_ALL: 'C' } });
  const top = await git('rev-parse', '--show-toplevel');
  if (top.exitCode !== 0)
    throw new GitRefusal(
      `--git: ${dir} is not in a git repository`,
      'Run from a repository, or use --git-url URL --branch B.',
    );
  if (resolve(top.stdout.trim()) !== resolve(dir))
    throw new GitRefusal(
      `--git: run from the repository's top directory (${top.stdout.trim()}), not below it`,
      'The instance checks out the whole repository where this directory goes.',
    );
  const branch = (await git('symbolic-ref', '-q', '--short', 'HEAD')).stdout.trim();
  if (!branch)
    throw new GitRefusal(
      '--git: HEAD is detached: no branch to fetch it from',
      'Check out a branch (git switch B), or use --git-url URL --branch B.',
    );
  const { tracked, untracked } = parseStatus((await git('status', '--porcelain=v1', '-z')).stdout);
  if (tracked.length > 0)
    throw new GitRefusal(
      `${o.gitPush ? PUSHES_COMMITS : WOULD_MISS} uncommitted changes (${shortList(tracked)})`,
      'Commit them (then push, or add --git-push), or stash them.',
    );
  if (untracked.length > 0)
    log.info(
      `--git: ${untracked.length} untracked file(s) here stay here, not on the instance (${shortList(untracked)})`,
    );
  const up = await upstream(git, branch);
  const url = reachableUrl(up.url, dir, o, `--git: the remote ${up.remote}`);
  const head = (await git('rev-parse', 'HEAD')).stdout.trim();
  const pushed = async () => (await git('merge-base', '--is-ancestor', head, up.tracking)).exitCode === 0;
  if (!(await pushed())) {
    const where = `${up.remote}/${up.branch}`;
    if (!o.gitPush)
      throw new GitRefusal(
        `--git: HEAD ${head.slice(0, 12)} is not pushed to ${where}`,
        'Push it (git push), or add --git-push.',
      );
    log.info(`--git-push: pushing ${branch} to ${where}`);
    const r = await runAllowFailure(['git', '-C', dir, ...pushArgv(up.remote, up.branch)], {
      env: { ...env, GIT_TERMINAL_PROMPT: '0' },
    });
    if (r.exitCode !== 0 || !(await pushed()))
      throw new GitRefusal(
        `--git-push: git push to ${where} failed: ${shownUrl(lastLine(r))}`,
        'Push it yourself, then run again.',
      );
  }
  const knownHosts = await knownHostLines(url, env);
  return { url, branch: up.branch, commit: head, knownHosts, ...shared(url) };
}

/** `git push REMOTE HEAD:refs/heads/BRANCH`: the current commit to the upstream branch, whatever push.default is. */
export const pushArgv = (remote: string, branch: string) => ['push', '--', remote, `HEAD:refs/heads/${branch}`];

interface Upstream {
  remote: string;
  branch: string;
  url: string;
  /** Where this repository knows the remote branch to be (what a push updates). */
  tracking: string;
}

/** The current branch's upstream; without one, origin and the branch's own name. */
async function upstream(git: (...a: string[]) => Promise<RunResult>, branch: string): Promise<Upstream> {
  const config = async (key: string) => (await git('config', '--get', key)).stdout.trim();
  const set = await config(`branch.${branch}.remote`);
  const remote = set && set !== '.' ? set : 'origin';
  const merge = (set && set !== '.' && (await config(`branch.${branch}.merge`))) || `refs/heads/${branch}`;
  const got = await git('remote', 'get-url', '--', remote);
  if (got.exitCode !== 0)
    throw new GitRefusal(
      `--git: the branch ${branch} has no upstream and there is no remote ${remote}`,
      `Push it where the instance can reach it: git remote add origin URL && git push -u origin ${branch}.`,
    );
  const short = merge.replace(/^refs\/heads\//, '');
  const u = (await git('rev-parse', '--symbolic-full-name', `${branch}@{upstream}`)).stdout.trim();
  return { remote, branch: short, url: got.stdout.trim(), tracking: u || `refs/remotes/${remote}/${short}` };
}

/** `git status --porcelain -z`: tracked changes (staged or not) and untracked files. */
export function parseStatus(out: string): { tracked: string[]; untracked: string[] } {
  const tracked: string[] = [];
  const untracked: string[] = [];
  const records = out.split('\0');
  for (let i = 0; i < records.length; i++) {
    const rec = records[i]!;
    if (rec.length < 4) continue;
    const [xy, path] = [rec.slice(0, 2), rec.slice(3)];
    if (xy === '??') {
      if (path !== `${OWN_DIR}/`) untracked.push(path); // ours (the sync's base): not yours to commit
    } else if (xy !== '!!') tracked.push(`${xy.trim()} ${path}`);
    if (xy[0] === 'R' || xy[0] === 'C') i++; // a rename's or copy's origin follows
  }
  return { tracked, untracked };
}

/**
 * A URL the instance can reach: a path on this machine (or file://) is not, unless the setting for
 * tests says the instance shares this file system (the sandbox's instances do); then a relative
 * path is made absolute, as the instance runs git in its own directory.
 */
function reachableUrl(url: string, dir: string, o: GitSettings, what: string): string {
  if (!isLocalPath(url)) return url;
  if (!o.gitLocalPaths)
    throw new GitRefusal(
      `${what} is a path on this machine (${shownUrl(url)}), which the instance cannot reach`,
      'Use a repository on a server (ssh or https) the instance can reach.',
    );
  return /^file:/i.test(url) ? url : resolve(dir, url);
}

const shared = (url: string) => (isLocalPath(url) ? { sharedPath: url.replace(/^file:\/\//i, '') } : {});

/** git's rule: a URL with a scheme, else scp-like `host:path` when a colon comes before any slash, else a path. */
export function isLocalPath(url: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return /^file:/i.test(url);
  const colon = url.indexOf(':');
  const slash = url.indexOf('/');
  return colon < 0 || (slash >= 0 && slash < colon);
}

/** The ssh server of an ssh URL (`[host]:port` as known_hosts writes it), else undefined. */
export function sshHost(url: string): string | undefined {
  const m = /^(?:ssh|git\+ssh|ssh\+git):\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?(?:\/|$)/i.exec(url);
  if (m) {
    const host = m[1]!.replace(/^\[|\]$/g, '');
    return m[2] && m[2] !== '22' ? `[${host}]:${m[2]}` : host;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || isLocalPath(url)) return undefined;
  return /^(?:[^@/:]*@)?([^:/]+):/.exec(url)?.[1];
}

/** Your known_hosts lines for the git server of an ssh URL (ssh-keygen -F: hashed lines too). */
async function knownHostLines(url: string, env: Readonly<Record<string, string | undefined>>): Promise<string[]> {
  const host = sshHost(url);
  if (!host) return [];
  const r = await runAllowFailure(['ssh-keygen', '-F', host], { env: { ...env } }).catch(() => undefined);
  return (r?.stdout ?? '').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
}

const shortList = (items: readonly string[]) =>
  items.length > 3 ? `${items.slice(0, 3).join(', ')}, …` : items.join(', ');
const lastLine = (r: RunResult) => r.stderr.trim().split('\n').at(-1) || `exit status ${r.exitCode}`;
