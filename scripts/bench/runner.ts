// Runs what is measured: the built CLI (wall time, peak RSS, the phases it reports) and the
// bare-hands commands it is compared with.
import { execa } from 'execa';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Sandbox } from '../../test/sandbox/index.js';

export const REPO = join(import.meta.dirname, '..', '..');
const BIN = join(REPO, 'bin', 'ssh-ec2.js');

export interface CliRun {
  ms: number;
  maxRssMB: number;
  /** The phases of its closing line ("ssh-ec2: done in 1.2s (connect 0.1s · sync up 0.3s · …)"), in ms. */
  phases: Record<string, number>;
  stdout: string;
  stderr: string;
}

/** Peak RSS through GNU time: the largest of the processes it waited for (ssh-ec2's own node, not the sum). */
async function timed(argv: string[], opts: { cwd: string; env: Record<string, string> }) {
  const start = performance.now();
  const r = await execa('/usr/bin/time', ['-f', 'MAXRSS=%M', ...argv], {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 600_000,
  });
  const ms = performance.now() - start;
  const stderr = String(r.stderr);
  const maxRssMB = Number(/MAXRSS=(\d+)/.exec(stderr)?.[1] ?? NaN) / 1024;
  if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} failed (${r.exitCode}):\n${stderr}\n${String(r.stdout)}`);
  return { ms, maxRssMB, stderr, stdout: String(r.stdout) };
}

export async function cli(sb: Sandbox, args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliRun> {
  // Its sockets and keys below the sandbox too, so that its stop() leaves nothing of the bench behind.
  const runtime = join(sb.dir, 'run');
  mkdirSync(runtime, { recursive: true, mode: 0o700 });
  const r = await timed([process.execPath, BIN, ...args], { cwd, env: sb.env({ XDG_RUNTIME_DIR: runtime, ...env }) });
  const phases: Record<string, number> = {};
  const summary = /ssh-ec2: \S.* in [\d.]+m?s \((.*)\)/.exec(r.stderr)?.[1] ?? '';
  for (const part of summary.split(' · ')) {
    const m = /^(.+) ([\d.]+)(m?s)$/.exec(part);
    if (m) phases[m[1]!] = Number(m[2]) * (m[3] === 's' ? 1000 : 1);
  }
  return { ms: r.ms, maxRssMB: r.maxRssMB, phases, stdout: r.stdout, stderr: r.stderr };
}

/** A program by hand (ssh, rsync, node -e 0): its wall time and peak RSS. */
export async function bare(
  argv: string[],
  cwd: string,
  home = cwd,
): Promise<{ ms: number; maxRssMB: number; stdout: string }> {
  return timed(argv, { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8' } });
}

/** `n` runs of fn, one after the other (never in parallel: they would measure each other). */
export async function repeat<T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}
