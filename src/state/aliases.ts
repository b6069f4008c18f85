/**
 * The ssh alias of each instance (`ssh ec2-<name>`, issue #12): one record per instance under the
 * state directory (aliases/<id>.json, with its ephemeral key aliases/<id> beside it), and ONE ssh
 * config file of ours made from them (ssh_config), which `ssh-ec2 ssh-config` includes from the
 * user's ~/.ssh/config (include.ts). Peers that edited the user's file in place duplicated,
 * overwrote and orphaned entries (SkyPilot #1765): the user's file gets one Include line, nothing
 * else. Records are added by a run once it has pinned the instance's host key, and go with
 * everything else kept for an instance when ssh-ec2 learns it has ended (leftovers.ts): local
 * records are enough for the refresh, which never asks AWS.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageFile } from '../package-files.js';
import { run, runSync } from '../remote/exec.js';
import { isModernSsh, parseOpensshVersion, sshConfigPath } from '../remote/ssh.js';
import type { Logger } from '../ui/logger.js';
import type { Paths } from './paths.js';

export interface AliasRecord {
  id: string;
  /** The instance's Name tag: the alias is ec2-<name>. */
  name: string;
  user: string;
  region: string;
  /** The ssh config the instance was reached through (--ssh-config): proxy-connect relays through it. */
  sshConfig?: string;
  /**
   * The AWS profile and endpoint in effect when the alias was written: its ProxyCommand runs with
   * them, not with whatever ssh's environment has (VS Code started from the Dock has no
   * AWS_PROFILE; a shell may hold another account's), or the instance would look gone.
   */
  profile?: string;
  endpoint?: string;
}

/** The AWS context an alias is written with (AliasRecord's profile and endpoint). */
export const awsContext = (
  env: Readonly<Record<string, string | undefined>>,
): Pick<AliasRecord, 'profile' | 'endpoint'> => ({
  ...(env.AWS_PROFILE ? { profile: env.AWS_PROFILE } : {}),
  ...(env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {}),
});

/** What every entry's ProxyCommand runs: this node and this ssh-ec2 (absolute paths). */
export interface AliasProgram {
  node: string;
  bin: string;
  /** The local ssh knows SessionType, StdinNull and ForkAfterAuthentication (OpenSSH 8.7+). */
  modernSsh: boolean;
}

export const aliasesDir = (paths: Paths): string => join(paths.state, 'aliases');
export const aliasConfigFile = (paths: Paths): string => join(paths.state, 'ssh_config');
export const aliasKey = (paths: Paths, id: string): string => join(aliasesDir(paths), id);
const recordFile = (paths: Paths, id: string) => join(aliasesDir(paths), `${id}.json`);
/** Its modification time is when the alias key was last pushed with Instance Connect. */
export const pushedStamp = (paths: Paths, id: string): string => join(aliasesDir(paths), `${id}.pushed`);

/** An ssh host pattern may not hold spaces, commas, `*`, `?` or `!`: anything else becomes `-`. */
export const aliasName = (name: string): string => `ec2-${name.replace(/[^A-Za-z0-9._-]/g, '-')}`;

export function readAliases(paths: Paths): AliasRecord[] {
  let names: string[] = [];
  try {
    names = readdirSync(aliasesDir(paths)).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const records: AliasRecord[] = [];
  for (const n of names.sort()) {
    try {
      const r = JSON.parse(readFileSync(join(aliasesDir(paths), n), 'utf8')) as Partial<AliasRecord>;
      if (typeof r.id === 'string' && typeof r.name === 'string' && typeof r.user === 'string')
        records.push(r as AliasRecord);
    } catch {
      // a record being written, or not ours: skipped
    }
  }
  return records;
}

/** Whether aliases are in use here: `ssh-ec2 ssh-config` wrote our file (and it was not --remove'd). */
export const aliasesInUse = (paths: Paths): boolean => existsSync(aliasConfigFile(paths));

/** Adds or replaces an instance's record, making its key if it has none. */
export async function addAlias(paths: Paths, record: AliasRecord): Promise<void> {
  mkdirSync(aliasesDir(paths), { recursive: true, mode: 0o700 });
  const key = aliasKey(paths, record.id);
  if (!existsSync(key) || !existsSync(`${key}.pub`)) {
    rmSync(key, { force: true });
    rmSync(`${key}.pub`, { force: true });
    await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `ssh-ec2-alias-${record.id}`, '-f', key]);
  }
  writeAtomically(recordFile(paths, record.id), `${JSON.stringify(record)}\n`);
}

/** Forgets an instance's alias: its record, its key, when it was pushed. */
export function dropAlias(paths: Paths, id: string): void {
  for (const f of [recordFile(paths, id), aliasKey(paths, id), `${aliasKey(paths, id)}.pub`, pushedStamp(paths, id)])
    rmSync(f, { force: true });
}

