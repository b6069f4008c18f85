/**
 * `npm run bench`: speed and memory figures of the built CLI against the local sandbox. It prints
 * figures; it asserts nothing (machines are shared and noisy). Loopback makes network latency
 * ~0, so these measure our own overhead: what a real cloud adds is EC2 boot time and RTTs.
 */
import { execa } from 'execa';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrerequisites, startSandbox, type Sandbox } from '../test/sandbox/index.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'ssh-ec2.js');

interface Run {
  ms: number;
  maxRssKiB: number;
  phases: Record<string, number>;
  exitCode: number;
}

async function timed(sb: Sandbox | undefined, args: string[], cwd: string): Promise<Run> {
  const start = performance.now();
  const r = await execa('/usr/bin/time', ['-f', 'MAXRSS=%M', 'node', BIN, ...args], {
    cwd,
    env: sb ? sb.env() : { PATH: process.env.PATH ?? '' },
    extendEnv: false,
    reject: false,
  });
  const ms = performance.now() - start;
  const stderr = String(r.stderr);
  const phases: Record<string, number> = {};
  const summary = /ssh-ec2: \S.* in [\d.]+s \((.*)\)/.exec(stderr)?.[1] ?? '';
  for (const part of summary.split(' · ')) {
    const m = /^(.+) ([\d.]+)s$/.exec(part);
    if (m) phases[m[1]!] = Number(m[2]) * 1000;
  }
  if (r.exitCode !== 0) console.error(stderr);
  return { ms, maxRssKiB: Number(/MAXRSS=(\d+)/.exec(stderr)?.[1] ?? 0), phases, exitCode: r.exitCode ?? -1 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ms: number) => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`);

function bigTree(root: string): void {
  // 40k files: 20k kept in src/, 10k in node_modules/ and 10k in data/, both ignored.
  const write = (dir: string, dirs: number, files: number) => {
    for (let d = 0; d < dirs; d++) {
      const p = join(root, dir, `d${d}`);
      mkdirSync(p, { recursive: true });
      for (let f = 0; f < files; f++) writeFileSync(join(p, `f${f}.txt`), `${dir} ${d} ${f}\n`);
    }
  };
  write('src', 200, 100);
  write('node_modules', 100, 100);
  write('data', 100, 100);
  writeFileSync(join(root, '.rsyncignore'), 'node_modules/\ndata/\n');
}

async function main(): Promise<void> {
  await ensurePrerequisites();
  const rows: [string, string][] = [];
  const startup = [];
  for (let i = 0; i < 7; i++) startup.push(await timed(undefined, ['--version'], process.cwd()));
  rows.push([
    '--version (start-up, median of 7)',
    `${fmt(median(startup.map((r) => r.ms)))}, ${(median(startup.map((r) => r.maxRssKiB)) / 1024).toFixed(0)} MiB peak RSS`,
  ]);

  const sb = await startSandbox();
  try {
    const small = join(sb.dir, 'projects', 'bench-small');
    mkdirSync(small, { recursive: true });
    writeFileSync(join(small, 'train.py'), 'print("ok")\n');
    const cold = [];
    for (let i = 0; i < 3; i++) cold.push(await timed(sb, ['true'], small));
    rows.push(['new instance → command done → terminated (median of 3)', fmt(median(cold.map((r) => r.ms)))]);
    for (const phase of Object.keys(cold[0]!.phases))
      rows.push([`  phase: ${phase}`, fmt(median(cold.map((r) => r.phases[phase] ?? 0)))]);

    await timed(sb, ['--leave', 'true'], small);
    const warm = [];
    for (let i = 0; i < 5; i++) warm.push(await timed(sb, ['--leave', 'true'], small));
    rows.push(['command on a running instance (median of 5)', fmt(median(warm.map((r) => r.ms)))]);
    rows.push(['  peak RSS of ssh-ec2 during it', `${(median(warm.map((r) => r.maxRssKiB)) / 1024).toFixed(0)} MiB`]);
    const detached = [];
    for (let i = 0; i < 3; i++) {
      detached.push(await timed(sb, ['--detach', 'sleep 0.2'], small));
      await new Promise((r) => setTimeout(r, 500));
      await timed(sb, ['--attach', '--leave'], small);
    }
    rows.push([
      '--detach on a running instance, until it returns (median of 3)',
      fmt(median(detached.map((r) => r.ms))),
    ]);
    await timed(sb, ['true'], small);

    const big = join(sb.dir, 'projects', 'bench-big');
    bigTree(big);
    const first = await timed(sb, ['--leave', 'true'], big);
    rows.push(['40k-file tree (20k kept): first sync up', fmt(first.phases['sync up'] ?? NaN)]);
    const again = [];
    for (let i = 0; i < 3; i++) again.push(await timed(sb, ['--leave', 'true'], big));
    rows.push(['  no-change sync up (median of 3)', fmt(median(again.map((r) => r.phases['sync up'] ?? NaN)))]);
    rows.push(['  no-change sync back (median of 3)', fmt(median(again.map((r) => r.phases['sync back'] ?? NaN)))]);
    rows.push(['  peak RSS of ssh-ec2', `${(Math.max(...again.map((r) => r.maxRssKiB)) / 1024).toFixed(0)} MiB`]);
    await timed(sb, ['true'], big);
  } finally {
    await sb.stop();
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log('\nssh-ec2 benchmark (local sandbox: loopback sshd, moto EC2)');
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}

await main();
