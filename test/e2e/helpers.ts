/**
 * Helpers for end-to-end tests: the built CLI run as a user would, against the sandbox
 * (moto behind our recording proxy as EC2, each instance a local machine of its own: see test/sandbox/machine.ts).
 */
import {
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type Instance,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { execa, type Options as ExecaOptions } from 'execa';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { startSandbox, type Sandbox } from '../sandbox/index.js';
import { resolvePaths } from '../../src/state/paths.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(REPO, 'bin', 'ssh-ec2.js');
/** The Node under test runs the CLI too (CI runs the suite on more than one), not whichever `node` PATH finds. */
export const NODE = process.execPath;

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function cli(
  sb: Sandbox,
  args: string[],
  opts: { cwd: string; env?: Record<string, string | undefined>; input?: string; timeoutMs?: number } & Pick<
    ExecaOptions,
    'stdin'
  >,
): Promise<CliResult> {
  const r = await execa(NODE, [BIN, ...args], {
    cwd: opts.cwd,
    env: sb.env(opts.env),
    extendEnv: false,
    input: opts.input,
    stdin: opts.input === undefined ? (opts.stdin ?? 'ignore') : undefined,
    reject: false,
    timeout: opts.timeoutMs ?? 90_000,
    encoding: 'utf8',
    stripFinalNewline: false,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/**
 * A held call's arrival (`sb.hold`), or the run's end before it: then the test fails at once with
 * what the CLI said, instead of waiting for the test's timeout with nothing to read.
 */
export async function arrivedBefore(held: { arrived: Promise<void> }, run: Promise<CliResult>, what: string) {
  const ended = run.then((r) => {
    throw new Error(`the run ended (exit ${r.exitCode}) before ${what}:\n${r.stderr}`);
  });
  ended.catch(() => undefined); // once the call has arrived, the run's end is the test's to await
  await Promise.race([held.arrived, ended]);
}

/** The CLI left running in the background (a batch followed live), its output interleaved in `all`, until the test ends or signals it. */
export function cliInBackground(sb: Sandbox, args: string[], opts: { cwd: string; timeoutMs: number }) {
  return execa(NODE, [BIN, ...args], {
    cwd: opts.cwd,
    env: sb.env(),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    encoding: 'utf8',
    all: true,
    timeout: opts.timeoutMs,
  });
}

/**
 * The CLI on a real terminal: script(1) gives it one (its stdin is what the test writes to the
 * child's stdin; killing the child closes the terminal, as closing a window does).
 */
export function cliInTerminal(sb: Sandbox, args: string[], opts: { cwd: string }) {
  const command = `exec ${[NODE, BIN, ...args].map(shq).join(' ')}`;
  return execa('script', ['-q', '-c', command, '/dev/null'], {
    cwd: opts.cwd,
    env: sb.env(),
    extendEnv: false,
    reject: false,
    stdin: 'pipe',
    encoding: 'utf8',
  });
}

/** A shell line running the built CLI on a terminal (TERM=xterm) with the sandbox's environment alone; args: shell words. */
export function cliLine(sb: Sandbox, args: string): string {
  const env = Object.entries(sb.env()).map(([k, v]) => shq(`${k}=${v}`));
  return `env -i TERM=xterm ${env.join(' ')} ${shq(NODE)} ${shq(BIN)} ${args}`;
}

/** Single-quotes a word for sh. */
export function shq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** A project directory with the given files (relative path → content). */
export function makeProject(sb: Sandbox, name: string, files: Record<string, string> = {}): string {
  const dir = join(sb.dir, 'projects', name);
  mkdirSync(dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** The tests' own view of EC2: its own access key, so credentials the CLI's expire (sb.aws.expireCredentials) are not its. */
export function ec2Client(sb: Sandbox): EC2Client {
  return new EC2Client({
    region: sb.region,
    endpoint: sb.endpoint,
    credentials: { accessKeyId: 'observer', secretAccessKey: 'testing' },
  });
}

/** Every instance the cloud knows, read from the API. */
export async function instances(sb: Sandbox): Promise<Instance[]> {
  const r = await ec2Client(sb).send(new DescribeInstancesCommand({}));
  return (r.Reservations ?? []).flatMap((res) => res.Instances ?? []);
}

/** The default subnets of the sandbox region, by zone: what ssh-ec2 tries, in this order. */
export async function defaultSubnets(sb: Sandbox): Promise<{ zone: string; id: string }[]> {
  const ec2 = ec2Client(sb);
  const vpc = (await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] })))
    .Vpcs![0]!.VpcId!;
  const found = await ec2.send(
    new DescribeSubnetsCommand({
      Filters: [
        { Name: 'vpc-id', Values: [vpc] },
        { Name: 'default-for-az', Values: ['true'] },
      ],
    }),
  );
  return (found.Subnets ?? [])
    .map((s) => ({ zone: s.AvailabilityZone!, id: s.SubnetId! }))
    .sort((a, b) => a.zone.localeCompare(b.zone));
}

/** ssh-ec2's security groups (named ssh-ec2, one per VPC), read from the API. */
export async function sshSecurityGroups(sb: Sandbox): Promise<SecurityGroup[]> {
  return (
    (
      await ec2Client(sb).send(
        new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['ssh-ec2'] }] }),
      )
    ).SecurityGroups ?? []
  );
}

/** Where the CLI under test keeps its state (under the sandbox's local HOME). */
export function localState(sb: Sandbox, ...parts: string[]): string {
  return join(sb.dir, 'local-home', '.local', 'state', 'ssh-ec2', ...parts);
}

