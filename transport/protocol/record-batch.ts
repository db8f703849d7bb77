import { SkeinError } from '../errors.js';
import { recordLimits } from '../limits.js';
import { crc32c } from './crc32c.js';
import { checkRecords, corrupt, measureRecords, readInt64, readRecords, writeInt64, writeRecords } from './records.js';
import type { DecodedRecord, RecordInput } from './records.js';

/**
 * The record batch: the unit a producer encodes once, the leader stamps, the
 * log stores byte for byte (it is also one Raft entry of the partition) and a
 * consumer decodes. Format version (magic) 1; all integers big-endian.
 *
 * RecordBatch =>                    written by  notes
 *   HeaderCrc       => uint32       leader      CRC32C of bytes [4, 76): the whole fixed header below
 *   BatchLength     => uint32       producer    whole batch in bytes, this header included
 *   Magic           => uint8        producer    1
 *   Reserved        => 3 bytes      producer    zero
 *   BodyCrc         => uint32       producer    CRC32C of bytes [40, BatchLength): everything the producer writes
 *   BaseOffset      => int64        leader      offset of the first record; a control batch: the next offset
 *   EntryIndex      => int64        leader      Raft index of this entry: 1, 2, 3, ... with no gaps
 *   Term            => int64        leader      Raft term of the leader that appended it
 *   --- body: bytes [40, BatchLength), written once by the producer ---
 *   Attributes      => uint16       producer    bits 0-2 compression (0 = none; 1-7 reserved), bit 5 CONTROL;
 *                                               other bits zero
 *   ProducerEpoch   => int16        producer    -1 = not idempotent
 *   BaseSequence    => int32        producer    sequence number of the first record; -1 = not idempotent
 *   ProducerId      => int64        producer    -1 = not idempotent
 *   FirstTimestamp  => int64        producer    ms since the Unix epoch of the first record, in [0, 2^52)
 *   MaxTimestamp    => int64        producer    largest record timestamp, >= FirstTimestamp
 *   RecordCount     => uint32       producer    >= 1 for a data batch; 0 for a control batch
 *   Payload         => bytes        producer    data batch: Records (see records.ts), opaque to the broker;
 *                                               control batch: opaque bytes of Raft's own entries
 *
 * Why two checksums: the producer computes the batch before the leader knows
 * its offset, index and term. BodyCrc seals what the producer wrote, end to
 * end, and nobody recomputes it; the leader stamps its three fields and
 * recomputes only HeaderCrc over 72 bytes, never touching the payload.
 * HeaderCrc also covers BodyCrc and the fixed body fields, so the log can
 * trust lengths, counts, timestamps and flags from one 72-byte check while it
 * scans or serves a segment.
 *
 * An int64 holds a JS safe integer (|n| < 2^53); anything wider is corrupt.
 */

export const BATCH_MAGIC = 1;
export const BATCH_HEADER_BYTES = 76;
const BODY_START = 40;

const AT = {
  headerCrc: 0,
  batchLength: 4,
  magic: 8,
  reserved: 9,
  bodyCrc: 12,
  baseOffset: 16,
  entryIndex: 24,
  term: 32,
  attributes: 40,
  producerEpoch: 42,
  baseSequence: 44,
  producerId: 48,
  firstTimestamp: 56,
  maxTimestamp: 64,
  recordCount: 72,
} as const;

export const COMPRESSION_MASK = 0x0007;
export const CONTROL_FLAG = 0x0020;
const KNOWN_ATTRIBUTES = COMPRESSION_MASK | CONTROL_FLAG;

/** The producer fields of a batch from a producer without idempotence. */
export const NO_PRODUCER = { producerId: -1, producerEpoch: -1, baseSequence: -1 } as const;

