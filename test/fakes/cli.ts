/**
 * The CLI's real entry, main() in src/cli.ts, run in this process against the in-memory cloud
 * (cloud.ts), for unit tests of the finish and the verbs: a machine of its own in a temp dir (home,
 * state and runtime directories), its stdout and stderr captured. `ssh` and `ssh-keygen` on PATH
 * are stand-ins that write down being started and fail: a unit test reaches no instance, and
 * shows it (`sshStarts()` stays empty). No network, no moto, no root.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { main } from '../../src/cli.js';
import { makePlan, type Plan } from '../../src/session/plan.js';
import { resolveOptions } from '../../src/options.js';
import type { FakeCloud } from './cloud.js';
import type { BatchCloud } from '../../src/cloud/batch-port.js';
import { FakeBatchCloud } from './batch-cloud.js';

export interface Machine {
  /** A project directory on this machine (exists). */
  project: string;
  /** What ssh-ec2 is given as its environment. */
  env: Record<string, string>;
  /** ssh-ec2's state directory (known_hosts, journals, locks). */
  state: string;
  /** The command lines the stand-in ssh and ssh-keygen were started with. */
  sshStarts(): string[];
  /** This machine's host key pin for an instance: as a session here leaves it once it checked the key. */
  pin(instanceId: string): void;
  /** The plan (name, tags) of `dir` (default: the project) as ssh-ec2 here makes it. */
  plan(dir?: string): Plan;
  cleanup(): void;
}

export const LOCAL_USER = 'al';

/**
 * The local rsync's probe (rsync-capabilities.ts) runs once per state directory: its cache is
 * shared by this process's machines, so each test does not probe again (a second or so each).
 */
let rsyncCache: string | undefined;
function sharedRsyncCache(): string {
  if (!rsyncCache) {
    const dir = mkdtempSync(join(tmpdir(), 'ssh-ec2-unit-rsync-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    rsyncCache = dir;
  }
  return rsyncCache;
}

export function machine(): Machine {
  const root = mkdtempSync(join(tmpdir(), 'ssh-ec2-unit-'));
  const project = join(root, 'project');
  const bin = join(root, 'bin');
  const state = join(root, 'state');
  const runtime = join(root, 'run');
  for (const d of [project, bin, runtime, state]) mkdirSync(d, { mode: 0o700 });
  symlinkSync(sharedRsyncCache(), join(state, 'rsync'));
  const starts = join(root, 'ssh-starts');
  for (const name of ['ssh', 'ssh-keygen']) {
    writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> '${starts}'\nexit 255\n`);
    chmodSync(join(bin, name), 0o755);
  }
  // Programs are looked for on this process's PATH (exec.ts); the stand-ins first.
  const path = process.env.PATH;
  process.env.PATH = `${bin}${delimiter}${path ?? ''}`;
  const env = {
    HOME: root,
    USER: LOCAL_USER,
    SSH_EC2_STATE_DIR: state,
    XDG_RUNTIME_DIR: runtime,
    PATH: process.env.PATH,
    NO_COLOR: '1',
  };
  return {
    project,
    env,
    state,
    sshStarts: () => {
      try {
        return readFileSync(starts, 'utf8').trim().split('\n');
      } catch {
        return [];
      }
    },
    pin: (id) => {
      mkdirSync(join(state, 'known_hosts'), { recursive: true });
      writeFileSync(join(state, 'known_hosts', id), `${id} ssh-ed25519 AAAA\n`);
    },
    plan: (dir = project) =>
      makePlan(resolveOptions({ flags: {}, env: {}, dotenv: {}, command: [] }), {
        cwd: dir,
        localUser: LOCAL_USER,
        localHost: hostname(),
      }),
    cleanup: () => {
      process.env.PATH = path;
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  status: number;
  stdout: string;
  /** ssh-ec2's own output, a line each (multi-line messages split). */
  lines: string[];
  /** The regions the cloud was loaded for. */
  regions: (string | undefined)[];
  /** The regions the batch port was loaded for. */
  batchRegions: (string | undefined)[];
}

/** `ssh-ec2 ...argv` in the machine's project directory (or `cwd`), against `cloud`. */
export async function cli(
  m: Machine,
  cloud: FakeCloud,
  argv: readonly string[],
  io: {
    cwd?: string;
    stdinIsTTY?: boolean;
    env?: Record<string, string>;
    clouds?: Record<string, FakeCloud>;
    /** The batch port (ssh-ec2 batch …). */
    batchCloud?: BatchCloud;
    /** Another region's batch port, where a test made one. */
    batchClouds?: Record<string, BatchCloud>;
  } = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const regions: (string | undefined)[] = [];
  const batchRegions: (string | undefined)[] = [];
  const status = await main(argv, {
    env: { ...m.env, ...io.env },
    cwd: io.cwd ?? m.project,
    stdinIsTTY: io.stdinIsTTY ?? false,
    stdoutIsTTY: false,
    stdout: { write: (s: string) => ((stdout += s), true) } as never,
    stderr: { write: (s: string) => ((stderr += s), true) } as never,
    loadCloud: async (region) => {
      regions.push(region);
      // Another region's cloud, where a test made one (ls --all-regions).
      return (region !== undefined && io.clouds?.[region]) || cloud;
    },
    // None given: an empty one on the region's cloud (ls --all-regions and down --orphans list queues).
    loadBatchCloud: async (region) => {
      batchRegions.push(region);
      return (
        (region !== undefined && io.batchClouds?.[region]) ||
        io.batchCloud ||
        new FakeBatchCloud((region !== undefined && io.clouds?.[region]) || cloud)
      );
    },
  });
  return { status, stdout, lines: stderr.split('\n').filter((l) => l !== ''), regions, batchRegions };
}
