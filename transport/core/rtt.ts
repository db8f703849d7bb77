/**
 * Round-trip time estimation (RFC 9002 §5): the minimum over the connection's
 * life, an exponentially weighted smoothed RTT and mean deviation, and the
 * latest sample. Before the first sample, `initialRttMs` stands in.
 */
export class RttEstimator {
  latestMs: number;
  smoothedMs: number;
  varianceMs: number;
  minMs = Infinity;
  hasSample = false;

  constructor(initialRttMs: number) {
    this.latestMs = initialRttMs;
    this.smoothedMs = initialRttMs;
    this.varianceMs = initialRttMs / 2;
  }

  /**
   * Takes one sample. `ackDelayMs` is what the peer says it held the ACK,
   * already capped at its promised maximum; it is only subtracted when that
   * does not push the sample below the minimum RTT (§5.3).
   */
  update(latestRttMs: number, ackDelayMs: number): void {
    const sample = latestRttMs > 0 ? latestRttMs : 0;
    this.latestMs = sample;
    if (sample < this.minMs) this.minMs = sample;
    if (!this.hasSample) {
      this.hasSample = true;
      this.smoothedMs = sample;
      this.varianceMs = sample / 2;
      return;
    }
    const adjusted = sample >= this.minMs + ackDelayMs ? sample - ackDelayMs : sample;
    this.varianceMs = 0.75 * this.varianceMs + 0.25 * Math.abs(this.smoothedMs - adjusted);
    this.smoothedMs = 0.875 * this.smoothedMs + 0.125 * adjusted;
  }

  /** The probe timeout before backoff (§6.2.1): srtt + max(4·rttvar, granularity) + the peer's max ack delay. */
  ptoBaseMs(granularityMs: number, maxAckDelayMs: number): number {
    return this.smoothedMs + Math.max(4 * this.varianceMs, granularityMs) + maxAckDelayMs;
  }

  /**
   * How long after a later packet was acknowledged an earlier one counts as lost (§6.1.2): the RTT and
   * `reorderFraction` of it (RFC 9002's 9/8 for 1/8; more where reordering was seen, see LossRecovery).
   */
  lossDelayMs(granularityMs: number, reorderFraction = 1 / 8): number {
    return Math.max((1 + reorderFraction) * Math.max(this.latestMs, this.smoothedMs), granularityMs);
  }
}
