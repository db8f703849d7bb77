import { isUtf8 } from 'node:buffer';
import { SkeinError } from '../errors.js';
import { recordLimits } from '../limits.js';

/**
 * The records payload of a data batch: what producers write and consumers
 * read, never decoded by the broker. Compact like Kafka's record v2: small
 * numbers cost one byte, deltas are zigzag-encoded so small negative values
 * stay small too.
 *
 * Records => Record[RecordCount]            (RecordCount is in the batch header)
 * Record =>
 *   Length          uvarint   bytes of the fields below
 *   TimestampDelta  varint    zigzag; record timestamp minus the batch's FirstTimestamp
 *   OffsetDelta     uvarint   position of the record in its batch: 0, 1, 2, ...
 *   KeyLength       varint    zigzag; -1 = null key
 *   Key             bytes
 *   ValueLength     varint    zigzag; -1 = null value
 *   Value           bytes
 *   HeaderCount     uvarint
 *   Headers         Header[HeaderCount]
 * Header =>
 *   KeyLength       uvarint
 *   Key             UTF-8 bytes (well-formed; a header key is text)
 *   ValueLength     uvarint
 *   Value           bytes
 *
 * uvarint: unsigned LEB128, 7 bits a byte, low groups first, at most 8 bytes
 * (53 bits: every safe integer). varint: zigzag(n) = n >= 0 ? 2n : -2n - 1,
 * then uvarint. Timestamps are milliseconds in [0, 2^52) so every delta's
 * zigzag form stays a safe integer.
 */

export const TIMESTAMP_LIMIT = 2 ** 52;
const UVARINT_BYTES_MAX = 8;

export interface RecordHeader {
  key: string;
  value: Uint8Array;
}

/** A record as the producer hands it over. */
export interface RecordInput {
  key?: Uint8Array | null;
  value: Uint8Array | null;
  headers?: readonly RecordHeader[];
  /** Milliseconds since the Unix epoch, 0 <= timestamp < 2^52. */
  timestamp: number;
}

/** A decoded record; key, value and header values are views into the batch bytes (no copies). */
export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: RecordHeader[];
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// ------------------------------------------------------------------ varints

