// --budget (issue #13): the budget as a time limit the agent enforces, and the line of a session
// over it. Pure: the finish's decision is decide-finish.test.ts's rows.
import { describe, expect, it } from 'vitest';
import {
  BUDGET_GRACE_MS,
  budgetTimeMs,
  budgetTimeWithGrace,
  maxTimeWithBudget,
  overBudgetLine,
} from '../../src/session/budget.js';
import { agentSettings, bootLimitSettings, launchLimits, limitTags, resolveLimits } from '../../src/session/limits.js';

const HOUR = 3_600_000;

describe('the budget as a time limit', () => {
  it('price/hour → hours', () => {
    expect(budgetTimeMs(2, 1)).toBe(2 * HOUR);
    expect(budgetTimeMs(0.5, 2)).toBe(HOUR / 4);
  });

  it("the agent's time limit: the shorter of --max-time and the budget's, the budget's a grace later than the laptop's", () => {
    expect(budgetTimeWithGrace(2, 1)).toBe(2 * HOUR + BUDGET_GRACE_MS);
    expect(budgetTimeWithGrace(undefined, 1)).toBeUndefined();
    expect(budgetTimeWithGrace(2, undefined)).toBeUndefined();
    expect(maxTimeWithBudget(0, 2 * HOUR)).toBe(2 * HOUR);
    expect(maxTimeWithBudget(HOUR, 2 * HOUR)).toBe(HOUR);
    expect(maxTimeWithBudget(10 * HOUR, 2 * HOUR)).toBe(2 * HOUR);
    expect(maxTimeWithBudget(HOUR, undefined)).toBe(HOUR);
  });

  it('a launch arms it (the boot-time limit too); its max-time tag stays the max time', () => {
    const o = { idleTimeout: undefined, maxTime: undefined, jobGrace: undefined, budget: 1 };
    const now = new Date('2026-01-01T10:00:00Z');
    const l = launchLimits(o, now, 0.5);
    expect(l.deadline?.toISOString()).toBe('2026-01-01T12:10:00.000Z');
    expect(bootLimitSettings({ imdsUrl: 'x', poweroffCommand: 'p' }, 'u', l).maxTime).toBe(
      (2 * HOUR + BUDGET_GRACE_MS) / 1000,
    );
    // The budget is this session's: later runs without --budget must not inherit it.
    expect(limitTags(l)['ssh-ec2:max-time']).toBe(
      limitTags(launchLimits({ ...o, budget: undefined }, now))['ssh-ec2:max-time'],
    );
    expect(agentSettings({ imdsUrl: 'x', poweroffCommand: 'p' }, 'i-1', l).maxTime).toBe(l.maxTimeMs / 1000);
    expect(launchLimits({ ...o, budget: undefined, maxTime: 0 }, now, 0.5).deadline).toBeUndefined();
  });

  it('on a reused instance, counted from this session, not from its launch by an earlier one', () => {
    const o = { idleTimeout: undefined, maxTime: 0, jobGrace: undefined, budget: 1 };
    const now = new Date('2026-01-01T10:00:00Z');
    // Launched three hours ago: LaunchTime + budget time is past; the agent would stop it at once.
    const found = resolveLimits(o, { tags: {}, launchTime: new Date('2026-01-01T07:00:00Z') }, false, now, 0.5);
    expect(found.deadline?.toISOString()).toBe('2026-01-01T12:10:00.000Z');
    // Its own max time, from its launch, still holds when it comes first.
    const short = resolveLimits(
      { ...o, maxTime: 4 * HOUR },
      { tags: {}, launchTime: new Date('2026-01-01T07:00:00Z') },
      false,
      now,
      0.5,
    );
    expect(short.deadline?.toISOString()).toBe('2026-01-01T11:00:00.000Z');
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
