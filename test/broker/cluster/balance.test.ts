import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planDecommission, planRebalance, planReplicationFactor, type BalanceInput, type BalancePlan, type PartitionPlacement } from '../../../broker/cluster/core/balance.js';
import { evacuating, placeable, type BrokerView } from '../../../broker/cluster/core/brokers.js';
import { Prng } from '../../../transport/core/prng.js';
import { isSkeinError } from '../../../transport/errors.js';
import { brokerLimits } from '../../../transport/limits.js';

const active = (...ids: number[]): BrokerView[] => ids.map((id) => ({ id, state: 'active', alive: true }));
const parts = (topic: string, ...replicas: number[][]): PartitionPlacement[] => replicas.map((r, partition) => ({ topic, partition, replicas: r }));

/** The placement after a plan. */
function apply(input: BalanceInput, plan: BalancePlan): PartitionPlacement[] {
  const targets = new Map(plan.moves.map((m) => [`${m.topic}/${m.partition}`, m.target]));
  return input.partitions.map((p) => ({ ...p, replicas: targets.get(`${p.topic}/${p.partition}`) ?? p.replicas }));
}

function counts(brokers: readonly BrokerView[], placement: readonly PartitionPlacement[], which: 'replicas' | 'leaders'): Map<number, number> {
  const out = new Map(brokers.filter(placeable).map((b) => [b.id, 0]));
  for (const p of placement) {
    for (const id of which === 'replicas' ? p.replicas : p.replicas.slice(0, 1)) if (out.has(id)) out.set(id, out.get(id)! + 1);
  }
  return out;
}

