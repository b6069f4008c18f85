// One "instance" of the sandbox: a machine of its own, played on this one. Each has
//  - its own unix user (a distinct uid: `kill -9 -1` in the poweroff script and the proxy's
//    "who is asking IMDS" are scoped by it) and its own home, kept on stop, gone on terminate
//    (moved root-only out of every instance's reach, for tests to check what it held);
//  - its own sshd and host key, started when EC2 runs or starts it and killed with all its
//    sessions when EC2 stops or terminates it;
//  - its own mount namespace, in which /etc/passwd and /etc/group are copies where the COMMON
//    login name (sb.user) is this machine's user, its home is mounted at the common remote home
//    path, and /run/screen is its own. So every instance is logged into with the same name and
//    shows the same paths, as EC2 instances of one image do, yet they share nothing.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { chmod, cp, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { bootHooks } from './boot.js';
import { createUser, makeHostKey, removeUser, startSshd } from './sshd.js';
import type { InstanceConnectKey, Sshd } from './sshd.js';
import { killMountNamespace, killUserProcesses, mountNamespace, sleep } from './util.js';

export type MachineState = 'running' | 'stopped' | 'terminated';

/** What a test sees of one instance (Sandbox.machine(id)). */
export interface Machine {
  readonly instanceId: string;
  /** The unix user playing this instance's login user, by its name on this machine (on the instance it is sb.user). */
  readonly unixUser: string;
  readonly uid: number;
  readonly gid: number;
  /** Where this instance's home is on this machine (on the instance it is sb.remoteHome). Gone once terminated. */
  readonly home: string;
  /**
   * Once terminated: what its home held at that moment, kept root-only outside any instance's
   * reach (no instance, new or old, sees it again), so tests can still check what it had.
   */
  readonly homeAtTermination: string | undefined;
  /** The host key's fingerprint line as `ssh-keygen -l` prints it (what cloud-init writes to the console). */
  readonly hostKeyFingerprint: string;
  /** This instance's sshd log (kept after terminate). */
  readonly sshdLog: string;
  /** Its loopback addresses as EC2 answers them (public and private): the sandbox's ssh config sends them to its sshd. */
  readonly addresses: readonly string[];
  /** The user data it was launched with (RunInstances', or its fleet's launch template's), decoded. */
  readonly userData: string | undefined;
  /**
   * When its latest boot made it reachable (ms since epoch): its sshd up and the client ssh config
   * pointing at it. For a bench that measures from there to the command's start (same clock).
   */
  readonly sshReachableAt: number | undefined;
  state(): MachineState;
  /** The port its sshd listens on while running. */
  sshPort(): number | undefined;
  /** Runs a shell script as the login user on this instance (in its home, in its namespace, with `env` added). Not once terminated. */
  runAsUser(
    script: string,
    env?: Record<string, string>,
  ): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  /** Test hook: install a key as SendSSHPublicKey would, but with any expiry (e.g. one in the past). */
  addInstanceConnectKey(key: string, expiresAt: number): void;
  /** What GetConsoleOutput answers for this instance; undefined: the boot log with its real host key fingerprint. */
  setConsoleOutput(text: string | undefined): void;
  /** Makes IMDS on this instance answer another id (a lying metadata service); undefined: its own. */
  setImdsInstance(id: string | undefined): void;
}

export interface MachineOptions {
  sandboxDir: string;
  /** This machine's own dir (below sandboxDir). */
  dir: string;
  instanceId: string;
  /** The common login name every instance has (sb.user). */
  loginName: string;
  /** The real unix user to create for it. */
  unixUser: string;
  /** The home path every instance shows (an empty mount point on this machine). */
  remoteHome: string;
  loginShell: string;
  /** Keys installed on every instance (the key pair), shared with the sandbox: see writeKeys. */
  staticKeys: readonly string[];
  /** Copied into the new home, as an image's /etc/skel would. */
  skeleton: string;
  /** Where the home goes when the instance is terminated (in a root-only dir). */
  terminatedHome: string;
  /** Programs the instance has beyond this machine's (instance-tools.ts), seen in /usr/local/bin. */
  toolsDir: string;
}