/** Rewrites our ssh config file from the records (mode 600: ssh refuses an included file others may write). */
export function writeAliasConfig(paths: Paths, program: AliasProgram): void {
  writeAtomically(aliasConfigFile(paths), renderAliases(readAliases(paths), paths, program));
}

/** This node and this ssh-ec2, and what the local ssh knows. */
export function aliasProgram(): AliasProgram {
  const v = runSync(['ssh', '-V']);
  return {
    node: process.execPath,
    bin: fileURLToPath(packageFile('bin/ssh-ec2.js')),
    modernSsh: isModernSsh(parseOpensshVersion(`${v.stderr}${v.stdout}`)),
  };
}

/**
 * Brings the aliases up to date after a run launched, started or reached an instance (its host key
 * now pinned) — only where aliases are in use. Never fails the run: a warning at most.
 */
export async function refreshAliases(paths: Paths, add: AliasRecord, log: Pick<Logger, 'warn'>): Promise<void> {
  if (!aliasesInUse(paths)) return;
  try {
    await addAlias(paths, add);
    writeAliasConfig(paths, aliasProgram());
  } catch (err) {
    log.warn(`could not refresh the ssh aliases in ${aliasConfigFile(paths)}: ${(err as Error).message}`);
  }
}

/** An instance has ended: its alias goes (leftovers.ts forgetInstance). Never throws. */
export function forgetAlias(paths: Paths, id: string): void {
  try {
    const had = existsSync(recordFile(paths, id));
    dropAlias(paths, id);
    if (had && aliasesInUse(paths)) writeAliasConfig(paths, aliasProgram());
  } catch {
    // the next refresh or `ssh-ec2 ssh-config` rewrites the file
  }
}

/** A word for the shell ssh runs the ProxyCommand with, and `%` doubled (ssh expands %-tokens in it). */
const shellWord = (s: string) => (/^[A-Za-z0-9_./:=@+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/**
 * The config file: a Host entry per instance, every setting our connection needs given here, so a
 * user's own `Host *` (read after our Include: the first value wins) cannot change it (SkyPilot
 * #1022): no RemoteCommand, forced terminal, failing forwards or multiplexing of theirs, our host
 * key file and check, our key only. The command line still wins (`ssh -t`, `-L`, `-A`).
 */
export function renderAliases(records: readonly AliasRecord[], paths: Paths, p: AliasProgram): string {
  const shared = sharedNames(records);
  const blocks = records.map((r) => {
    const proxy = [
      'env',
      // Unset when the alias was written without them: ssh's environment must not lend its own.
      ...(r.profile ? [] : ['-u', 'AWS_PROFILE']),
      ...(r.endpoint ? [] : ['-u', 'AWS_ENDPOINT_URL']),
      `SSH_EC2_STATE_DIR=${paths.state}`,
      ...(r.profile ? [`AWS_PROFILE=${r.profile}`] : []),
      ...(r.endpoint ? [`AWS_ENDPOINT_URL=${r.endpoint}`] : []),
      p.node,
      p.bin,
      'proxy-connect',
      r.id,
      '--region',
      r.region,
      '--user',
      r.user,
      ...(r.sshConfig ? ['--ssh-config', r.sshConfig] : []),
    ];
    const lines = [
      `Host ${shared.has(aliasName(r.name)) ? '' : `${aliasName(r.name)} `}${r.id}`,
      `  ProxyCommand ${proxy.map(shellWord).join(' ').replaceAll('%', '%%')}`,
      `  User ${r.user}`,
      `  HostKeyAlias ${r.id}`,
      `  UserKnownHostsFile ${sshConfigPath(paths.knownHosts(r.id))}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      '  CheckHostIP no',
      '  UpdateHostKeys no',
      `  IdentityFile ${sshConfigPath(aliasKey(paths, r.id))}`,
      '  IdentitiesOnly yes',
      '  IdentityAgent none',
      '  PasswordAuthentication no',
      '  KbdInteractiveAuthentication no',
      '  RemoteCommand none',
      '  RequestTTY auto',
      '  PermitLocalCommand no',
      '  ExitOnForwardFailure no',
      '  ControlMaster no',
      '  ControlPath none',
      '  ForwardAgent no',
      '  LogLevel ERROR',
      ...(p.modernSsh ? ['  SessionType default', '  StdinNull no', '  ForkAfterAuthentication no'] : []),
    ];
    return `${lines.join('\n')}\n`;
  });
  return `# Written by ssh-ec2 (ssh-ec2 ssh-config): one entry per instance of yours. Do not edit: it is rewritten.\n${blocks.join('\n')}`;
}

/**
 * Alias names held by more than one record (one directory name under two parents, or in two
 * regions): ssh would take the first entry and reach the other instance without a word, so such a
 * name gets no entry at all — those instances are reached by id.
 */
export function sharedNames(records: readonly AliasRecord[]): Set<string> {
  const seen = new Set<string>();
  const shared = new Set<string>();
  for (const r of records) {
    const name = aliasName(r.name);
    if (seen.has(name)) shared.add(name);
    seen.add(name);
  }
  return shared;
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}
