// The test bench: a fake AWS (moto behind a recording, fault-injecting proxy) and fake
// instances (machine.ts: each its own sshd, host key, unix user, home and metadata answers),
// all on 127.0.0.1 and all below one temp dir. Root only (it creates unix users and mount
// namespaces). Every sandbox is independent: parallel workers are fine.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeInstanceTools } from './instance-tools.js';
import { MachineImpl, makeSkeleton } from './machine.js';
import type { Machine } from './machine.js';
import { startMoto } from './moto.js';
import type { Moto } from './moto.js';
import { ensurePrerequisites, isRoot, motoServer } from './prerequisites.js';
import type { ConsoleAndStart, ConsoleAndStartOptions } from './console-and-start.js';
import type { InterruptionAction } from './interruption.js';
import { startProxy } from './proxy.js';
import type { ApiCall, Fault, Hold, ImdsRequest, Lifecycle, Poweroff, Proxy } from './proxy.js';
import type { SpotControl } from './spot.js';
import { SUBJECT_KEY, type AwsBehaviour, type AwsBehaviourOptions } from './aws-behaviour.js';
import { newUserName } from './sshd.js';
import type { InstanceConnectKey } from './sshd.js';
import { killGroup, sleep } from './util.js';
import { mountScript, sandboxVolumes, type SandboxVolumes } from './volumes.js';

export type { ApiCall, Fault, Hold, ImdsRequest, Poweroff } from './proxy.js';
export type { InstanceConnectKey } from './sshd.js';
export type { Machine, MachineState } from './machine.js';
export type { AwsBehaviour, AwsBehaviourOptions } from './aws-behaviour.js';
export type { ConsoleAndStart, ConsoleAndStartOptions } from './console-and-start.js';
export { ensurePrerequisites } from './prerequisites.js';

/** How long an Instance Connect key works, as on AWS. */
export const INSTANCE_CONNECT_TTL_MS = 60_000;

/**
 * Where ssh goes when an address is no instance's, or the network is down (setReachable(false)):
 * a privileged port nothing on this machine listens on (the sandbox's own daemons take free
 * high ports), so the connection is refused.
 */
export const UNREACHABLE_PORT = 9;

/** The ProxyCommand of a sandbox with linkDelayMs: a relay that delivers each chunk late (delay-relay.mjs). */
export const DELAY_RELAY = fileURLToPath(new URL('./delay-relay.mjs', import.meta.url));

/** What the bench switches on; each is off by default, so no test sees it. */
export interface LinkOptions {
  /**
   * A link with latency between the client and everything (this machine's kernel has no netem):
   * each byte to or from an instance's sshd goes through DELAY_RELAY as the ssh ProxyCommand and
   * arrives this many ms late, each way; the API proxy waits this long before forwarding each of
   * the client's requests and again before answering it. A round trip costs twice this.
   */
  linkDelayMs?: number;
  /**
   * A booting machine: after RunInstances (or StartInstances) EC2 says running at once, but the
   * instance's sshd is unreachable (refused) for this long; Machine.sshReachableAt records when it
   * came. Until then its console shows no host key fingerprints (cloud-init prints them as sshd
   * comes up).
   */
  bootDelayMs?: number;
}

