import { type Clock, systemClock } from '../../transport/clock.js';
import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import { NO_PRODUCER } from '../../transport/protocol/record-batch.js';

/**
 * What a partition remembers of each idempotent producer: its epoch and its
 * most recent batches (sequence range and first offset). With it the leader
 * tells a new batch from a retry of one it already has (answered with the
 * original offset, never written twice) and from a batch that skipped ahead.
 *
 * A producer is forgotten only once it has written nothing here for
 * `expiryMs`, and only to make room (beyond `producersMax`; see Sequencer
 * for the admission that keeps a table within it), so no flood of new
 * producers makes a partition forget an active one. A batch past sequence
 * 0 of a producer it holds no state for (forgotten, or its batches gone
 * with the log) is refused with UNKNOWN_PRODUCER, never taken as new; the
 * producer starts afresh under a new id.
 *
 * Sequence numbers are int32 on the wire and never wrap: a producer about to
 * run past 2^31 - 1 starts over under a new producer id, and a batch whose
 * sequence range would overflow is refused as malformed.
 */

export interface BatchIdentity {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

interface RememberedBatch {
  baseSequence: number;
  lastSequence: number;
  baseOffset: number;
}

interface ProducerEntry {
  epoch: number;
  /** Oldest first, at most brokerLimits.producerBatchesRemembered. */
  batches: RememberedBatch[];
  /** When this replica last recorded a batch of it (its own clock: only ever compared with itself). */
  lastMs: number;
}

export type SequenceVerdict = { kind: 'new' } | { kind: 'duplicate'; baseOffset: number } | { kind: 'error'; error: SkeinError };

export const sequenceMax = 2 ** 31 - 1;

/** The producer id that marks a batch as not idempotent (no sequence checks), as the batch format writes it. */
export const noProducerId = NO_PRODUCER.producerId;

export interface ProducerStateOptions {
  producersMax?: number;
  expiryMs?: number;
  /** Producers held beyond producersMax before the least recent goes whatever its age (brokerLimits.producerStatesOverflowMax). */
  overflowMax?: number;
  /** Where idle time is read (a test moves it by hand); systemClock by default. Monotonic: a wall-clock step must not expire every producer at once. */
  clock?: Pick<Clock, 'nowMs'>;
}

export class ProducerStateTable {
  /** In order of last recorded batch, least recent first. */
  private readonly producers = new Map<number, ProducerEntry>();
  readonly producersMax: number;
  readonly expiryMs: number;
  private readonly overflowMax: number;
  private readonly clock: Pick<Clock, 'nowMs'>;
  /** Producers forgotten after expiryMs without a batch, and (past the overflow) whatever their age. */
  evictions = 0;
  forcedEvictions = 0;

  constructor(options: ProducerStateOptions = {}) {
    this.producersMax = options.producersMax ?? brokerLimits.producerStatesPerPartitionMax;
    this.expiryMs = options.expiryMs ?? brokerLimits.producerStateExpiryMs;
    this.overflowMax = options.overflowMax ?? brokerLimits.producerStatesOverflowMax;
    this.clock = options.clock ?? systemClock;
  }

  get size(): number {
    return this.producers.size;
  }

