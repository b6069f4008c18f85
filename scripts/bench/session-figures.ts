// Figures of a session: start-up, the cold cycle (API calls too), from sshd up to the command, the
// warm cycle and its memory.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sandbox } from '../../test/sandbox/index.js';
import { fakeAuthorization } from '../../test/sandbox/moto.js';
import { callTable, countCalls, FIGURES, row, type CallTable, type Ctx, type Link, type Row } from './figures.js';
import { bare, cli, repeat } from './runner.js';

export function project(ctx: Ctx, name: string): string {
  const dir = join(ctx.projects, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.py'), 'print("ok")\n');
  return dir;
}

/** (4) `ssh-ec2 --version` against a bare Node, and their peak memory. */
export async function startup(ctx: Ctx, link: Link): Promise<Row[]> {
  const tool = await repeat(ctx.runs + 2, () => cli(ctx.sb, ['--version'], ctx.projects));
  const node = await repeat(ctx.runs + 2, () => bare([process.execPath, '-e', '0'], ctx.projects));
  return [
    row(
      link,
      FIGURES.startup,
      tool.map((r) => r.ms),
      node.map((r) => r.ms),
    ),
  ];
}

/** moto sets a region up on its first call there (~1 s of its CPU): done before, so it is not counted as ours. */
async function wakeRegion(sb: Sandbox, region: string): Promise<void> {
  await fetch(sb.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      authorization: fakeAuthorization('ec2', region),
    },
    body: 'Action=DescribeVpcs&Version=2016-11-15',
  });
}

/** (3) `ssh-ec2 true` from nothing to terminated: in a region it knows, and the very first time in one. */
export async function cold(ctx: Ctx, link: Link, freshRegions: string[]): Promise<{ rows: Row[]; calls: CallTable[] }> {
  const dir = project(ctx, 'cold');
  const known = await repeat(ctx.runs, async () => {
    ctx.sb.clearCalls();
    const r = await cli(ctx.sb, ['true'], dir);
    return { ms: r.ms, calls: countCalls(ctx.sb) };
  });
  const first = await repeat(freshRegions.length, async (i) => {
    const region = freshRegions[i]!;
    await wakeRegion(ctx.sb, region);
    ctx.sb.clearCalls();
    const r = await cli(ctx.sb, ['true'], dir, { AWS_REGION: region });
    return { ms: r.ms, calls: countCalls(ctx.sb) };
  });
  const knownCalls = callTable(
    'security group already there',
    link,
    known.map((r) => r.calls),
  );
  const firstCalls = callTable(
    'the very first time in a region',
    link,
    first.map((r) => r.calls),
  );
  const total = (r: { calls: Record<string, number> }) => Object.values(r.calls).reduce((s, n) => s + n, 0);
  const rows = [
    row(
      link,
      FIGURES.cold,
      known.map((r) => r.ms),
    ),
    row(link, FIGURES.coldCalls, known.map(total)),
    row(
      link,
      FIGURES.first,
      first.map((r) => r.ms),
    ),
    row(link, FIGURES.firstCalls, first.map(total)),
  ];
  return { rows, calls: [knownCalls, firstCalls] };
}

/**
 * (2) From the moment a booting instance's sshd is reachable to the moment the command starts:
 * the command's first act prints the time (same clock, same machine as the sandbox's record).
 */
export async function reaction(ctx: Ctx): Promise<number[]> {
  const dir = project(ctx, 'boot');
  ctx.sb.setBootDelay(ctx.bootDelayMs);
  try {
    return await repeat(ctx.runs, async () => {
      const r = await cli(ctx.sb, ['date +%s%N'], dir);
      const startedMs = Number(/^(\d{19})$/m.exec(r.stdout)?.[1] ?? NaN) / 1e6;
      const reachable = ctx.sb.latestMachine().sshReachableAt ?? NaN;
      return startedMs - reachable;
    });
  } finally {
    ctx.sb.setBootDelay(0);
  }
}

/** (1) and (5): the warm cycle on a running instance, nothing to sync, against ssh + rsync up + rsync down by hand. */
export async function warm(ctx: Ctx, link: Link, reactionMs: number[]): Promise<Row[]> {
  const name = `small-${link.slug}`;
  const dir = project(ctx, name);
  await cli(ctx.sb, ['--leave', 'true'], dir); // launches it
  const address = ctx.sb.latestMachine().addresses[0]!;
  await cli(ctx.sb, ['--leave', 'true'], dir);
  const tool = await repeat(ctx.runs, () => cli(ctx.sb, ['--leave', 'true'], dir));

  const script = async () => {
    const start = performance.now();
    await ctx.byHand.ssh(address, 'true', dir);
    await ctx.byHand.push(address, dir, name);
    await ctx.byHand.pull(address, dir, name);
    return performance.now() - start;
  };
  await script();
  const byHand = await repeat(ctx.runs, script);
  // The floor of the reaction: a fresh ssh connection, from its start to its command's start.
  const fresh = await repeat(ctx.runs, async () => {
    const t0 = Date.now();
    const r = await ctx.byHand.ssh(address, 'date +%s%N', dir);
    return Number(r.stdout.trim()) / 1e6 - t0;
  });
  const node = await repeat(ctx.runs, () => bare([process.execPath, '-e', '0'], dir));
  return [
    row(
      link,
      FIGURES.warm,
      tool.map((r) => r.ms),
      byHand,
    ),
    row(link, FIGURES.reaction, reactionMs, fresh),
    row(
      link,
      FIGURES.memoryWarm,
      tool.map((r) => r.maxRssMB),
      node.map((r) => r.maxRssMB),
    ),
  ];
}
