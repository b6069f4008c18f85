// The test bench: a fake AWS (moto behind a recording, fault-injecting proxy) and a fake
// instance (a private sshd for a throwaway user), all on 127.0.0.1 and all below one temp dir.
// Root only (it creates a unix user). Every sandbox is independent: parallel workers are fine.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { startMoto } from './moto.js';
import type { Moto } from './moto.js';
import { findProgram, ensurePrerequisites, isRoot } from './prerequisites.js';
import type { AwsBehaviourOptions, AwsBehaviours } from './console-and-start.js';
import { startProxy } from './proxy.js';
import type { ApiCall, Fault, Hold, ImdsRequest, Poweroff, Proxy } from './proxy.js';
import { clientConfig, createUser, newUserName, removeUser, startSshd } from './sshd.js';
import type { InstanceConnectKey, Sshd } from './sshd.js';
import { freePort, killGroup, killUserProcesses } from './util.js';

export type { ApiCall, Fault, Hold, ImdsRequest, Poweroff } from './proxy.js';
export type { InstanceConnectKey } from './sshd.js';
export { ensurePrerequisites } from './prerequisites.js';

/** How long an Instance Connect key works, as on AWS. */
export const INSTANCE_CONNECT_TTL_MS = 60_000;

export interface Sandbox {
  dir: string;
  endpoint: string;
  sshConfig: string;
  sshPort: number;
  user: string;
  home: string;
  region: string;
  /**
   * The instance's `shutdown -h now` (SSH_EC2_POWEROFF_COMMAND in env()): kills every process of
   * the user it runs as, like a machine going down, then tells the proxy the instance powered
   * itself off (it stops or terminates it in moto, if moto has it running). Refuses to run as
   * anyone but the sandbox user.
   */
  poweroffCommand: string;
  /** The instance metadata service the agent asks (SSH_EC2_IMDS_URL in env()): the proxy. */
  imdsUrl: string;
  /** Env for the CLI under test. Pass it with execa's `extendEnv: false`, or the developer's AWS_* leak in. */
  env(extra?: Record<string, string | undefined>): Record<string, string>;
  calls(action?: string): ApiCall[];
  clearCalls(): void;
  inject(fault: Fault): void;
  clearFaults(): void;
  /** Holds the next call of `action` (whose parameters pass `when`) before moto sees it, until `release()`: a slow API. */
  hold(action: string, when?: (params: Record<string, string>) => boolean): Hold;
  /**
   * The network between this machine and the instance: false points every new ssh connection
   * made through sshConfig at a closed port (refused), true back at sshd. Connections already
   * open are not touched, as when a laptop's network goes away and comes back.
   */
  setReachable(reachable: boolean): Promise<void>;
  /** What the CLI hears when it asks for its public address (SSH_EC2_IP_URL); default 127.0.0.1. */
  setPublicAddress(answer: string): void;
  authorizeKey(publicKeyLine: string): void;
  /** Every key pushed with SendSSHPublicKey (also for other users, which sshd never accepts), oldest first. */
  instanceConnectKeys(): InstanceConnectKey[];
  /** Test hook: install a key as SendSSHPublicKey would, but with any expiry (e.g. one in the past). */
  addInstanceConnectKey(key: string, expiresAt: number, instanceId?: string): void;
  runAsUser(script: string): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  /** The instance id IMDS answers: set by setImdsInstance, else the last one launched or started. */
  imdsInstance(): string | undefined;
  /** Makes IMDS answer this id whatever is launched; undefined goes back to the last launched or started. */
  setImdsInstance(id: string | undefined): void;
  /** What GetConsoleOutput answers; undefined (the default): a boot log with the sshd's real host key fingerprint. */
  setConsoleOutput(text: string | undefined): void;
  /** Every request to the fake IMDS, oldest first. */
  imdsRequests(): ImdsRequest[];
  /** Every instance that powered itself off (through poweroffCommand), oldest first. */
  poweroffs(): Poweroff[];
  /** AWS behaviours moto lacks (console-and-start.ts): switches for tests. */
  aws: AwsBehaviours;
  stop(): Promise<void>;
}

/**
 * The sandbox's poweroff command. The uid check is what keeps `kill -9 -1` from ever taking
 * down the test machine: run as root (by mistake, outside the "instance") it kills nothing.
 */
