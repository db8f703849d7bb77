import { transportLimits } from '../limits.js';
import { allocateBytes } from './bytes.js';
import { RangeSet } from './range-set.js';
import { varintLength, writeVarint } from './varint.js';

/** The longest length prefix of a message on the stream: a varint's 8-byte form. */
export const messagePrefixBytesMax = 8;

/** What a released slot holds until the chunk arrays are compacted. */
const releasedChunk = new Uint8Array(0);

/**
 * The outgoing half of a connection: one ordered byte stream carrying
 * length-prefixed messages (a QUIC varint, then the bytes). Messages are
 * copied in on write, so the caller may reuse its buffer; small ones share
 * chunks, large ones get a chunk of their own. Bytes stay until acknowledged,
 * because a lost range is resent (in a new packet) from here. The stream never
 * holds more than `bufferBytesMax`, which is how backpressure starts.
 */
export class SendStream {
  /** Bytes written so far (prefixes and bodies). */
  writeOffset = 0;
  /** Everything below was sent at least once; new data starts here. */
  sentOffset = 0;
  /** Everything below is acknowledged and released. */
  ackedOffset = 0;
  /** Acknowledged ranges above ackedOffset. */
  private readonly acked = new RangeSet();
  /** Lost ranges waiting to be sent again, lowest first. */
  private readonly resend = new RangeSet();
  private readonly chunks: Uint8Array[] = [];
  private readonly chunkStarts: number[] = [];
  private chunkHead = 0;
  /** The last chunk while small messages can still be appended to it. */
  private tail: Uint8Array | null = null;
  private tailUsed = 0;
  /**
   * Released chunks kept for the next ones (newest last). Request/response
   * traffic has each message acknowledged before the next is written, and a
   * bulk sender frees a chunk for every one it writes; without these, every
   * message took a fresh chunk: tens of MB/s of short-lived buffers whose
   * major collections cost a loaded broker a tenth of its CPU.
   */
  private readonly spares: Uint8Array[] = [];

  /** Range chosen by the last successful `nextRange`. */
  rangeOffset = 0;
  rangeLength = 0;
  rangeIsResend = false;
  /** Chunks allocated so far (a released one is reused before a new one is allocated). */
  chunksAllocated = 0;

  constructor(
    private readonly bufferBytesMax: number,
    private readonly chunkBytes: number,
  ) {}

  /** Bytes written and not yet acknowledged. */
  get bufferedBytes(): number {
    return this.writeOffset - this.ackedOffset;
  }

  get hasPending(): boolean {
    return this.sentOffset < this.writeOffset || !this.resend.isEmpty;
  }

  get hasResend(): boolean {
    return !this.resend.isEmpty;
  }

  /** True when every byte written has been acknowledged. */
  get isSettled(): boolean {
    return this.ackedOffset === this.writeOffset;
  }

  /** Bytes one message takes on the stream. */
  static encodedBytes(messageBytes: number): number {
    return varintLength(messageBytes) + messageBytes;
  }

  /**
   * Appends one message if it fits the buffer. An empty buffer always takes a
   * message (the caller has checked it against the size limit), so a message
   * as large as the buffer is never stuck.
   */
  tryWrite(message: Uint8Array): boolean {
    const total = SendStream.encodedBytes(message.length);
    const buffered = this.bufferedBytes;
    if (buffered > 0 && buffered + total > this.bufferBytesMax) return false;
    if (this.tail !== null && total <= this.tail.length - this.tailUsed) {
      const tail = this.tail;
      const pos = writeVarint(tail, this.tailUsed, message.length);
      tail.set(message, pos);
      this.tailUsed = pos + message.length;
    } else if (total <= this.chunkBytes) {
      const chunk = this.allocate(this.chunkBytes);
      const pos = writeVarint(chunk, 0, message.length);
      chunk.set(message, pos);
      this.pushChunk(chunk);
      this.tail = chunk;
      this.tailUsed = total;
    } else {
      const chunk = this.allocate(total);
      chunk.set(message, writeVarint(chunk, 0, message.length));
      this.pushChunk(chunk);
      this.tail = null;
    }
    this.writeOffset += total;
    return true;
  }

  /** Drops every byte held (the connection is closing: nothing will be sent or resent again). */
  discard(): void {
    this.chunks.length = 0;
    this.chunkStarts.length = 0;
    this.chunkHead = 0;
    this.tail = null;
    this.spares.length = 0;
  }

  private allocate(bytes: number): Uint8Array {
    const spare = this.spares.pop();
    if (spare !== undefined && spare.length >= bytes) return spare;
    this.chunksAllocated++;
    return allocateBytes(bytes);
  }

  private pushChunk(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.chunkStarts.push(this.writeOffset);
  }

