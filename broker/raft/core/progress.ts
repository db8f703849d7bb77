import { Inflights } from './inflights.js';

/**
 * What a leader knows about one follower's log, and how it sends to it:
 * - probe: the leader does not know where the logs agree; one append at a
 *   time, waiting for the answer (or a heartbeat answer) before the next;
 * - replicate: the logs agree up to `match`; appends are pipelined up to the
 *   in-flight window, optimistically advancing `next`;
 * - snapshot: the follower needs entries the leader no longer has; nothing is
 *   sent until the snapshot lands (or is given up on).
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe: an append is out and unanswered. */
  probeSent = false;
  /** Index of the snapshot being sent, in state snapshot. */
  pendingSnapshot = 0;
  /** Ticks spent in state snapshot, to retry a snapshot message that was lost. */
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** The leader's tick count when this peer was last heard from (-Infinity: never). */
  heardAtTick = -Infinity;
  readonly inflights: Inflights;

  constructor(options: { next: number; inflightCountMax: number; inflightBytesMax: number }) {
    this.next = options.next;
    this.inflights = new Inflights(options.inflightCountMax, options.inflightBytesMax);
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      // The snapshot may have landed even if we did not hear so: probe after it.
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = 'probe';
    this.pendingSnapshot = 0;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.snapshotTicks = 0;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** An acknowledgement up to `index`; true if it told us something new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append whose prevIndex was `rejected`; `probeFrom` is
   * the leader's guess (from the follower's hint) of where the logs may agree.
   * False if the rejection is stale (answers an append we already moved past).
   */
  maybeDecrTo(rejected: number, probeFrom: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      // Appends past match were lost or refused: fall back to probing right after match.
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, probeFrom) + 1, this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** An append carrying entries up to `lastIndex` (or none) went out. */
  sentAppend(lastIndex: number | null, bytes: number): void {
    if (this.state === 'replicate') {
      if (lastIndex !== null) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
