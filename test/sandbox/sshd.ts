// The "instance": a private sshd on a loopback port that logs in one throwaway unix user.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { exited, freePort, killGroup, killUserProcesses, sleep, tcpAccepts, waitUntil } from './util.js';

export interface InstanceConnectKey {
  key: string;
  expiresAt: number; // ms since epoch
  instanceId: string;
  osUser: string;
}

export interface Sshd {
  port: number;
  pid: number;
  sshConfig: string;
  /** The host key's fingerprint line as `ssh-keygen -l` prints it (what cloud-init writes to the console). */
  hostKeyFingerprint: string;
  /** Accepted until stop(): models the key pair EC2 installs at launch. */
  authorizeKey(publicKeyLine: string): void;
  /** Adds a key that sshd itself stops accepting at `expiresAt` (authorized_keys expiry-time). */
  addExpiringKey(entry: InstanceConnectKey, opts?: { prune?: boolean }): void;
  stop(): Promise<void>;
}

/** A comment on the user marks it as ours and names the owning process, for the reaper. */
export const USER_PREFIX = 'sshec2-';
export const userComment = (): string => `ssh-ec2 test sandbox pid=${process.pid}`;

/** useradd/userdel take a lock on /etc/passwd; parallel workers can collide on it, so retry. */
async function withPasswdLock(cmd: string, args: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const r = await execa(cmd, args, { reject: false, stdin: 'ignore' });
    if (r.exitCode === 0) return;
    if (attempt >= 20 || !/lock|try again/i.test(r.stderr)) throw new Error(`${cmd} ${args.join(' ')} failed (${r.exitCode}): ${r.stderr}`);
    await sleep(50 * attempt);
  }
}

export const newUserName = (): string => USER_PREFIX + randomBytes(3).toString('hex');

export async function createUser(user: string, home: string): Promise<{ uid: number; gid: number }> {
  await withPasswdLock('useradd', ['-M', '-d', home, '-s', '/bin/bash', '-c', userComment(), user]);
  try {
    // useradd leaves the password field '!', which sshd (UsePAM no) treats as a locked account.
    await withPasswdLock('usermod', ['-p', '*', user]);
    const uid = Number((await execa('id', ['-u', user])).stdout);
    const gid = Number((await execa('id', ['-g', user])).stdout);
    await mkdir(home, { recursive: true });
    await chown(home, uid, gid);
    await chmod(home, 0o700);
    return { uid, gid };
  } catch (err) {
    await removeUser(user);
    throw err;
  }
}

export async function removeUser(user: string, uid?: number): Promise<void> {
  uid ??= Number((await execa('id', ['-u', user], { reject: false })).stdout) || undefined;
  if (uid !== undefined) {
    for (let i = 0; i < 40 && killUserProcesses(uid) > 0; i++) await sleep(25);
  }
  // -f: zombies of the user's processes (never reaped by some containers' PID 1) would block it.
  await withPasswdLock('userdel', ['-f', user]).catch(() => undefined);
}

async function openSshVersion(): Promise<number> {
  const r = await execa('ssh', ['-V'], { reject: false });
  const m = /OpenSSH_(\d+)\.(\d+)/.exec(r.stderr + r.stdout);
  return m ? Number(m[1]) + Number(m[2]) / 100 : 0;
}

function sshdConfig(o: { port: number; hostKey: string; pidFile: string; authorizedKeys: string; user: string; version: number }): string {
  return [
    'ListenAddress 127.0.0.1',
    `Port ${o.port}`,
    `HostKey ${o.hostKey}`,
    `PidFile ${o.pidFile}`,
    // One root-owned file outside the user's home, so StrictModes has to be off.
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    'StrictModes no',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    `AllowUsers ${o.user}`,
    'AllowTcpForwarding yes',
    'AllowStreamLocalForwarding yes',
    'PermitTTY yes',
    'PrintMotd no',
    'PrintLastLog no',
    'MaxSessions 100',
    'MaxStartups 100:30:200',
    'Subsystem sftp internal-sftp',
    // Takes what a client's `SendEnv AWS_*` sends, as a permissive server would: AWS credentials
    // in the CLI's environment would land on the instance (test/e2e/secrets.test.ts).
    'AcceptEnv AWS_*',
    'LogLevel VERBOSE',
    // OpenSSH >= 9.8 would lock out 127.0.0.1 after the refused logins some tests provoke.
    ...(o.version >= 9.08 ? ['PerSourcePenalties no'] : []),
    '',
  ].join('\n');
}

