/**
 * --budget USD (issue #13): where the clock runs. During a session the laptop's: at the finish, a
 * session whose estimated cost (the hourly price × this run's time, as session-cost.ts counts it)
 * is over the budget is told so in one line, and an instance it would have left running is stopped
 * once the results are back (decide-finish.ts: `overBudget`). When the laptop is gone (a detached
 * job, a closed lid) the instance's: the budget becomes a time limit the agent enforces
 * (price/hour → hours, the agent's max-time: limits.ts), BUDGET_GRACE_MS later than the laptop's,
 * so that a laptop still there brings the results home before the agent powers off. Pure.
 */
import { formatDuration } from './limits.js';
import { money } from './type-check-words.js';

/** How long after the budget is spent the agent stops the instance whatever runs, when the laptop did not. */
export const BUDGET_GRACE_MS = 10 * 60_000;

/** The time `budget` USD buys at `hourly` USD/hour. */
export function budgetTimeMs(budget: number, hourly: number): number {
  return Math.floor((budget / hourly) * 3_600_000);
}

/**
 * The agent's time limit under a budget, with its grace, counted from the session's start (limits.ts).
 * No price, no budget time (the launch refuses a type whose price is unknown under --budget).
 */
export function budgetTimeWithGrace(budget: number | undefined, hourly: number | undefined): number | undefined {
  if (budget === undefined || hourly === undefined || hourly <= 0) return undefined;
  return budgetTimeMs(budget, hourly) + BUDGET_GRACE_MS;
}

/** A max time (0: none) with a budget's time (none: no budget): the shorter of the two. */
export function maxTimeWithBudget(maxTimeMs: number, budgetMs: number | undefined): number {
  if (budgetMs === undefined) return maxTimeMs;
  return maxTimeMs > 0 ? Math.min(maxTimeMs, budgetMs) : budgetMs;
}

/** The one line of a session over its budget, or undefined (no budget, no price, within it). */
export function overBudgetLine(
  budget: number | undefined,
  hourly: number | undefined,
  type: string,
  ms: number,
): string | undefined {
  if (budget === undefined || hourly === undefined) return undefined;
  const cost = (hourly * ms) / 3_600_000;
  if (cost <= budget) return undefined;
  return `over --budget $${money(budget)}: this session cost about $${money(cost)} (${formatDuration(Math.max(1000, ms))} of ${type} at $${money(hourly)}/hour)`;
}
