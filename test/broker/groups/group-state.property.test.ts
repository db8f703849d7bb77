import fc from 'fast-check';
import { describe, it } from 'vitest';
import { propertyParameters } from '../../transport/support/property.js';
import { World, type WorldEvent } from './support/world.js';

/**
 * The group core under any sequence of events (see support/world.ts): members
 * joining, heartbeating with lost answers, draining, committing, leaving,
 * crashing, stalling past their session, restarting under their instance id,
 * changing subscriptions; the coordinator failing over through a snapshot; a
 * topic recreated. After every event no partition is held by two members
 * with valid leases, stale commits are refused, stored offsets never go
 * backwards; once the events stop, the group converges to a balanced
 * assignment that every running member holds.
 * Replay a failure with SKEIN_FC_SEED / SKEIN_FC_PATH; more runs with SKEIN_FC_RUNS.
 */

const topicSets = fc.constantFrom(['t0'], ['t1'], ['t0', 't1'], ['t0', 't1']);

const event: fc.Arbitrary<WorldEvent> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('beat' as const), who: fc.nat(15), lose: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('drain' as const), who: fc.nat(15) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('commit' as const), who: fc.nat(15), delta: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('staleCommit' as const), who: fc.nat(15), pick: fc.nat(50) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('earlyCommit' as const), who: fc.nat(15), pick: fc.nat(20) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('join' as const), instance: fc.option(fc.nat(2), { nil: null }), topics: topicSets }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('leave' as const), who: fc.nat(15), temporary: fc.boolean(), lost: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), who: fc.nat(15) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stall' as const), who: fc.nat(15), ms: fc.integer({ min: 0, max: 25_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('failover' as const), graceMs: fc.integer({ min: 0, max: 2_000 }) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'tick' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('subscribe' as const), who: fc.nat(15), topics: topicSets }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('recreate' as const), partitions: fc.integer({ min: 1, max: 6 }) }) },
);

const scenario = fc.record({
  partitions: fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 5 })),
  events: fc.array(fc.tuple(event, fc.integer({ min: 0, max: 3_000 })), { minLength: 1, maxLength: 150, size: 'max' }),
});

function run(s: { partitions: [number, number]; events: Array<[WorldEvent, number]> }): void {
  const world = new World(s.partitions);
  try {
    for (const [e, elapseMs] of s.events) world.step(e, elapseMs);
    world.settle();
    world.checkSettled();
  } catch (error) {
    // The story so far makes a shrunk counterexample readable.
    (error as Error).message += `\n${world.trace.slice(-40).join('\n')}`;
    throw error;
  }
}

const runs = 120;
// A sweep (SKEIN_FC_RUNS) needs time in proportion: a run takes a few milliseconds.
const timeoutMs = 30_000 + 50 * Number(process.env.SKEIN_FC_RUNS ?? runs);

describe('group core properties', () => {
  it('never two owners, stale commits refused, offsets never backwards, and convergence once events stop', () => {
    fc.assert(fc.property(scenario, run), propertyParameters(runs));
  }, timeoutMs);
});