/**
 * sh script: enter a machine's private mounts, then exec the rest of argv. /etc/passwd and
 * /etc/group come through an overlay on /etc whose upper layer (a tmpfs of this namespace) links
 * them to the machine's copies: a bind mount on the files themselves would be undone as soon as
 * any useradd on this machine (another sandbox's) replaced /etc/passwd.
 */
const ENTER = [
  'set -e',
  'mount -t tmpfs -o mode=0755 sandbox-etc "$6"',
  'mkdir "$6/upper" "$6/work"',
  'ln -s "$1" "$6/upper/passwd"',
  'ln -s "$2" "$6/upper/group"',
  'mount -t overlay sandbox-etc -o "lowerdir=/etc,upperdir=$6/upper,workdir=$6/work" /etc',
  'mount --bind "$3" "$4"',
  'if [ -d /run/screen ]; then mount --bind "$5" /run/screen; fi',
  // The sandbox's own programs (instance-tools.ts) over this machine's /usr/local/bin.
  'mount -t overlay sandbox-tools -o "lowerdir=$7:/usr/local/bin" /usr/local/bin',
  'shift 7',
  'exec "$@"',
].join('\n');

const expiryTime = (ms: number): string =>
  new Date(ms)
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d+Z$/, 'Z');

export class MachineImpl implements Machine {
  readonly instanceId: string;
  readonly unixUser: string;
  readonly home: string;
  readonly sshdLog: string;
  addresses: string[] = [];
  uid = 0;
  gid = 0;
  hostKeyFingerprint = '';
  sshReachableAt: number | undefined;
  homeAtTermination: string | undefined;
  consoleOverride: string | undefined;
  imdsOverride: string | undefined;
  /** What RunInstances gave it (decoded): its boothooks run at each boot. */
  userData: string | undefined;
  private current: MachineState = 'running';
  private sshd: Sshd | undefined;
  private namespace: string | undefined;
  private expiring: InstanceConnectKey[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private generation = 0; // counts lifecycle calls: a start overtaken by a stop does not end "running"
  private readonly sshdDir: string;
  private readonly hostKey: string;
  private readonly authorizedKeys: string;
  private readonly passwd: string;
  private readonly group: string;
  private readonly screenDir: string;
  private readonly nsDir: string;

  private constructor(private readonly o: MachineOptions) {
    this.instanceId = o.instanceId;
    this.unixUser = o.unixUser;
    this.home = join(o.dir, 'home');
    this.sshdDir = join(o.dir, 'sshd');
    this.sshdLog = join(this.sshdDir, 'sshd.log');
    this.hostKey = join(this.sshdDir, 'host_ed25519');
    this.authorizedKeys = join(this.sshdDir, 'authorized_keys');
    this.passwd = join(o.dir, 'passwd');
    this.group = join(o.dir, 'group');
    this.screenDir = join(o.dir, 'screen');
    this.nsDir = join(o.dir, 'etc');
  }

  /** Creates the user, home, host key and files; the sshd is started by start(). */
  static async create(o: MachineOptions, created: (m: MachineImpl) => void): Promise<MachineImpl> {
    const m = new MachineImpl(o);
    await mkdir(m.sshdDir, { recursive: true });
    await chmod(o.dir, 0o711); // the user reaches nothing here but its home, through the mount
    await chmod(m.sshdDir, 0o711); // sshd reads authorized_keys with the user's rights
    await mkdir(m.nsDir);
    await mkdir(m.screenDir, { mode: 0o1777 });
    await chmod(m.screenDir, 0o1777);
    const [ids, fingerprint] = await Promise.all([createUser(o.unixUser, m.home), makeHostKey(m.hostKey)]);
    m.uid = ids.uid;
    m.gid = ids.gid;
    created(m); // from here on there is something to clean up
    m.hostKeyFingerprint = fingerprint;
    await cp(o.skeleton, m.home, { recursive: true });
    await execa('chown', ['-R', `${m.uid}:${m.gid}`, m.home]);
    m.writeIdentity();
    m.writeKeys();
    return m;
  }

  state(): MachineState {
    return this.current;
  }

  sshPort(): number | undefined {
    return this.current === 'running' ? this.sshd?.port : undefined;
  }

  /**
   * Mounts `source` (a directory of this machine) at `target` (a path as the instance shows it)
   * in the namespace of its running sshd, so every later session sees it, until the next stop
   * (a start brings a fresh namespace, as a boot forgets mounts). False: already mounted there.
   */
  async bindInside(source: string, target: string): Promise<boolean> {
    if (!this.sshd) throw new Error(`${this.instanceId} is not running`);
    const enter = ['nsenter', '--target', String(this.sshd.pid), '--mount', '--'];
    const there = await execa(enter[0]!, [...enter.slice(1), 'mountpoint', '-q', target], { reject: false });
    if (there.exitCode === 0) return false;
    await execa(enter[0]!, [...enter.slice(1), 'mount', '--bind', source, target]);
    return true;
  }

  /** argv that runs `argv` inside this machine's mount namespace (a fresh one each time; same mounts). */
  private wrap(argv: string[]): string[] {
    return [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      ENTER,
      'sh',
      this.passwd,
      this.group,
      this.home,
      this.o.remoteHome,
      this.screenDir,
      this.nsDir,
      this.o.toolsDir,
      ...argv,
    ];
  }

  /**
   * /etc/passwd and /etc/group as the instance sees them: this machine's, where its user is the
   * common login name with the common home. Rewritten in place: live bind mounts see the change.
   */
  writeIdentity(shell = this.o.loginShell): void {
    const others = (file: string): string[] =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith(`${this.unixUser}:`) && !l.startsWith(`${this.o.loginName}:`));
    // '*': no password, not locked (sshd with UsePAM no refuses a '!' account); no shadow entry needed.
    const passwd = [
      ...others('/etc/passwd'),
      `${this.o.loginName}:*:${this.uid}:${this.gid}:ssh-ec2 sandbox ${this.instanceId}:${this.o.remoteHome}:${shell}`,
    ];
    const group = [...others('/etc/group'), `${this.o.loginName}:x:${this.gid}:`];
    writeFileSync(this.passwd, passwd.join('\n') + '\n', { mode: 0o644 });
    writeFileSync(this.group, group.join('\n') + '\n', { mode: 0o644 });
  }

