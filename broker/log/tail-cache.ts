import type { BatchHeader } from '../../transport/protocol/record-batch.js';

export interface CachedBatch {
  header: BatchHeader;
  bytes: Buffer;
  /** Base entry index of the segment holding it: reads stop at segment boundaries, from cache as from disk. */
  segmentBaseIndex: number;
}

/**
 * The newest batches of the log, in memory, as a contiguous suffix: Raft
 * sends what it just appended to followers and tailing consumers read what
 * was just written, both without a system call. Bounded by bytes; the
 * oldest batches leave first. Because the cache is always a suffix of the
 * log, a read that starts inside it can be answered from it entirely.
 */
export class TailCache {
  private items: CachedBatch[] = [];
  private head = 0;
  bytes = 0;

  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  get firstIndex(): number {
    return this.size === 0 ? Infinity : this.items[this.head]!.header.entryIndex;
  }

  push(header: BatchHeader, bytes: Buffer, segmentBaseIndex: number): void {
    if (this.maxBytes === 0) return;
    // A batch that is a small view of a large buffer (a network message) would pin all of it; keep a copy instead.
    const own = bytes.buffer.byteLength > 2 * bytes.length + 4096 ? Buffer.from(bytes) : bytes;
    this.items.push({ header, bytes: own, segmentBaseIndex });
    this.bytes += own.length;
    while (this.bytes > this.maxBytes && this.size > 0) {
      this.bytes -= this.items[this.head]!.bytes.length;
      this.items[this.head++] = undefined as unknown as CachedBatch;
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Position (for at()) of the batch with this entry index, or -1 if not cached. */
  slotOfIndex(entryIndex: number): number {
    const slot = entryIndex - this.firstIndex;
    return slot >= 0 && slot < this.size ? slot : -1;
  }

  /**
   * Position of the first cached batch holding `offset` (or, past control
   * batches, the first one starting there), or -1 when the cache does not
   * start at or before it.
   */
  slotOfOffset(offset: number): number {
    const size = this.size;
    if (size === 0 || this.items[this.head]!.header.baseOffset > offset) return -1;
    // First batch whose records end after offset: its nextOffset > offset.
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[this.head + mid]!.header.nextOffset <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < size ? lo : -1;
  }

  at(slot: number): CachedBatch {
    return this.items[this.head + slot]!;
  }

  /** Drops cached batches with entry index >= fromIndex. */
  truncateFrom(fromIndex: number): void {
    while (this.size > 0 && this.items[this.items.length - 1]!.header.entryIndex >= fromIndex) {
      this.bytes -= this.items.pop()!.bytes.length;
    }
  }

  /** Drops cached batches with entry index < index (their segment was deleted by retention). */
  dropBefore(index: number): void {
    while (this.size > 0 && this.items[this.head]!.header.entryIndex < index) {
      this.bytes -= this.items[this.head]!.bytes.length;
      this.items[this.head++] = undefined as unknown as CachedBatch;
    }
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.bytes = 0;
  }
}
