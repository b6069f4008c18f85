// An instance's sshd (a private sshd on a loopback port, see machine.ts) and the throwaway unix
// users that play the instances' login user.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
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
    if (attempt >= 20 || !/lock|try again/i.test(r.stderr))
      throw new Error(`${cmd} ${args.join(' ')} failed (${r.exitCode}): ${r.stderr}`);
    await sleep(50 * attempt);
  }
}

export const newUserName = (): string => USER_PREFIX + randomBytes(3).toString('hex');

export async function createUser(user: string, home: string): Promise<{ uid: number; gid: number }> {
  await withPasswdLock('useradd', ['-M', '-d', home, '-s', '/bin/bash', '-c', userComment(), user]);
  try {
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
let version: Promise<number> | undefined;

function sshdConfig(o: {
  port: number;
  hostKey: string;
  pidFile: string;
  authorizedKeys: string;
  user: string;
  version: number;
}): string {
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

/**
 * Starts sshd on a free loopback port, logging in `user` only. `wrap` turns sshd's argv into the
 * one to run (machine.ts: inside the instance's own mount namespace).
 */
export async function startSshd(o: {
  sshdDir: string;
  hostKey: string;
  authorizedKeys: string;
  user: string;
  sandboxDir: string;
  wrap: (argv: string[]) => string[];
}): Promise<Sshd> {
  const config = join(o.sshdDir, 'sshd_config');
  const logFile = join(o.sshdDir, 'sshd.log');
  const v = await (version ??= openSshVersion());
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    await writeFile(config, sshdConfig({ ...o, version: v, port, pidFile: join(o.sshdDir, 'sshd.pid') }));
    const log = openSync(logFile, 'a');
    const [program, ...args] = o.wrap(['/usr/sbin/sshd', '-D', '-e', '-f', config]);
    let child: ChildProcess;
    try {
      child = spawn(program!, args, {
        detached: true,
        stdio: ['ignore', log, log],
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', SSH_EC2_SANDBOX: o.sandboxDir },
      });
    } finally {
      closeSync(log);
    }
    const stop = async (): Promise<void> => {
      killGroup(child.pid);
      await exited(child);
    };
    try {
      await waitUntil('sshd', child, logFile, () => tcpAccepts(port), 30_000);
      return { port, pid: child.pid ?? 0, stop };
    } catch (err) {
      await stop();
      // Lost the race for the port to another worker: take another one.
      if (attempt >= 3 || !/Address already in use|Cannot bind/i.test(String(err))) throw err;
    }
  }
}

/** Makes a fresh ed25519 host key; returns its fingerprint line as `ssh-keygen -l` prints it (what cloud-init writes to the console). */
export async function makeHostKey(path: string): Promise<string> {
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ssh-ec2-sandbox', '-f', path], {
    stdin: 'ignore',
  });
  return (await execa('ssh-keygen', ['-l', '-f', `${path}.pub`], { stdin: 'ignore' })).stdout.trim();
}
