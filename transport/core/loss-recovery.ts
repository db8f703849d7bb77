import type { CongestionController } from './congestion.js';
import type { RttEstimator } from './rtt.js';
import { packetFlag, packetState, type SentPackets } from './sent-packets.js';

/** What the connection repairs or releases as packets are settled. */
export interface LossRecoveryListener {
  onStreamAcked(offset: number, length: number): void;
  onStreamLost(offset: number, length: number): void;
  /** A lost packet carried control frames (`packetFlag` bits) that must go out again if still current. */
  onControlLost(flags: number): void;
  /** An ACK frame we sent, covering packets up to `largest`, reached the peer. */
  onAckOfAck(largest: number): void;
}

export interface LossRecoveryConfig {
  /** Reordering tolerated before a packet is declared lost (RFC 9002 kPacketThreshold), at first. */
  packetThreshold: number;
  /** The most the packet threshold grows to as reordering is seen (see onSpuriousLoss). */
  packetThresholdMax: number;
  /** The time threshold's margin over the RTT, at first (RFC 9002 kTimeThreshold - 1) and at most. */
  reorderFractionMin: number;
  reorderFractionMax: number;
  /** Packets declared lost that are remembered, to tell from a later ACK that they were only reordered. */
  lostRememberedMax: number;
  timerGranularityMs: number;
  /** Periods of PTO with every packet lost that amount to persistent congestion (kPersistentCongestionThreshold). */
  persistentCongestionThreshold: number;
  ptoMaxMs: number;
}

export interface LossRecoveryCounters {
  packetsLost: number;
  /** Of packetsLost, those acknowledged afterwards: they were reordered, not lost. */
  packetsLostSpuriously: number;
  congestionEvents: number;
  persistentCongestions: number;
}

/**
 * Loss detection and the probe timeout of RFC 9002 §6 over the sent-packet
 * ring: a packet is lost once a packet sent `packetThreshold` later is
 * acknowledged, or 9/8 RTT after a later one was; when nothing comes back,
 * the probe timeout fires with exponential backoff, capped at `ptoMaxMs`.
 *
 * Both thresholds adapt to the reordering the path shows (RFC 9002 §6.1
 * allows it; RACK, RFC 8985, and Google's QUIC do it): a packet declared
 * lost and then acknowledged was only overtaken, so the thresholds grow
 * until it would not have been declared lost. On a path whose packets take
 * delays that vary by more than the RTT's eighth, fixed thresholds declare
 * packets lost by the dozen per round trip, every declaration halves the
 * congestion window, and a megabyte took seconds on a path that lost
 * nothing (measured in the cluster simulation; see the README).
 */
export class LossRecovery {
  largestAcked = -1;
  ptoCount = 0;
  /** When the earliest not-yet-lost packet below largestAcked becomes lost by the time threshold. */
  lossTimeMs = Infinity;
  /** The peer's promised maximum ack delay (learned in the handshake). */
  peerAckDelayMaxMs: number;
  /** Packets a later acknowledged one may have overtaken before this one counts as lost. */
  packetThreshold: number;
  /** A packet counts as lost (1 + this) RTTs after it was sent, once a later one was acknowledged. */
  reorderFraction: number;
  readonly counters: LossRecoveryCounters = { packetsLost: 0, packetsLostSpuriously: 0, congestionEvents: 0, persistentCongestions: 0 };
  /**
   * The newest packets declared lost (at most lostRememberedMax), ascending: an ACK naming one shows
   * reordering. Ascending by construction: a packet is declared lost only once every packet below it
   * is settled.
   */
  private readonly lostPns: number[] = [];

  constructor(
    readonly sent: SentPackets,
    readonly rtt: RttEstimator,
    public cc: CongestionController,
    private readonly config: LossRecoveryConfig,
    peerAckDelayMaxMs: number,
  ) {
    this.peerAckDelayMaxMs = peerAckDelayMaxMs;
    this.packetThreshold = config.packetThreshold;
    this.reorderFraction = config.reorderFractionMin;
  }