/**
 * Empties the launch cache of the CLI under test (under the sandbox's local HOME): its next launch
 * asks EC2 for everything, as the first one in the region does.
 */
export function forgetLaunchCache(sb: Sandbox): void {
  rmSync(join(sb.dir, 'local-home', '.cache', 'ssh-ec2'), { recursive: true, force: true });
}

export async function instanceState(sb: Sandbox, id: string): Promise<string | undefined> {
  return (await instances(sb)).find((i) => i.InstanceId === id)?.State?.Name;
}

/** The instance id the CLI reported (launched, using or starting). */
export function reportedInstance(stderr: string): string {
  const m = /\b(i-[0-9a-f]{8,})/.exec(stderr);
  if (!m) throw new Error(`no instance id in:\n${stderr}`);
  return m[1]!;
}

/**
 * Where a project's files are, on this machine, on the instance launched last (or on the one
 * named): for reading and writing them from the test. Once the instance is terminated: what its
 * disk held then.
 */
export function remotePath(sb: Sandbox, remoteDir: string, instanceId?: string): string {
  if (instanceId === undefined) return join(sb.latestHome, remoteDir);
  const m = sb.machine(instanceId);
  return join(m.homeAtTermination ?? m.home, remoteDir);
}

/** The path of a project's directory as the instance itself shows it (what `pwd` prints there). */
export function pathOnInstance(sb: Sandbox, remoteDir: string): string {
  return join(sb.remoteHome, remoteDir);
}

/** RunInstances calls that launched something (a refused call launches nothing). */
export function launches(sb: Sandbox) {
  return sb.calls('RunInstances').filter((c) => c.status === 200);
}

/**
 * One sandbox for the calling test file: started before its tests, stopped after. What it returns
 * stands for that sandbox from the start (each use reaches the sandbox started then), so a file
 * writes `const sb = useSandbox();` once and uses `sb` in its hooks and tests; a use before the
 * sandbox has started throws.
 */
export function useSandbox(opts?: Parameters<typeof startSandbox>[0]): Sandbox {
  let sb: Sandbox | undefined;
  beforeAll(async () => {
    sb = await startSandbox(opts);
  });
  afterAll(async () => {
    await sb?.stop();
  });
  const started = (): Sandbox => {
    if (!sb) throw new Error('sandbox not started');
    return sb;
  };
  return new Proxy({} as Sandbox, {
    get: (_, key) => Reflect.get(started(), key),
    set: (_, key, value) => Reflect.set(started(), key, value),
    has: (_, key) => Reflect.has(started(), key),
  });
}

/** A PATH of one directory holding everything this machine's PATH holds but `missing`. */
export function pathWithout(sb: Sandbox, missing: string): string {
  const shim = join(sb.dir, `path-without-${missing}`);
  if (existsSync(shim)) return shim;
  mkdirSync(shim);
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names)
      if (name !== missing && !existsSync(join(shim, name))) symlinkSync(join(dir, name), join(shim, name));
  }
  return shim;
}

/**
 * A link in the project to data outside it is read on the instance but never written through
 * when results come home, and links made there to outside the project never come home.
 */
export async function linksStayHome(sb: Sandbox, name: string, env?: Record<string, string>): Promise<void> {
  const outside = join(sb.dir, `${name}-outside-data`);
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'data.csv'), '1,2\n');
  const dir = makeProject(sb, name);
  symlinkSync(outside, join(dir, 'data'));
  const r = await cli(
    sb,
    [
      'cat data/data.csv; echo x > data/written.txt; ln -s /etc/passwd leak; ln -s ../.. up; ln -s model.txt inside; echo m > model.txt',
    ],
    { cwd: dir, env },
  );
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stdout).toBe('1,2\n');
  expect(existsSync(join(outside, 'written.txt'))).toBe(false);
  expect(existsSync(join(dir, 'leak'))).toBe(false);
  expect(existsSync(join(dir, 'up'))).toBe(false);
  expect(readFileSync(join(dir, 'inside'), 'utf8')).toBe('m\n');
}

/** A job's command waits so (`${WAIT_FOR_GO}; …`) until the test lets it go on with `letJobGo`. */
export const WAIT_FOR_GO = 'while [ ! -f go ]; do sleep 0.1; done; rm -f go';
export const letJobGo = (sb: Sandbox, name: string) => writeFileSync(join(remotePath(sb, name), 'go'), '');

/** Waits until `probe` holds (looked at every 100 ms), failing after `timeoutMs` with `what`. */
export async function until(probe: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A real terminal: a detached tmux server on `sock` whose one pane (150×40, in `dir`) runs `sh -c line`. */
export async function tmuxPane(sock: string, dir: string, line: string): Promise<void> {
  await execa('tmux', ['-S', sock, 'new-session', '-d', '-x', '150', '-y', '40', '-c', dir, `sh -c ${shq(line)}`]);
}

/** What that pane shows, with its last 200 lines of history. */
export async function tmuxScreen(sock: string): Promise<string> {
  const r = await execa('tmux', ['-S', sock, 'capture-pane', '-p', '-S', '-200'], { reject: false });
  return String(r.stdout);
}

/** The socket of the CLI's ssh master for an instance (its own paths, from the sandbox's environment). */
export const controlPath = (sb: Sandbox, id: string) => resolvePaths(sb.env()).controlPath(id);

/** Ends the CLI's ssh master for an instance, if one is open: the next run asks AWS (no warm start). */
export async function closeMaster(sb: Sandbox, id: string): Promise<void> {
  await execa('ssh', ['-o', `ControlPath=${controlPath(sb, id)}`, '-O', 'exit', 'x'], { reject: false });
}
