import { crc32c } from '../../transport/protocol/crc32c.js';
import { readInt64 as readInt64From, writeInt64 } from '../../transport/protocol/records.js';

/**
 * The small binary files of a partition directory, besides the batches
 * themselves (transport/protocol/record-batch.ts). Every one starts with an
 * 8-byte magic and ends its fixed part with a CRC32C, so a foreign or damaged
 * file is named as such instead of being misread. Integers are big-endian.
 *
 * Directory:
 *   <baseOffset:20>-<baseIndex:20>.log     segment: SegmentHeader, then batches back to back
 *   <baseOffset:20>-<baseIndex:20>.index   sparse index of a sealed segment (or of the tail after a clean close)
 *   CLEAN                                  written by close(): the tail's index can be trusted
 *   RESET                                  a resetTo() in progress, finished on the next open
 *   LOCK                                   owner process (dir-lock.ts)
 *   *.tmp                                  a file being written atomically (deleted on open)
 *
 * Segments are named by base offset and base entry index together: a segment
 * may start with a control batch, which consumes no offset, so two segments
 * can share a base offset but never a base index.
 *
 * SegmentHeader (64 bytes) =>
 *   Magic       => "SKEINSEG"
 *   Version     => uint32 = 1
 *   HeaderBytes => uint32 = 64
 *   BaseOffset  => int64   offset of the first record stored here
 *   BaseIndex   => int64   entry index of the first batch stored here
 *   PrevTerm    => int64   term of entry BaseIndex - 1 (0 if none), so termAt(firstIndex - 1) survives retention
 *   CreatedMs   => int64   when the segment was created (age-based rolling)
 *   Reserved    => 12 bytes zero
 *   Crc         => uint32  CRC32C of bytes [0, 60)
 *
 * IndexFile =>
 *   Magic        => "SKEINIDX"
 *   Version      => uint32 = 1
 *   EntryCount   => uint32
 *   LogBytes     => int64   size of the .log file this index describes; any other size means stale
 *   LastIndex    => int64   summary of the segment, so open() need not scan sealed segments
 *   LastTerm     => int64
 *   NextOffset   => int64
 *   MaxTimestamp => int64   largest data batch timestamp, -1 if none
 *   EntriesCrc   => uint32  CRC32C of the entries
 *   HeaderCrc    => uint32  CRC32C of bytes [0, 60)
 *   Entries      => IndexEntry[EntryCount]
 * IndexEntry (32 bytes) =>
 *   EntryIndex => int64, BaseOffset => int64,
 *   TimestampBefore => int64  largest data timestamp of the batches before this one in the segment, -1 if none
 *   Position => uint32        file position of the batch, Reserved => uint32 zero
 *
 * CleanMarker => Magic "SKEINCLN", BaseIndex int64, LogBytes int64, Crc uint32   (28 bytes)
 * ResetMarker => Magic "SKEINRST", EntryIndex int64, Term int64, BaseOffset int64, Crc uint32   (36 bytes)
 */

export const SEGMENT_HEADER_BYTES = 64;
export const INDEX_HEADER_BYTES = 64;
export const INDEX_ENTRY_BYTES = 32;
const VERSION = 1;

const SEGMENT_MAGIC = Buffer.from('SKEINSEG');
const INDEX_MAGIC = Buffer.from('SKEINIDX');
const CLEAN_MAGIC = Buffer.from('SKEINCLN');
const RESET_MAGIC = Buffer.from('SKEINRST');

export const SEGMENT_NAME = /^(\d{20})-(\d{20})\.log$/;
export const INDEX_NAME = /^(\d{20})-(\d{20})\.index$/;

export function segmentStem(baseOffset: number, baseIndex: number): string {
  return `${String(baseOffset).padStart(20, '0')}-${String(baseIndex).padStart(20, '0')}`;
}

// ------------------------------------------------------------ segment header

export interface SegmentHeader {
  baseOffset: number;
  baseIndex: number;
  prevTerm: number;
  createdMs: number;
}

export function encodeSegmentHeader(header: SegmentHeader): Buffer {
  const out = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(out, 0);
  out.writeUInt32BE(VERSION, 8);
  out.writeUInt32BE(SEGMENT_HEADER_BYTES, 12);
  writeInt64(out, 16, header.baseOffset);
  writeInt64(out, 24, header.baseIndex);
  writeInt64(out, 32, header.prevTerm);
  writeInt64(out, 40, header.createdMs);
  out.writeUInt32BE(crc32c(out, 0, 60), 60);
  return out;
}