  /** authorized_keys: the sandbox's static keys, then Instance Connect keys with sshd-enforced expiry. */
  writeKeys(): void {
    if (this.current === 'terminated') return;
    const lines = [
      ...this.o.staticKeys,
      ...this.expiring.map((k) => `expiry-time="${expiryTime(k.expiresAt)}" ${k.key}`),
    ];
    // Atomic replace: sshd never reads a half-written file.
    const tmp = `${this.authorizedKeys}.tmp`;
    writeFileSync(tmp, lines.map((l) => l + '\n').join(''), { mode: 0o644 });
    chmodSync(tmp, 0o644);
    renameSync(tmp, this.authorizedKeys);
  }

  addExpiringKey(entry: InstanceConnectKey, { prune = true } = {}): void {
    if (prune) this.expiring = this.expiring.filter((k) => k.expiresAt > Date.now());
    this.expiring.push(entry);
    this.writeKeys();
  }

  addInstanceConnectKey(key: string, expiresAt: number): void {
    // No pruning here, so a key that is already expired stays in the file for sshd to refuse.
    this.addExpiringKey({ key, expiresAt, instanceId: this.instanceId, osUser: this.o.loginName }, { prune: false });
  }

  setConsoleOutput(text: string | undefined): void {
    this.consoleOverride = text;
  }

  setImdsInstance(id: string | undefined): void {
    this.imdsOverride = id;
  }

