/**
 * Congestion control behind a small interface (quinn-proto's shape), so the
 * connection does not care which algorithm limits it. The connection calls
 * onSent for every packet that counts toward bytes in flight, onAck for every
 * such packet newly acknowledged, and onCongestionEvent once per loss
 * detection round that declared packets lost.
 */
export interface CongestionController {
  readonly algorithm: CongestionAlgorithm;
  /** 'slow-start' | 'recovery' | 'avoidance' for NewReno; 'fixed' for a fixed window. */
  readonly phase: string;
  /** Bytes that may be in flight now. */
  readonly windowBytes: number;
  onSent(nowMs: number, bytes: number): void;
  /** `bytesInFlight` is measured before this acknowledgement, to tell a window-limited sender from an idle one. */
  onAck(nowMs: number, sentTimeMs: number, bytes: number, bytesInFlight: number): void;
  /** `lostCount` packets were declared lost; `sentTimeMs` is when the newest of them was sent. */
  onCongestionEvent(nowMs: number, sentTimeMs: number, lostCount: number): void;
  /** A packet declared lost, sent at `sentTimeMs`, was acknowledged after all: it was reordered, not lost. */
  onSpuriousLoss(sentTimeMs: number): void;
  /** Lost packets spanned more than the persistent-congestion period with nothing acknowledged in between. */
  onPersistentCongestion(): void;
  /** Bytes per millisecond the pacer lets out, from the window and the smoothed RTT. */
  pacingRateBytesPerMs(smoothedRttMs: number): number;
}

export type CongestionAlgorithm = 'newreno' | 'fixed';

/** RFC 9002 §7.7: pace at N × window / RTT with N slightly above 1, so pacing never limits the window itself. */
const pacingGain = 1.25;
/** A floor for the RTT used by pacing, so a loopback RTT of a few microseconds does not mean an infinite rate. */
const pacingRttFloorMs = 0.05;

export function pacingRate(windowBytes: number, smoothedRttMs: number): number {
  return (pacingGain * windowBytes) / Math.max(smoothedRttMs, pacingRttFloorMs);
}

/**
 * NewReno (RFC 9002 §7 and Appendix B): slow start doubles the window each
 * round trip, a loss halves it once per recovery period, congestion avoidance
 * adds one datagram per window acknowledged, persistent congestion collapses
 * it to the minimum. The window only grows while the sender actually uses it.
 * A reduction whose lost packets all turn out to have been reordered, not
 * lost, is undone (as CUBIC undoes a spurious congestion event, RFC 9438
 * §4.9): the loss detector learns the path's reordering from them (see
 * LossRecovery), and the window should not pay for what it learned.
 */
export class NewReno implements CongestionController {
  readonly algorithm = 'newreno' as const;
  windowBytes: number;
  slowStartThresholdBytes = Infinity;
  private recoveryStartMs = -Infinity;
  private ackedInAvoidanceBytes = 0;
  /** Set from a congestion event until a packet sent after it is acknowledged. */
  private inRecovery = false;
  private readonly datagramBytes: number;
  readonly minimumWindowBytes: number;
  /** The latest reduction: the window and threshold before it, and how many of its lost packets may yet prove reordered. */
  private undo: { windowBytes: number; slowStartThresholdBytes: number; lostPending: number } | null = null;

  constructor(options: { datagramBytes: number; initialWindowPackets: number; minimumWindowPackets: number }) {
    this.datagramBytes = options.datagramBytes;
    // RFC 9002 §7.2 caps the initial window in bytes; we keep the packet count but never less than 14,720 B.
    this.windowBytes = Math.max(options.initialWindowPackets * options.datagramBytes, 14_720);
    this.minimumWindowBytes = options.minimumWindowPackets * options.datagramBytes;
  }

  get phase(): string {
    if (this.inRecovery) return 'recovery';
    return this.windowBytes < this.slowStartThresholdBytes ? 'slow-start' : 'avoidance';
  }

  onSent(): void {}

  onAck(_nowMs: number, sentTimeMs: number, bytes: number, bytesInFlight: number): void {
    if (sentTimeMs <= this.recoveryStartMs) return;
    this.inRecovery = false;
    // An application-limited sender has not tested the window; growing it would be a guess (§7.8).
    if (bytesInFlight < this.windowBytes / 2) return;
    if (this.windowBytes < this.slowStartThresholdBytes) {
      this.windowBytes += bytes;
      return;
    }
    this.ackedInAvoidanceBytes += bytes;
    if (this.ackedInAvoidanceBytes >= this.windowBytes) {
      this.ackedInAvoidanceBytes -= this.windowBytes;
      this.windowBytes += this.datagramBytes;
    }
  }

  onCongestionEvent(nowMs: number, sentTimeMs: number, lostCount: number): void {
    // One reduction per round trip: losses of packets sent before recovery began are the same event.
    if (sentTimeMs <= this.recoveryStartMs) {
      if (this.undo !== null) this.undo.lostPending += lostCount;
      return;
    }
    this.undo = { windowBytes: this.windowBytes, slowStartThresholdBytes: this.slowStartThresholdBytes, lostPending: lostCount };
    this.recoveryStartMs = nowMs;
    this.inRecovery = true;
    this.windowBytes = Math.max(this.windowBytes / 2, this.minimumWindowBytes);
    this.slowStartThresholdBytes = this.windowBytes;
    this.ackedInAvoidanceBytes = 0;
  }

  onSpuriousLoss(sentTimeMs: number): void {
    const undo = this.undo;
    // Only the latest reduction's packets (sent before it began) can undo it.
    if (undo === null || sentTimeMs > this.recoveryStartMs || --undo.lostPending > 0) return;
    this.windowBytes = Math.max(this.windowBytes, undo.windowBytes);
    this.slowStartThresholdBytes = undo.slowStartThresholdBytes;
    this.inRecovery = false;
    this.undo = null;
  }

  onPersistentCongestion(): void {
    this.undo = null;
    this.windowBytes = this.minimumWindowBytes;
    this.recoveryStartMs = -Infinity;
    this.inRecovery = false;
    this.ackedInAvoidanceBytes = 0;
  }

  pacingRateBytesPerMs(smoothedRttMs: number): number {
    return pacingRate(this.windowBytes, smoothedRttMs);
  }
}

/**
 * A fixed window for lossy lab links where loss is not a congestion signal:
 * the sender keeps `windowBytes` in flight whatever is lost, and loss
 * recovery alone repairs the stream.
 */
export class FixedWindow implements CongestionController {
  readonly algorithm = 'fixed' as const;
  readonly phase = 'fixed';

  constructor(readonly windowBytes: number) {}

  onSent(): void {}
  onAck(): void {}
  onCongestionEvent(): void {}
  onSpuriousLoss(): void {}
  onPersistentCongestion(): void {}

  pacingRateBytesPerMs(smoothedRttMs: number): number {
    return pacingRate(this.windowBytes, smoothedRttMs);
  }
}
