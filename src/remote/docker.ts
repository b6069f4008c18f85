/**
 * --docker IMAGE: the command (or a login shell) runs inside that container on the instance. Pure
 * builders of the `docker run` line, the same for a plain session (remote-command.ts) and a job
 * (job.sh evaluates the line written at its start), and the checks of the two settings.
 *
 * What only the instance knows is decided there, at the run, by fixed shell words of ours: the
 * login user's uid:gid (results in the project directory are the user's, not root's), whether
 * the machine has a GPU (`nvidia-smi -L` answers: a Deep Learning AMI has the NVIDIA container
 * toolkit; one without a GPU, or without a driver, has no `--gpus`), whether the session has a
 * terminal (ssh or tmux/screen gave it one: `-t`), and the project directory's absolute path
 * (the cd into it is done first), mounted at the same path and made the working directory.
 */
import { UsageError } from '../errors.js';
import { shQuote } from './remote-command.js';

export interface DockerRun {
  image: string;
  /** Extra `docker run` arguments (--docker-args), before the image. */
  args: readonly string[];
}

/** A word of the line: literal text, or shell text of ours evaluated on the instance. */
export type Word = string | { sh: string };

/** The values only the run on the instance knows; the literal ones describe one case (tests, a plan). */
export interface DockerAt {
  /** The project directory's absolute path. */
  dir: Word;
  /** uid:gid */
  user: Word;
  /** true/false, or shell text that prints `--gpus=all` or nothing. */
  gpus: boolean | { sh: string };
  /** true/false, or shell text that expands to `-t` or nothing. */
  tty: boolean | { sh: string };
}

/** The instance decides each at the run. */
export const ON_INSTANCE: DockerAt = {
  dir: { sh: '"$PWD"' },
  user: { sh: '"$(id -u):$(id -g)"' },
  gpus: { sh: '$(nvidia-smi -L >/dev/null 2>&1 && echo --gpus=all)' },
  // Set by dockerShell before the line: in a $(…) of the line, fd 1 would be the substitution's pipe.
  tty: { sh: '$ssh_ec2_t' },
};

/** What runs in the container without a command: the image's bash if it has one, else its sh. */
export const CONTAINER_SHELL = 'command -v bash >/dev/null 2>&1 && exec bash -l; exec sh -l';

/**
 * The `docker run` argv. `--init`: a process of docker's as PID 1 passes signals on to the command
 * (a SIGTERM at a stop, a Ctrl-C passed on) and reaps its children; docker's own --sig-proxy (on by
 * default) passes the ones the client gets. `-i` always: stdin reaches the command as it does over
 * ssh (`ssh-ec2 --docker IMG wc -l < file`); `-t` only with a terminal. The image is pulled by the
 * first run on an instance that lacks it (docker run's own pull, its progress on stderr); later
 * runs there find it. The command reaches the image's `sh -c` as one argument, untouched.
 * `-e SSH_EC2_SESSION` (its value from the session's environment, none in a job): the container's
 * processes, which are the engine's children and not the session's, carry it too, so a stopped
 * session's recovery (journal.ts endSessionsCommand) finds and ends them as it does the rest.
 */
export function dockerRunArgv(d: DockerRun, at: DockerAt, command: Word | undefined): Word[] {
  return [
    'docker',
    'run',
    '--rm',
    '--init',
    '-i',
    ...flag(at.tty, '-t'),
    '-e',
    'SSH_EC2_SESSION',
    '--user',
    at.user,
    ...flag(at.gpus, '--gpus=all'),
    '-v',
    concat(at.dir, ':', at.dir),
    '-w',
    at.dir,
    ...d.args,
    d.image,
    'sh',
    '-c',
    command ?? CONTAINER_SHELL,
  ];
}

function flag(v: boolean | { sh: string }, word: string): Word[] {
  if (typeof v === 'boolean') return v ? [word] : [];
  return [v];
}

function concat(...parts: Word[]): Word {
  if (parts.every((p) => typeof p === 'string')) return parts.join('');
  return { sh: parts.map(render).join('') };
}

const render = (w: Word): string => (typeof w === 'string' ? shQuote(w) : w.sh);

