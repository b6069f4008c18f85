// What one link's measurements are made of: each figure as ssh-ec2's runs next to the bare-hands
// runs it is compared with, measured in the same bench run, one after the other.
import type { Sandbox } from '../../test/sandbox/index.js';
import type { ByHand } from './by-hand.js';
import { stats, type Stats, type Unit } from './stats.js';

export interface Link {
  /** As the report names it. */
  name: string;
  /** One-way delay added to every ssh byte and every API request and answer (sandbox linkDelayMs). */
  delayMs: number;
  /** Project dirs are per link: a master connection of ssh-ec2 opened on another link must not carry this one's runs. */
  slug: string;
}

/** One line of the table: what is measured, its unit, the target, and what it is compared with. */
export interface Figure {
  name: string;
  unit: Unit;
  target: string;
  byHand?: string;
}

const RSYNC = 'plain `rsync` with the same excludes, over one open connection';

/** Every figure, in the order of the table (and of BENCHMARKS.md). */
export const FIGURES = {
  warm: {
    name: 'warm cycle: `ssh-ec2 --leave true`, nothing to sync',
    unit: 'ms',
    target: '≤ 0.6×',
    byHand: '`ssh host true` + `rsync` up + `rsync` down, fresh connections',
  },
  reaction: {
    name: 'sshd accepting → command started (booting instance)',
    unit: 'ms',
    target: '≤ 1 s',
    byHand: 'one fresh `ssh host cmd`, from its start',
  },
  cold: { name: 'cold cycle `ssh-ec2 true`, security group there: wall time', unit: 'ms', target: '—' },
  coldCalls: { name: '  API calls (security group there)', unit: 'calls', target: '≤ 8' },
  first: { name: 'cold cycle, the very first time in a region: wall time', unit: 'ms', target: '—' },
  firstCalls: { name: '  API calls (the very first time in a region)', unit: 'calls', target: '≤ 11' },
  startup: { name: 'start-up: `ssh-ec2 --version`', unit: 'ms', target: '≤ 2×', byHand: '`node -e 0`' },
  memoryWarm: { name: 'peak memory (RSS) of a warm run', unit: 'MB', target: '≤ 100 MB', byHand: '`node -e 0`' },
  memorySync: { name: 'peak memory (RSS) during the 500 MB first sync up', unit: 'MB', target: '≤ 150 MB' },
  noChangeUp: { name: '20,000 files: no-change sync up', unit: 'ms', target: '≤ 1.5×', byHand: RSYNC },
  oneFileUp: { name: '20,000 files: one file changed, sync up', unit: 'ms', target: '≤ 1.5×', byHand: RSYNC },
  noChangeBack: { name: '20,000 files: no-change sync back', unit: 'ms', target: '≤ 1.5×', byHand: RSYNC },
  bigCycle: {
    name: '20,000 files: whole warm cycle, nothing changed',
    unit: 'ms',
    target: '≤ 1.5×',
    byHand: 'plain `rsync` push + pull, fresh connections',
  },
} as const satisfies Record<string, Figure>;

export interface Row {
  figure: Figure;
  link: string;
  tool: Stats;
  /** The bare-hands reference (what it is: figure.byHand). */
  byHand?: Stats;
}

/** API calls of one kind of cold run: per action, the median count over its runs. */
export interface CallTable {
  what: string;
  link: string;
  byAction: Record<string, number>;
  total: Stats;
}

export interface Ctx {
  sb: Sandbox;
  byHand: ByHand;
  /** Runs per figure (≥ 5). */
  runs: number;
  /** Where the projects go. */
  projects: string;
  /** How long a booting instance keeps its sshd back, for the reaction figure. */
  bootDelayMs: number;
}

export const row = (link: Link, figure: Figure, tool: number[], byHand?: number[]): Row => ({
  figure,
  link: link.name,
  tool: stats(tool),
  ...(byHand && { byHand: stats(byHand) }),
});

/** Each figure's links next to each other, in FIGURES' order. */
export function ordered(rows: Row[]): Row[] {
  const order: Figure[] = Object.values(FIGURES);
  return [...rows].sort((a, b) => order.indexOf(a.figure) - order.indexOf(b.figure));
}

/** The calls of several runs, per action: the median count (0 for a run that made none). */
export function callTable(what: string, link: Link, runs: Record<string, number>[]): CallTable {
  const actions = [...new Set(runs.flatMap((r) => Object.keys(r)))].sort();
  const byAction = Object.fromEntries(actions.map((a) => [a, stats(runs.map((r) => r[a] ?? 0)).median]));
  return {
    what,
    link: link.name,
    byAction,
    total: stats(runs.map((r) => Object.values(r).reduce((s, n) => s + n, 0))),
  };
}

/**
 * The sandbox's recorded API calls since the last clearCalls, by action; a refused one apart, by
 * its status (most are the AWS-like behaviours: a new instance unknown at first, Instance Connect
 * refusing the first key after a boot), so the table shows which calls the behaviours cost.
 */
export function countCalls(sb: Sandbox): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of sb.calls()) {
    const key = c.status === 200 ? c.action : `${c.action} (refused: ${c.status})`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