export interface BatchHeader {
  batchLength: number;
  headerCrc: number;
  bodyCrc: number;
  baseOffset: number;
  entryIndex: number;
  term: number;
  attributes: number;
  /** Raft's own entry (no-op, configuration change): zero records, consumes no offset. */
  control: boolean;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  firstTimestamp: number;
  maxTimestamp: number;
  recordCount: number;
  /** baseOffset + recordCount: the offset the next batch starts at. */
  nextOffset: number;
}

export interface ProducerFields {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

export interface EncodeBatchOptions extends ProducerFields {
  records: readonly RecordInput[];
  /** Reserved for compression; only 0 is accepted today. */
  attributes?: number;
}

export interface EncodeControlBatchOptions {
  /** Raft's entry (opaque to the log): empty for a leader's no-op, a configuration for a membership change. */
  data: Uint8Array;
  timestamp: number;
}

export interface Stamp {
  baseOffset: number;
  entryIndex: number;
  term: number;
}

export interface VerifyOptions {
  /**
   * Also check BodyCrc, i.e. every payload byte (default true). Skip it only
   * where the same bytes were verified on receipt already; the fixed header
   * is always checked.
   */
  verifyBody?: boolean;
}

// ----------------------------------------------------------------- encoding

/**
 * Encodes a data batch as a producer does, with BaseOffset, EntryIndex and
 * Term zero until the leader stamps them. Throws RECORD_TOO_LARGE or
 * INVALID_ARGUMENT for input outside recordLimits.
 */
export function encodeRecordBatch(options: EncodeBatchOptions): Buffer {
  const attributes = options.attributes ?? 0;
  if (attributes !== 0) {
    throw new SkeinError('INVALID_ARGUMENT', { message: `attributes ${attributes} are not supported (compression is reserved; control batches come from encodeControlBatch)` });
  }
  checkProducerFields(options);
  const measured = measureRecords(options.records);
  const out = allocateBatch(measured.bytes);
  writeBody(out, {
    attributes,
    producer: options,
    firstTimestamp: measured.firstTimestamp,
    maxTimestamp: measured.maxTimestamp,
    recordCount: options.records.length,
  });
  writeRecords(out, BATCH_HEADER_BYTES, options.records, measured);
  return seal(out);
}

/** Encodes a control batch: Raft's own entry, zero records, consuming no offset. */
export function encodeControlBatch(options: EncodeControlBatchOptions): Buffer {
  const { data, timestamp } = options;
  if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp >= 2 ** 52) {
    throw new SkeinError('INVALID_ARGUMENT', { message: `timestamp ${timestamp} is not an integer in [0, 2^52)` });
  }
  const out = allocateBatch(data.length);
  writeBody(out, { attributes: CONTROL_FLAG, producer: NO_PRODUCER, firstTimestamp: timestamp, maxTimestamp: timestamp, recordCount: 0 });
  out.set(data, BATCH_HEADER_BYTES);
  return seal(out);
}

function allocateBatch(payloadBytes: number): Buffer {
  const total = BATCH_HEADER_BYTES + payloadBytes;
  if (total > recordLimits.batchBytesMax) {
    throw new SkeinError('RECORD_TOO_LARGE', { message: `a batch of ${total} bytes exceeds batchBytesMax (${recordLimits.batchBytesMax})` });
  }
  const out = Buffer.allocUnsafe(total);
  out.fill(0, 0, BATCH_HEADER_BYTES);
  out.writeUInt32BE(total, AT.batchLength);
  out[AT.magic] = BATCH_MAGIC;
  return out;
}

interface BodyFields {
  attributes: number;
  producer: ProducerFields;
  firstTimestamp: number;
  maxTimestamp: number;
  recordCount: number;
}

function writeBody(out: Buffer, body: BodyFields): void {
  out.writeUInt16BE(body.attributes, AT.attributes);
  out.writeInt16BE(body.producer.producerEpoch, AT.producerEpoch);
  out.writeInt32BE(body.producer.baseSequence, AT.baseSequence);
  writeInt64(out, AT.producerId, body.producer.producerId);
  writeInt64(out, AT.firstTimestamp, body.firstTimestamp);
  writeInt64(out, AT.maxTimestamp, body.maxTimestamp);
  out.writeUInt32BE(body.recordCount, AT.recordCount);
}