export function uvarintBytes(value: number): number {
  let n = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

export function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

export function unzigzag(value: number): number {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

/** Writes `value` (a safe non-negative integer) at `pos`; returns the position after it. */
export function writeUvarint(out: Uint8Array, pos: number, value: number): number {
  while (value >= 128) {
    out[pos++] = (value % 128) | 128;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/** Writes a safe integer as a big-endian int64: it splits exactly into a signed high word and an unsigned low word. */
export function writeInt64(out: Buffer, at: number, value: number): void {
  const high = Math.floor(value / 4294967296);
  out.writeInt32BE(high, at);
  out.writeUInt32BE(value - high * 4294967296, at + 4);
}

/** The big-endian int64 at `at` as a number, or null when it is not a safe integer. No BigInt on the way. */
export function readInt64(view: DataView, at: number): number | null {
  const high = view.getInt32(at);
  if (high >= 0x200000 || high < -0x200000) return null;
  const value = high * 4294967296 + view.getUint32(at + 4);
  return Number.isSafeInteger(value) ? value : null;
}

/** A bounds-checked cursor over untrusted bytes: every read past `end` becomes a CORRUPT_BATCH. */
export class ByteReader {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    public end: number,
  ) {}

  uvarint(what: string): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < UVARINT_BYTES_MAX; i++) {
      if (this.pos >= this.end) throw corrupt(`${what} runs past the end of its record`);
      const byte = this.bytes[this.pos++]!;
      value += (byte & 127) * scale;
      if (byte < 128) {
        if (!Number.isSafeInteger(value)) throw corrupt(`${what} does not fit 53 bits`);
        return value;
      }
      scale *= 128;
    }
    throw corrupt(`${what} is a varint longer than ${UVARINT_BYTES_MAX} bytes`);
  }

  varint(what: string): number {
    return unzigzag(this.uvarint(what));
  }

  /** A view of the next `length` bytes. */
  take(length: number, what: string): Uint8Array {
    if (length > this.end - this.pos) throw corrupt(`${what} of ${length} bytes runs past the end of its record`);
    const view = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }
}

export function corrupt(reason: string): SkeinError {
  return new SkeinError('CORRUPT_BATCH', { message: `corrupt record batch: ${reason}`, details: { reason } });
}

function tooLarge(reason: string): SkeinError {
  return new SkeinError('RECORD_TOO_LARGE', { message: reason });
}

function invalid(reason: string): SkeinError {
  return new SkeinError('INVALID_ARGUMENT', { message: reason });
}

// ----------------------------------------------------------------- encoding

/**
 * A records payload measured once, so the batch encoder allocates the exact
 * buffer and writes without growing or copying.
 */
export interface MeasuredRecords {
  readonly bytes: number;
  readonly firstTimestamp: number;
  readonly maxTimestamp: number;
  /** Per record: the body length (the Length prefix), and the header keys as UTF-8. */
  readonly bodyBytes: number[];
  readonly headerKeys: Uint8Array[][];
}

/** Validates producer input against recordLimits and measures it; throws RECORD_TOO_LARGE or INVALID_ARGUMENT. */
export function measureRecords(records: readonly RecordInput[]): MeasuredRecords {
  if (records.length === 0) throw invalid('a record batch needs at least one record');
  if (records.length > recordLimits.batchRecordsMax) {
    throw tooLarge(`${records.length} records exceed batchRecordsMax (${recordLimits.batchRecordsMax})`);
  }
  const firstTimestamp = records[0]!.timestamp;
  let maxTimestamp = firstTimestamp;
  let total = 0;
  const bodyBytes: number[] = new Array<number>(records.length);
  const headerKeys: Uint8Array[][] = new Array<Uint8Array[]>(records.length);
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const { timestamp } = record;
    if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp >= TIMESTAMP_LIMIT) {
      throw invalid(`record ${i}: timestamp ${timestamp} is not an integer in [0, 2^52)`);
    }
    if (timestamp > maxTimestamp) maxTimestamp = timestamp;
    const key = record.key ?? null;
    const value = record.value;
    const headers = record.headers ?? [];
    if (headers.length > recordLimits.headersPerRecordMax) {
      throw tooLarge(`record ${i}: ${headers.length} headers exceed headersPerRecordMax (${recordLimits.headersPerRecordMax})`);
    }
    let payload = (key?.length ?? 0) + (value?.length ?? 0);
    let body =
      uvarintBytes(zigzag(timestamp - firstTimestamp)) +
      uvarintBytes(i) +
      uvarintBytes(zigzag(key === null ? -1 : key.length)) +
      (key?.length ?? 0) +
      uvarintBytes(zigzag(value === null ? -1 : value.length)) +
      (value?.length ?? 0) +
      uvarintBytes(headers.length);
    const keys: Uint8Array[] = new Array<Uint8Array>(headers.length);
    for (let h = 0; h < headers.length; h++) {
      const header = headers[h]!;
      const keyBytes = utf8Encoder.encode(header.key);
      if (keyBytes.length > recordLimits.headerKeyBytesMax) {
        throw tooLarge(`record ${i}: header key of ${keyBytes.length} bytes exceeds headerKeyBytesMax (${recordLimits.headerKeyBytesMax})`);
      }
      keys[h] = keyBytes;
      payload += keyBytes.length + header.value.length;
      body += uvarintBytes(keyBytes.length) + keyBytes.length + uvarintBytes(header.value.length) + header.value.length;
    }
    if (payload > recordLimits.recordBytesMax) {
      throw tooLarge(`record ${i}: ${payload} bytes of key, value and headers exceed recordBytesMax (${recordLimits.recordBytesMax})`);
    }
    bodyBytes[i] = body;
    headerKeys[i] = keys;
    total += uvarintBytes(body) + body;
  }
  return { bytes: total, firstTimestamp, maxTimestamp, bodyBytes, headerKeys };
}