  ptoBaseMs(): number {
    return this.rtt.ptoBaseMs(this.config.timerGranularityMs, this.peerAckDelayMaxMs);
  }

  /**
   * The current probe timeout including backoff. The cap bounds the backoff only: a path whose base
   * probe timeout is already above it (an RTT near a second) must still wait for its ACKs.
   */
  ptoMs(): number {
    const base = this.ptoBaseMs();
    return Math.min(base * 2 ** this.ptoCount, Math.max(base, this.config.ptoMaxMs));
  }

  /**
   * Processes one ACK frame. `ranges` holds [start, end) pairs from the
   * highest down, already validated against the sent packet numbers.
   * Returns true when it acknowledged something new.
   */
  onAck(nowMs: number, ranges: Float64Array, rangeCount: number, ackDelayMs: number, listener: LossRecoveryListener): boolean {
    const sent = this.sent;
    const largest = ranges[1]! - 1;
    const inFlightBefore = sent.bytesInFlight;
    if (this.lostPns.length > 0) this.findSpurious(nowMs, ranges, rangeCount, listener);
    let newlyAcked = false;
    let rttSampleMs = -1;
    for (let r = 0; r < rangeCount; r++) {
      const start = Math.max(ranges[2 * r]!, sent.oldestOutstanding);
      const end = ranges[2 * r + 1]!;
      for (let pn = start; pn < end; pn++) {
        const slot = sent.slotOf(pn);
        // Only outstanding packets here: one declared lost is found by findSpurious.
        if (slot >= 0 && sent.state[slot] === packetState.outstanding) {
          newlyAcked = true;
          sent.settle(slot, packetState.acked);
          const timeMs = sent.timeMs[slot]!;
          this.cc.onAck(nowMs, timeMs, sent.bytes[slot]!, inFlightBefore);
          const length = sent.streamLength[slot]!;
          if (length > 0) listener.onStreamAcked(sent.streamOffset[slot]!, length);
          const ackLargest = sent.ackLargest[slot]!;
          if (ackLargest >= 0) listener.onAckOfAck(ackLargest);
          if (pn === largest) rttSampleMs = nowMs - timeMs;
        }
      }
    }
    if (largest > this.largestAcked) this.largestAcked = largest;
    if (rttSampleMs >= 0) this.rtt.update(rttSampleMs, Math.min(ackDelayMs, this.peerAckDelayMaxMs));
    if (newlyAcked) this.ptoCount = 0;
    this.detectLost(nowMs, listener);
    sent.advance();
    return newlyAcked;
  }

  /** Walks the remembered lost packets and the ACK's ranges together (both sorted): each one acknowledged was reordered. */
  private findSpurious(nowMs: number, ranges: Float64Array, rangeCount: number, listener: LossRecoveryListener): void {
    const { sent, lostPns } = this;
    let kept = 0;
    // Ranges run from the highest down: the last is the lowest.
    let r = rangeCount - 1;
    for (const pn of lostPns) {
      while (r >= 0 && ranges[2 * r + 1]! <= pn) r--;
      const slot = sent.slotOf(pn);
      if (slot < 0 || sent.state[slot] !== packetState.lost) continue;
      if (r >= 0 && ranges[2 * r]! <= pn) this.onSpuriousLoss(nowMs, slot, pn, this.largestAcked, listener);
      else lostPns[kept++] = pn;
    }
    lostPns.length = kept;
  }

  /**
   * A packet declared lost was acknowledged: it was overtaken, by `largestBefore - pn` packets and for
   * `nowMs - sent` ms. The packet threshold grows to that distance, the time threshold's margin doubles
   * until it covers that time (each bounded), so the same reordering is not taken for loss again. Its data
   * arrived: the stream forgets the resend (if it has not gone yet), and the congestion controller may
   * undo a reduction that only such packets caused.
   */
  private onSpuriousLoss(nowMs: number, slot: number, pn: number, largestBefore: number, listener: LossRecoveryListener): void {
    const { sent, config } = this;
    const sentMs = sent.timeMs[slot]!;
    sent.settle(slot, packetState.acked);
    this.counters.packetsLostSpuriously++;
    this.packetThreshold = Math.min(Math.max(this.packetThreshold, largestBefore - pn + 1), config.packetThresholdMax);
    const rttMs = Math.max(this.rtt.latestMs, this.rtt.smoothedMs);
    while (this.reorderFraction < config.reorderFractionMax && rttMs * (1 + this.reorderFraction) < nowMs - sentMs) {
      this.reorderFraction = Math.min(this.reorderFraction * 2, config.reorderFractionMax);
    }
    const length = sent.streamLength[slot]!;
    if (length > 0) listener.onStreamAcked(sent.streamOffset[slot]!, length);
    this.cc.onSpuriousLoss(sentMs);
  }

