/**
 * Pure builders of ssh command lines (argv arrays). Every connection goes through the system
 * `ssh`, so the user's OpenSSH configuration (ProxyJump, bastions, proxies) applies.
 */

export interface SshTarget {
  /** Address ssh connects to (the instance's public or private address). */
  host: string;
  user: string;
  /** The instance id: host keys are remembered per instance, never per (recycled) address. */
  hostKeyAlias: string;
  /** Our own known-hosts file for this instance; ~/.ssh/known_hosts is never written. */
  knownHostsFile: string;
  /** Socket of the master connection that carries every ssh and rsync of a session. */
  controlPath: string;
  configFile?: string;
  identityFile?: string;
  verbose?: boolean;
  /** The local ssh knows SessionType, StdinNull and ForkAfterAuthentication (see sessionOptions). */
  modernSsh?: boolean;
}

/** OpenSSH's version from `ssh -V` ("OpenSSH_9.2p1 Debian-2, OpenSSL …"), as major * 100 + minor. */
export function parseOpensshVersion(text: string): number | undefined {
  const m = /OpenSSH_(\d+)\.(\d+)/.exec(text);
  return m ? Number(m[1]) * 100 + Number(m[2]) : undefined;
}

/** SessionType, StdinNull and ForkAfterAuthentication came with OpenSSH 8.7; an older ssh rejects them. */
export const isModernSsh = (version: number | undefined): boolean => version !== undefined && version >= 807;

/**
 * For an ssh that runs a command (ours or rsync's): a config's `SessionType none` would run
 * nothing, `StdinNull yes` would cut rsync's input, `ForkAfterAuthentication yes` would return
 * before the command ends. Only given to an ssh that knows them: an older one refuses the
 * options (and a user's config that sets them would be refused by it anyway). Not through
 * IgnoreUnknown, which would replace the user's own (the first value wins).
 */
function sessionOptions(t: SshTarget): string[] {
  return t.modernSsh ? ['-o', 'SessionType=default', '-o', 'StdinNull=no', '-o', 'ForkAfterAuthentication=no'] : [];
}

/**
 * A path as ssh reads it in an option's value (an `-o`, a config line): whitespace would split it
 * into several files and `%` starts a token (%d, %h...), so it is quoted and `%` doubled. A state
 * directory under a HOME with a space otherwise sent the host key to a file named by its first word.
 */