/** The header, or why the bytes are not a skein segment header. */
export function decodeSegmentHeader(bytes: Buffer): SegmentHeader | string {
  if (bytes.length < SEGMENT_HEADER_BYTES) return `${bytes.length} bytes cannot hold a segment header`;
  if (!bytes.subarray(0, 8).equals(SEGMENT_MAGIC)) return 'does not start with the skein segment magic';
  if (bytes.readUInt32BE(60) !== crc32c(bytes, 0, 60)) return 'segment header checksum mismatch';
  const version = bytes.readUInt32BE(8);
  if (version !== VERSION) return `segment format version ${version} is not supported`;
  if (bytes.readUInt32BE(12) !== SEGMENT_HEADER_BYTES) return 'unexpected segment header size';
  const baseOffset = readInt64(bytes, 16);
  const baseIndex = readInt64(bytes, 24);
  const prevTerm = readInt64(bytes, 32);
  const createdMs = readInt64(bytes, 40);
  if (baseOffset === null || baseIndex === null || prevTerm === null || createdMs === null) return 'segment header field out of range';
  if (baseIndex < 1) return 'segment base index below 1';
  return { baseOffset, baseIndex, prevTerm, createdMs };
}

// ---------------------------------------------------------------- index file

export interface SegmentSummary {
  /** Size of the .log file, header included. */
  logBytes: number;
  lastIndex: number;
  lastTerm: number;
  nextOffset: number;
  maxTimestamp: number;
}

export interface IndexColumns {
  count: number;
  entryIndex: Float64Array;
  baseOffset: Float64Array;
  timestampBefore: Float64Array;
  position: Uint32Array;
}

export function encodeIndexFile(summary: SegmentSummary, columns: IndexColumns): Buffer {
  const out = Buffer.alloc(INDEX_HEADER_BYTES + columns.count * INDEX_ENTRY_BYTES);
  INDEX_MAGIC.copy(out, 0);
  out.writeUInt32BE(VERSION, 8);
  out.writeUInt32BE(columns.count, 12);
  writeInt64(out, 16, summary.logBytes);
  writeInt64(out, 24, summary.lastIndex);
  writeInt64(out, 32, summary.lastTerm);
  writeInt64(out, 40, summary.nextOffset);
  writeInt64(out, 48, summary.maxTimestamp);
  for (let i = 0; i < columns.count; i++) {
    const at = INDEX_HEADER_BYTES + i * INDEX_ENTRY_BYTES;
    writeInt64(out, at, columns.entryIndex[i]!);
    writeInt64(out, at + 8, columns.baseOffset[i]!);
    writeInt64(out, at + 16, columns.timestampBefore[i]!);
    out.writeUInt32BE(columns.position[i]!, at + 24);
  }
  out.writeUInt32BE(crc32c(out, INDEX_HEADER_BYTES, out.length), 56);
  out.writeUInt32BE(crc32c(out, 0, 60), 60);
  return out;
}

/** Checks only the fixed part: enough to learn a sealed segment's summary at open without reading its entries. */
export function decodeIndexHeader(bytes: Buffer): (SegmentSummary & { entryCount: number; entriesCrc: number }) | string {
  if (bytes.length < INDEX_HEADER_BYTES) return 'index file is shorter than its header';
  if (!bytes.subarray(0, 8).equals(INDEX_MAGIC)) return 'does not start with the skein index magic';
  if (bytes.readUInt32BE(60) !== crc32c(bytes, 0, 60)) return 'index header checksum mismatch';
  if (bytes.readUInt32BE(8) !== VERSION) return 'index format version is not supported';
  const logBytes = readInt64(bytes, 16);
  const lastIndex = readInt64(bytes, 24);
  const lastTerm = readInt64(bytes, 32);
  const nextOffset = readInt64(bytes, 40);
  const maxTimestamp = readInt64(bytes, 48);
  if (logBytes === null || lastIndex === null || lastTerm === null || nextOffset === null || maxTimestamp === null) {
    return 'index header field out of range';
  }
  return { entryCount: bytes.readUInt32BE(12), entriesCrc: bytes.readUInt32BE(56), logBytes, lastIndex, lastTerm, nextOffset, maxTimestamp };
}

