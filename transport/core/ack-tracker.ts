import { RangeSet } from './range-set.js';

export interface AckTrackerConfig {
  /** Ranges remembered (and sent in one ACK frame). */
  rangesMax: number;
  /** How long we may hold an ACK for an ack-eliciting packet (our promised max_ack_delay). */
  ackDelayMaxMs: number;
  /** Ack-eliciting packets received before an ACK goes out at once. */
  elicitingPacketsBeforeAck: number;
}

/**
 * The receiver's record of packet numbers, and when to acknowledge them:
 * after `elicitingPacketsBeforeAck` ack-eliciting packets, at once when a
 * packet arrives out of order or leaves a gap (the sender needs that news to
 * repair loss quickly), and otherwise within ackDelayMaxMs. Packets below
 * `floor` are too old to tell apart from duplicates and are ignored.
 */
export class AckTracker {
  readonly received = new RangeSet();
  largest = -1;
  largestTimeMs = 0;
  /** Packet numbers below this are ignored as duplicates. */
  floor = 0;
  /** An ACK is owed for ack-eliciting packets received since the last one. */
  pending = false;
  immediate = false;
  deadlineMs = Infinity;
  private elicitingSinceAck = 0;

  constructor(private readonly config: AckTrackerConfig) {}

  /** Records a packet; returns false for a duplicate (or one too old to tell). */
  onPacket(pn: number, nowMs: number, ackEliciting: boolean): boolean {
    if (pn < this.floor || this.received.has(pn)) return false;
    const outOfOrder = pn < this.largest;
    const leavesGap = this.largest >= 0 && pn > this.largest + 1;
    this.received.add(pn, pn + 1);
    if (this.received.count > this.config.rangesMax) {
      this.received.shift();
      this.floor = this.received.min;
    }
    if (pn > this.largest) {
      this.largest = pn;
      this.largestTimeMs = nowMs;
    }
    if (!ackEliciting) return true;
    this.elicitingSinceAck++;
    if (!this.pending) {
      this.pending = true;
      this.deadlineMs = nowMs + this.config.ackDelayMaxMs;
    }
    if (outOfOrder || leavesGap || this.elicitingSinceAck >= this.config.elicitingPacketsBeforeAck) this.immediate = true;
    return true;
  }

  isDue(nowMs: number): boolean {
    return this.pending && (this.immediate || nowMs >= this.deadlineMs);
  }

  /** An ACK frame covering everything received went out. */
  onAckSent(): void {
    this.pending = false;
    this.immediate = false;
    this.elicitingSinceAck = 0;
    this.deadlineMs = Infinity;
  }

  /** The peer has our ACK covering up to `largest`: stop repeating those ranges. */
  onAckOfAck(largest: number): void {
    if (largest < this.floor) return;
    // Keep the range holding the largest packet so the next ACK still has something to say about it.
    const keepFrom = Math.min(largest + 1, this.received.isEmpty ? largest + 1 : this.received.start(this.received.count - 1));
    if (keepFrom > this.floor) {
      this.received.removeBelow(keepFrom);
      this.floor = keepFrom;
    }
  }
}