/** Why docker run ended so, when it is docker's own status (docker-run(1)): said in one line. */
export const DOCKER_STATUS_WORDS: Record<125 | 126 | 127, string> = {
  125: "docker could not run the container: its own error is above (the image's name, the daemon, --docker-args)",
  126: 'the command could not be executed in the container',
  127: "a command was not found: in the container (the image's PATH), or docker itself on the instance",
};

/**
 * The shell words that run `command` (shell text of ours naming the command's variable, e.g. "$c";
 * undefined: a shell) in the container, from the project directory, with the exit status passed
 * through exactly and docker's own statuses explained on stderr.
 */
export function dockerShell(d: DockerRun, command: string | undefined): string {
  const line = dockerRunArgv(d, ON_INSTANCE, command === undefined ? undefined : { sh: command })
    .map(render)
    .join(' ');
  const words = Object.entries(DOCKER_STATUS_WORDS)
    .map(([code, text]) => `${code}) echo ${shQuote(`ssh-ec2: --docker: exit ${code}: ${text}`)} >&2 ;;`)
    .join(' ');
  const tty = 'ssh_ec2_t=; if [ -t 0 ] && [ -t 1 ]; then ssh_ec2_t=-t; fi';
  return `{ ${tty}; ${line}; ssh_ec2_s=$?; case $ssh_ec2_s in ${words} esac; (exit $ssh_ec2_s); }`;
}

// The grammar of docker's image references (distribution/reference): [host[:port]/]path[:tag][@digest].
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${HOST_PART}(?:\\.${HOST_PART})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(?:${HOST}/)?${COMPONENT}(?:/${COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`);

/** --docker: an image reference as docker reads one (refused otherwise: exit 2). */
export function imageReference(raw: string, source: string): string | undefined {
  const image = raw.trim();
  if (image === '') return undefined;
  if (image.length > 255 || !REFERENCE.test(image))
    throw new UsageError(
      `${source}: "${raw}" is not an image reference (e.g. ubuntu:24.04, nvcr.io/nvidia/pytorch:24.05-py3)`,
    );
  return image;
}

/**
 * --docker-args: split into words as a shell would (spaces, '…', "…", backslashes), without any
 * expansion (no globs, no ~); a $, a backquote or an operator (;|&<>()) is refused rather than guessed.
 */
export function dockerArgs(raw: string, source: string): string[] {
  const words = splitWords(raw, source);
  if (words.length > 0 && !words[0]!.startsWith('-'))
    throw new UsageError(`${source}: docker run arguments start with an option, got "${words[0]}"`);
  const detach = words.find((w) => w === '--detach' || w.startsWith('--detach=') || /^-[a-zA-Z]*d[a-zA-Z]*$/.test(w));
  if (detach)
    throw new UsageError(`${source}: ${detach} would detach the container: the command's status could not come back`);
  return words;
}

function splitWords(raw: string, source: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && '"\\$`'.includes(raw[i + 1] ?? '')) word += raw[++i];
      else if (ch === '$' || ch === '`') throw unsupported(source, ch);
      else word += ch;
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      word ??= '';
    } else if (ch === '\\') {
      if (i + 1 >= raw.length) throw new UsageError(`${source}: a backslash ends the arguments`);
      word = (word ?? '') + raw[++i];
    } else if ('$`;|&<>()'.includes(ch)) {
      throw unsupported(source, ch);
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (quote) throw new UsageError(`${source}: an unclosed ${quote} in "${raw}"`);
  if (word !== undefined) words.push(word);
  return words;
}

function unsupported(source: string, ch: string): UsageError {
  return new UsageError(
    `${source}: "${ch}" would be expanded or interpreted by a shell; the arguments are split into words only: quote it ('${ch}')`,
  );
}

/** What cannot work, refused before any AWS call. */
export function checkDockerOptions(o: { docker?: string; dockerArgs: readonly string[] }): void {
  if (o.dockerArgs.length > 0 && !o.docker) throw new UsageError('--docker-args needs --docker IMAGE');
}

/** The container a run's command goes into, if any. */
export function dockerOf(o: { docker?: string; dockerArgs: readonly string[] }): DockerRun | undefined {
  return o.docker ? { image: o.docker, args: o.dockerArgs } : undefined;
}
