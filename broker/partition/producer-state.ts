import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';

/**
 * What a partition remembers of each idempotent producer: its epoch and its
 * most recent batches (sequence range and first offset). With it the leader
 * tells a new batch from a retry of one it already has (answered with the
 * original offset, never written twice) and from a batch that skipped ahead.
 *
 * Sequence numbers are 32-bit on the wire and wrap, so comparisons go through
 * `seqDistance`, never `<`.
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
}

export type SequenceVerdict = { kind: 'new' } | { kind: 'duplicate'; baseOffset: number } | { kind: 'error'; error: SkeinError };

const seqModulus = 2 ** 32;

export function seqAdd(seq: number, n: number): number {
  return (seq + n) % seqModulus;
}

/** Signed distance from a to b on the 32-bit sequence circle, in (-2^31, 2^31]. */
export function seqDistance(a: number, b: number): number {
  const d = (b - a + seqModulus) % seqModulus;
  return d > seqModulus / 2 ? d - seqModulus : d;
}

/** The producer id that marks a batch as not idempotent (no sequence checks). */
export const noProducerId = 0;

export class ProducerStateTable {
  private readonly producers = new Map<number, ProducerEntry>();
  evictions = 0;

  constructor(private readonly producersMax: number = brokerLimits.producerStatesPerPartitionMax) {}

  get size(): number {
    return this.producers.size;
  }

  check(batch: BatchIdentity): SequenceVerdict {
    if (batch.producerId === noProducerId) return { kind: 'new' };
    const entry = this.producers.get(batch.producerId);
    // No state: a new producer, or one whose state was evicted or aged out with the log. Nothing to compare against.
    if (entry === undefined) return { kind: 'new' };
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
    const lastSequence = seqAdd(batch.baseSequence, batch.recordCount - 1);
    for (const known of entry.batches) {
      if (known.baseSequence === batch.baseSequence && known.lastSequence === lastSequence) {
        return { kind: 'duplicate', baseOffset: known.baseOffset };
      }
    }
    const newest = entry.batches[entry.batches.length - 1];
    if (newest === undefined) return { kind: 'new' };
    const expected = seqAdd(newest.lastSequence, 1);
    const distance = seqDistance(expected, batch.baseSequence);
    if (distance === 0) return { kind: 'new' };
    if (distance < 0) {
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
    if (entry === undefined && this.producers.size >= this.producersMax) this.evictOldest();
    if (entry === undefined || batch.producerEpoch > entry.epoch) entry = { epoch: batch.producerEpoch, batches: [] };
    // Re-inserting marks the producer most recently used: Map iteration follows insertion order.
    this.producers.delete(batch.producerId);
    this.producers.set(batch.producerId, entry);
    entry.batches.push({ baseSequence: batch.baseSequence, lastSequence: seqAdd(batch.baseSequence, batch.recordCount - 1), baseOffset });
    if (entry.batches.length > brokerLimits.producerBatchesRemembered) entry.batches.shift();
  }

  has(producerId: number): boolean {
    return this.producers.has(producerId);
  }

  /** Copies one producer's state from another table (the leader's overlay starts from what is applied). */
  copyFrom(other: ProducerStateTable, producerId: number): void {
    const entry = other.producers.get(producerId);
    if (entry === undefined) this.producers.delete(producerId);
    else this.producers.set(producerId, { epoch: entry.epoch, batches: entry.batches.map((b) => ({ ...b })) });
  }

  delete(producerId: number): void {
    this.producers.delete(producerId);
  }

  clear(): void {
    this.producers.clear();
  }

  private evictOldest(): void {
    const oldest = this.producers.keys().next();
    if (!oldest.done) {
      this.producers.delete(oldest.value);
      this.evictions++;
    }
  }
}

function outOfOrder(batch: BatchIdentity, expected: number): SkeinError {
  return new SkeinError('OUT_OF_ORDER_SEQUENCE', {
    message: `producer ${batch.producerId} sent sequence ${batch.baseSequence}, expected ${expected}`,
    details: { expectedSequence: expected },
  });
}