const spread = (m: Map<number, number>): number => (m.size === 0 ? 0 : Math.max(...m.values()) - Math.min(...m.values()));

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('planRebalance', () => {
  it('fills a new broker with the fewest moves, taking followers rather than leaders', () => {
    const input = { brokers: active(1, 2, 3, 4), partitions: parts('t', [1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 3, 2]) };
    const plan = planRebalance(input);
    // 12 replicas over 4 brokers: 3 each; broker 4 takes 3, one from each of the others.
    expect(plan.replicaMoves).toBe(3);
    const after = apply(input, plan);
    expect([...counts(input.brokers, after, 'replicas').values()]).toEqual([3, 3, 3, 3]);
    expect(spread(counts(input.brokers, after, 'leaders'))).toBeLessThanOrEqual(1);
    expect(plan.moves.every((m) => m.target.length === 3 && new Set(m.target).size === 3)).toBe(true);
  });

  it('changes nothing that is balanced already', () => {
    const input = { brokers: active(1, 2, 3), partitions: parts('t', [1, 2, 3], [2, 3, 1], [3, 1, 2]) };
    expect(planRebalance(input)).toEqual({ moves: [], replicaMoves: 0, leaderChanges: 0 });
  });

  it('spreads preferred leaders by reordering replicas, moving no data', () => {
    const input = { brokers: active(1, 2, 3), partitions: parts('t', [1, 2, 3], [1, 3, 2], [1, 2, 3]) };
    const plan = planRebalance(input);
    expect(plan.replicaMoves).toBe(0);
    expect(plan.leaderChanges).toBe(2);
    expect([...counts(input.brokers, apply(input, plan), 'leaders').values()]).toEqual([1, 1, 1]);
  });

  it('passes leadership along a chain when no partition of the busiest broker has a replica on the idlest', () => {
    // Broker 1 leads three; broker 3 leads none and shares no partition with 1 — only with 2.
    const input = { brokers: active(1, 2, 3), partitions: parts('t', [1, 2], [1, 2], [1, 2], [2, 3]) };
    const plan = planRebalance({ ...input });
    const leaders = counts(input.brokers, apply(input, plan), 'leaders');
    expect(Math.max(...leaders.values())).toBe(2);
  });

  it('moves replicas off a decommissioning or gone broker, never onto one, nor onto a joining or unreachable one', () => {
    const brokers: BrokerView[] = [
      { id: 1, state: 'active', alive: true },
      { id: 2, state: 'active', alive: true },
      { id: 3, state: 'decommissioning', alive: true },
      { id: 4, state: 'joining', alive: true },
      { id: 5, state: 'active', alive: false },
      { id: 6, state: 'active', alive: true },
      { id: 7, state: 'gone', alive: false },
    ];
    const input = { brokers, partitions: parts('t', [3, 1, 2], [7, 2, 1], [5, 1, 3]) };
    const after = apply(input, planRebalance(input));
    for (const p of after) {
      expect(p.replicas).not.toContain(3);
      expect(p.replicas).not.toContain(7);
      expect(p.replicas).not.toContain(4);
    }
    // The unreachable broker keeps its replica (it may come back) but no longer leads.
    expect(after[2]!.replicas).toContain(5);
    expect(after[2]!.replicas[0]).not.toBe(5);
  });

  it('leaves moving partitions alone but counts them where they are going', () => {
    const input = { brokers: active(1, 2, 3, 4), partitions: [...parts('t', [1, 2], [1, 2]), { topic: 'u', partition: 0, replicas: [3, 4], locked: true }] };
    const plan = planRebalance(input);
    expect(plan.moves.some((m) => m.topic === 'u')).toBe(false);
    expect(spread(counts(input.brokers, apply(input, plan), 'replicas'))).toBeLessThanOrEqual(1);
  });

  it('says which partition cannot leave when too few brokers remain', () => {
    const brokers: BrokerView[] = [...active(1, 2), { id: 3, state: 'decommissioning', alive: true }];
    const error = thrown(() => planRebalance({ brokers, partitions: parts('orders', [1, 2, 3]) }));
    expect(isSkeinError(error, 'INVALID_REPLICATION_FACTOR')).toBe(true);
    expect((error as Error).message).toMatch(/orders\/0 needs 3 replicas.*\[1,2\]/);
  });

  it('plans at most movesMax partitions, and plans repeated from the result converge', () => {
    const input = { brokers: active(1, 2, 3, 4, 5, 6), partitions: parts('t', ...Array.from({ length: 12 }, (_, i) => [1 + (i % 3), 1 + ((i + 1) % 3)])) };
    const unlimited = planRebalance(input);
    expect(planRebalance({ ...input, movesMax: unlimited.moves.length })).toEqual(unlimited);
    const limited = planRebalance({ ...input, movesMax: unlimited.moves.length - 1 });
    expect(limited.moves.length).toBe(unlimited.moves.length - 1);
    let placement = input.partitions;
    for (let round = 0; round < 100; round++) {
      const plan = planRebalance({ brokers: input.brokers, partitions: placement, movesMax: 1 });
      expect(plan.moves.length).toBeLessThanOrEqual(1);
      if (plan.moves.length === 0) break;
      placement = apply({ ...input, partitions: placement }, plan);
    }
    expect(spread(counts(input.brokers, placement, 'replicas'))).toBeLessThanOrEqual(1);
    expect(planRebalance({ brokers: input.brokers, partitions: placement }).moves).toEqual([]);
  });
});

describe('planDecommission', () => {
  it('moves only what must leave, each replica to the least loaded broker, in its place (a leader is replaced by a leader)', () => {
    const brokers: BrokerView[] = [...active(1, 2, 3, 4), { id: 5, state: 'decommissioning', alive: true }];
    const input = { brokers, partitions: parts('t', [5, 1, 2], [1, 5, 3], [2, 3, 4], [1, 2, 3]) };
    const plan = planDecommission(input);
    expect(plan.replicaMoves).toBe(2);
    expect(plan.moves.map((m) => m.target)).toEqual([
      [4, 1, 2],
      [1, 4, 3],
    ]);
    expect(planDecommission({ brokers: active(1, 2, 3, 4), partitions: input.partitions.slice(2) }).moves).toEqual([]);
  });
});

