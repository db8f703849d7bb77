import { type BatchIdentity, ProducerStateTable, type SequenceVerdict } from './producer-state.js';

/**
 * Idempotence across leader changes. Every replica records batches as they
 * are applied (committed, in log order), so a new leader already knows every
 * committed batch. The leader also has batches proposed and not yet committed;
 * those live in an overlay that is dropped when leadership ends, because they
 * may never commit — the producer retries them, and whichever copy committed
 * is then found in the applied table.
 */
export class Sequencer {
  readonly committed = new ProducerStateTable();
  private readonly pending = new ProducerStateTable();
  /** Uncommitted proposals per producer; the overlay entry goes when it drops to zero. */
  private readonly inflight = new Map<number, number>();

  check(batch: BatchIdentity): SequenceVerdict {
    return this.pending.has(batch.producerId) ? this.pending.check(batch) : this.committed.check(batch);
  }

  /** The leader proposed this batch at this offset. */
  proposed(batch: BatchIdentity, baseOffset: number): void {
    if (!this.pending.has(batch.producerId)) this.pending.copyFrom(this.committed, batch.producerId);
    this.pending.record(batch, baseOffset);
    this.inflight.set(batch.producerId, (this.inflight.get(batch.producerId) ?? 0) + 1);
  }

  /** A batch was committed and applied, on any replica, in log order. */
  applied(batch: BatchIdentity, baseOffset: number): void {
    this.committed.record(batch, baseOffset);
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
  }
}