export interface Sandbox {
  dir: string;
  endpoint: string;
  /**
   * The client ssh config (SSH_EC2_SSH_CONFIG in env()): each running instance's addresses go to
   * its own sshd, every other name to a refused port. Rewritten as instances come and go.
   */
  sshConfig: string;
  /** The login name on every instance (AWS_INSTANCE_USER in env()), as `ubuntu` is on every DLAMI. */
  user: string;
  /** The home directory path every instance shows (on this machine: an empty dir; see Machine.home). */
  remoteHome: string;
  /** Files here are copied into every new instance's home at launch (as an image's /etc/skel). */
  homeSkeleton: string;
  /**
   * A link to the home (on this machine) of the instance launched last, re-pointed at each launch
   * (and to its homeAtTermination once terminated): for a test that launches one instance and looks
   * at its files before it knows its id.
   */
  latestHome: string;
  region: string;
  /** The instance EC2 launched with this id (through RunInstances or CreateFleet); throws if there is none. */
  machine(instanceId: string): Machine;
  /** Every instance launched so far, oldest first (terminated ones too). */
  machines(): Machine[];
  /** The newest instance launched; throws if none was. For a test that launched exactly one. */
  latestMachine(): Machine;
  /** Every instance's login shell, from now on (existing ones too); default /bin/bash. */
  setLoginShell(path: string): void;
  /**
   * The instance's `shutdown -h now` (SSH_EC2_POWEROFF_COMMAND in env()): kills every process of
   * the user it runs as, like a machine going down, then tells the proxy the instance powered
   * itself off (it stops or terminates the instance whose user ran it, if moto has it running).
   * Refuses to run as anyone but an instance's login user.
   */
  poweroffCommand: string;
  /** The data volumes' stand-in (SSH_EC2_MOUNT_COMMAND in env()): a directory per volume id. */
  volumes: SandboxVolumes;
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
   * The network between this machine and the instances: false points every new ssh connection
   * made through sshConfig at a closed port (refused), true back at each instance's sshd.
   * Connections already open are not touched, as when a laptop's network goes away and comes back.
   */
  setReachable(reachable: boolean): Promise<void>;
  /** What the CLI hears when it asks for its public address (SSH_EC2_IP_URL); default 127.0.0.1. */
  setPublicAddress(answer: string): void;
  /** What DescribeSpotPriceHistory says a type costs in a zone from now on (else: a third of the on-demand table's). */
  setSpotPrice(type: string, zone: string, usd: number): void;
  /** Installs a public key for the login user on every instance, running or launched later (the EC2 key pair). */
  authorizeKey(publicKeyLine: string): void;
  /** Every key pushed with SendSSHPublicKey (also for other users, which sshd never accepts), oldest first. */
  instanceConnectKeys(): InstanceConnectKey[];
  /**
   * What GetConsoleOutput answers for every instance; undefined (the default): each instance's
   * boot log with its own host key fingerprint (or what Machine.setConsoleOutput set).
   */
  setConsoleOutput(text: string | undefined): void;
  /**
   * Makes IMDS on every instance answer this id (a lying metadata service everywhere, so no agent
   * can power anything off); undefined: each its own (or what Machine.setImdsInstance set).
   */
  setImdsInstance(id: string | undefined): void;
  /** false: every instance's nvidia-smi (a stand-in: instance-tools.ts) fails as without a driver; default true, one GPU. */
  setGpuVisible(visible: boolean): void;
  /** Every request to the fake IMDS, oldest first. */
  imdsRequests(): ImdsRequest[];
  /** Every instance that powered itself off (through poweroffCommand), oldest first. */
  poweroffs(): Poweroff[];
  /** What real AWS does that moto does not (aws-behaviour.ts, console-and-start.ts), switched at run time. */
  aws: AwsBehaviour & ConsoleAndStart;
  /** The spot requests the proxy keeps as EC2 would (spot.ts). */
  spot: SpotControl;
  /**
   * EC2's two minutes' notice that it takes this (spot) instance back: its metadata service answers
   * spot/instance-action from now on. Nothing happens to it until completeInterruption.
   */
  announceInterruption(instanceId: string, action: InterruptionAction): void;
  /** EC2 takes the instance as announced: stopped or terminated, with AWS's StateReason for it. */
  completeInterruption(instanceId: string): Promise<void>;
  /**
   * EC2 Fleet short of capacity from now on: each CreateFleet gets at most `n` instances of `type`
   * (in `market`, default either; undefined: no limit), the rest of its target from its other
   * overrides or missing, with an Errors entry InsufficientInstanceCapacity per override that fell
   * short (HTTP 200, as AWS's instant fleets answer). `sb.inject({ action: 'CreateFleet', … })` still
   * fails the whole call.
   */
  fleetCapacity(type: string, n: number | undefined, market?: 'spot' | 'on-demand'): void;
  /**
   * true: DescribeFleets lists every fleet, instant ones too (moto's answer); default false: an
   * instant fleet only when asked for by its id, as AWS documents. See fleet.ts.
   */
  listInstantFleets(on: boolean): void;
  /** Changes linkDelayMs (LinkOptions) from now on: new ssh connections and API requests. */
  setLinkDelay(ms: number): void;
  /** Changes bootDelayMs (LinkOptions) for the boots that follow. */
  setBootDelay(ms: number): void;
  /**
   * Ends every key pushed so far, as AWS's 60 s would: sshd refuses it from now on. Not a shorter
   * lifetime waited out: a loaded machine can take seconds to log in with a key just pushed.
   */
  expireInstanceConnectKeys(): void;
  stop(): Promise<void>;
}

