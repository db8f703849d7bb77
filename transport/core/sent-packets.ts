/**
 * What the sender remembers about each packet it sent, until it is
 * acknowledged or declared lost: a ring indexed by packet number, kept as
 * parallel typed arrays so the hot path allocates nothing per packet. The ring
 * starts small and doubles up to `capacityMax` (packetsInFlightMax), which
 * also bounds how far the newest packet may run ahead of the oldest one still
 * outstanding.
 */

export const packetState = { none: 0, outstanding: 1, acked: 2, lost: 3 } as const;

/** Bits of `flags`: what a packet carried that must be repaired if it is lost. */
export const packetFlag = {
  ackEliciting: 1,
  maxData: 2,
  ping: 4,
} as const;

const initialCapacity = 256;

export class SentPackets {
  private mask: number;
  pn: Float64Array;
  timeMs: Float64Array;
  bytes: Int32Array;
  state: Uint8Array;
  flags: Uint8Array;
  streamOffset: Float64Array;
  streamLength: Int32Array;
  /** The largest packet number acknowledged by an ACK frame this packet carried, or -1. */
  ackLargest: Float64Array;

  /** Next packet number to use; numbers are never reused. */
  nextPn = 0;
  /** Every packet below this is acknowledged, lost or was never tracked. */
  oldestOutstanding = 0;
  bytesInFlight = 0;
  ackElicitingInFlight = 0;
  timeOfLastAckElicitingMs = -Infinity;

  constructor(readonly capacityMax: number) {
    if ((capacityMax & (capacityMax - 1)) !== 0) throw new Error('SentPackets capacity must be a power of two');
    const capacity = Math.min(initialCapacity, capacityMax);
    this.mask = capacity - 1;
    this.pn = new Float64Array(capacity).fill(-1);
    this.timeMs = new Float64Array(capacity);
    this.bytes = new Int32Array(capacity);
    this.state = new Uint8Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.streamOffset = new Float64Array(capacity);
    this.streamLength = new Int32Array(capacity);
    this.ackLargest = new Float64Array(capacity);
  }

  /** True when one more packet number stays within the ring. */
  get hasRoom(): boolean {
    return this.nextPn - this.oldestOutstanding < this.capacityMax;
  }

  /** The ring slot of `pn` when the ring still holds that packet, else -1. */
  slotOf(pn: number): number {
    const slot = pn & this.mask;
    return this.pn[slot] === pn ? slot : -1;
  }

  /**
   * Records the packet about to be sent under `nextPn` and returns its number.
   * Packets that are not ack-eliciting (pure ACKs) are remembered but do not
   * count as in flight, as in RFC 9002.
   */
  record(nowMs: number, bytes: number, flags: number, streamOffset: number, streamLength: number, ackLargest: number): number {
    const pn = this.nextPn;
    if (pn - this.oldestOutstanding > this.mask) this.grow();
    const slot = pn & this.mask;
    this.pn[slot] = pn;
    this.timeMs[slot] = nowMs;
    this.bytes[slot] = bytes;
    this.flags[slot] = flags;
    this.streamOffset[slot] = streamOffset;
    this.streamLength[slot] = streamLength;
    this.ackLargest[slot] = ackLargest;
    if ((flags & packetFlag.ackEliciting) !== 0) {
      this.state[slot] = packetState.outstanding;
      this.bytesInFlight += bytes;
      this.ackElicitingInFlight++;
      this.timeOfLastAckElicitingMs = nowMs;
    } else {
      this.state[slot] = packetState.none;
      if (this.oldestOutstanding === pn) this.oldestOutstanding = pn + 1;
    }
    this.nextPn = pn + 1;
    return pn;
  }

  /** Moves an outstanding packet to `acked` or `lost`, releasing its share of bytes in flight. */
  settle(slot: number, state: typeof packetState.acked | typeof packetState.lost): void {
    if (this.state[slot] === packetState.outstanding) {
      this.bytesInFlight -= this.bytes[slot]!;
      this.ackElicitingInFlight--;
    }
    this.state[slot] = state;
  }

  /** Skips `oldestOutstanding` past everything already settled. */
  advance(): void {
    let pn = this.oldestOutstanding;
    while (pn < this.nextPn) {
      const slot = pn & this.mask;
      if (this.pn[slot] === pn && this.state[slot] === packetState.outstanding) break;
      pn++;
    }
    this.oldestOutstanding = pn;
  }

  private grow(): void {
    const oldMask = this.mask;
    const capacity = (oldMask + 1) * 2;
    if (capacity > this.capacityMax) throw new Error('SentPackets grew past capacityMax: the caller must check hasRoom');
    const mask = capacity - 1;
    const pn = new Float64Array(capacity).fill(-1);
    const timeMs = new Float64Array(capacity);
    const bytes = new Int32Array(capacity);
    const state = new Uint8Array(capacity);
    const flags = new Uint8Array(capacity);
    const streamOffset = new Float64Array(capacity);
    const streamLength = new Int32Array(capacity);
    const ackLargest = new Float64Array(capacity);
    for (let p = this.oldestOutstanding; p < this.nextPn; p++) {
      const from = p & oldMask;
      if (this.pn[from] !== p) continue;
      const to = p & mask;
      pn[to] = p;
      timeMs[to] = this.timeMs[from]!;
      bytes[to] = this.bytes[from]!;
      state[to] = this.state[from]!;
      flags[to] = this.flags[from]!;
      streamOffset[to] = this.streamOffset[from]!;
      streamLength[to] = this.streamLength[from]!;
      ackLargest[to] = this.ackLargest[from]!;
    }
    this.mask = mask;
    this.pn = pn;
    this.timeMs = timeMs;
    this.bytes = bytes;
    this.state = state;
    this.flags = flags;
    this.streamOffset = streamOffset;
    this.streamLength = streamLength;
    this.ackLargest = ackLargest;
  }
}