describe('planReplicationFactor', () => {
  const input = { brokers: active(1, 2, 3, 4), partitions: [...parts('t', [1, 2], [2, 3]), ...parts('u', [4, 1, 2])] };

  it('adds replicas on the least loaded brokers and keeps the preferred leader', () => {
    const plan = planReplicationFactor(input, 't', 3);
    expect(plan.replicaMoves).toBe(2);
    expect(plan.leaderChanges).toBe(0);
    for (const m of plan.moves) expect(m.target).toHaveLength(3);
    expect(plan.moves.every((m) => m.topic === 't')).toBe(true);
  });

  it('drops replicas from the fullest brokers, the preferred leader last, and a replica that cannot stay first', () => {
    const plan = planReplicationFactor(input, 'u', 2);
    // Broker 2 holds three replicas, broker 1 two: 2 goes.
    expect(plan.moves).toEqual([{ topic: 'u', partition: 0, replicas: [4, 1, 2], target: [4, 1] }]);
    const offline: BrokerView[] = [...active(1, 2, 3), { id: 4, state: 'active', alive: false }];
    expect(planReplicationFactor({ ...input, brokers: offline }, 'u', 2).moves[0]!.target).toEqual([1, 2]);
    expect(planReplicationFactor(input, 'u', 1).moves[0]!.target).toEqual([4]);
  });

  it('refuses what cannot be done, with a typed error', () => {
    expect(isSkeinError(thrown(() => planReplicationFactor(input, 't', 5)), 'INVALID_REPLICATION_FACTOR')).toBe(true);
    expect(isSkeinError(thrown(() => planReplicationFactor(input, 't', 0)), 'INVALID_REPLICATION_FACTOR')).toBe(true);
    expect(isSkeinError(thrown(() => planReplicationFactor(input, 't', brokerLimits.replicationFactorMax + 1)), 'INVALID_REPLICATION_FACTOR')).toBe(true);
    expect(isSkeinError(thrown(() => planReplicationFactor(input, 'nope', 2)), 'UNKNOWN_TOPIC')).toBe(true);
    const moving = { ...input, partitions: [...input.partitions, { topic: 't', partition: 2, replicas: [1, 3], locked: true }] };
    expect(isSkeinError(thrown(() => planReplicationFactor(moving, 't', 3)), 'REASSIGNMENT_IN_PROGRESS')).toBe(true);
  });
});

// ------------------------------------------------------------------ properties

const stateArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant('active' as const) },
  { weight: 1, arbitrary: fc.constant('decommissioning' as const) },
  { weight: 1, arbitrary: fc.constant('joining' as const) },
  { weight: 1, arbitrary: fc.constant('gone' as const) },
);

interface World {
  input: BalanceInput;
  /** The partitions' original order was shuffled in this copy. */
  shuffled: BalanceInput;
}

