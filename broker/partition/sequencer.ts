import { SkeinError } from '../../transport/errors.js';
import { type BatchIdentity, noProducerId, type ProducerStateOptions, ProducerStateTable, type SequenceVerdict } from './producer-state.js';

/**
 * Idempotence across leader changes. Every replica records batches as they
 * are applied (committed, in log order), so a new leader already knows every
 * committed batch. The leader also has batches proposed and not yet committed;
 * those live in an overlay that is dropped when leadership ends, because they
 * may never commit — the producer retries them, and whichever copy committed
 * is then found in the applied table.
 *
 * The leader admits a new producer only while the table has room for it
 * (counting new producers still in the overlay), making room by forgetting
 * producers idle past the expiry; when every remembered producer wrote
 * within it, the new one is refused with TOO_MANY_PRODUCERS (retriable), so
 * no number of new producers makes a partition forget an active one.
 */
export class Sequencer {
  readonly committed: ProducerStateTable;
  private readonly pending: ProducerStateTable;
  /** Uncommitted proposals per producer; the overlay entry goes when it drops to zero. */
  private readonly inflight = new Map<number, number>();
  /** Producers in the overlay that the applied table does not hold yet: admitted, so they count against the limit. */
  private readonly admitted = new Set<number>();
  /** New producers refused because the table was full of active ones. */
  refused = 0;

  constructor(options: ProducerStateOptions = {}) {
    this.committed = new ProducerStateTable(options);
    this.pending = new ProducerStateTable({ ...options, producersMax: Number.POSITIVE_INFINITY });
  }

  check(batch: BatchIdentity): SequenceVerdict {
    if (this.pending.has(batch.producerId)) return this.pending.check(batch);
    const verdict = this.committed.check(batch);
    if (verdict.kind !== 'new' || batch.producerId === noProducerId || this.committed.has(batch.producerId)) return verdict;
    return this.admit(batch) ?? verdict;
  }

  /** Room for one more producer, or the refusal. */
  private admit(batch: BatchIdentity): SequenceVerdict | null {
    const { producersMax, expiryMs } = this.committed;
    const over = this.committed.size + this.admitted.size + 1 - producersMax;
    if (over <= 0 || this.committed.expire(over) >= over) return null;
    this.refused++;
    return {
      kind: 'error',
      error: new SkeinError('TOO_MANY_PRODUCERS', {
        message: `this partition holds the state of ${producersMax} producers, each with a batch here within the last ${expiryMs} ms; producer ${batch.producerId} is not admitted until one has been idle that long (reuse producers rather than make one per send)`,
      }),
    };
  }

  /** The leader proposed this batch at this offset. */
  proposed(batch: BatchIdentity, baseOffset: number): void {
    if (!this.pending.has(batch.producerId)) {
      if (batch.producerId !== noProducerId && !this.committed.has(batch.producerId)) this.admitted.add(batch.producerId);
      this.pending.copyFrom(this.committed, batch.producerId);
    }
    this.pending.record(batch, baseOffset);
    this.inflight.set(batch.producerId, (this.inflight.get(batch.producerId) ?? 0) + 1);
  }

  /** A batch was committed and applied, on any replica, in log order. */
  applied(batch: BatchIdentity, baseOffset: number): void {
    this.committed.record(batch, baseOffset);
    this.admitted.delete(batch.producerId);
    const count = this.inflight.get(batch.producerId);
    if (count === undefined) return;
    if (count <= 1) {
      this.inflight.delete(batch.producerId);
      this.pending.delete(batch.producerId);
    } else {
      this.inflight.set(batch.producerId, count - 1);
    }
  }

  /** Leadership ended (or a new term began): uncommitted proposals may be lost. */
  dropPending(): void {
    this.pending.clear();
    this.inflight.clear();
    this.admitted.clear();
  }
}
