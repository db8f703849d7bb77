import { describe, expect, it } from 'vitest';
import { ProducerStateTable, sequenceMax } from '../../../broker/partition/producer-state.js';
import { Sequencer } from '../../../broker/partition/sequencer.js';
import { brokerLimits } from '../../../transport/limits.js';

const batch = (baseSequence: number, recordCount = 10, producerEpoch = 0, producerId = 7) => ({ producerId, producerEpoch, baseSequence, recordCount });

describe('ProducerStateTable', () => {
  it('accepts the next batch, answers a retry as a duplicate, refuses gaps and fenced epochs', () => {
    const table = new ProducerStateTable();
    expect(table.check(batch(0))).toEqual({ kind: 'new' });
    table.record(batch(0), 100);
    table.record(batch(10), 110);
    expect(table.check(batch(0))).toEqual({ kind: 'duplicate', baseOffset: 100 });
    expect(table.check(batch(10))).toEqual({ kind: 'duplicate', baseOffset: 110 });
    expect(table.check(batch(20))).toEqual({ kind: 'new' });
    const gap = table.check(batch(30));
    expect(gap.kind === 'error' && gap.error.code).toBe('OUT_OF_ORDER_SEQUENCE');
    table.record(batch(0, 5, 1), 200);
    const fenced = table.check(batch(5, 5, 0));
    expect(fenced.kind === 'error' && fenced.error.code).toBe('PRODUCER_FENCED');
    expect(table.check(batch(5, 5, 1))).toEqual({ kind: 'new' });
  });

  it('forgets a producer only once it has been idle past the expiry, and only to make room', () => {
    let nowMs = 1_000_000;
    const table = new ProducerStateTable({ producersMax: 3, expiryMs: 1000, overflowMax: 2, clock: { nowMs: () => nowMs } });
    for (const id of [1, 2, 3]) table.record(batch(0, 1, 0, id), id);
    nowMs += 999;
    table.record(batch(1, 1, 0, 1), 10);
    // Producer 2 is the least recent, but wrote 999 ms ago: a new producer makes the table grow, nobody is forgotten.
    table.record(batch(0, 1, 0, 4), 11);
    expect([table.size, table.evictions]).toEqual([4, 0]);
    nowMs += 1;
    // Now 2 and 3 are a whole expiry idle: the next new producer makes room by forgetting them, least recent first.
    table.record(batch(0, 1, 0, 5), 12);
    expect([table.has(2), table.has(3), table.has(1), table.size, table.evictions]).toEqual([false, false, true, 3, 2]);
  });

  it('beyond its overflow forgets the least recent producer whatever its age', () => {
    const table = new ProducerStateTable({ producersMax: 3, expiryMs: 1000, overflowMax: 2, clock: { nowMs: () => 0 } });
    for (const id of [1, 2, 3, 4, 5]) table.record(batch(0, 1, 0, id), id);
    expect([table.size, table.forcedEvictions]).toEqual([5, 0]);
    table.record(batch(0, 1, 0, 6), 6);
    expect([table.size, table.forcedEvictions, table.has(1)]).toEqual([5, 1, false]);
  });

  it('a producer with no state here is new at sequence 0, and past it refused with UNKNOWN_PRODUCER, never taken as new', () => {
    const table = new ProducerStateTable({ expiryMs: 1000, clock: { nowMs: () => 0 } });
    expect(table.check(batch(0))).toEqual({ kind: 'new' });
    const forgotten = table.check(batch(3));
    expect(forgotten.kind === 'error' && [forgotten.error.code, forgotten.error.retriable]).toEqual(['UNKNOWN_PRODUCER', false]);
  });

  it('refuses a sequence range that would overflow int32, and ignores producers without idempotence', () => {
    const table = new ProducerStateTable();
    const verdict = table.check(batch(sequenceMax - 3, 5));
    expect(verdict.kind === 'error' && verdict.error.code).toBe('MALFORMED_REQUEST');
    table.record(batch(0, sequenceMax - 4), 0);
    expect(table.check(batch(sequenceMax - 4, 5))).toEqual({ kind: 'new' });
    table.record(batch(0, 1, -1, -1), 0);
    expect(table.size).toBe(1);
    expect(table.check(batch(99, 1, -1, -1))).toEqual({ kind: 'new' });
  });
});

