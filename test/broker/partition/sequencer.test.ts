import { describe, expect, it } from 'vitest';
import { ProducerStateTable, sequenceMax } from '../../../broker/partition/producer-state.js';
import { Sequencer } from '../../../broker/partition/sequencer.js';

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

  it('remembers a bounded number of producers, evicting the least recent', () => {
    const table = new ProducerStateTable(3);
    for (const id of [1, 2, 3]) table.record(batch(0, 1, 0, id), id);
    table.record(batch(1, 1, 0, 1), 10);
    table.record(batch(0, 1, 0, 4), 11);
    expect(table.size).toBe(3);
    expect(table.has(2)).toBe(false);
    expect(table.has(1)).toBe(true);
    expect(table.evictions).toBe(1);
  });

  it('at its limit, evicts the least recent producer, whose next batch (or retry) is refused with UNKNOWN_PRODUCER, never taken as new', () => {
    const limit = 100;
    const table = new ProducerStateTable(limit);
    table.record(batch(0, 1, 0, 1), 0);
    // Exactly at the limit: producer 1 is still known.
    for (let id = 2; id <= limit; id++) table.record(batch(0, 1, 0, id), id);
    expect(table.size).toBe(limit);
    expect(table.check(batch(0, 1, 0, 1))).toEqual({ kind: 'duplicate', baseOffset: 0 });
    expect(table.check(batch(1, 1, 0, 1))).toEqual({ kind: 'new' });
    // One more producer: producer 1, the least recently used, goes.
    table.record(batch(0, 1, 0, limit + 1), limit + 1);
    expect(table.size).toBe(limit);
    expect(table.has(1)).toBe(false);
    const next = table.check(batch(1, 1, 0, 1));
    expect(next.kind === 'error' && next.error.code).toBe('UNKNOWN_PRODUCER');
    // A fresh producer starts at 0 and is taken.
    expect(table.check(batch(0, 1, 0, limit + 2))).toEqual({ kind: 'new' });
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
});