/** Writes the measured records at `pos`; returns the position after them. */
export function writeRecords(out: Uint8Array, pos: number, records: readonly RecordInput[], measured: MeasuredRecords): number {
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const key = record.key ?? null;
    const value = record.value;
    const headers = record.headers ?? [];
    pos = writeUvarint(out, pos, measured.bodyBytes[i]!);
    pos = writeUvarint(out, pos, zigzag(record.timestamp - measured.firstTimestamp));
    pos = writeUvarint(out, pos, i);
    pos = writeNullableBytes(out, pos, key);
    pos = writeNullableBytes(out, pos, value);
    pos = writeUvarint(out, pos, headers.length);
    const keys = measured.headerKeys[i]!;
    for (let h = 0; h < headers.length; h++) {
      const keyBytes = keys[h]!;
      pos = writeUvarint(out, pos, keyBytes.length);
      out.set(keyBytes, pos);
      pos += keyBytes.length;
      const headerValue = headers[h]!.value;
      pos = writeUvarint(out, pos, headerValue.length);
      out.set(headerValue, pos);
      pos += headerValue.length;
    }
  }
  return pos;
}

function writeNullableBytes(out: Uint8Array, pos: number, bytes: Uint8Array | null): number {
  if (bytes === null) return writeUvarint(out, pos, zigzag(-1));
  pos = writeUvarint(out, pos, zigzag(bytes.length));
  out.set(bytes, pos);
  return pos + bytes.length;
}

// ----------------------------------------------------------------- decoding

export interface RecordsFrame {
  baseOffset: number;
  recordCount: number;
  firstTimestamp: number;
  maxTimestamp: number;
}

/**
 * Decodes `bytes[start, end)` as exactly `frame.recordCount` records. Every
 * length is checked against what is left before it is used, so hostile input
 * ends in CORRUPT_BATCH, never in a read out of bounds or a huge allocation.
 */
export function readRecords(bytes: Uint8Array, start: number, end: number, frame: RecordsFrame): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  const reader = new ByteReader(bytes, start, end);
  for (let i = 0; i < frame.recordCount; i++) {
    reader.end = end;
    const length = reader.uvarint('record length');
    if (length > end - reader.pos) throw corrupt(`record ${i} claims ${length} bytes but ${end - reader.pos} remain`);
    const recordEnd = reader.pos + length;
    reader.end = recordEnd;
    const timestamp = frame.firstTimestamp + reader.varint('timestamp delta');
    if (timestamp < 0 || timestamp > frame.maxTimestamp) {
      throw corrupt(`record ${i} timestamp ${timestamp} is outside [0, maxTimestamp ${frame.maxTimestamp}]`);
    }
    const offsetDelta = reader.uvarint('offset delta');
    if (offsetDelta !== i) throw corrupt(`record ${i} has offset delta ${offsetDelta}`);
    const key = readNullableBytes(reader, 'key');
    const value = readNullableBytes(reader, 'value');
    const headerCount = readHeaderCount(reader.uvarint('header count'), i);
    const headers: RecordHeader[] = [];
    for (let h = 0; h < headerCount; h++) {
      const keyBytes = reader.take(reader.uvarint('header key length'), 'header key');
      let headerKey: string;
      try {
        headerKey = utf8Decoder.decode(keyBytes);
      } catch {
        throw corrupt(`record ${i} header ${h} key is not well-formed UTF-8`);
      }
      headers.push({ key: headerKey, value: reader.take(reader.uvarint('header value length'), 'header value') });
    }
    if (reader.pos !== recordEnd) throw corrupt(`record ${i} has ${recordEnd - reader.pos} bytes left over`);
    out.push({ offset: frame.baseOffset + i, timestamp, key, value, headers });
  }
  if (reader.pos !== end) throw corrupt(`${end - reader.pos} bytes follow the last record`);
  return out;
}

/**
 * Checks that `bytes[start, end)` is framed as exactly `frame.recordCount`
 * records — what readRecords would accept (lengths, counts, offset deltas,
 * timestamps within the batch's, header keys in UTF-8) — without building
 * them: a leader runs it on every produced batch so that no consumer meets a
 * batch it cannot read. The same walk as readRecords, kept apart because it
 * runs per record on the produce path: plain loops over positions, no views,
 * no strings (a property test holds the two to the same verdicts). Throws
 * CORRUPT_BATCH naming the first fault.
 */
