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
}

/** How long an idle master survives us if we die without closing it. */
export const CONTROL_PERSIST = '10m';

/** Options shared by every ssh we run against an instance (no host, no command). */
export function sshOptions(t: SshTarget): string[] {
  const args: string[] = [];
  if (t.configFile) args.push('-F', t.configFile);
  if (t.identityFile) args.push('-i', t.identityFile, '-o', 'IdentitiesOnly=yes');
  const o = (k: string, v: string) => args.push('-o', `${k}=${v}`);
  o('HostKeyAlias', t.hostKeyAlias);
  o('UserKnownHostsFile', t.knownHostsFile);
  o('StrictHostKeyChecking', 'accept-new');
  o('CheckHostIP', 'no');
  o('UpdateHostKeys', 'no');
  o('ControlPath', t.controlPath);
  o('ServerAliveInterval', '15');
  o('ServerAliveCountMax', '4');
  o('ConnectTimeout', '10');
  o('LogLevel', t.verbose ? 'INFO' : 'ERROR');
  args.push('-l', t.user);
  return args;
}

/**
 * Opens the master connection in the background (-f: ssh returns once authenticated), which
 * doubles as the readiness probe: success means ssh works, whatever EC2 status checks say.
 */
export function masterStartArgv(t: SshTarget): string[] {
  return ['ssh', ...sshOptions(t), '-o', 'ControlMaster=yes', '-o', `ControlPersist=${CONTROL_PERSIST}`, '-o', 'BatchMode=yes', '-f', '-N', '--', t.host];
}

export function masterControlArgv(t: SshTarget, op: 'check' | 'exit'): string[] {
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

/** A command on the instance over the master connection. */
export function remoteArgv(t: SshTarget, remoteCommand: string, opts: { tty?: boolean; forwards?: ForwardSpecs } = {}): string[] {
  const forwards = opts.forwards ? forwardArgs(opts.forwards) : [];
  if (forwards.length > 0) forwards.push('-o', 'ExitOnForwardFailure=yes');
  return ['ssh', ...sshOptions(t), '-o', 'ControlMaster=no', '-o', 'BatchMode=yes', opts.tty ? '-tt' : '-T', ...forwards, '--', t.host, remoteCommand];
}

/**
 * The ssh rsync runs (as the argv of its private rsh wrapper, rsync.ts rshScript): never a
 * string for rsync to split, since openrsync splits -e on spaces whatever the quotes.
 */
export function rsyncSshArgv(t: SshTarget): string[] {
  return ['ssh', ...sshOptions(t), '-o', 'ControlMaster=no', '-o', 'BatchMode=yes'];
}
