import type { RangeSet } from './range-set.js';
import { DecodeError, type Reader, varintLength, writeVarint } from './varint.js';

/**
 * Frames inside a DATA packet. One byte of type, then the fields as QUIC
 * varints. Every frame but PADDING and ACK asks the peer to acknowledge the
 * packet carrying it (ack-eliciting).
 *
 *   PADDING  0x00
 *   PING     0x01
 *   ACK      0x02 largest, ackDelayUs, extraRangeCount, firstRangeLength, (gap, rangeLength)*   (RFC 9000 §19.3)
 *   MAX_DATA 0x04 limit                     highest stream offset the peer may send (byte credit)
 *   CLOSE    0x05 codeLength(u8) code(ascii) reasonLength reason(utf-8)   empty code = clean close
 *   STREAM   0x08 offset, length, bytes      a piece of the one ordered message stream
 */
export const frameType = {
  padding: 0x00,
  ping: 0x01,
  ack: 0x02,
  maxData: 0x04,
  close: 0x05,
  stream: 0x08,
} as const;

/** Bytes of a STREAM frame header at most (type, 8-byte offset, 4-byte length). */
export const streamFrameOverheadMax = 1 + 8 + 4;
export const closeReasonBytesMax = 256;
export const closeCodeBytesMax = 64;

export function streamFrameHeaderBytes(offset: number, length: number): number {
  return 1 + varintLength(offset) + varintLength(length);
}

/** Writes a STREAM frame header; the caller copies `length` bytes right after it. */
export function writeStreamHeader(out: Uint8Array, pos: number, offset: number, length: number): number {
  out[pos] = frameType.stream;
  pos = writeVarint(out, pos + 1, offset);
  return writeVarint(out, pos, length);
}

/**
 * Writes an ACK frame for the newest ranges of `received` (at most
 * `rangesMax`, and what fits in `room` bytes; at least the newest range).
 * Returns the new position, or `pos` when even one range does not fit.
 */
export function writeAck(out: Uint8Array, pos: number, room: number, received: RangeSet, ackDelayUs: number, rangesMax = 64): number {
  const count = received.count;
  if (count === 0) return pos;
  const top = count - 1;
  const largest = received.end(top) - 1;
  const firstRange = largest - received.start(top);
  const delay = Math.min(Math.max(0, Math.floor(ackDelayUs)), 0x3fff_ffff);
  // Decide how many ranges fit before writing (the count goes first).
  let bytes = 1 + varintLength(largest) + varintLength(delay) + 1 + varintLength(firstRange);
  if (bytes > room) return pos;
  let extra = 0;
  const extraMax = Math.min(rangesMax, 64) - 1;
  for (let i = top - 1; i >= 0 && extra < extraMax; i--) {
    const gap = received.start(i + 1) - received.end(i) - 1;
    const length = received.end(i) - 1 - received.start(i);
    const more = varintLength(gap) + varintLength(length);
    if (bytes + more > room) break;
    bytes += more;
    extra++;
  }
  out[pos] = frameType.ack;
  let p = writeVarint(out, pos + 1, largest);
  p = writeVarint(out, p, delay);
  p = writeVarint(out, p, extra);
  p = writeVarint(out, p, firstRange);
  for (let i = top - 1; i >= top - extra; i--) {
    p = writeVarint(out, p, received.start(i + 1) - received.end(i) - 1);
    p = writeVarint(out, p, received.end(i) - 1 - received.start(i));
  }
  return p;
}

/** A decoded ACK frame; `ranges` holds [start, end) pairs from the highest down. */
export interface AckFrame {
  largest: number;
  ackDelayUs: number;
  rangeCount: number;
  ranges: Float64Array;
}

