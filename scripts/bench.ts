/**
 * `npm run bench`: ssh-ec2 side by side with doing the same by hand, against the local sandbox,
 * on loopback and over a link with 50 ms round-trip time; writes BENCHMARKS.md. It asserts nothing
 * (machines are shared and noisy): tests check behaviour, this measures. The figures are those of
 * issue #11; scripts/bench/ holds how each is taken.
 */
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrerequisites, startSandbox } from '../test/sandbox/index.js';
import { ByHand } from './bench/by-hand.js';
import { ordered, type CallTable, type Ctx, type Link, type Row } from './bench/figures.js';
import { machine, report } from './bench/report.js';
import { cli, REPO } from './bench/runner.js';
import { cold, project, reaction, startup, warm } from './bench/session-figures.js';
import { bigProject, linkTree } from './bench/sync-figures.js';
import { writeTree } from './bench/tree.js';

/** Runs per figure: 5 (BENCH_RUNS: more; fewer only to try the bench itself out). */
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
const LINK_DELAY_MS = 25;
const BOOT_DELAY_MS = 3000;
const LINKS: Link[] = [
  { name: 'loopback', delayMs: 0, slug: 'loopback' },
  { name: `${2 * LINK_DELAY_MS} ms RTT`, delayMs: LINK_DELAY_MS, slug: 'delayed' },
];
/** Regions nothing was done in yet: one per cold run "the very first time in a region". */
const FRESH_REGIONS = [
  ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'ca-central-1'],
  ['eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-north-1', 'ap-southeast-1'],
];

const log = (m: string) => console.error(`bench: ${m}`);

async function main(): Promise<void> {
  const started = performance.now();
  const commit = (await execa('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, reject: false })).stdout || '?';
  const where = machine(commit);
  await ensurePrerequisites();
  const sb = await startSandbox();
  const rows: Row[] = [];
  const calls: CallTable[] = [];
  try {
    sb.aws.setLateConsole(false); // a quick boot: the fingerprints are there when sshd answers
    const ctx: Ctx = {
      sb,
      byHand: await ByHand.create(sb),
      runs: RUNS,
      projects: join(sb.dir, 'projects'),
      bootDelayMs: BOOT_DELAY_MS,
    };
    log('writing the 20,000-file project');
    const tree = join(sb.dir, 'tree', 'big');
    const excludes = writeTree(tree);
    log('a first cold run: the security group is created');
    await cli(sb, ['true'], project(ctx, 'cold'));

    for (const [i, link] of LINKS.entries()) {
      sb.setLinkDelay(link.delayMs);
      log(`${link.name}: start-up`);
      rows.push(...(await startup(ctx, link)));
      log(`${link.name}: cold cycles`);
      const c = await cold(ctx, link, FRESH_REGIONS[i]!.slice(0, RUNS));
      rows.push(...c.rows);
      calls.push(...c.calls);
      log(`${link.name}: sshd up → command`);
      const reacted = await reaction(ctx);
      log(`${link.name}: warm cycle`);
      rows.push(...(await warm(ctx, link, reacted)));
      log(`${link.name}: the 20,000-file project`);
      rows.push(...(await bigProject(ctx, link, await linkTree(ctx, tree, link), excludes)));
    }
  } finally {
    await sb.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const text = report(
    where,
    { runs: RUNS, linkDelayMs: LINK_DELAY_MS, bootDelayMs: BOOT_DELAY_MS, seconds },
    ordered(rows),
    calls,
  );
  writeFileSync(join(REPO, 'BENCHMARKS.md'), text);
  console.log(text);
}

await main();