/** Decodes the entries of a whole index file whose header already passed decodeIndexHeader. */
export function decodeIndexEntries(bytes: Buffer, entryCount: number, entriesCrc: number): IndexColumns | string {
  if (bytes.length !== INDEX_HEADER_BYTES + entryCount * INDEX_ENTRY_BYTES) return 'index file length does not match its entry count';
  if (crc32c(bytes, INDEX_HEADER_BYTES, bytes.length) !== entriesCrc) return 'index entries checksum mismatch';
  const columns: IndexColumns = {
    count: entryCount,
    entryIndex: new Float64Array(entryCount),
    baseOffset: new Float64Array(entryCount),
    timestampBefore: new Float64Array(entryCount),
    position: new Uint32Array(entryCount),
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < entryCount; i++) {
    const at = INDEX_HEADER_BYTES + i * INDEX_ENTRY_BYTES;
    const entryIndex = readInt64From(view, at);
    const baseOffset = readInt64From(view, at + 8);
    const timestampBefore = readInt64From(view, at + 16);
    if (entryIndex === null || baseOffset === null || timestampBefore === null) return `index entry ${i} out of range`;
    columns.entryIndex[i] = entryIndex;
    columns.baseOffset[i] = baseOffset;
    columns.timestampBefore[i] = timestampBefore;
    columns.position[i] = view.getUint32(at + 24);
  }
  return columns;
}

// ------------------------------------------------------------------ markers

/** A marker file: magic, then int64 fields, then a CRC32C of everything before it. */
function encodeMarker(magic: Buffer, fields: readonly number[]): Buffer {
  const out = Buffer.alloc(8 + fields.length * 8 + 4);
  magic.copy(out, 0);
  fields.forEach((value, i) => writeInt64(out, 8 + i * 8, value));
  out.writeUInt32BE(crc32c(out, 0, out.length - 4), out.length - 4);
  return out;
}

/** The marker's fields (each a safe integer >= 0), or why the bytes are not that marker. */
function decodeMarker(bytes: Buffer, magic: Buffer, fieldCount: number, what: string): number[] | string {
  const length = 8 + fieldCount * 8 + 4;
  if (bytes.length !== length || !bytes.subarray(0, 8).equals(magic)) return `not a skein ${what}`;
  if (bytes.readUInt32BE(length - 4) !== crc32c(bytes, 0, length - 4)) return `${what} checksum mismatch`;
  const fields: number[] = [];
  for (let i = 0; i < fieldCount; i++) {
    const value = readInt64(bytes, 8 + i * 8);
    if (value === null || value < 0) return `${what} field out of range`;
    fields.push(value);
  }
  return fields;
}

export interface CleanMarker {
  baseIndex: number;
  logBytes: number;
}

export function encodeCleanMarker(marker: CleanMarker): Buffer {
  return encodeMarker(CLEAN_MAGIC, [marker.baseIndex, marker.logBytes]);
}

export function decodeCleanMarker(bytes: Buffer): CleanMarker | string {
  const fields = decodeMarker(bytes, CLEAN_MAGIC, 2, 'clean-shutdown marker');
  return typeof fields === 'string' ? fields : { baseIndex: fields[0]!, logBytes: fields[1]! };
}

export interface ResetPoint {
  /** The last entry the log holds afterwards (as a snapshot); the next append is entryIndex + 1. */
  entryIndex: number;
  term: number;
  /** The offset the next appended batch starts at. */
  baseOffset: number;
}

export function encodeResetMarker(point: ResetPoint): Buffer {
  return encodeMarker(RESET_MAGIC, [point.entryIndex, point.term, point.baseOffset]);
}

export function decodeResetMarker(bytes: Buffer): ResetPoint | string {
  const fields = decodeMarker(bytes, RESET_MAGIC, 3, 'reset marker');
  return typeof fields === 'string' ? fields : { entryIndex: fields[0]!, term: fields[1]!, baseOffset: fields[2]! };
}

// ------------------------------------------------------------------ helpers

function readInt64(bytes: Buffer, at: number): number | null {
  return readInt64From(new DataView(bytes.buffer, bytes.byteOffset, bytes.length), at);
}