export function sshConfigPath(path: string): string {
  const t = path.replaceAll('%', '%%');
  return /[\s"'\\]/.test(t) ? `"${t.replace(/["\\]/g, '\\$&')}"` : t;
}

/** How long an idle master survives us if we die without closing it. */
export const CONTROL_PERSIST = '10m';

/**
 * Options shared by every ssh we run against an instance (no host, no command). The user's
 * config applies (ProxyJump, bastions), but not what would run something besides our command:
 * a `RemoteCommand` (ssh refuses it next to a command-line one) or a `LocalCommand` (its output
 * would land in rsync's stream). Command-line options win over the config file's.
 */
export function sshOptions(t: SshTarget): string[] {
  const args: string[] = [];
  if (t.configFile) args.push('-F', t.configFile);
  if (t.identityFile) args.push('-i', t.identityFile, '-o', 'IdentitiesOnly=yes');
  const o = (k: string, v: string) => args.push('-o', `${k}=${v}`);
  o('HostKeyAlias', t.hostKeyAlias);
  o('UserKnownHostsFile', sshConfigPath(t.knownHostsFile));
  o('StrictHostKeyChecking', 'accept-new');
  o('CheckHostIP', 'no');
  o('UpdateHostKeys', 'no');
  o('ControlPath', sshConfigPath(t.controlPath));
  o('ServerAliveInterval', '15');
  o('ServerAliveCountMax', '4');
  o('ConnectTimeout', '10');
  o('LogLevel', t.verbose ? 'INFO' : 'ERROR');
  o('RemoteCommand', 'none');
  o('PermitLocalCommand', 'no');
  args.push('-l', t.user);
  return args;
}

/**
 * A config's port forwards (`LocalForward` in `Host *`) would be opened by our master and by
 * each of our commands, and fail on ports already taken: only the session's own are wanted.
 */
const NO_CONFIG_FORWARDS = ['-o', 'ClearAllForwardings=yes'];

/**
 * Opens the master connection in the background (-f: ssh returns once authenticated), which
 * doubles as the readiness probe: success means ssh works, whatever EC2 status checks say.
 */
export function masterStartArgv(t: SshTarget): string[] {
  return [
    'ssh',
    ...sshOptions(t),
    '-o',
    'ControlMaster=yes',
    // Never from a config's ForwardAgent: every session over the master would get your agent.
    '-o',
    'ForwardAgent=no',
    '-o',
    `ControlPersist=${CONTROL_PERSIST}`,
    '-o',
    'BatchMode=yes',
    ...NO_CONFIG_FORWARDS,
    '-T',
    '-f',
    '-N',
    '--',
    t.host,
  ];
}

export function masterControlArgv(t: SshTarget, op: 'check' | 'exit' | 'stop'): string[] {
  return ['ssh', ...sshOptions(t), '-O', op, '--', t.host];
}

export interface ForwardSpecs {
  local?: readonly string[];
  remote?: readonly string[];
  dynamic?: readonly string[];
}

export function forwardArgs(f: ForwardSpecs): string[] {
  return [
    ...(f.local ?? []).flatMap((s) => ['-L', s]),
    ...(f.remote ?? []).flatMap((s) => ['-R', s]),
    ...(f.dynamic ?? []).flatMap((s) => ['-D', s]),
  ];
}

/**
 * Whether the user's session gets a terminal on the instance: when both stdin and stdout are
 * terminals (a terminal mixes stderr into stdout and writes CRLF: never into a file or a pipe),
 * unless --tty or --no-tty says.
 */
export function wantsTerminal(forced: boolean | undefined, io: { stdinIsTTY: boolean; stdoutIsTTY: boolean }): boolean {
  return forced ?? (io.stdinIsTTY && io.stdoutIsTTY);
}

/** A command on the instance over the master connection. */
export function remoteArgv(
  t: SshTarget,
  remoteCommand: string,
  opts: { tty?: boolean; forwards?: ForwardSpecs; forwardAgent?: boolean } = {},
): string[] {
  const forwards = opts.forwards ? forwardArgs(opts.forwards) : [];
  // ClearAllForwardings would clear the session's own forwards too: the config's stay with them.
  if (forwards.length > 0) forwards.push('-o', 'ExitOnForwardFailure=yes');
  else forwards.push(...NO_CONFIG_FORWARDS);
  // -tt / -T decide the terminal whatever the config's RequestTTY says.
  // The agent only where asked (a git clone's own connection: session/git-checkout.ts); first, as ssh takes the first value.
  const agent = opts.forwardAgent ? ['-o', 'ForwardAgent=yes'] : [];
  const [ssh, ...rest] = overMaster(t);
  return [ssh!, ...agent, ...rest, opts.tty ? '-tt' : '-T', ...forwards, '--', t.host, remoteCommand];
}

/**
 * The ssh rsync runs (as the argv of its private rsh wrapper, rsync.ts rshScript): never a
 * string for rsync to split, since openrsync splits -e on spaces whatever the quotes.
 * -T: a terminal (a config's `RequestTTY force`) would mangle rsync's binary stream.
 */
export function rsyncSshArgv(t: SshTarget): string[] {
  return [...overMaster(t), ...NO_CONFIG_FORWARDS, '-T'];
}

/** An ssh that uses the master connection (never becomes one) and never asks anything. */
function overMaster(t: SshTarget): string[] {
  return ['ssh', ...sshOptions(t), '-o', 'ControlMaster=no', '-o', 'BatchMode=yes', ...sessionOptions(t)];
}