function poweroffScript(endpoint: string, user: string): string {
  return `#!/bin/sh
# ssh-ec2 test sandbox: what "shutdown -h now" does to an instance, played on this machine.
if [ "$(id -u)" = 0 ] || [ "$(id -un)" != '${user}' ]; then
  echo "sandbox poweroff: only for the sandbox user ${user}, refusing for $(id -un)" >&2
  exit 1
fi
# The machine goes down: every process of the user, sessions included (kill -1 spares this
# script). First, so nothing of it is left once EC2 says stopped: a test that then starts a
# new session must not see it cut.
kill -9 -1
# EC2 notices the instance went down: stopped (or terminated, if launched so).
curl -sS --max-time 10 -X POST --data-urlencode "instance=\${SSH_EC2_INSTANCE_ID:-}" --data-urlencode "reason=\${SSH_EC2_REASON:-}" '${endpoint}/sandbox/poweroff' >/dev/null
`;
}

/** What a synchronous last-ditch cleanup needs; filled in as the parts come up. */
interface Leftovers {
  dir: string;
  user?: string;
  uid?: number;
  pids: number[];
}

function cleanupSync(l: Leftovers): void {
  for (const pid of l.pids) killGroup(pid);
  if (l.uid !== undefined) killUserProcesses(l.uid);
  if (l.user) {
    try {
      execFileSync('userdel', ['-f', l.user], { stdio: 'ignore' });
    } catch {
      // best effort: the process is exiting
    }
  }
  rmSync(l.dir, { recursive: true, force: true });
}

/** A console log as an EC2 instance's cloud-init prints it, with its host key fingerprint. */
export function bootConsole(fingerprintLine: string): string {
  const [bits, hash, , type] = fingerprintLine.split(/\s+/);
  return [
    '[    0.000000] Linux version 6.8.0-1021-aws',
    'ci-info: no authorized SSH keys fingerprints found for user ubuntu.',
    '<14>Nov 23 12:00:00 cloud-init: #############################################################',
    '<14>Nov 23 12:00:00 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----',
    `<14>Nov 23 12:00:00 cloud-init: ${bits} ${hash} root@ip-172-31-0-1 ${type}`,
    '<14>Nov 23 12:00:00 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----',
    '<14>Nov 23 12:00:00 cloud-init: #############################################################',
    '',
  ].join('\n');
}