function seal(out: Buffer): Buffer {
  out.writeUInt32BE(crc32c(out, BODY_START, out.length), AT.bodyCrc);
  out.writeUInt32BE(crc32c(out, 4, BATCH_HEADER_BYTES), AT.headerCrc);
  return out;
}

function checkProducerFields(fields: ProducerFields): void {
  const { producerId, producerEpoch, baseSequence } = fields;
  if (!Number.isSafeInteger(producerId) || producerId < -1) throw new SkeinError('INVALID_ARGUMENT', { message: `producerId ${producerId} is not -1 or a safe non-negative integer` });
  if (!Number.isInteger(producerEpoch) || producerEpoch < -1 || producerEpoch > 0x7fff) throw new SkeinError('INVALID_ARGUMENT', { message: `producerEpoch ${producerEpoch} is not -1 or an int16` });
  if (!Number.isInteger(baseSequence) || baseSequence < -1 || baseSequence > 0x7fffffff) throw new SkeinError('INVALID_ARGUMENT', { message: `baseSequence ${baseSequence} is not -1 or an int32` });
}

// ----------------------------------------------------------------- stamping

/**
 * Writes the leader's fields into an encoded batch and fixes HeaderCrc: 72
 * bytes checksummed, the payload untouched. In place by default (the bytes
 * are the leader's own copy); `{ copy: true }` stamps a fresh copy instead.
 * The batch must have passed decodeBatchHeader; the stamp values come from
 * the leader's own state, so a bad one is a bug and throws a plain Error.
 */
export function stampBatch(bytes: Uint8Array, stamp: Stamp, options: { copy?: boolean } = {}): Buffer {
  for (const [name, value] of Object.entries(stamp)) {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`stampBatch: ${name} ${value} is not a safe non-negative integer`);
  }
  if (bytes.length < BATCH_HEADER_BYTES) throw new Error(`stampBatch: ${bytes.length} bytes cannot hold a batch header`);
  const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = options.copy === true ? Buffer.from(source) : source;
  writeInt64(out, AT.baseOffset, stamp.baseOffset);
  writeInt64(out, AT.entryIndex, stamp.entryIndex);
  writeInt64(out, AT.term, stamp.term);
  out.writeUInt32BE(crc32c(out, 4, BATCH_HEADER_BYTES), AT.headerCrc);
  return out;
}

// ----------------------------------------------------------------- decoding

/** Why a batch failed its checks, without the cost of an exception. */
export class BatchFault {
  constructor(
    readonly reason: string,
    readonly code: 'CORRUPT_BATCH' | 'RECORD_TOO_LARGE' = 'CORRUPT_BATCH',
  ) {}

  toError(context = ''): SkeinError {
    const reason = context + this.reason;
    return this.code === 'CORRUPT_BATCH' ? corrupt(reason) : new SkeinError(this.code, { message: `record batch: ${reason}`, details: { reason } });
  }
}

/**
 * Checks the fixed header of the batch at `bytes[pos]` (HeaderCrc and every
 * field's sanity) without needing the rest of the batch: enough to trust its
 * length, offsets, index, term, count, timestamps and flags. Never throws and
 * never reads past `pos + 76`; `bytes` must hold those 76 bytes.
 */