  async runAsUser(
    script: string,
    env: Record<string, string> = {},
  ): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    if (this.current === 'terminated') throw new Error(`${this.instanceId} is terminated: nothing runs there any more`);
    const home = this.o.remoteHome;
    const [program, ...args] = this.wrap([
      'runuser',
      '-u',
      this.o.loginName,
      '--',
      'sh',
      '-c',
      `cd || exit 1\n${script}`,
    ]);
    const r = await execa(program!, args, {
      cwd: '/',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: home,
        USER: this.o.loginName,
        LOGNAME: this.o.loginName,
        SHELL: '/bin/bash',
        LANG: 'C.UTF-8',
        ...env,
      },
      extendEnv: false,
      stdin: 'ignore',
      reject: false,
    });
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
  }

  /** One lifecycle step at a time: a terminate arriving during a start waits for it. */
  private serial<T>(step: () => Promise<T>): Promise<T> {
    const next = this.queue.then(step);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** EC2 runs or starts it: its sshd comes up (same host key as before a stop). */
  start(): Promise<void> {
    const generation = ++this.generation;
    return this.serial(async () => {
      if (this.current === 'terminated' || this.sshd) return;
      this.sshd = await startSshd({
        sshdDir: this.sshdDir,
        hostKey: this.hostKey,
        authorizedKeys: this.authorizedKeys,
        user: this.o.loginName,
        sandboxDir: this.o.sandboxDir,
        wrap: (argv) => this.wrap(argv),
      });
      this.namespace = mountNamespace(this.sshd.pid);
      if (generation === this.generation) this.current = 'running';
      await this.boot();
    });
  }

  /**
   * A boot, as cloud-init plays it: each boothook of the user data, every boot, with the instance
   * id in INSTANCE_ID. As the login user in its namespace (on EC2 it is root), so that whatever it
   * runs is this instance's and dies with it, and its poweroff is the sandbox's.
   */
  private async boot(): Promise<void> {
    const hooks = bootHooks(this.userData);
    if (hooks.length === 0) return;
    const dir = join(this.o.dir, 'boothooks'); // /var/lib/cloud/instance/boothooks
    await mkdir(dir, { recursive: true, mode: 0o755 });
    for (const [i, hook] of hooks.entries()) {
      const path = join(dir, `part-${i + 1}`);
      writeFileSync(path, hook, { mode: 0o755 });
      chmodSync(path, 0o755);
      const r = await this.runAsUser(`exec sh ${path}`, { INSTANCE_ID: this.instanceId });
      if (r.exitCode !== 0) throw new Error(`${this.instanceId}: boothook ${path} failed (${r.exitCode}): ${r.stderr}`);
    }
  }

  /** The machine goes down: sshd, every session and every process of its user. */
  private async halt(): Promise<void> {
    // The sshd pins the namespace while everything else in it is killed (see killMountNamespace):
    // stopped, so it accepts nothing meanwhile, and killed last.
    const ns = this.namespace;
    const holder = this.sshd?.pid;
    if (holder) signal(holder, 'SIGSTOP');
    for (let i = 0; ns && i < 40 && killMountNamespace(ns, holder) > 0; i++) await sleep(25);
    await this.sshd?.stop();
    this.sshd = undefined;
    this.namespace = undefined;
    for (let i = 0; this.uid && i < 40 && killUserProcesses(this.uid) > 0; i++) await sleep(25);
  }

  /** Down at once (sshPort() is undefined from here: the sandbox's ssh config drops it), then halted. */
  stop(): Promise<void> {
    this.generation++;
    if (this.current === 'terminated') return this.queue.then(() => undefined);
    this.current = 'stopped';
    return this.serial(() => this.halt());
  }

  /**
   * Gone for good: its processes, home and user. The home moves to terminatedHome (root-only) and
   * the sshd dir (log, host key) stays, for tests to read.
   */
  terminate(): Promise<void> {
    this.generation++;
    if (this.current === 'terminated') return this.queue.then(() => undefined);
    this.current = 'terminated';
    return this.serial(async () => {
      await this.halt();
      await rename(this.home, this.o.terminatedHome);
      this.homeAtTermination = this.o.terminatedHome;
      await rm(this.screenDir, { recursive: true, force: true });
      if (this.uid) await removeUser(this.unixUser, this.uid);
    });
  }

  /** The sandbox ends: like terminate, whatever state it is in. */
  destroy(): Promise<void> {
    return this.terminate();
  }

  /** Synchronous last-ditch cleanup (process exit): kill and delete, best effort. */
  destroySync(): void {
    try {
      if (this.namespace) killMountNamespace(this.namespace, this.sshd?.pid);
      if (this.sshd) process.kill(-this.sshd.pid, 'SIGKILL');
    } catch {
      // gone
    }
    try {
      if (this.uid) killUserProcesses(this.uid);
      execFileSync('userdel', ['-f', this.unixUser], { stdio: 'ignore' });
    } catch {
      // best effort: the process is exiting
    }
  }
}

/** An empty dir for MachineOptions.skeleton. */
export function makeSkeleton(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o755 });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}
