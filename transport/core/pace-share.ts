/** A connection as PaceShare counts it: the period in which its data last arrived. */
export interface PaceShareMember {
  paceSharePeriod: number;
}

/**
 * The pace each of a server's clients gets when many send at once. What
 * waits in the server's socket buffer is every sending client's pace, and
 * each other client's datagrams wait behind it; so up to `sendersFull`
 * clients sending at once get the whole pace, and more share `sendersFull`
 * paces between them (never less than `stepBytesMin`, below which credit
 * would stall a sender). Clients are counted by period: those whose data
 * arrived in the current period or the one before (the more of the two), so
 * a crowd that starts at once is counted as it arrives and one that stopped
 * leaves the count within two periods.
 *
 * Pure: time is the caller's.
 */
export class PaceShare {
  private period = 0;
  private periodEndMs = -Infinity;
  private sendersNow = 0;
  private sendersBefore = 0;

  constructor(
    private readonly paceBytes: number,
    private readonly sendersFull: number,
    private readonly stepBytesMin: number,
    private readonly periodMs: number,
  ) {}

  /** Data of `member` arrived at `nowMs`; returns the pace it gets now. */
  onData(member: PaceShareMember, nowMs: number): number {
    if (nowMs >= this.periodEndMs) {
      this.sendersBefore = this.sendersNow;
      this.sendersNow = 0;
      this.period++;
      this.periodEndMs = nowMs + this.periodMs;
    }
    if (member.paceSharePeriod !== this.period) {
      member.paceSharePeriod = this.period;
      this.sendersNow++;
    }
    return this.shareBytes;
  }

  /** The pace each sending client gets now. */
  get shareBytes(): number {
    const senders = Math.max(this.sendersNow, this.sendersBefore);
    if (senders <= this.sendersFull) return this.paceBytes;
    return Math.min(this.paceBytes, Math.max(this.stepBytesMin, Math.floor((this.sendersFull * this.paceBytes) / senders)));
  }
}
