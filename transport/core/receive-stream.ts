import { allocateBytes } from './bytes.js';
import { Fifo } from './fifo.js';
import { RangeSet } from './range-set.js';
import { varintLength } from './varint.js';

/** Outcome of `ReceiveStream.receive`. */
export const receiveResult = {
  ok: 0,
  /** Data beyond the credit we granted: the peer broke flow control. */
  flowViolation: 1,
  /** A length prefix above messageBytesMax: the peer broke the size limit. */
  tooLarge: 2,
  /** No room to hold more out-of-order pieces now; drop the packet unacknowledged so it is resent. */
  noRoom: 3,
  /** A length prefix in a longer form than its value needs: every length has one encoding (see varint.ts). */
  malformed: 4,
} as const;
export type ReceiveResult = (typeof receiveResult)[keyof typeof receiveResult];

export interface ReceiveStreamConfig {
  /** Credit granted beyond what the application has taken (receiver flow control, in stream bytes). */
  windowBytes: number;
  messageBytesMax: number;
  /** Out-of-order and not-yet-parsed pieces held at once. */
  fragmentsMax: number;
  /** Whole messages waiting for the application; parsing pauses beyond this. */
  queuedMessagesMax: number;
  /** A message up to this size is copied into a buffer of its size as it arrives; a larger one is gathered. */
  preallocateBytesMax: number;
  /** Credit at most this far beyond what arrived (in order or not), within the window (0: the window alone). */
  paceBytes: number;
}

/**
 * The incoming half of a connection: puts stream data back in order, cuts it
 * into messages at the length prefixes and queues them for the application.
 * Credit (the highest stream offset the peer may send) only moves as the
 * application takes messages, so an application that stops reading stops
 * the sender instead of growing memory. Paced, it also moves only as data
 * arrives, at most paceBytes ahead of what arrived, or what the path holds
 * when that is more (followPath): the peer has no more than that on its way
 * at once (and what it resends), whatever its congestion window; data
 * dropped for lack of room (see ConnectionHost.receiveRoom) earns no credit.
 *
 * Messages wholly inside one datagram are delivered as views of it (no copy);
 * the core never writes into received datagrams.
 */
export class ReceiveStream {
  /** Every byte below has been received. */
  contiguousEnd = 0;
  /** End offset of the last message the application took. */
  consumedOffset = 0;
  /**
   * The most credit the peer may assume: the window at first (a peer that predates pacing takes the whole
   * window from the handshake), then the highest limit told. Data beyond it breaks flow control.
   */
  creditGranted: number;
  /** The credit limit last told to the peer (the handshake's initialCreditBytes, then MAX_DATA). */
  creditAdvertised: number;
  /** Whether a MAX_DATA was ever granted (one lost, or owed again after a probe timeout, is sent again). */
  creditExtended = false;
  private paceBytes: number;
  /** What the path holds at the rate data arrives (see PathPace); the pace covers it when it is the larger. */
  private pathBytes = 0;
  /** This stream's share of the pace while many clients send at once (see PaceShare). */
  private paceShareBytes = Infinity;
  duplicateBytes = 0;

  private readonly stashRanges = new RangeSet();
  private readonly stash = new Map<number, Uint8Array>();
  /** Contiguous bytes not parsed yet because the message queue is full. */
  private readonly unparsed = new Fifo<Uint8Array>();
  /** Stream offset the parser has reached. */
  private parsedOffset = 0;
  /** Length prefix being assembled across pieces (-1 when none). */
  private prefixValue = -1;
  private prefixRemaining = 0;
  private prefixBytes = 0;
  /** Length of the message being assembled (-1 between messages), and how much of it arrived. */
  private bodyBytes = -1;
  private bodyFilled = 0;
  /** A small message is copied into its buffer as it arrives... */
  private body: Uint8Array | null = null;
  /**
   * ...a large one is gathered as the pieces that carried it and joined once complete, so what a
   * connection holds is what its peer sent, never the size its length prefix claimed.
   */
  private readonly gathered: Uint8Array[] = [];
  private readonly queue = new Fifo<Uint8Array>();
  /** Stream offset just past each queued message (what taking it frees). */
  private readonly queueEnds = new Fifo<number>();
  private violation: ReceiveResult = receiveResult.ok;
  /** Stream offset just past the last whole message queued. */
  private queuedEnd = 0;
  /** Messages completed so far (a stream that holds bytes and completes none is stuck). */
  completedMessages = 0;

  constructor(private readonly config: ReceiveStreamConfig) {
    this.creditGranted = config.windowBytes;
    this.paceBytes = config.paceBytes;
    this.creditAdvertised = this.creditLimit();
  }

  /**
   * The credit this stream would grant now: within the window, and paced, within the pace of what arrived
   * (out of order too: a hole being repaired does not stop the data after it).
   */
  private creditLimit(): number {
    const window = this.consumedOffset + this.config.windowBytes;
    return this.paceBytes > 0 ? Math.min(window, this.arrivedBytes + this.currentPaceBytes) : window;
  }

