/** The settings of a run from git (issue #14): the instance checks the repository out instead of a sync up. */
import { bool, optionalText, spec } from './spec.js';

export const GIT_OPTIONS = {
  git: spec({
    kind: 'boolean',
    flag: 'git',
    env: ['SSH_EC2_GIT'],
    group: 'Sync',
    default: false,
    parse: bool,
    describe:
      "instead of the sync up, the instance clones (then fetches) this directory's repository and checks out its current commit (README: Running from git)",
  }),
  gitUrl: spec({
    kind: 'string',
    flag: 'git-url',
    env: ['SSH_EC2_GIT_URL'],
    group: 'Sync',
    default: undefined,
    parse: optionalText,
    shown: shownUrl,
    describe: 'like --git, from this repository (with --branch): no local repository needed',
  }),
  branch: spec({
    kind: 'string',
    flag: 'branch',
    env: ['SSH_EC2_GIT_BRANCH'],
    group: 'Sync',
    default: undefined,
    parse: optionalText,
    describe: "--git-url's branch: its head when the instance fetches it",
  }),
  gitPush: spec({
    kind: 'boolean',
    flag: 'git-push',
    env: ['SSH_EC2_GIT_PUSH'],
    group: 'Sync',
    default: false,
    parse: bool,
    describe: 'with --git: push the current branch to its upstream first (commits not pushed are otherwise refused)',
  }),
  gitLocalPaths: spec({
    kind: 'boolean',
    env: ['SSH_EC2_GIT_LOCAL_PATHS'],
    group: 'Sync',
    default: false,
    parse: bool,
    describe: "for tests: a repository given by a local path reaches the instance (the sandbox's share this machine)",
  }),
} as const;

/** A URL (or a message naming one) as it may be printed: the user and password (or token) of an http(s) URL hidden. */
export function shownUrl(url: string): string {
  return url.replace(/(https?:\/\/)[^@/\s]*@/gi, '$1***@');
}
