/**
 * What a paced client's credit must cover beyond the fixed pace for its path
 * (see ReceiveStream.followPath): the data on its way at the rate it arrives,
 * `gain` times the path's minimum round trip of it. A fixed pace alone caps a
 * client at pace per round trip, which a long path makes slow; covering what
 * the path holds lets a client fill it, while what waits in the server's
 * socket buffer stays near the fixed pace.
 *
 * The minimum RTT, not the smoothed one: queueing in front of the server
 * raises the smoothed RTT, and a pace that grew with it would let senders
 * queue more, raising it further. Measured on the minimum, queueing makes the
 * rate lag the pace, and the pace falls back to the fixed one. The rate is
 * arrivals over spans of one minimum RTT, the better of the last two spans
 * (a span that ends in a lull does not halve the pace at once); a sender that
 * pauses for a whole span starts over from the fixed pace.
 *
 * Pure: time is the caller's.
 */
export class PathPace {
  private spanStartMs = -Infinity;
  private spanStartBytes = 0;
  private lastRateBytesPerMs = 0;
  private previousRateBytesPerMs = 0;

  constructor(
    private readonly gain: number,
    private readonly spanMsMin: number,
  ) {}

  /**
   * `arrivedBytes` (stream bytes arrived so far, in order or not) grew at `nowMs`; returns the bytes the path
   * needs covered (0 before any RTT sample: nothing is known of the path).
   */
  onArrival(arrivedBytes: number, nowMs: number, minRttMs: number): number {
    if (!Number.isFinite(minRttMs)) return 0;
    const spanMs = Math.max(minRttMs, this.spanMsMin);
    const elapsedMs = nowMs - this.spanStartMs;
    if (elapsedMs >= spanMs) {
      if (Number.isFinite(elapsedMs)) {
        this.previousRateBytesPerMs = this.lastRateBytesPerMs;
        this.lastRateBytesPerMs = (arrivedBytes - this.spanStartBytes) / elapsedMs;
      }
      this.spanStartMs = nowMs;
      this.spanStartBytes = arrivedBytes;
    }
    return Math.ceil(this.gain * Math.max(this.lastRateBytesPerMs, this.previousRateBytesPerMs) * minRttMs);
  }
}