  check(batch: BatchIdentity): SequenceVerdict {
    if (batch.producerId === noProducerId) return { kind: 'new' };
    if (batch.baseSequence < 0 || batch.baseSequence + batch.recordCount - 1 > sequenceMax) {
      return {
        kind: 'error',
        error: new SkeinError('MALFORMED_REQUEST', { message: `producer ${batch.producerId} sequence range starting at ${batch.baseSequence} leaves [0, 2^31 - 1]` }),
      };
    }
    const entry = this.producers.get(batch.producerId);
    if (entry === undefined) {
      // A producer starts at sequence 0. Past it, no state means it was forgotten (idle past the expiry) or aged out with
      // the log: its batch may be the retry of one written and acknowledged already, so it is never taken as new.
      // The producer is told, and starts afresh under a new id (the SDK does so by itself).
      if (batch.baseSequence === 0) return { kind: 'new' };
      return {
        kind: 'error',
        error: new SkeinError('UNKNOWN_PRODUCER', {
          message: `this partition holds no state for producer ${batch.producerId} (idle here longer than ${this.expiryMs} ms, or gone with the log), so its sequence ${batch.baseSequence} cannot be checked; start again under a new producer id`,
        }),
      };
    }
    if (batch.producerEpoch < entry.epoch) {
      return {
        kind: 'error',
        error: new SkeinError('PRODUCER_FENCED', { message: `producer ${batch.producerId} epoch ${batch.producerEpoch} is older than ${entry.epoch}` }),
      };
    }
    if (batch.producerEpoch > entry.epoch) {
      if (batch.baseSequence === 0) return { kind: 'new' };
      return { kind: 'error', error: outOfOrder(batch, 0) };
    }
    const lastSequence = batch.baseSequence + batch.recordCount - 1;
    for (const known of entry.batches) {
      if (known.baseSequence === batch.baseSequence && known.lastSequence === lastSequence) {
        return { kind: 'duplicate', baseOffset: known.baseOffset };
      }
    }
    const newest = entry.batches[entry.batches.length - 1];
    if (newest === undefined) return { kind: 'new' };
    const expected = newest.lastSequence + 1;
    if (batch.baseSequence === expected) return { kind: 'new' };
    if (batch.baseSequence < expected) {
      return {
        kind: 'error',
        error: new SkeinError('DUPLICATE_SEQUENCE', {
          message: `producer ${batch.producerId} sequence ${batch.baseSequence} was written before and is no longer remembered`,
        }),
      };
    }
    return { kind: 'error', error: outOfOrder(batch, expected) };
  }

  /** Records a batch that is now in the log (call in log order). */
  record(batch: BatchIdentity, baseOffset: number): void {
    if (batch.producerId === noProducerId) return;
    let entry = this.producers.get(batch.producerId);
    const nowMs = this.clock.nowMs();
    if (entry === undefined) this.makeRoom(nowMs);
    if (entry === undefined || batch.producerEpoch > entry.epoch) entry = { epoch: batch.producerEpoch, batches: [], lastMs: nowMs };
    entry.lastMs = nowMs;
    // Re-inserting marks the producer most recently used: Map iteration follows insertion order.
    this.producers.delete(batch.producerId);
    this.producers.set(batch.producerId, entry);
    entry.batches.push({ baseSequence: batch.baseSequence, lastSequence: batch.baseSequence + batch.recordCount - 1, baseOffset });
    if (entry.batches.length > brokerLimits.producerBatchesRemembered) entry.batches.shift();
  }

  /**
   * Forgets up to `count` producers idle for expiryMs or more, least recent
   * first; returns how many went. The leader does this before it admits a
   * new producer to a full table.
   */
  expire(count: number, nowMs: number = this.clock.nowMs()): number {
    let expired = 0;
    for (const [producerId, entry] of this.producers) {
      if (expired >= count || nowMs - entry.lastMs < this.expiryMs) break;
      this.producers.delete(producerId);
      this.evictions++;
      expired++;
    }
    return expired;
  }

  /** Before a new producer goes in: idle ones make room beyond the limit; past the overflow, the least recent goes anyway. */
  private makeRoom(nowMs: number): void {
    if (this.producers.size >= this.producersMax) this.expire(this.producers.size - this.producersMax + 1, nowMs);
    if (this.producers.size >= this.producersMax + this.overflowMax) {
      this.producers.delete(this.producers.keys().next().value!);
      this.forcedEvictions++;
    }
  }

  has(producerId: number): boolean {
    return this.producers.has(producerId);
  }

  /** Copies one producer's state from another table (the leader's overlay starts from what is applied). */
  copyFrom(other: ProducerStateTable, producerId: number): void {
    const entry = other.producers.get(producerId);
    if (entry === undefined) this.producers.delete(producerId);
    else this.producers.set(producerId, { epoch: entry.epoch, batches: entry.batches.map((b) => ({ ...b })), lastMs: entry.lastMs });
  }

  delete(producerId: number): void {
    this.producers.delete(producerId);
  }

  clear(): void {
    this.producers.clear();
  }
}

function outOfOrder(batch: BatchIdentity, expected: number): SkeinError {
  return new SkeinError('OUT_OF_ORDER_SEQUENCE', {
    message: `producer ${batch.producerId} sent sequence ${batch.baseSequence}, expected ${expected}`,
    details: { expectedSequence: expected },
  });
}
