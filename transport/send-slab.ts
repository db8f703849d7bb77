/**
 * Outgoing datagrams are written straight into slices of a large slab: no
 * allocation per packet beyond the slice itself. A slice is never written
 * again once handed to the socket (dgram may still hold it in its queue); a
 * full slab is simply dropped for a new one and freed when its last datagram
 * is gone.
 */
export class SendSlab {
  private slab: Buffer;
  private used = 0;

  constructor(
    private readonly slabBytes: number,
    private readonly datagramBytesMax: number,
  ) {
    this.slab = Buffer.allocUnsafe(slabBytes);
  }

  /** Room for one datagram; only `commit` makes it permanent. */
  take(): Buffer {
    if (this.used + this.datagramBytesMax > this.slab.length) {
      this.slab = Buffer.allocUnsafe(this.slabBytes);
      this.used = 0;
    }
    return this.slab.subarray(this.used, this.used + this.datagramBytesMax);
  }

  /** Keeps the first `length` bytes of the last `take` and returns them. */
  commit(taken: Buffer, length: number): Buffer {
    // Keep the next slice 8-byte aligned; it costs nothing and keeps typed-array views cheap.
    this.used += (length + 7) & ~7;
    return taken.subarray(0, length);
  }
}