/**
 * The sandbox's poweroff command. The uid check is what keeps `kill -9 -1` from ever taking
 * down the test machine: run as root (by mistake, outside the "instance") it kills nothing.
 */
function poweroffScript(endpoint: string, user: string): string {
  return `#!/bin/sh
# ssh-ec2 test sandbox: what "shutdown -h now" does to an instance, played on this machine.
# On an instance (in its mount namespace) its user's name is ${user}; nowhere else is it.
if [ "$(id -u)" = 0 ] || [ "$(id -un)" != '${user}' ]; then
  echo "sandbox poweroff: only for an instance's user ${user}, refusing for $(id -un)" >&2
  exit 1
fi
# The machine goes down: every process of the user, sessions included (kill -1 spares this
# script). First, so nothing of it is left once EC2 says stopped: a test that then starts a
# new session must not see it cut.
kill -9 -1
# EC2 notices the instance went down: stopped (or terminated, if launched so). The proxy knows
# the instance by who asks; the id is for a caller that is no instance (a test).
curl -sS --max-time 10 -X POST --data-urlencode "instance=\${SSH_EC2_INSTANCE_ID:-}" --data-urlencode "reason=\${SSH_EC2_REASON:-}" '${endpoint}/sandbox/poweroff' >/dev/null
`;
}

/** What a synchronous last-ditch cleanup needs; filled in as the parts come up. */
interface Leftovers {
  dir: string;
  pids: number[];
  machines: MachineImpl[];
}

function cleanupSync(l: Leftovers): void {
  for (const pid of l.pids) killGroup(pid);
  for (const m of l.machines) m.destroySync();
  rmSync(l.dir, { recursive: true, force: true });
}

