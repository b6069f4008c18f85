/**
 * The remote side of a session. The user's command never passes through a quoting layer of
 * ours: it travels base64-encoded (an alphabet no shell interprets) and is handed whole to the
 * remote login shell with `$SHELL -c`, exactly what `ssh host words...` does, after a cd into
 * the project directory.
 */

import { dockerShell, type DockerRun } from './docker.js';

/** POSIX single-quoting, for our own words (paths); never used for the user's command. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** `~/x` and `x` both mean x under the home directory (rsync enters it with the same cd: see rsync.ts). */
export function normalizeRemoteDir(dir: string): string {
  const d = dir.replace(/^~\/?/, '').replace(/\/+$/, '');
  return d === '' ? '.' : d;
}

export function enterDir(dir: string): string {
  const q = shQuote(dir);
  return `mkdir -p -- ${q} && cd -- ${q}`;
}

/**
 * The words ssh sends: enter the directory, then the user's command or an interactive login shell.
 * The command runs under a shell that outlives it and reports its status: a Ctrl-C in the
 * terminal (SIGINT to the whole foreground group there) ends the command, and this shell, which
 * only notes the signal (`trap :`; a child gets the default back), exits with what the command
 * reported (130 from a shell) — where an exec'd command killed by the signal would make ssh say
 * 255, as for a lost connection. `; exit` keeps the last command from being exec'd in its place.
 */
export function sessionCommand(
  dir: string,
  command: string | undefined,
  o: { tty?: boolean; results?: { mark: string; upload: string }; docker?: DockerRun; measure?: string } = {},
): string {
  // --docker: the command (or the shell) runs in the container (docker.ts), the status passed through.
  const shell = (c: string) => (o.docker ? dockerShell(o.docker, c) : `"\${SHELL:-/bin/sh}" -c ${c}`);
  // Without a terminal, a shell fed by stdin is run as a command is: an interrupt passed on to it
  // ends it with its own status (130), and ssh does not take its death by a signal for a lost connection.
  if (command === undefined && o.docker)
    return `${enterDir(dir)} && trap : INT && ${dockerShell(o.docker, undefined)}; exit $?`;
  if (command === undefined && o.tty === false)
    return `${enterDir(dir)} && trap : INT && "\${SHELL:-/bin/sh}" -l; exit $?`;
  if (command === undefined) return `${enterDir(dir)} && exec "\${SHELL:-/bin/sh}" -l`;
  // The command's peak memory and wall time (usage.sh): words run before its shell. In a container
  // the measure would be the docker client's: not taken.
  const measure = o.docker ? undefined : o.measure;
  const run = `${measure ? `${measure} ` : ''}${shell('"$c"')}`;
  // --results: the files as the sync up left them are marked, and what changed is uploaded when the
  // command ends (on-instance.ts), before its status goes back.
  if (o.results)
    return `${enterDir(dir)} && ${assignDecoded('c', command)} && { ${o.results.mark} || :; } && trap : INT && ${run}; s=$?; ${o.results.upload}; exit $s`;
  // Measured, the measurer takes the shell's place (exec): the command's parent is as it was.
  return `${enterDir(dir)} && ${assignDecoded('c', command)} && trap : INT && ${measure ? 'exec ' : ''}${run}; exit $?`;
}

/**
 * Shell words that set variable `name` to `text` exactly. $(...) strips trailing newlines, so
 * an x is printed after the text and removed again.
 */
export function assignDecoded(name: string, text: string): string {
  const b64 = Buffer.from(text, 'utf8').toString('base64');
  return `${name}="$( (printf %s ${b64} | base64 -d) && printf x)" && ${name}="\${${name}%x}"`;
}

/** Joins command words with spaces, as ssh does. No words: undefined (interactive shell). */
export function joinCommand(words: readonly string[]): string | undefined {
  return words.length === 0 ? undefined : words.join(' ');
}
