/**
 * A token bucket that spreads a window's worth of packets over the round trip
 * instead of sending it in one burst: a receiver on loopback loses a large
 * share of an unpaced burst in its kernel buffer. The bucket holds about
 * `burstMs` of the pacing rate (within [burstBytesMin, burstBytesMax]), which
 * also absorbs the coarse wake-ups of the shell's timer.
 */
export class Pacer {
  private tokens = 0;
  private lastMs = 0;
  private started = false;

  constructor(private readonly options: { burstMs: number; burstBytesMin: number; burstBytesMax: number }) {}

  private capacity(rateBytesPerMs: number): number {
    const { burstMs, burstBytesMin, burstBytesMax } = this.options;
    return Math.min(Math.max(rateBytesPerMs * burstMs, burstBytesMin), burstBytesMax);
  }

  private refill(nowMs: number, rateBytesPerMs: number): void {
    const capacity = this.capacity(rateBytesPerMs);
    if (!this.started) {
      this.started = true;
      this.tokens = capacity;
    } else if (nowMs > this.lastMs) this.tokens = Math.min(capacity, this.tokens + (nowMs - this.lastMs) * rateBytesPerMs);
    this.lastMs = nowMs;
  }

  /** When a packet of `bytes` may leave: `nowMs` or earlier means now. */
  releaseTimeMs(nowMs: number, bytes: number, rateBytesPerMs: number): number {
    this.refill(nowMs, rateBytesPerMs);
    // A byte of slack absorbs rounding, so waking at the promised time always finds enough tokens.
    if (this.tokens >= bytes - 1) return nowMs;
    return nowMs + (bytes - this.tokens) / rateBytesPerMs;
  }

  onSent(bytes: number): void {
    this.tokens -= bytes;
  }
}