describe('Sequencer', () => {
  it('sees pending proposals on the leader and forgets them when leadership ends', () => {
    const seq = new Sequencer();
    seq.applied(batch(0), 0);
    seq.proposed(batch(10), 10);
    expect(seq.check(batch(10))).toEqual({ kind: 'duplicate', baseOffset: 10 });
    expect(seq.check(batch(20))).toEqual({ kind: 'new' });
    seq.dropPending();
    // The proposal may never commit: the producer's retry of it must be accepted as new.
    expect(seq.check(batch(10))).toEqual({ kind: 'new' });
    seq.applied(batch(10), 10);
    expect(seq.check(batch(10))).toEqual({ kind: 'duplicate', baseOffset: 10 });
  });

  it('retires the overlay once every proposal of a producer is applied', () => {
    const seq = new Sequencer();
    seq.proposed(batch(0), 0);
    seq.proposed(batch(10), 10);
    seq.applied(batch(0), 0);
    expect(seq.check(batch(10))).toEqual({ kind: 'duplicate', baseOffset: 10 });
    seq.applied(batch(10), 10);
    seq.dropPending();
    expect(seq.check(batch(10))).toEqual({ kind: 'duplicate', baseOffset: 10 });
  });

  it('a flood of producers one batch each (issue 11 item 5) never makes a partition forget an active one: its retry is still a duplicate', () => {
    const seq = new Sequencer();
    const flood = brokerLimits.producerStatesPerPartitionMax + 50;
    // The producer under attack: its first batch is written and acknowledged, and the acknowledgement is lost.
    let offset = 0;
    seq.proposed(batch(0, 1, 0, 1), offset);
    seq.applied(batch(0, 1, 0, 1), offset++);
    const codes = new Map<string, number>();
    for (let id = 2; id < 2 + flood; id++) {
      const verdict = seq.check(batch(0, 1, 0, id));
      const code = verdict.kind === 'error' ? verdict.error.code : verdict.kind;
      codes.set(code, (codes.get(code) ?? 0) + 1);
      if (verdict.kind !== 'new') continue;
      seq.proposed(batch(0, 1, 0, id), offset);
      seq.applied(batch(0, 1, 0, id), offset++);
    }
    // The table's limit, to the producer: the rest are refused, retriably, until producers go idle.
    expect(Object.fromEntries(codes)).toEqual({ new: brokerLimits.producerStatesPerPartitionMax - 1, TOO_MANY_PRODUCERS: 51 });
    expect(seq.committed.size).toBe(brokerLimits.producerStatesPerPartitionMax);
    expect(seq.check(batch(0, 1, 0, 1))).toEqual({ kind: 'duplicate', baseOffset: 0 });
  });

  it('admits a new producer only while the table has room, counting new ones not yet committed; refuses it (TOO_MANY_PRODUCERS) while everyone is active', () => {
    let nowMs = 1_000_000;
    const limit = 100;
    const seq = new Sequencer({ producersMax: limit, expiryMs: 1000, clock: { nowMs: () => nowMs } });
    const of = (producerId: number, baseSequence = 0) => ({ producerId, producerEpoch: 0, baseSequence, recordCount: 1 });
    for (let id = 1; id < limit; id++) seq.applied(of(id), id);
    // One place left: taken by a producer whose first batch is proposed, not yet committed.
    expect(seq.check(of(limit))).toEqual({ kind: 'new' });
    seq.proposed(of(limit), limit);
    const refused = seq.check(of(limit + 1));
    expect(refused.kind === 'error' && [refused.error.code, refused.error.retriable]).toEqual(['TOO_MANY_PRODUCERS', true]);
    // Known producers go on, at the limit and past it.
    expect(seq.check(of(1, 1))).toEqual({ kind: 'new' });
    seq.applied(of(limit), limit);
    nowMs += 999;
    expect(seq.check(of(limit + 1)).kind).toBe('error');
    expect(seq.refused).toBe(2);
    nowMs += 1;
    // Producer 1 has now been idle a whole expiry: it is forgotten to admit the newcomer, and nobody else is.
    expect(seq.check(of(limit + 1))).toEqual({ kind: 'new' });
    expect([seq.committed.has(1), seq.committed.has(2), seq.committed.size]).toEqual([false, true, limit - 1]);
    // Its next batch finds no state: refused, never taken as new.
    const forgotten = seq.check(of(1, 1));
    expect(forgotten.kind === 'error' && forgotten.error.code).toBe('UNKNOWN_PRODUCER');
  });
});