export function checkBatchHeader(bytes: Uint8Array, pos: number): BatchHeader | BatchFault {
  const fault = (reason: string): BatchFault => new BatchFault(reason);
  if (bytes.length - pos < BATCH_HEADER_BYTES) return fault(`${Math.max(0, bytes.length - pos)} bytes cannot hold a ${BATCH_HEADER_BYTES}-byte batch header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + pos, BATCH_HEADER_BYTES);
  const headerCrc = view.getUint32(AT.headerCrc);
  const actualHeaderCrc = crc32c(bytes, pos + 4, pos + BATCH_HEADER_BYTES);
  if (headerCrc !== actualHeaderCrc) return fault(`header checksum mismatch (stored ${hex(headerCrc)}, computed ${hex(actualHeaderCrc)})`);
  const magic = view.getUint8(AT.magic);
  if (magic !== BATCH_MAGIC) return fault(`unsupported magic ${magic} (expected ${BATCH_MAGIC})`);
  if (view.getUint8(AT.reserved) !== 0 || view.getUint16(AT.reserved + 1) !== 0) return fault('reserved header bytes are not zero');
  const batchLength = view.getUint32(AT.batchLength);
  if (batchLength < BATCH_HEADER_BYTES) return fault(`batch length ${batchLength} is shorter than the header`);
  if (batchLength > recordLimits.batchBytesMax) return new BatchFault(`batch length ${batchLength} exceeds batchBytesMax (${recordLimits.batchBytesMax})`, 'RECORD_TOO_LARGE');
  const attributes = view.getUint16(AT.attributes);
  if ((attributes & ~KNOWN_ATTRIBUTES) !== 0) return fault(`unknown attribute bits ${hex(attributes & ~KNOWN_ATTRIBUTES)}`);
  if ((attributes & COMPRESSION_MASK) !== 0) return fault(`compression codec ${attributes & COMPRESSION_MASK} is not supported`);
  const control = (attributes & CONTROL_FLAG) !== 0;
  const baseOffset = readInt64(view, AT.baseOffset);
  const entryIndex = readInt64(view, AT.entryIndex);
  const term = readInt64(view, AT.term);
  const producerId = readInt64(view, AT.producerId);
  const firstTimestamp = readInt64(view, AT.firstTimestamp);
  const maxTimestamp = readInt64(view, AT.maxTimestamp);
  const recordCount = view.getUint32(AT.recordCount);
  if (baseOffset === null || baseOffset < 0) return fault('base offset is not a safe non-negative integer');
  if (entryIndex === null || entryIndex < 0) return fault('entry index is not a safe non-negative integer');
  if (term === null || term < 0) return fault('term is not a safe non-negative integer');
  if (producerId === null || producerId < -1) return fault('producer id is not -1 or a safe non-negative integer');
  if (firstTimestamp === null || firstTimestamp < 0 || firstTimestamp >= 2 ** 52) return fault('first timestamp is outside [0, 2^52)');
  if (maxTimestamp === null || maxTimestamp < firstTimestamp || maxTimestamp >= 2 ** 52) return fault('max timestamp is outside [first timestamp, 2^52)');
  if (control && recordCount !== 0) return fault(`control batch claims ${recordCount} records`);
  if (!control && recordCount === 0) return fault('data batch holds no records');
  if (recordCount > recordLimits.batchRecordsMax) return fault(`record count ${recordCount} exceeds batchRecordsMax (${recordLimits.batchRecordsMax})`);
  // A record takes at least 6 bytes: one each for length, timestamp delta, offset delta, key length, value length, header count.
  if (recordCount * 6 > batchLength - BATCH_HEADER_BYTES) return fault(`record count ${recordCount} cannot fit ${batchLength - BATCH_HEADER_BYTES} payload bytes`);
  if (!Number.isSafeInteger(baseOffset + recordCount)) return fault('base offset plus record count leaves the safe integer range');
  return {
    batchLength,
    headerCrc,
    bodyCrc: view.getUint32(AT.bodyCrc),
    baseOffset,
    entryIndex,
    term,
    attributes,
    control,
    producerId,
    producerEpoch: view.getInt16(AT.producerEpoch),
    baseSequence: view.getInt32(AT.baseSequence),
    firstTimestamp,
    maxTimestamp,
    recordCount,
    nextOffset: baseOffset + recordCount,
  };
}

/**
 * Checks the whole batch at `bytes[pos]`, of which `available` bytes are
 * present: the header as above, the length against what is present and,
 * with `verifyBody`, BodyCrc over the payload. Never throws and never reads
 * past `pos + available`: the log scans segments with it, where a failure
 * marks a torn tail rather than an error.
 */
export function checkBatch(bytes: Uint8Array, pos: number, available: number, verifyBody: boolean): BatchHeader | BatchFault {
  if (available < BATCH_HEADER_BYTES) return new BatchFault(`${available} bytes cannot hold a ${BATCH_HEADER_BYTES}-byte batch header`);
  const header = checkBatchHeader(bytes, pos);
  if (header instanceof BatchFault) return header;
  if (header.batchLength > available) return new BatchFault(`batch length ${header.batchLength} runs past the ${available} bytes present`);
  if (verifyBody) {
    const actualBodyCrc = crc32c(bytes, pos + BODY_START, pos + header.batchLength);
    if (header.bodyCrc !== actualBodyCrc) return new BatchFault(`body checksum mismatch (stored ${hex(header.bodyCrc)}, computed ${hex(actualBodyCrc)})`);
  }
  return header;
}

/**
 * Decodes and verifies one whole batch (`bytes` holds exactly one): header
 * sanity, both checksums, lengths. Throws CORRUPT_BATCH with the reason, or
 * RECORD_TOO_LARGE for a batch above batchBytesMax.
 */
export function decodeBatchHeader(bytes: Uint8Array, options: VerifyOptions = {}): BatchHeader {
  const result = checkBatch(bytes, 0, bytes.length, options.verifyBody !== false);
  if (result instanceof BatchFault) throw result.toError();
  if (result.batchLength !== bytes.length) throw corrupt(`batch length ${result.batchLength} but ${bytes.length} bytes given`);
  return result;
}

/** Splits concatenated batches (a fetch response, a read from the log) into verified views. */
export function splitBatches(bytes: Uint8Array, options: VerifyOptions = {}): Array<{ header: BatchHeader; bytes: Uint8Array }> {
  const out: Array<{ header: BatchHeader; bytes: Uint8Array }> = [];
  let pos = 0;
  while (pos < bytes.length) {
    const result = checkBatch(bytes, pos, bytes.length - pos, options.verifyBody !== false);
    if (result instanceof BatchFault) throw result.toError(`batch at byte ${pos}: `);
    out.push({ header: result, bytes: bytes.subarray(pos, pos + result.batchLength) });
    pos += result.batchLength;
  }
  return out;
}

/**
 * The records of one data batch (a control batch has none), verified first
 * unless the caller already did. Keys, values and header values are views
 * into `batch`, so keep the batch alive as long as the records.
 */
export function decodeRecords(batch: Uint8Array, options: VerifyOptions = {}): DecodedRecord[] {
  const header = decodeBatchHeader(batch, options);
  if (header.control) return [];
  return readRecords(batch, BATCH_HEADER_BYTES, header.batchLength, header);
}

/**
 * Checks that a data batch's payload is framed as its header's records
 * (records.ts checkRecords), without decoding them; throws CORRUPT_BATCH.
 * The checksums prove the bytes arrived as the producer wrote them, not
 * that the producer wrote records: a leader runs this before it appends.
 */
export function checkRecordFraming(batch: Uint8Array, header: BatchHeader): void {
  if (!header.control) checkRecords(batch, BATCH_HEADER_BYTES, header.batchLength, header);
}

/** The opaque payload of a control batch (Raft's own entry), as a view into `batch`. */
export function controlPayload(batch: Uint8Array, options: VerifyOptions = {}): Uint8Array {
  const header = decodeBatchHeader(batch, options);
  if (!header.control) throw corrupt('not a control batch');
  return batch.subarray(BATCH_HEADER_BYTES, header.batchLength);
}

// ------------------------------------------------------------------ helpers

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

export type { DecodedRecord, RecordHeader, RecordInput } from './records.js';