const expiryTime = (ms: number): string => new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');

/** The ssh config that sends every host name to 127.0.0.1:port (the sandbox's sshConfig). */
export const clientConfig = (port: number): string => `Host *\n  HostName 127.0.0.1\n  Port ${port}\n`;

export async function startSshd(opts: { dir: string; user: string; sshdProgram?: string }): Promise<Sshd> {
  const { dir, user } = opts;
  const sshdDir = join(dir, 'sshd');
  await mkdir(sshdDir, { recursive: true });
  await chmod(sshdDir, 0o711); // sshd reads authorized_keys with the user's rights
  const hostKey = join(sshdDir, 'host_ed25519');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ssh-ec2-sandbox', '-f', hostKey], { stdin: 'ignore' });

  const authorizedKeys = join(sshdDir, 'authorized_keys');
  const staticKeys: string[] = [];
  let expiring: InstanceConnectKey[] = [];
  const writeKeys = (): void => {
    const lines = [...staticKeys, ...expiring.map((k) => `expiry-time="${expiryTime(k.expiresAt)}" ${k.key}`)];
    // Atomic replace: sshd never reads a half-written file.
    const tmp = `${authorizedKeys}.tmp`;
    writeFileSync(tmp, lines.map((l) => l + '\n').join(''), { mode: 0o644 });
    renameSync(tmp, authorizedKeys);
  };
  writeKeys();

  const sshConfig = join(dir, 'ssh_config');
  const version = await openSshVersion();
  const { port, child } = await launch({ sshdDir, hostKey, authorizedKeys, user, version, program: opts.sshdProgram ?? '/usr/sbin/sshd', dir });
  // Every host name goes to our sshd: the CLI can use the instance's (rewritten) address or any name.
  await writeFile(sshConfig, clientConfig(port));

  const hostKeyFingerprint = (await execa('ssh-keygen', ['-l', '-f', `${hostKey}.pub`], { stdin: 'ignore' })).stdout.trim();
  return {
    port,
    pid: child.pid ?? 0,
    sshConfig,
    hostKeyFingerprint,
    authorizeKey(line) {
      const clean = line.trim();
      if (!clean || /[\r\n]/.test(clean)) throw new Error('authorizeKey wants exactly one public key line');
      staticKeys.push(clean);
      writeKeys();
    },
    addExpiringKey(entry, { prune = true } = {}) {
      if (prune) expiring = expiring.filter((k) => k.expiresAt > Date.now());
      expiring.push(entry);
      writeKeys();
    },
    async stop() {
      killGroup(child.pid);
      await exited(child);
    },
  };
}

async function launch(o: { sshdDir: string; hostKey: string; authorizedKeys: string; user: string; version: number; program: string; dir: string }): Promise<{ port: number; child: ChildProcess }> {
  const config = join(o.sshdDir, 'sshd_config');
  const logFile = join(o.sshdDir, 'sshd.log');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    await writeFile(config, sshdConfig({ ...o, port, pidFile: join(o.sshdDir, 'sshd.pid') }));
    const log = openSync(logFile, 'a');
    const child = spawn(o.program, ['-D', '-e', '-f', config], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', SSH_EC2_SANDBOX: o.dir },
    });
    closeSync(log);
    try {
      await waitUntil('sshd', child, logFile, () => tcpAccepts(port), 10_000);
      return { port, child };
    } catch (err) {
      killGroup(child.pid);
      await exited(child);
      // Lost the race for the port to another worker: take another one.
      if (attempt >= 3 || !/Address already in use|Cannot bind/i.test(String(err))) throw err;
    }
  }
}
