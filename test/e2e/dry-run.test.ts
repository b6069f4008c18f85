/**
 * Issue #12, `--dry-run`: the plan a run would follow — image, type, security group, the ssh and
 * rsync lines, what goes up and what is held back — printed on stdout, with zero mutating API calls
 * (the proxy's recording holds only reads) and nothing written to ssh-ec2's local state or cache.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileCacheDir } from '../../src/compile-cache.js';
import type { Sandbox } from '../sandbox/index.js';
import { cli, instances, instanceState, makeProject, reportedInstance, useSandbox } from './helpers.js';

const sb = useSandbox();

/** The only actions a dry run may call: who am I, and Describe* reads. */
const READS = new Set([
  'GetCallerIdentity',
  'DescribeInstances',
  'DescribeImages',
  'DescribeInstanceTypes',
  // The instance-type checks (issue #13): where each type is offered, the spot price.
  'DescribeInstanceTypeOfferings',
  'DescribeSpotPriceHistory',
  'DescribeVpcs',
  'DescribeSubnets',
  'DescribeSecurityGroups',
  'DescribeAvailabilityZones',
]);

/**
 * Every file under the sandbox's local HOME (ssh-ec2's state and cache), with its size and time —
 * but Node's compile cache of ssh-ec2's own code (compile-cache.ts: Node 22+), which every ssh-ec2
 * command writes, `--version` as well: a copy of the program, not anything a run learnt.
 */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const codeCache = compileCacheDir(sb.env());
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (p === codeCache) continue;
      // Its parents (made for it) are walked, not listed: a file of ours in them still shows.
      if (codeCache.startsWith(`${p}/`)) {
        walk(p);
        continue;
      }
      const st = statSync(p, { throwIfNoEntry: false });
      out.push(`${p} ${st?.size} ${st?.mtimeMs}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

const localHome = (s: Sandbox) => join(s.dir, 'local-home');

async function dryRun(dir: string, args: string[] = []) {
  const before = snapshot(localHome(sb));
  const project = snapshot(dir);
  sb.clearCalls();
  const r = await cli(sb, ['--dry-run', ...args], { cwd: dir });
  expect(r.exitCode, r.stderr).toBe(0);
  const calls = sb.calls();
  expect(calls.length).toBeGreaterThan(0);
  expect(calls.map((c) => c.action).filter((a) => !READS.has(a))).toEqual([]);
  expect(snapshot(localHome(sb))).toEqual(before);
  expect(snapshot(dir)).toEqual(project);
  return r;
}

describe('--dry-run', () => {
  it('with no instance: the launch it would make, the lines it would run, only reads', async () => {
    const dir = makeProject(sb, 'dry-fresh', {
      'main.py': 'print(1)\n',
      '.rsyncignore': 'data/\n*.log\n!keep.log\n',
      'data/big.bin': 'x'.repeat(5000),
      'run.log': 'log\n',
      'keep.log': 'kept\n',
      '.env': 'TOKEN=secret\n',
    });
    const r = await dryRun(dir, ['python', 'main.py']);
    const out = r.stdout;
    expect(out).toMatch(/would launch one/);
    expect(out).toMatch(/^ {2}image +.+\(ami-[0-9a-f]+\)/m);
    expect(out).toMatch(/^ {2}type +g4dn\.xlarge \(x86_64\)$/m);
    // The launch's own price line (issue #13), word for word.
    expect(out).toMatch(
      /^ {2}says +launching g4dn\.xlarge \(on-demand\) from .* in eu-central-1\w: \$[\d.]+\/h on demand \((AWS list of \d{4}-\d\d-\d\d|list prices entered by hand, \d{4}-\d\d)\)$/m,
    );
    expect(out).toMatch(/^ {2}group +would create ssh-ec2 \(tcp\/22\) allowing 127\.0\.0\.1\/32/m);
    expect(out).toMatch(/^ {2}tries +g4dn\.xlarge in \S+ \(subnet-/m);
    expect(out).toMatch(/^rsync up +\S*rsync .*--exclude-from=<exclude-file> .* \S+@<address>:\.\/$/m);
    expect(out).toMatch(/^runs +python main\.py in ~\/dry-fresh, without a terminal$/m);
    expect(out).toMatch(/^command +ssh .* -- <address> 'export SSH_EC2_SESSION=<session-id>; /m);
    expect(out).toMatch(/^at the end +terminate it \(the default\) once the results are back/m);
    // Nothing was made: no instance, no security group.
    expect(await instances(sb)).toEqual([]);
    expect(sb.calls('RunInstances')).toEqual([]);
  });

  it('holds back what .rsyncignore ignores and what looks like a secret, and counts the rest', async () => {
    const dir = makeProject(sb, 'dry-fresh');
    const out = (await dryRun(dir)).stdout;
    // main.py, .rsyncignore and keep.log (re-included by !keep.log) go up.
    expect(out).toMatch(/^sync up +3 file\(s\), \d+ B: everything not held back/m);
    const held = /^held back +by \.rsyncignore: (.*)$/m.exec(out)?.[1] ?? '';
    expect(held).toMatch(/^2 path\(s\): /);
    expect(held).toContain('data/');
    expect(held).toContain('run.log');
    expect(held).not.toContain('keep.log');
    expect(out).toMatch(/^secrets +held back 1 file\(s\) that may hold secrets, not sent: \.env /m);
  });

  it("with this directory's stopped instance: would start it, still only reads", async () => {
    const dir = makeProject(sb, 'dry-stopped', { 'a.txt': 'a\n' });
    const first = await cli(sb, ['--stop', 'true'], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const id = reportedInstance(first.stderr);
    expect(await instanceState(sb, id)).toBe('stopped');
    const out = (await dryRun(dir, ['make'])).stdout;
    expect(out).toContain(`would start ${id} (`);
    expect(out).toMatch(/stopped\), this directory's/);
    expect(out).not.toMatch(/would launch/);
    expect(out).toMatch(/^sync up +at most 1 file\(s\)/m);
    expect(await instanceState(sb, id)).toBe('stopped');
    // A job: started detached, left running with it.
    const detached = (await dryRun(dir, ['--detach', '--stop', 'make'])).stdout;
    expect(detached).toMatch(/^at the end +leave it running with the job; .* then: stop \(as --stop asks\)/m);
    expect(detached).toMatch(/^command +ssh .*job\.sh start /m);
    expect(await instanceState(sb, id)).toBe('stopped');
  });

  it('says which values the launch cache gave (a launch here filled it), and does not ask EC2 for them', async () => {
    const out = (await dryRun(makeProject(sb, 'dry-cached'))).stdout;
    expect(out).toMatch(/^\(from the cache, not asked of EC2: .*the default network.*; --no-cache asks\)$/m);
    expect(sb.calls('DescribeSubnets')).toEqual([]);
    expect(out).toMatch(/^ {2}group +sg-\w+ \(ssh-ec2's, lets 127\.0\.0\.1\/32 in, from the cache\)/m);
  });
});