/** The client ssh config: each running instance's addresses to its sshd, everything else refused. */
export function clientConfig(instances: { addresses: readonly string[]; port: number }[], linkDelayMs = 0): string {
  // Only the way to an instance is delayed: a refused connection stays a refusal (the relay would
  // turn it into "connection closed").
  const relay = (port: number) =>
    linkDelayMs > 0 ? `  ProxyCommand ${process.execPath} ${DELAY_RELAY} ${port} ${linkDelayMs}\n` : '';
  const blocks = instances
    .filter((i) => i.addresses.length > 0)
    .map((i) => `Host ${i.addresses.join(' ')}\n  HostName 127.0.0.1\n  Port ${i.port}\n${relay(i.port)}`);
  return `# ssh-ec2 test sandbox: each instance's addresses reach its own sshd\n${blocks.join('')}Host *\n  HostName 127.0.0.1\n  Port ${UNREACHABLE_PORT}\n`;
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

/** A console before cloud-init has printed the host keys. */
const BOOTING_CONSOLE = '[    0.000000] Linux version 6.8.0-1021-aws\n';

/** `aws`: AWS's behaviours (aws-behaviour.ts, console-and-start.ts), each on unless turned off here. */
export async function startSandbox(
  opts: { region?: string; aws?: AwsBehaviourOptions & ConsoleAndStartOptions } & LinkOptions = {},
): Promise<Sandbox> {
  let linkDelayMs = opts.linkDelayMs ?? 0;
  let bootDelayMs = opts.bootDelayMs ?? 0;
  await ensurePrerequisites();
  if (!isRoot()) throw new Error('The test sandbox must run as root: it creates throwaway unix users and runs sshd.');
  const motoProgram = await motoServer();
  const region = opts.region ?? 'eu-central-1';

  // Short path: unix sockets (ssh ControlPath) below it must stay under ~100 bytes.
  const dir = await mkdtemp(join(tmpdir(), 'sshec2-'));
  await chmod(dir, 0o711); // an instance's user must reach its home (mounted at remoteHome) below it
  const remoteHome = join(dir, 'home');
  const homeSkeleton = join(dir, 'skel');
  mkdirSync(remoteHome, { mode: 0o755 });
  const terminated = join(dir, 'terminated');
  mkdirSync(terminated, { mode: 0o700 });
  makeSkeleton(homeSkeleton);
  const tools = makeInstanceTools(dir);
  const sshConfig = join(dir, 'ssh_config');
  const latestHome = join(dir, 'latest-home');
  const leftovers: Leftovers = { dir, pids: [], machines: [] };
  const onExit = (): void => cleanupSync(leftovers);
  process.on('exit', onExit);

  const user = newUserName();
  const machines = new Map<string, MachineImpl>();
  const volumes = sandboxVolumes(dir, remoteHome);
  const creating = new Map<string, Promise<MachineImpl | undefined>>();
  const staticKeys: string[] = [];
  let loginShell = '/bin/bash';
  let reachable = true;
  let moto: Moto | undefined;
  let proxy: Proxy | undefined;
  const pushed: InstanceConnectKey[] = [];
  let stopped: Promise<void> | undefined;
  let consoleOutput: string | undefined;
  let imdsEverywhere: string | undefined; // setImdsInstance

  const writeClientConfig = (): void => {
    const running = [...machines.values()].flatMap((m) => {
      const port = m.sshPort();
      return reachable && port !== undefined ? [{ addresses: m.addresses, port }] : [];
    });
    // Atomic replace: an ssh starting now reads the old or the new file, never half of one.
    writeFileSync(`${sshConfig}.tmp`, clientConfig(running, linkDelayMs));
    renameSync(`${sshConfig}.tmp`, sshConfig);
  };
  writeClientConfig();

  let latest: MachineImpl | undefined;
  const pointLatestHome = (m: MachineImpl): void => {
    latest = m;
    symlinkSync(m.homeAtTermination ?? m.home, `${latestHome}.tmp`);
    renameSync(`${latestHome}.tmp`, latestHome);
  };

  /** Machines whose sshd is held back (bootDelayMs), and the boots that will bring it up. */
  const booting = new Set<MachineImpl>();
  const boots = new Set<Promise<unknown>>();
  const boot = async (m: MachineImpl): Promise<void> => {
    await m.start();
    writeClientConfig();
    m.sshReachableAt = Date.now();
  };

  const machineFor = async (id: string): Promise<MachineImpl | undefined> =>
    machines.get(id) ?? (await creating.get(id));

  /** An instance came to be (RunInstances, CreateFleet): its user, home, host key; its sshd comes up in lifecycle. */
  const create = (id: string): Promise<MachineImpl | undefined> => {
    const n = creating.size + 1;
    const made = MachineImpl.create(
      {
        sandboxDir: dir,
        dir: join(dir, 'm', String(n)),
        instanceId: id,
        loginName: user,
        unixUser: `${user}-${n}`,
        remoteHome,
        loginShell,
        staticKeys,
        skeleton: homeSkeleton,
        terminatedHome: join(terminated, String(n)),
        toolsDir: tools.dir,
      },
      (m) => leftovers.machines.push(m),
    ).then((m) => {
      machines.set(id, m);
      pointLatestHome(m);
      return m;
    });
    creating.set(id, made);
    return made;
  };

  const lifecycle = async ({ action, instanceId, addresses, userData }: Lifecycle): Promise<void> => {
    if (stopped) return;
    const launch = action === 'RunInstances' || action === 'CreateFleet';
    const m = launch ? await create(instanceId) : await machineFor(instanceId);
    if (!m) return; // not launched through us: nothing plays it
    if (addresses.length > 0) m.addresses = addresses;
    if (userData !== undefined) m.userData = userData;
    if (launch || action === 'StartInstances') {
      if (bootDelayMs <= 0) return boot(m);
      // EC2 answers now; the machine answers ssh later.
      booting.add(m);
      const later = sleep(bootDelayMs)
        .then(() => (stopped ? undefined : boot(m)))
        .catch((err: unknown) => {
          if (!stopped) console.error(`sandbox: ${m.instanceId} did not boot: ${String(err)}`);
        })
        .finally(() => {
          booting.delete(m);
          boots.delete(later);
        });
      boots.add(later);
      return;
    }
    // Unreachable at once (the machine is down from EC2's word on), then its processes go.
    const halted = action === 'StopInstances' ? m.stop() : m.terminate();
    writeClientConfig();
    await halted;
    if (m === latest && m.homeAtTermination) pointLatestHome(m);
  };

  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await proxy?.close();
      await Promise.allSettled([...creating.values(), ...boots]);
      await Promise.all([moto?.stop(), ...[...machines.values()].map((m) => m.destroy())]);
      await rm(dir, { recursive: true, force: true });
      process.off('exit', onExit);
    })());

  try {
    moto = await startMoto({ dir, region, program: motoProgram });
    leftovers.pids.push(moto.pid);
    proxy = await startProxy({
      target: moto.url,
      dir,
      region,
      onPushedKey: ({ instanceId, osUser, key }) => {
        const entry = { key, instanceId, osUser, expiresAt: Date.now() + INSTANCE_CONNECT_TTL_MS };
        pushed.push(entry);
        // Like AWS: any user name is "accepted", but only the instance's real user can log in, on that instance.
        if (osUser === user) machines.get(instanceId)?.addExpiringKey(entry);
      },
      consoleOutput: (id) => {
        const m = machines.get(id);
        if (m && booting.has(m)) return BOOTING_CONSOLE;
        return consoleOutput ?? m?.consoleOverride ?? (m && bootConsole(m.hostKeyFingerprint));
      },
      instanceOf: (uid) => {
        const m = [...machines.values()].find((x) => x.uid === uid && x.state() !== 'terminated');
        return m && { instanceId: m.instanceId, imdsInstanceId: m.imdsOverride ?? imdsEverywhere ?? m.instanceId };
      },
      lifecycle,
      mountVolume: ({ instanceId, volumeId, path, attachedTo }) => {
        const m = machines.get(instanceId);
        return m ? volumes.mount(m, volumeId, path, attachedTo) : Promise.resolve(`no machine ${instanceId}`);
      },
      aws: opts.aws,
      delayMs: linkDelayMs,
    });
  } catch (err) {
    await stop();
    throw err;
  }

  const p = proxy;
  const localHome = join(dir, 'local-home');
  mkdirSync(localHome, { recursive: true });
  const poweroffCommand = join(dir, 'poweroff.sh');
  const mountCommand = join(dir, 'mount.sh');
  try {
    await writeFile(poweroffCommand, poweroffScript(p.endpoint, user), { mode: 0o755 });
    await writeFile(mountCommand, mountScript(p.endpoint), { mode: 0o755 });
  } catch (err) {
    await stop();
    throw err;
  }

  const machine = (id: string): Machine => {
    const m = machines.get(id);
    if (!m) throw new Error(`no instance ${id} was launched in this sandbox`);
    return m;
  };

  return {
    dir,
    endpoint: p.endpoint,
    sshConfig,
    user,
    remoteHome,
    homeSkeleton,
    latestHome,
    region,
    poweroffCommand,
    imdsUrl: p.endpoint,
    volumes,
    machine,
    machines: () => [...machines.values()],
    latestMachine() {
      const last = [...machines.values()].at(-1);
      if (!last) throw new Error('no instance was launched in this sandbox');
      return last;
    },
    setLoginShell(path) {
      loginShell = path;
      for (const m of machines.values()) if (m.state() !== 'terminated') m.writeIdentity(path);
    },
    env(extra = {}) {
      const env: Record<string, string | undefined> = {
        PATH: process.env.PATH,
        HOME: localHome, // the CLI keeps its state under $HOME: one per sandbox
        USER: process.env.USER || 'root',
        LANG: 'C.UTF-8',
        AWS_ENDPOINT_URL: p.endpoint,
        AWS_ACCESS_KEY_ID: SUBJECT_KEY, // the key AWS's behaviours (aws-behaviour.ts) apply to
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_REGION: region,
        AWS_EC2_METADATA_DISABLED: 'true',
        SSH_EC2_SSH_CONFIG: sshConfig,
        AWS_INSTANCE_USER: user,
        SSH_EC2_SSH_CIDR: '127.0.0.1/32',
        // Never ask the internet for our address, even if a test unsets SSH_EC2_SSH_CIDR.
        SSH_EC2_IP_URL: `${p.endpoint}/checkip`,
        NO_COLOR: '1',
        ...extra,
        // Last, so no test can drop them: nothing may power off this machine or ask 169.254.169.254.
        SSH_EC2_POWEROFF_COMMAND: poweroffCommand,
        SSH_EC2_IMDS_URL: p.endpoint,
        // The instances' S3 client (--results) too: the proxy, in front of moto's S3.
        SSH_EC2_RESULTS_ENDPOINT: p.endpoint,
        // And the batch's queues (SQS, both the laptop's and the instances' calls).
        SSH_EC2_QUEUE_ENDPOINT: p.endpoint,
        // Nor mount anything on this machine: a data volume is a directory of the sandbox (volumes.ts).
        SSH_EC2_MOUNT_COMMAND: mountCommand,
      };
      return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
    },
    calls: (action) => p.calls(action),
    clearCalls: () => p.clearCalls(),
    inject: (fault) => p.inject(fault),
    clearFaults: () => p.clearFaults(),
    hold: (action, when) => p.hold(action, when),
    setPublicAddress: (answer) => p.setPublicAddress(answer),
    setSpotPrice: (type, zone, usd) => p.setSpotPrice(type, zone, usd),
    setReachable(value) {
      reachable = value;
      writeClientConfig();
      return Promise.resolve();
    },
    authorizeKey(line) {
      const clean = line.trim();
      if (!clean || /[\r\n]/.test(clean)) throw new Error('authorizeKey wants exactly one public key line');
      staticKeys.push(clean);
      for (const m of machines.values()) m.writeKeys();
    },
    instanceConnectKeys: () => pushed.map((k) => ({ ...k })),
    setConsoleOutput: (text) => {
      consoleOutput = text;
    },
    setImdsInstance: (id) => {
      imdsEverywhere = id;
    },
    setGpuVisible: (visible) => tools.setGpuVisible(visible),
    imdsRequests: () => p.imdsRequests(),
    poweroffs: () => p.poweroffs(),
    aws: p.aws,
    spot: p.spot,
    announceInterruption: (id, action) => p.interruptions.announce(id, action),
    completeInterruption: (id) => p.interruptions.complete(id),
    fleetCapacity: (type, n, market) => p.fleet.fleetCapacity(type, n, market),
    listInstantFleets: (on) => p.fleet.listInstantFleets(on),
    setLinkDelay(ms) {
      linkDelayMs = ms;
      p.setDelay(ms);
      writeClientConfig();
    },
    setBootDelay(ms) {
      bootDelayMs = ms;
    },
    expireInstanceConnectKeys() {
      const past = Date.now() - 1000;
      for (const k of pushed) k.expiresAt = Math.min(k.expiresAt, past);
      for (const m of machines.values()) m.writeKeys();
    },
    stop,
  };
}