  /** Stream bytes that arrived, in order or not (what paced credit is counted from). */
  get arrivedBytes(): number {
    return this.contiguousEnd + this.stashBytes;
  }

  /** How far beyond what arrived the credit reaches now (0: unpaced, the window alone). */
  get currentPaceBytes(): number {
    return this.paceBytes > 0 ? Math.max(Math.min(this.paceBytes, this.paceShareBytes), this.pathBytes) : 0;
  }

  /** Many clients send at once: the fixed part of the pace is this stream's `bytes` share of it. */
  sharePace(bytes: number): void {
    this.paceShareBytes = bytes;
  }

  /** The path holds `bytes` at the rate data arrives: a paced stream's credit reaches at least that far ahead. */
  followPath(bytes: number): void {
    this.pathBytes = bytes;
  }

  /** The credit the handshake tells the peer (nothing was told before it). */
  initialCredit(): number {
    this.creditAdvertised = this.creditLimit();
    return this.creditAdvertised;
  }

  /** Grants the whole window from now on (the peer turned out to be a priority peer). */
  unpace(): void {
    this.paceBytes = 0;
  }

  get queuedMessages(): number {
    return this.queue.length;
  }

  /** Pieces held out of order or unparsed. */
  get fragmentsHeld(): number {
    return this.stash.size + this.unparsed.length;
  }

  /** Bytes received but not yet taken by the application. */
  get bufferedBytes(): number {
    return this.contiguousEnd - this.consumedOffset + this.stashBytes;
  }
  private stashBytes = 0;

  /** Accepts the stream bytes [offset, offset + data.length). */
  receive(offset: number, data: Uint8Array): ReceiveResult {
    const end = offset + data.length;
    if (end > this.creditGranted) return receiveResult.flowViolation;
    if (end <= this.contiguousEnd) {
      this.duplicateBytes += data.length;
      return receiveResult.ok;
    }
    if (offset > this.contiguousEnd) return this.hold(offset, data);
    let from = this.contiguousEnd;
    this.duplicateBytes += from - offset;
    while (from < end) {
      const cut = Math.min(end, this.stashRanges.isEmpty ? Infinity : this.stashRanges.min);
      if (cut > from) {
        this.accept(data.subarray(from - offset, cut - offset));
        from = cut;
      }
      this.drainStash();
      if (from < this.contiguousEnd) {
        this.duplicateBytes += Math.min(end, this.contiguousEnd) - from;
        from = this.contiguousEnd;
      }
    }
    return this.violation;
  }

  /** Stores the parts of an out-of-order piece not already held. */
  private hold(offset: number, data: Uint8Array): ReceiveResult {
    if (this.fragmentsHeld >= this.config.fragmentsMax) return receiveResult.noRoom;
    const end = offset + data.length;
    const ranges = this.stashRanges;
    let from = offset;
    while (from < end) {
      if (ranges.has(from)) {
        const next = ranges.nextMissing(from);
        this.duplicateBytes += Math.min(next, end) - from;
        from = next;
        continue;
      }
      const stop = Math.min(end, ranges.nextStartAfter(from));
      let piece = data.subarray(from - offset, stop - offset);
      // A small piece of a big buffer would pin the whole buffer: copy it out.
      if (piece.length * 2 < piece.buffer.byteLength) piece = piece.slice();
      this.stash.set(from, piece);
      ranges.add(from, stop);
      this.stashBytes += stop - from;
      from = stop;
    }
    return receiveResult.ok;
  }

  /** Moves stashed pieces that now continue the contiguous data into the parser. */
  private drainStash(): void {
    for (;;) {
      const piece = this.stash.get(this.contiguousEnd);
      if (piece === undefined) break;
      this.stash.delete(this.contiguousEnd);
      this.stashBytes -= piece.length;
      this.accept(piece);
    }
    if (!this.stashRanges.isEmpty && this.stashRanges.min < this.contiguousEnd) this.stashRanges.removeBelow(this.contiguousEnd);
  }

  private accept(piece: Uint8Array): void {
    this.contiguousEnd += piece.length;
    if (this.unparsed.length > 0) {
      this.unparsed.push(piece);
      return;
    }
    const stop = this.parse(piece);
    if (stop < piece.length) this.unparsed.push(piece.subarray(stop));
  }