export async function startSandbox(opts: { region?: string; aws?: AwsBehaviourOptions } = {}): Promise<Sandbox> {
  await ensurePrerequisites();
  if (!isRoot()) throw new Error('The test sandbox must run as root: it creates a throwaway unix user and runs sshd.');
  const motoProgram = await findProgram('moto_server');
  if (!motoProgram) throw new Error("moto_server not found: pip install 'moto[server]'");
  const region = opts.region ?? 'eu-central-1';

  // Short path: unix sockets (ssh ControlPath) below it must stay under ~100 bytes.
  const dir = await mkdtemp(join(tmpdir(), 'sshec2-'));
  await chmod(dir, 0o711); // the throwaway user must reach its home and authorized_keys below it
  const home = join(dir, 'home');
  const leftovers: Leftovers = { dir, pids: [] };
  const onExit = (): void => cleanupSync(leftovers);
  process.on('exit', onExit);

  let moto: Moto | undefined;
  let sshd: Sshd | undefined;
  let proxy: Proxy | undefined;
  const pushed: InstanceConnectKey[] = [];
  let stopped: Promise<void> | undefined;
  let consoleOutput: string | undefined;

  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await proxy?.close();
      await Promise.all([moto?.stop(), sshd?.stop()]);
      if (leftovers.user) await removeUser(leftovers.user, leftovers.uid);
      await rm(dir, { recursive: true, force: true });
      process.off('exit', onExit);
    })());

  try {
    const user = newUserName();
    const userAndSshd = async (): Promise<Sshd> => {
      leftovers.uid = (await createUser(user, home)).uid;
      leftovers.user = user;
      return startSshd({ dir, user });
    };
    // moto (python) is the slow part; the user and sshd come up meanwhile.
    const [m, s] = await Promise.allSettled([startMoto({ dir, region, program: motoProgram }), userAndSshd()]);
    if (m.status === 'fulfilled') leftovers.pids.push((moto = m.value).pid);
    if (s.status === 'fulfilled') leftovers.pids.push((sshd = s.value).pid);
    if (m.status === 'rejected') throw m.reason;
    if (s.status === 'rejected') throw s.reason;
    const started = sshd as Sshd;
    proxy = await startProxy({
      target: (moto as Moto).url,
      dir,
      region,
      onPushedKey: ({ instanceId, osUser, key }) => {
        const entry = { key, instanceId, osUser, expiresAt: Date.now() + INSTANCE_CONNECT_TTL_MS };
        pushed.push(entry);
        // Like AWS: any user name is "accepted", but only the instance's real user can log in.
        if (osUser === user) started.addExpiringKey(entry);
      },
      consoleOutput: () => consoleOutput ?? bootConsole(started.hostKeyFingerprint),
      aws: opts.aws,
    });
  } catch (err) {
    await stop();
    throw err;
  }

  const { user } = leftovers;
  const [p, s] = [proxy, sshd];
  if (!user || !p || !s) throw new Error('unreachable: sandbox parts missing after start');
  const localHome = join(dir, 'local-home');
  mkdirSync(localHome, { recursive: true });
  const poweroffCommand = join(dir, 'poweroff.sh');
  try {
    await writeFile(poweroffCommand, poweroffScript(p.endpoint, user), { mode: 0o755 });
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    dir,
    endpoint: p.endpoint,
    sshConfig: s.sshConfig,
    sshPort: s.port,
    user,
    home,
    region,
    poweroffCommand,
    imdsUrl: p.endpoint,
    env(extra = {}) {
      const env: Record<string, string | undefined> = {
        PATH: process.env.PATH,
        HOME: localHome, // the CLI keeps its state under $HOME: one per sandbox
        USER: process.env.USER || 'root',
        LANG: 'C.UTF-8',
        AWS_ENDPOINT_URL: p.endpoint,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_REGION: region,
        AWS_EC2_METADATA_DISABLED: 'true',
        SSH_EC2_SSH_CONFIG: s.sshConfig,
        AWS_INSTANCE_USER: user,
        SSH_EC2_SSH_CIDR: '127.0.0.1/32',
        // Never ask the internet for our address, even if a test unsets SSH_EC2_SSH_CIDR.
        SSH_EC2_IP_URL: `${p.endpoint}/checkip`,
        NO_COLOR: '1',
        ...extra,
        // Last, so no test can drop them: nothing may power off this machine or ask 169.254.169.254.
        SSH_EC2_POWEROFF_COMMAND: poweroffCommand,
        SSH_EC2_IMDS_URL: p.endpoint,
      };
      return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
    },
    calls: (action) => p.calls(action),
    clearCalls: () => p.clearCalls(),
    inject: (fault) => p.inject(fault),
    clearFaults: () => p.clearFaults(),
    hold: (action, when) => p.hold(action, when),
    setPublicAddress: (answer) => p.setPublicAddress(answer),
    async setReachable(reachable) {
      const port = reachable ? s.port : await freePort();
      await writeFile(`${s.sshConfig}.tmp`, clientConfig(port));
      await rename(`${s.sshConfig}.tmp`, s.sshConfig);
    },
    authorizeKey: (line) => s.authorizeKey(line),
    instanceConnectKeys: () => pushed.map((k) => ({ ...k })),
    addInstanceConnectKey(key, expiresAt, instanceId = 'i-test') {
      // No pruning here, so a key that is already expired stays in the file for sshd to refuse.
      s.addExpiringKey({ key, expiresAt, instanceId, osUser: user }, { prune: false });
    },
    async runAsUser(script) {
      const r = await execa('runuser', ['-u', user, '--', 'sh', '-c', script], {
        cwd: home,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, USER: user, LOGNAME: user, SHELL: '/bin/bash', LANG: 'C.UTF-8' },
        extendEnv: false,
        stdin: 'ignore',
        reject: false,
      });
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
    },
    imdsInstance: () => p.imdsInstance(),
    setImdsInstance: (id) => p.setImdsInstance(id),
    setConsoleOutput: (text) => {
      consoleOutput = text;
    },
    imdsRequests: () => p.imdsRequests(),
    poweroffs: () => p.poweroffs(),
    aws: p.aws,
    stop,
  };
}
