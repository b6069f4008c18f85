import { execa } from 'execa';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startSandbox } from '/work/wt/interrupt/test/sandbox/index.js';

const sb = await startSandbox();
try {
  const dir = join(sb.dir, 'p');
  mkdirSync(dir);
  const runtime = join(sb.dir, 'run');
  mkdirSync(runtime, { recursive: true, mode: 0o700 });
  const run = async (bin: string) => {
    const t = performance.now();
    const r = await execa(process.execPath, [bin, '--leave', 'true'], { cwd: dir, env: sb.env({ XDG_RUNTIME_DIR: runtime }), extendEnv: false, reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0) throw new Error(String(r.stderr));
    return performance.now() - t;
  };
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const bins = { base: '/tmp/interrupt-base/bin/ssh-ec2.js', new: '/work/wt/interrupt/bin/ssh-ec2.js' };
  await run(bins.base);
  const out: Record<string, number[]> = { base: [], new: [] };
  for (const round of [0, 1]) {
    for (const k of ['base', 'new'] as const) {
      await run(bins[k]); // agent of this version in place
      for (let i = 0; i < 8; i++) out[k].push(await run(bins[k]));
    }
  }
  console.log(JSON.stringify({ base: Math.round(med(out.base)), new: Math.round(med(out.new)), n: out.base.length }));
} finally {
  await sb.stop();
}
