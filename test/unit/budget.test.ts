// --budget (issue #13): the budget as a time limit the agent enforces, and the line of a session
// over it. Pure: the finish's decision is decide-finish.test.ts's rows.
import { describe, expect, it } from 'vitest';
import { BUDGET_GRACE_MS, budgetTimeMs, maxTimeWithBudget, overBudgetLine } from '../../src/session/budget.js';
import { launchLimits, limitTags, resolveLimits } from '../../src/session/limits.js';

const HOUR = 3_600_000;

describe('the budget as a time limit', () => {
  it('price/hour → hours', () => {
    expect(budgetTimeMs(2, 1)).toBe(2 * HOUR);
    expect(budgetTimeMs(0.5, 2)).toBe(HOUR / 4);
  });

  it("the agent's max time: the shorter of --max-time and the budget's, the budget's a grace later than the laptop's", () => {
    expect(maxTimeWithBudget(0, 2, 1)).toBe(2 * HOUR + BUDGET_GRACE_MS);
    expect(maxTimeWithBudget(HOUR, 2, 1)).toBe(HOUR);
    expect(maxTimeWithBudget(10 * HOUR, 2, 1)).toBe(2 * HOUR + BUDGET_GRACE_MS);
    expect(maxTimeWithBudget(HOUR, undefined, 1)).toBe(HOUR);
    expect(maxTimeWithBudget(HOUR, 2, undefined)).toBe(HOUR);
  });

  it('the launch and the connect both arm it, and the tags show it', () => {
    const o = { idleTimeout: undefined, maxTime: undefined, jobGrace: undefined, budget: 1 };
    const now = new Date('2026-01-01T10:00:00Z');
    const l = launchLimits(o, now, 0.5);
    expect(l.maxTimeMs).toBe(2 * HOUR + BUDGET_GRACE_MS);
    expect(l.deadline?.toISOString()).toBe('2026-01-01T12:10:00.000Z');
    expect(limitTags(l)['ssh-ec2:max-time']).toBe('2h10m');
    // An instance found running: counted from its launch time, as --max-time is.
    const found = resolveLimits(o, { tags: {}, launchTime: new Date('2026-01-01T09:00:00Z') }, false, now, 0.5);
    expect(found.deadline?.toISOString()).toBe('2026-01-01T11:10:00.000Z');
    // No budget: as before.
    expect(launchLimits({ ...o, budget: undefined }, now, 0.5).deadline).toBeUndefined();
  });
});

describe('the line of a session over its budget', () => {
  it('said over it only, with the estimate', () => {
    expect(overBudgetLine(1, 0.5, 'g4dn.xlarge', HOUR)).toBeUndefined();
    expect(overBudgetLine(1, 0.5, 'g4dn.xlarge', 3 * HOUR)).toBe(
      'over --budget $1.00: this session cost about $1.50 (3h of g4dn.xlarge at $0.50/hour)',
    );
    expect(overBudgetLine(undefined, 0.5, 'g4dn.xlarge', 3 * HOUR)).toBeUndefined();
    expect(overBudgetLine(1, undefined, 'x1.large', 3 * HOUR)).toBeUndefined();
  });
});
