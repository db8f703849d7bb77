import { describe, expect, it } from 'vitest';
import { CatchUpThrottle } from '../../../broker/raft/throttle.js';
import { clusterLimits, raftLimits } from '../../../transport/limits.js';
import { TestCluster } from './harness.js';

/** The catch-up throttle: appends to learners draw on a budget, appends to voters never do. */
describe('learner budget', () => {
  it('holds a learner to the budget (one entry may go in debt) while voters get everything, and resumes when it refills', () => {
    const budget = { tokens: 0, spent: 0, available: () => budget.tokens, spend: (bytes: number) => void ((budget.tokens -= bytes), (budget.spent += bytes)) };
    const c = new TestCluster({ voters: [1, 2], learners: [3], tuning: { learnerBudget: budget } });
    c.campaign(1);
    const base = c.core(1).status().lastIndex;
    budget.tokens = 250;
    const value = 'x'.repeat(100);
    for (let i = 0; i < 20; i++) c.propose(1, value);
    c.stabilize();
    expect(c.appliedText(2).filter((t) => t === value)).toHaveLength(20);
    const got = c.core(3).status().lastIndex - base;
    // 250 bytes allowed: two entries fit, and the third goes in debt at most.
    expect(got).toBeGreaterThanOrEqual(1);
    expect(got).toBeLessThanOrEqual(3);
    expect(budget.spent).toBeLessThanOrEqual(250 + 100);
    expect(c.core(1).counters.learnerAppendsThrottled).toBeGreaterThan(0);
    budget.tokens = 1_000_000;
    c.tickAll(3);
    c.stabilize();
    expect(c.appliedText(3).filter((t) => t === value)).toHaveLength(20);
  });

  it('voters are never throttled: an empty budget holds back no voter', () => {
    const budget = { available: () => 0, spend: () => {} };
    const c = new TestCluster({ voters: [1, 2, 3], tuning: { learnerBudget: budget } });
    c.campaign(1);
    for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
    c.stabilize();
    for (const id of [2, 3]) expect(c.appliedText(id).filter((t) => t.startsWith('v'))).toHaveLength(5);
    expect(c.core(1).counters.learnerAppendsThrottled).toBe(0);
  });
});

describe('CatchUpThrottle', () => {
  it('refills at its rate up to its burst, never below one full append, and carries debt', () => {
    let nowMs = 0;
    const rate = clusterLimits.catchUpBytesPerSecondMin;
    const t = new CatchUpThrottle(rate, () => nowMs);
    // The burst: catchUpBurstMs of the rate, but at least one full append.
    const burst = Math.max((rate * clusterLimits.catchUpBurstMs) / 1000, raftLimits.appendBytesMax);
    expect(t.available()).toBe(Math.floor(burst));
    t.spend(burst + 1000);
    expect(t.available()).toBe(-1000);
    nowMs += 1000;
    expect(t.available()).toBe(Math.floor(Math.min(burst, rate - 1000)));
    nowMs += 60_000;
    expect(t.available()).toBe(Math.floor(burst));
  });
});