export function checkRecords(bytes: Uint8Array, start: number, end: number, frame: RecordsFrame): void {
  const { recordCount, firstTimestamp, maxTimestamp } = frame;
  let pos = start;
  for (let i = 0; i < recordCount; i++) {
    const length = uvarintAt(bytes, pos, end, 'record length');
    pos = varintEnd;
    if (length > end - pos) throw corrupt(`record ${i} claims ${length} bytes but ${end - pos} remain`);
    const recordEnd = pos + length;
    const timestamp = firstTimestamp + unzigzag(uvarintAt(bytes, pos, recordEnd, 'timestamp delta'));
    pos = varintEnd;
    if (timestamp < 0 || timestamp > maxTimestamp) throw corrupt(`record ${i} timestamp ${timestamp} is outside [0, maxTimestamp ${maxTimestamp}]`);
    if (uvarintAt(bytes, pos, recordEnd, 'offset delta') !== i) throw corrupt(`record ${i} has offset delta ${uvarintAt(bytes, pos, recordEnd, 'offset delta')}`);
    pos = skipNullable(bytes, varintEnd, recordEnd, i, 'key');
    pos = skipNullable(bytes, pos, recordEnd, i, 'value');
    const headerCount = readHeaderCount(uvarintAt(bytes, pos, recordEnd, 'header count'), i);
    pos = varintEnd;
    for (let h = 0; h < headerCount; h++) {
      const keyLength = uvarintAt(bytes, pos, recordEnd, 'header key length');
      pos = varintEnd;
      if (keyLength > recordEnd - pos) throw corrupt(`record ${i} header ${h} key of ${keyLength} bytes runs past the end of its record`);
      if (!isAscii(bytes, pos, pos + keyLength) && !isUtf8(bytes.subarray(pos, pos + keyLength))) throw corrupt(`record ${i} header ${h} key is not well-formed UTF-8`);
      pos += keyLength;
      const valueLength = uvarintAt(bytes, pos, recordEnd, 'header value length');
      pos = varintEnd;
      if (valueLength > recordEnd - pos) throw corrupt(`record ${i} header ${h} value of ${valueLength} bytes runs past the end of its record`);
      pos += valueLength;
    }
    if (pos !== recordEnd) throw corrupt(`record ${i} has ${recordEnd - pos} bytes left over`);
  }
  if (pos !== end) throw corrupt(`${end - pos} bytes follow the last record`);
}

/** Steps over a key or value (zigzag length, -1 for null); returns the position after it. */
function skipNullable(bytes: Uint8Array, pos: number, recordEnd: number, record: number, what: 'key' | 'value'): number {
  const length = unzigzag(uvarintAt(bytes, pos, recordEnd, what === 'key' ? 'key length' : 'value length'));
  if (length === -1) return varintEnd;
  if (length < 0 || length > recordEnd - varintEnd) throw corrupt(`record ${record} ${what} length ${length} does not fit its record`);
  return varintEnd + length;
}

/** Where the varint uvarintAt read last ended: a second result without allocating one. */
let varintEnd = 0;

/** ByteReader.uvarint as a plain function over a position (see checkRecords); sets varintEnd. */
function uvarintAt(bytes: Uint8Array, pos: number, end: number, what: string): number {
  // One byte is the common case (small lengths and deltas): no loop for it.
  if (pos < end && bytes[pos]! < 128) {
    varintEnd = pos + 1;
    return bytes[pos]!;
  }
  let value = 0;
  let scale = 1;
  for (let i = 0; i < UVARINT_BYTES_MAX; i++) {
    if (pos >= end) throw corrupt(`${what} runs past the end of its record`);
    const byte = bytes[pos++]!;
    value += (byte & 127) * scale;
    if (byte < 128) {
      if (!Number.isSafeInteger(value)) throw corrupt(`${what} does not fit 53 bits`);
      varintEnd = pos;
      return value;
    }
    scale *= 128;
  }
  throw corrupt(`${what} is a varint longer than ${UVARINT_BYTES_MAX} bytes`);
}

function readHeaderCount(headerCount: number, record: number): number {
  if (headerCount > recordLimits.headersPerRecordMax) {
    throw corrupt(`record ${record} has ${headerCount} headers, above headersPerRecordMax (${recordLimits.headersPerRecordMax})`);
  }
  return headerCount;
}

/** Header keys are short and nearly always ASCII: a loop beats a call into native code for them. */
function isAscii(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

function readNullableBytes(reader: ByteReader, what: 'key' | 'value'): Uint8Array | null {
  // Constant names: a template here would build a string per record.
  const length = reader.varint(what === 'key' ? 'key length' : 'value length');
  if (length === -1) return null;
  if (length < 0) throw corrupt(`${what} length ${length} is negative`);
  return reader.take(length, what);
}
