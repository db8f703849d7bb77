import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignReplicas } from '../../../broker/cluster/assignment.js';
import { isSkeinError } from '../../../transport/errors.js';

describe('assignReplicas', () => {
  it('spreads leaders and replicas evenly', () => {
    const assignment = assignReplicas({ partitions: 6, replicationFactor: 3, brokers: [1, 2, 3] });
    expect(assignment).toHaveLength(6);
    const leaders = assignment.map((r) => r[0]);
    for (const id of [1, 2, 3]) expect(leaders.filter((l) => l === id)).toHaveLength(2);
    for (const replicas of assignment) expect(new Set(replicas).size).toBe(3);
  });

  it('balances against load the cluster already carries', () => {
    const load = new Map([
      [1, { replicas: 10, leaders: 10 }],
      [2, { replicas: 0, leaders: 0 }],
      [3, { replicas: 0, leaders: 0 }],
    ]);
    const assignment = assignReplicas({ partitions: 2, replicationFactor: 1, brokers: [1, 2, 3], load });
    expect(assignment.map((r) => r[0]).sort()).toEqual([2, 3]);
  });

  it('refuses a replication factor the brokers cannot meet, with a typed error', () => {
    let error: unknown;
    try {
      assignReplicas({ partitions: 1, replicationFactor: 4, brokers: [1, 2, 3] });
    } catch (e) {
      error = e;
    }
    expect(isSkeinError(error, 'INVALID_REPLICATION_FACTOR')).toBe(true);
  });

  it('always yields distinct replicas on known brokers, leaders within one of even', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 7 }), (brokerCount, partitions, rf) => {
        fc.pre(rf <= brokerCount);
        const brokers = Array.from({ length: brokerCount }, (_, i) => i + 1);
        const assignment = assignReplicas({ partitions, replicationFactor: rf, brokers });
        const leaderCounts = new Map<number, number>();
        for (const replicas of assignment) {
          expect(replicas).toHaveLength(rf);
          expect(new Set(replicas).size).toBe(rf);
          for (const id of replicas) expect(brokers).toContain(id);
          leaderCounts.set(replicas[0]!, (leaderCounts.get(replicas[0]!) ?? 0) + 1);
        }
        const counts = brokers.map((id) => leaderCounts.get(id) ?? 0);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }),
    );
  });
});