  /**
   * Cuts messages out of contiguous bytes. Returns where it stopped: the
   * piece's length, or earlier when the message queue filled up (or the peer
   * broke the size limit).
   */
  private parse(piece: Uint8Array): number {
    const length = piece.length;
    let pos = 0;
    while (pos < length) {
      if (this.queuedMessages >= this.config.queuedMessagesMax || this.violation !== receiveResult.ok) return pos;
      if (this.bodyBytes < 0) {
        if (this.prefixValue < 0) {
          const first = piece[pos]!;
          this.prefixBytes = 1 << (first >>> 6);
          this.prefixRemaining = this.prefixBytes - 1;
          this.prefixValue = first & 0x3f;
          pos++;
          this.parsedOffset++;
        }
        while (this.prefixRemaining > 0 && pos < length) {
          this.prefixValue = this.prefixValue * 256 + piece[pos]!;
          this.prefixRemaining--;
          pos++;
          this.parsedOffset++;
        }
        if (this.prefixRemaining > 0) return pos;
        const messageBytes = this.prefixValue;
        this.prefixValue = -1;
        if (varintLength(messageBytes) !== this.prefixBytes) {
          this.violation = receiveResult.malformed;
          return pos;
        }
        if (messageBytes > this.config.messageBytesMax) {
          this.violation = receiveResult.tooLarge;
          return pos;
        }
        if (length - pos >= messageBytes) {
          // The whole message is in this piece: hand out a view, no copy.
          this.enqueue(piece.subarray(pos, pos + messageBytes), this.parsedOffset + messageBytes);
          pos += messageBytes;
          this.parsedOffset += messageBytes;
          continue;
        }
        this.bodyBytes = messageBytes;
        this.bodyFilled = 0;
        if (messageBytes <= this.config.preallocateBytesMax) this.body = allocateBytes(messageBytes);
      }
      const n = Math.min(this.bodyBytes - this.bodyFilled, length - pos);
      if (this.body !== null) {
        this.body.set(piece.subarray(pos, pos + n), this.bodyFilled);
      } else {
        let part = piece.subarray(pos, pos + n);
        // A small part of a big buffer would pin the whole buffer: copy it out.
        if (part.length * 2 < part.buffer.byteLength) part = part.slice();
        this.gathered.push(part);
      }
      this.bodyFilled += n;
      pos += n;
      this.parsedOffset += n;
      if (this.bodyFilled === this.bodyBytes) this.enqueue(this.takeBody(), this.parsedOffset);
    }
    return pos;
  }

  /** The message just completed, as one buffer. */
  private takeBody(): Uint8Array {
    let body = this.body;
    if (body === null) {
      body = allocateBytes(this.bodyBytes);
      let at = 0;
      for (const part of this.gathered) {
        body.set(part, at);
        at += part.length;
      }
      this.gathered.length = 0;
    }
    this.body = null;
    this.bodyBytes = -1;
    return body;
  }

  /**
   * Bytes this stream holds: received and not yet taken by the application
   * (in order, out of order, or part of a message), plus the unfilled rest of
   * a small message's buffer.
   */
  get heldBytes(): number {
    return this.bufferedBytes + (this.body === null ? 0 : this.bodyBytes - this.bodyFilled);
  }

  /**
   * Forgets everything that can no longer become a message (the connection
   * is closing: no more data is taken): pieces held out of order, unparsed
   * bytes, the message being assembled. Whole messages stay for the application.
   */
  releasePartial(): void {
    this.stash.clear();
    this.stashRanges.clear();
    this.stashBytes = 0;
    while (this.unparsed.length > 0) this.unparsed.shift();
    this.body = null;
    this.gathered.length = 0;
    this.bodyBytes = -1;
    this.bodyFilled = 0;
    // Nothing beyond the whole messages is held any more.
    this.contiguousEnd = this.queuedEnd;
  }

  private enqueue(message: Uint8Array, endOffset: number): void {
    this.queue.push(message);
    this.queueEnds.push(endOffset);
    this.queuedEnd = endOffset;
    this.completedMessages++;
  }

  /** The next whole message, or null. Taking it frees its credit. */
  poll(): Uint8Array | null {
    const message = this.queue.shift();
    if (message === undefined) return null;
    this.consumedOffset = this.queueEnds.shift()!;
    if (this.unparsed.length > 0) this.resumeParsing();
    return message;
  }

  private resumeParsing(): void {
    const unparsed = this.unparsed;
    while (unparsed.length > 0 && this.queuedMessages < this.config.queuedMessagesMax) {
      const piece = unparsed.peek()!;
      const stop = this.parse(piece);
      if (stop < piece.length) {
        unparsed.replaceHead(piece.subarray(stop));
        break;
      }
      unparsed.shift();
    }
  }

  /** True when enough credit was freed that telling the peer is worth a frame (a quarter window, or of the pace). */
  get creditUpdateDue(): boolean {
    const step = this.paceBytes > 0 ? Math.min(this.currentPaceBytes, this.config.windowBytes) : this.config.windowBytes;
    return this.creditLimit() - this.creditAdvertised >= step / 4;
  }

  /** Grants all credit freed so far and returns the new limit for a MAX_DATA frame. */
  grantCredit(): number {
    this.creditAdvertised = Math.max(this.creditAdvertised, this.creditLimit());
    this.creditGranted = Math.max(this.creditGranted, this.creditAdvertised);
    this.creditExtended = true;
    return this.creditAdvertised;
  }
}

