// (6) and (5)'s second half: the 20,000-file, 500 MB project. ssh-ec2's sync phases (as -v reports
// each, in ms: the closing line rounds to 0.1 s) against plain rsync with the same excludes over one open connection,
// and its whole warm cycle against plain rsync push + pull.
import { execa } from 'execa';
import { join } from 'node:path';
import type { ByHand } from './by-hand.js';
import { FIGURES, row, type Ctx, type Link, type Row } from './figures.js';
import { cli, repeat } from './runner.js';
import { changeOneFile } from './tree.js';

/** Its own copy of the tree per link (hard links: no second 500 MB on disk), so each link pushes it whole once. */
export async function linkTree(ctx: Ctx, tree: string, link: Link): Promise<string> {
  const dir = join(ctx.projects, `big-${link.slug}`);
  await execa('cp', ['-al', tree, dir]);
  return dir;
}

/** A phase's time from -v's `phase <name>: <ms> ms` line. */
const phase = (name: string) => (r: { stderr: string }) => {
  const line = r.stderr.split('\n').find((l) => l.startsWith(`ssh-ec2: phase ${name}: `));
  return Number(/: ([\d.]+) ms$/.exec(line ?? '')?.[1] ?? NaN);
};

export async function bigProject(ctx: Ctx, link: Link, dir: string, excludeFrom: string): Promise<Row[]> {
  const name = dir.split('/').at(-1)!;
  const first = await cli(ctx.sb, ['--leave', 'true'], dir);
  const address = ctx.sb.latestMachine().addresses[0]!;
  await cli(ctx.sb, ['--leave', 'true'], dir);
  const warm = await repeat(ctx.runs, () => cli(ctx.sb, ['-v', '--leave', 'true'], dir));
  let change = 0;
  const oneFile = await repeat(ctx.runs, () => {
    changeOneFile(dir, change++);
    return cli(ctx.sb, ['-v', '--leave', 'true'], dir);
  });

  const by = await byHand(ctx.byHand, address, dir, name, excludeFrom, ctx.runs, () => changeOneFile(dir, change++));
  return [
    row(link, FIGURES.memorySync, [first.maxRssMB]),
    row(link, FIGURES.noChangeUp, warm.map(phase('sync up')), by.noChange),
    row(link, FIGURES.oneFileUp, oneFile.map(phase('sync up')), by.oneFile),
    row(link, FIGURES.noChangeBack, warm.map(phase('sync back')), by.pull),
    row(
      link,
      FIGURES.bigCycle,
      warm.map((r) => r.ms),
      by.cycle,
    ),
  ];
}

/** The same by hand, into its own copy there (seeded from ssh-ec2's on the instance itself: no second 500 MB push). */
async function byHand(
  b: ByHand,
  address: string,
  dir: string,
  name: string,
  excludeFrom: string,
  runs: number,
  change: () => void,
) {
  await b.ssh(address, `mkdir -p by-hand && { cp -a ${name} by-hand/${name} 2>/dev/null || true; }`, dir);
  const o = { excludeFrom, master: true };
  await b.openMaster(address);
  try {
    await b.push(address, dir, name, o);
    const noChange = await repeat(runs, async () => (await b.push(address, dir, name, o)).ms);
    const oneFile = await repeat(runs, async () => {
      change();
      return (await b.push(address, dir, name, o)).ms;
    });
    const pull = await repeat(runs, async () => (await b.pull(address, dir, name, o)).ms);
    const cycle = await repeat(runs, async () => {
      const push = await b.push(address, dir, name, { excludeFrom });
      const back = await b.pull(address, dir, name, { excludeFrom });
      return push.ms + back.ms;
    });
    return { noChange, oneFile, pull, cycle };
  } finally {
    await b.closeMaster(address);
  }
}