  /**
   * Picks the next range to send: lost data first, then new data up to the
   * peer's flow-control limit. Returns false when there is nothing; otherwise
   * sets rangeOffset/rangeLength/rangeIsResend.
   */
  nextRange(lengthMax: number, flowLimit: number): boolean {
    const resend = this.resend;
    while (!resend.isEmpty) {
      let start = resend.min;
      const end = resend.end(0);
      if (start < this.ackedOffset) {
        if (end <= this.ackedOffset) {
          resend.shift();
          continue;
        }
        start = this.ackedOffset;
      }
      if (this.acked.has(start)) {
        // Acknowledged meanwhile (a late ACK of the original): nothing to resend there.
        resend.remove(resend.min, this.acked.nextMissing(start));
        continue;
      }
      const stop = Math.min(end, start + lengthMax, this.acked.nextStartAfter(start));
      resend.remove(resend.min, stop);
      this.rangeOffset = start;
      this.rangeLength = stop - start;
      this.rangeIsResend = true;
      return true;
    }
    const limit = Math.min(this.writeOffset, flowLimit);
    if (this.sentOffset >= limit) return false;
    this.rangeOffset = this.sentOffset;
    this.rangeLength = Math.min(lengthMax, limit - this.sentOffset);
    this.rangeIsResend = false;
    this.sentOffset += this.rangeLength;
    return true;
  }

  /** True when new data is waiting but the peer's flow-control limit holds it back. */
  isFlowBlocked(flowLimit: number): boolean {
    return this.sentOffset < this.writeOffset && this.sentOffset >= flowLimit;
  }

  /** Copies stream bytes [offset, offset+length) to `out` at `pos`. */
  copyOut(offset: number, length: number, out: Uint8Array, pos: number): void {
    let index = this.chunkIndexOf(offset);
    let from = offset;
    let remaining = length;
    while (remaining > 0) {
      const chunk = this.chunks[index]!;
      const within = from - this.chunkStarts[index]!;
      const chunkEnd = index + 1 < this.chunks.length ? this.chunkStarts[index + 1]! : this.writeOffset;
      const n = Math.min(remaining, chunkEnd - from);
      out.set(chunk.subarray(within, within + n), pos);
      pos += n;
      from += n;
      remaining -= n;
      index++;
    }
  }

  private chunkIndexOf(offset: number): number {
    const starts = this.chunkStarts;
    let lo = this.chunkHead;
    let hi = starts.length - 1;
    // New data is read from the last chunks; check the tail first.
    if (starts[hi]! <= offset) return hi;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  onAcked(offset: number, length: number): void {
    const end = offset + length;
    if (end <= this.ackedOffset) return;
    if (!this.resend.isEmpty) this.resend.remove(offset, end);
    if (offset > this.ackedOffset) {
      this.acked.add(offset, end);
      return;
    }
    let acked = end;
    const ranges = this.acked;
    while (!ranges.isEmpty && ranges.min <= acked) {
      if (ranges.end(0) > acked) acked = ranges.end(0);
      ranges.shift();
    }
    this.ackedOffset = acked;
    this.release();
  }

  onLost(offset: number, length: number): void {
    const start = Math.max(offset, this.ackedOffset);
    const end = offset + length;
    if (start < end) this.resend.add(start, end);
  }

  /** Frees chunks that lie wholly below ackedOffset. */
  private release(): void {
    const starts = this.chunkStarts;
    const chunks = this.chunks;
    while (this.chunkHead < chunks.length) {
      const next = this.chunkHead + 1 < chunks.length ? starts[this.chunkHead + 1]! : this.writeOffset;
      if (next > this.ackedOffset) break;
      const chunk = chunks[this.chunkHead]!;
      if (chunk === this.tail) {
        // Fully acknowledged tail: the next message starts a chunk (perhaps this one, as a spare) at its beginning.
        this.tail = null;
      }
      // Its bytes are never read again (resends come from above ackedOffset), so it can be written over.
      // Only chunk-sized ones: a spare that held a huge message would keep its memory for nothing.
      if (chunk.length >= this.chunkBytes && chunk.length <= 2 * this.chunkBytes && this.spares.length < transportLimits.sendSpareChunksMax) this.spares.push(chunk);
      // Until the arrays are compacted, the released slot must not keep a large message's memory alive.
      chunks[this.chunkHead] = releasedChunk;
      this.chunkHead++;
    }
    // Compact the arrays once the released prefix dominates, keeping amortised O(1).
    if (this.chunkHead > 64 && this.chunkHead * 2 > chunks.length) {
      chunks.splice(0, this.chunkHead);
      starts.splice(0, this.chunkHead);
      this.chunkHead = 0;
    }
  }
}
