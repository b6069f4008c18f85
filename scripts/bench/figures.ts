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

export interface Row {
  figure: string;
  link: string;
  unit: Unit;
  tool: Stats;
  /** The bare-hands reference, and what it is. */
  byHand?: Stats;
  byHandWhat?: string;
  target: string;
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

export const row = (
  figure: string,
  link: Link,
  unit: Unit,
  tool: number[],
  target: string,
  byHand?: { what: string; values: number[] },
): Row => ({
  figure,
  link: link.name,
  unit,
  tool: stats(tool),
  ...(byHand && { byHand: stats(byHand.values), byHandWhat: byHand.what }),
  target,
});

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

/** The sandbox's recorded API calls since the last clearCalls, by action. */
export function countCalls(sb: Sandbox): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of sb.calls()) counts[c.action] = (counts[c.action] ?? 0) + 1;
  return counts;
}