/** Brokers with states, topics of partitions placed at random over any of them (a cluster after joins, deaths and decommissions). */
function worldArb(options: { locked: boolean; partitionsMax: number }): fc.Arbitrary<World> {
  return fc
    .record({
      brokers: fc.array(fc.record({ state: stateArb, alive: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }), { minLength: 1, maxLength: 9, size: 'max' }),
      topics: fc.array(fc.record({ partitions: fc.integer({ min: 1, max: options.partitionsMax }), rf: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 3, size: 'max' }),
      seed: fc.integer(),
    })
    .map(({ brokers, topics, seed }) => {
      const prng = new Prng(seed);
      const views: BrokerView[] = brokers.map((b, i) => ({ id: i + 1, state: b.state, alive: b.state === 'gone' ? false : b.alive }));
      const ids = views.map((b) => b.id);
      const partitions: PartitionPlacement[] = [];
      topics.forEach((t, ti) => {
        for (let p = 0; p < t.partitions; p++) {
          const pool = [...ids];
          const replicas: number[] = [];
          while (replicas.length < Math.min(t.rf, pool.length)) replicas.push(pool.splice(prng.int(0, pool.length - 1), 1)[0]!);
          partitions.push({ topic: `t${ti}`, partition: p, replicas, locked: options.locked && prng.chance(0.15) });
        }
      });
      const input = { brokers: views, partitions };
      const shuffledPartitions = [...partitions].sort(() => prng.next() - 0.5);
      return { input, shuffled: { brokers: [...views].reverse(), partitions: shuffledPartitions } };
    });
}

/** Whether the brokers that take replicas can hold every partition that has to move. */
function feasible(input: BalanceInput): boolean {
  const open = input.brokers.filter(placeable).map((b) => b.id);
  const known = new Map(input.brokers.map((b) => [b.id, b]));
  return input.partitions.every((p) => p.locked || !p.replicas.some((id) => evacuating(known.get(id))) || open.filter((id) => !p.replicas.includes(id)).length >= p.replicas.filter((id) => evacuating(known.get(id))).length);
}

function forcedMoves(input: BalanceInput): number {
  const known = new Map(input.brokers.map((b) => [b.id, b]));
  return input.partitions.filter((p) => !p.locked).reduce((n, p) => n + p.replicas.filter((id) => evacuating(known.get(id))).length, 0);
}

/** The fewest replica moves any plan within one could make, counting nothing but the counts (see balance.ts). */
function lowerBound(input: BalanceInput): number {
  const c = counts(input.brokers, input.partitions, 'replicas');
  const forced = forcedMoves(input);
  const total = [...c.values()].reduce((a, b) => a + b, 0) + forced;
  const floor = Math.floor(total / c.size);
  const ceil = Math.ceil(total / c.size);
  let above = 0;
  let below = 0;
  for (const n of c.values()) {
    above += Math.max(0, n - ceil);
    below += Math.max(0, floor - n);
  }
  return Math.max(forced + above, below);
}

function checkValid(input: BalanceInput, plan: BalancePlan): void {
  const known = new Map(input.brokers.map((b) => [b.id, b]));
  const before = new Map(input.partitions.map((p) => [`${p.topic}/${p.partition}`, p]));
  for (const move of plan.moves) {
    const p = before.get(`${move.topic}/${move.partition}`)!;
    expect(p.locked).not.toBe(true);
    expect(move.replicas).toEqual(p.replicas);
    expect(new Set(move.target).size).toBe(move.target.length);
    for (const id of move.target) if (!p.replicas.includes(id)) expect(placeable(known.get(id))).toBe(true);
  }
}

describe('planners, for any cluster', () => {
  it('give the same plan whatever the order of their input', () => {
    fc.assert(
      fc.property(worldArb({ locked: true, partitionsMax: 12 }), ({ input, shuffled }) => {
        fc.pre(feasible(input));
        expect(planRebalance(shuffled)).toEqual(planRebalance(input));
        expect(planDecommission(shuffled)).toEqual(planDecommission(input));
      }),
      { numRuns: 200 },
    );
  });

  it('rebalance: replicas on distinct brokers that take them, none left on a broker leaving, counts within one, with the fewest moves', () => {
    // The fewest: with nothing forced off a leaving broker, exactly the naive lower bound (each move lowers both the excess
    // above the ceiling of the mean and the shortfall below its floor). Forced moves may cost more than the bound, since a
    // partition cannot take a second replica on one broker (two forced replicas of one partition can crowd the brokers
    // it does not hold), but never more than twice what is forced.
    fc.assert(
      fc.property(worldArb({ locked: false, partitionsMax: 16 }), ({ input }) => {
        fc.pre(input.brokers.some(placeable) && feasible(input));
        const plan = planRebalance(input);
        checkValid(input, plan);
        const after = apply(input, plan);
        const known = new Map(input.brokers.map((b) => [b.id, b]));
        for (const p of after) {
          expect(p.replicas).toHaveLength(input.partitions.find((q) => q.topic === p.topic && q.partition === p.partition)!.replicas.length);
          for (const id of p.replicas) expect(evacuating(known.get(id))).toBe(false);
        }
        expect(spread(counts(input.brokers, after, 'replicas'))).toBeLessThanOrEqual(1);
        const bound = lowerBound(input);
        const forced = forcedMoves(input);
        if (forced === 0) expect(plan.replicaMoves).toBe(bound);
        else {
          expect(plan.replicaMoves).toBeGreaterThanOrEqual(bound);
          expect(plan.replicaMoves).toBeLessThanOrEqual(bound + forced);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('rebalance: leaderships as even as the placement allows (checked against every choice of leaders)', () => {
    fc.assert(
      fc.property(worldArb({ locked: false, partitionsMax: 4 }), ({ input }) => {
        fc.pre(input.brokers.some(placeable) && feasible(input) && input.partitions.length <= 8);
        const after = apply(input, planRebalance(input));
        const open = new Set(input.brokers.filter(placeable).map((b) => b.id));
        const squares = (m: Map<number, number>): number => [...m.values()].reduce((s, n) => s + n * n, 0);
        // Brute force: every partition led by any of its replicas that can lead.
        let best = Infinity;
        const choices = after.map((p) => (p.replicas.some((id) => open.has(id)) ? p.replicas.filter((id) => open.has(id)) : [p.replicas[0]!]));
        const walk = (i: number, leads: Map<number, number>): void => {
          if (i === choices.length) {
            best = Math.min(best, squares(leads));
            return;
          }
          for (const id of choices[i]!) {
            const next = new Map(leads);
            if (next.has(id)) next.set(id, next.get(id)! + 1);
            walk(i + 1, next);
          }
        };
        walk(0, new Map([...open].map((id) => [id, 0])));
        expect(squares(counts(input.brokers, after, 'leaders'))).toBe(best);
      }),
      { numRuns: 300 },
    );
  });

  it('decommission: exactly the forced moves, onto brokers that take replicas', () => {
    fc.assert(
      fc.property(worldArb({ locked: true, partitionsMax: 12 }), ({ input }) => {
        fc.pre(feasible(input));
        const known = new Map(input.brokers.map((b) => [b.id, b]));
        const plan = planDecommission(input);
        checkValid(input, plan);
        expect(plan.replicaMoves).toBe(forcedMoves(input));
        for (const p of apply(input, plan)) if (!p.locked) for (const id of p.replicas) expect(evacuating(known.get(id))).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('refuse, with a typed error, exactly when too few brokers can take what must leave', () => {
    fc.assert(
      fc.property(worldArb({ locked: false, partitionsMax: 6 }), ({ input }) => {
        if (feasible(input)) return;
        expect(isSkeinError(thrown(() => planDecommission(input)), 'INVALID_REPLICATION_FACTOR')).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('replication factor: every partition of the topic gets exactly that many distinct replicas; the others are untouched', () => {
    fc.assert(
      fc.property(worldArb({ locked: false, partitionsMax: 8 }), fc.integer({ min: 1, max: 4 }), ({ input }, rf) => {
        const open = input.brokers.filter(placeable).length;
        const topic = input.partitions[0]!.topic;
        const mine = input.partitions.filter((p) => p.topic === topic);
        const growing = mine.some((p) => p.replicas.length < rf);
        fc.pre(!growing || mine.every((p) => open - p.replicas.filter((id) => placeable(input.brokers.find((b) => b.id === id))).length >= rf - p.replicas.length));
        const plan = planReplicationFactor(input, topic, rf);
        checkValid(input, plan);
        for (const p of apply(input, plan)) {
          if (p.topic === topic) expect(p.replicas).toHaveLength(rf);
        }
        expect(plan.moves.every((m) => m.topic === topic)).toBe(true);
        expect(plan.replicaMoves).toBe(mine.reduce((n, p) => n + Math.max(0, rf - p.replicas.length), 0));
      }),
      { numRuns: 200 },
    );
  });
});