/** Reads an ACK frame body (after its type byte) into `into`, reusing its arrays. Throws DecodeError. */
export function readAck(reader: Reader, into: AckFrame, rangesMax: number): void {
  const largest = reader.varint();
  const ackDelayUs = reader.varint();
  const extra = reader.varint();
  const firstRange = reader.varint();
  if (extra + 1 > rangesMax) throw new DecodeError('too many ACK ranges');
  if (firstRange > largest) throw new DecodeError('ACK range below zero');
  if (into.ranges.length < 2 * (extra + 1)) into.ranges = new Float64Array(2 * (extra + 1));
  const ranges = into.ranges;
  let smallest = largest - firstRange;
  ranges[0] = smallest;
  ranges[1] = largest + 1;
  for (let i = 1; i <= extra; i++) {
    const gap = reader.varint();
    const length = reader.varint();
    const high = smallest - gap - 2;
    if (high < 0 || length > high) throw new DecodeError('ACK range below zero');
    smallest = high - length;
    ranges[2 * i] = smallest;
    ranges[2 * i + 1] = high + 1;
  }
  into.largest = largest;
  into.ackDelayUs = ackDelayUs;
  into.rangeCount = extra + 1;
}

/** The fields of the frame readFrame read last (only its type's are current); reused, so the hot path allocates nothing per frame. */
export interface FrameFields {
  /** STREAM: where the piece belongs in the stream, and its bytes (a view into the packet). */
  streamOffset: number;
  streamData: Uint8Array;
  /** MAX_DATA: the highest stream offset the peer now lets us send. */
  maxData: number;
  /** ACK. */
  readonly ack: AckFrame;
}

export function emptyFrameFields(ackRangesMax: number): FrameFields {
  return { streamOffset: 0, streamData: new Uint8Array(0), maxData: 0, ack: { largest: 0, ackDelayUs: 0, rangeCount: 0, ranges: new Float64Array(2 * ackRangesMax) } };
}

/**
 * Reads the next frame of a DATA packet into `into` and returns its type.
 * PADDING takes the zero bytes after it too; CLOSE leaves the reader at its
 * body, which readClose reads once the close is acted on. Throws DecodeError
 * on a truncated frame or an unknown type.
 */
export function readFrame(reader: Reader, into: FrameFields, ackRangesMax: number): number {
  const type = reader.u8();
  switch (type) {
    case frameType.stream:
      into.streamOffset = reader.varint();
      into.streamData = reader.view(reader.varint());
      return type;
    case frameType.ack:
      readAck(reader, into.ack, ackRangesMax);
      return type;
    case frameType.maxData:
      into.maxData = reader.varint();
      return type;
    case frameType.padding:
      while (reader.pos < reader.end && reader.bytes[reader.pos] === 0) reader.pos++;
      return type;
    case frameType.ping:
    case frameType.close:
      return type;
    default:
      throw new DecodeError(`unknown frame type ${type}`);
  }
}

export function writeMaxData(out: Uint8Array, pos: number, limit: number): number {
  out[pos] = frameType.maxData;
  return writeVarint(out, pos + 1, limit);
}

export function maxDataFrameBytes(limit: number): number {
  return 1 + varintLength(limit);
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: false });

/** The close frame as bytes, built once when the connection starts closing. */
export function encodeClose(code: string, reason: string): Uint8Array {
  const codeBytes = textEncoder.encode(code).subarray(0, closeCodeBytesMax);
  const reasonBytes = textEncoder.encode(reason).subarray(0, closeReasonBytesMax);
  const out = new Uint8Array(1 + 1 + codeBytes.length + varintLength(reasonBytes.length) + reasonBytes.length);
  out[0] = frameType.close;
  out[1] = codeBytes.length;
  out.set(codeBytes, 2);
  const pos = writeVarint(out, 2 + codeBytes.length, reasonBytes.length);
  out.set(reasonBytes, pos);
  return out;
}

export function readClose(reader: Reader): { code: string; reason: string } {
  const codeLength = reader.u8();
  if (codeLength > closeCodeBytesMax) throw new DecodeError('close code too long');
  const code = textDecoder.decode(reader.view(codeLength));
  const reasonLength = reader.varint();
  if (reasonLength > closeReasonBytesMax) throw new DecodeError('close reason too long');
  const reason = textDecoder.decode(reader.view(reasonLength));
  return { code, reason };
}