  /** Declares lost what the packet and time thresholds say is lost, and arms the loss timer for the rest. */
  detectLost(nowMs: number, listener: LossRecoveryListener): void {
    const sent = this.sent;
    const config = this.config;
    this.lossTimeMs = Infinity;
    if (this.largestAcked < 0) return;
    const lossDelayMs = this.rtt.lossDelayMs(config.timerGranularityMs, this.reorderFraction);
    const packetThreshold = this.packetThreshold;
    let lostCount = 0;
    let newestLostTimeMs = -Infinity;
    // Persistent congestion: a run of lost ack-eliciting packets with nothing acknowledged between them.
    let runStartMs = -1;
    let runLongestMs = 0;
    for (let pn = sent.oldestOutstanding; pn < this.largestAcked; pn++) {
      const slot = sent.slotOf(pn);
      if (slot < 0) continue;
      const state = sent.state[slot];
      if (state === packetState.acked) {
        runStartMs = -1;
        continue;
      }
      if (state !== packetState.outstanding) continue;
      const timeMs = sent.timeMs[slot]!;
      // Compared exactly as the loss timer is armed, so the timer firing always declares the packet lost.
      const lostAtMs = timeMs + lossDelayMs;
      if (lostAtMs > nowMs && pn + packetThreshold > this.largestAcked) {
        this.lossTimeMs = lostAtMs;
        break;
      }
      sent.settle(slot, packetState.lost);
      if (this.lostPns.push(pn) > config.lostRememberedMax) this.lostPns.shift();
      lostCount++;
      if (timeMs > newestLostTimeMs) newestLostTimeMs = timeMs;
      if (runStartMs < 0) runStartMs = timeMs;
      else if (timeMs - runStartMs > runLongestMs) runLongestMs = timeMs - runStartMs;
      const length = sent.streamLength[slot]!;
      if (length > 0) listener.onStreamLost(sent.streamOffset[slot]!, length);
      const flags = sent.flags[slot]! & ~packetFlag.ackEliciting;
      if (flags !== 0) listener.onControlLost(flags);
    }
    if (lostCount === 0) return;
    this.counters.packetsLost += lostCount;
    this.counters.congestionEvents++;
    this.cc.onCongestionEvent(nowMs, newestLostTimeMs, lostCount);
    const persistentMs = this.ptoBaseMs() * config.persistentCongestionThreshold;
    if (this.rtt.hasSample && runLongestMs > persistentMs) {
      this.counters.persistentCongestions++;
      this.cc.onPersistentCongestion();
    }
  }

  /** The loss timer if armed, else the probe timeout while ack-eliciting packets are in flight, else Infinity. */
  deadlineMs(): number {
    if (this.lossTimeMs !== Infinity) return this.lossTimeMs;
    if (this.sent.ackElicitingInFlight === 0) return Infinity;
    return this.sent.timeOfLastAckElicitingMs + this.ptoMs();
  }

  /** Runs the timer if due: returns 'pto' when the caller must send probes. */
  onTimeout(nowMs: number, listener: LossRecoveryListener): 'loss' | 'pto' | null {
    if (this.lossTimeMs <= nowMs) {
      this.detectLost(nowMs, listener);
      this.sent.advance();
      return 'loss';
    }
    if (this.lossTimeMs === Infinity && this.sent.ackElicitingInFlight > 0 && this.deadlineMs() <= nowMs) {
      this.ptoCount++;
      return 'pto';
    }
    return null;
  }
}
