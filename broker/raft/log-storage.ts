import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { SkeinError, isSkeinError } from '../../transport/errors.js';
import { BATCH_HEADER_BYTES, BatchFault, checkBatch, checkBatchHeader, encodeControlBatch, stampBatch } from '../../transport/protocol/record-batch.js';
import { writeFileAtomic } from '../log/files.js';
import type { PartitionLog, RetentionResult } from '../log/index.js';
import { decodeWire, encodeWire, snapshotFromWire, snapshotToWire } from './codec.js';
import type { RaftStorage } from './core/storage.js';
import { raftFileChecksum, raftFileVersion } from './file-checksum.js';
import { emptySnapshot, type Entry, type EntryType, type RaftMessage, type Snapshot } from './core/types.js';

/**
 * A partition's Raft log IS its partition log: one Raft entry = one record
 * batch. A normal entry's data is a record batch as the producer encoded it;
 * on append this storage stamps a copy with the entry's index, term and the
 * log's next offset (every replica stamps identically: same log, same
 * offsets). Raft's own entries (a leader's no-op, membership changes) become
 * control batches with zero records whose payload is one type byte
 * (1 no-op, 2 config) followed by the entry's data, and timestamp 0: the log
 * leaves control batches out of its time index, and replicas must write
 * identical bytes whatever their clocks say.
 *
 * The latest snapshot lives in a small file beside the log (the log owns its
 * directory), replaced atomically. Installing a leader's snapshot writes that
 * file, then resets the log to continue after it; a crash between the two is
 * finished on the next open.
 *
 * SnapshotFile => Magic "SKRS" | Version uint8 (2) | 3 reserved bytes | Crc uint32 (CRC32C of Payload; version 1,
 *                 still read, carries the IEEE CRC-32: see file-checksum.ts)
 *                 | Payload: plain CBOR { i: index, t: term, v, vo, l, ln: member lists, d: data }
 */

const CONTROL_NOOP = 1;
const CONTROL_CONFIG = 2;
const MAGIC = [0x53, 0x4b, 0x52, 0x53]; // "SKRS"
const FILE_HEADER_BYTES = 12;

export interface LogStorageOptions {
  readonly log: PartitionLog;
  /** The snapshot file: outside the log's directory, which the log owns. */
  readonly snapshotPath: string;
  /** Where the log continues after a snapshot's last entry (default: read from the data, see encodePartitionSnapshot). */
  readonly nextOffsetOf?: (snapshot: Snapshot) => number;
  /**
   * What sync() waits for. 'fsync' (default): the data is on disk. 'page-cache':
   * the data is written (it survives the process, not the machine) and the
   * log's own flush policy fsyncs in the background — Kafka's flush.messages /
   * flush.ms trade, for topics that ask for it.
   */
  readonly durability?: 'fsync' | 'page-cache';
  /** Called after each sync with the last index it covered. */
  readonly onSynced?: (index: number) => void;
}

/**
 * The data of a partition group's snapshot: the offset its log continues at,
 * then the partition state machine's own bytes (producer states, ...).
 */
export function encodePartitionSnapshot(snapshot: { nextOffset: number; state: Uint8Array }): Uint8Array {
  if (!Number.isSafeInteger(snapshot.nextOffset) || snapshot.nextOffset < 0) throw new Error(`encodePartitionSnapshot: bad offset ${snapshot.nextOffset}`);
  const out = new Uint8Array(8 + snapshot.state.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(snapshot.nextOffset));
  out.set(snapshot.state, 8);
  return out;
}

export function decodePartitionSnapshot(data: Uint8Array): { nextOffset: number; state: Uint8Array } {
  if (data.byteLength < 8) throw new SkeinError('STORAGE_CORRUPT', { message: 'a partition snapshot needs at least 8 bytes' });
  const nextOffset = Number(new DataView(data.buffer, data.byteOffset, data.byteLength).getBigUint64(0));
  if (!Number.isSafeInteger(nextOffset)) throw new SkeinError('STORAGE_CORRUPT', { message: 'partition snapshot offset out of range' });
  return { nextOffset, state: data.subarray(8) };
}

/**
 * Whether a message from a peer holds only what this storage can write: each
 * normal entry exactly one intact data batch (both checksums), a snapshot
 * whose data starts with a usable offset. Checked on receipt, so a forged or
 * damaged message is dropped and counted instead of failing the replica when
 * its Ready is written; it is also the only body check a follower's append
 * needs (the leader checked its own batches when they were produced).
 */
export function storableMessage(message: RaftMessage): boolean {
  if (message.type === 'snapshot') {
    try {
      decodePartitionSnapshot(message.snapshot.data);
      return true;
    } catch {
      return false;
    }
  }
  if (message.type !== 'append') return true;
  for (const entry of message.entries) {
    if (entry.type !== 'normal') continue;
    const header = checkBatch(entry.data, 0, entry.data.byteLength, true);
    if (header instanceof BatchFault || header.control || header.batchLength !== entry.data.byteLength) return false;
  }
  return true;
}

export class LogStorage implements RaftStorage {
  private readonly log: PartitionLog;
  private readonly nextOffsetOf: (snapshot: Snapshot) => number;
  private snap: Snapshot;

  /** Opens over an already-open partition log, loading the snapshot file and finishing an interrupted install. */
  static open(options: LogStorageOptions): LogStorage {
    const storage = new LogStorage(options, loadSnapshot(options.snapshotPath));
    storage.repair();
    return storage;
  }

  private constructor(
    private readonly options: LogStorageOptions,
    snapshot: Snapshot,
  ) {
    this.log = options.log;
    this.nextOffsetOf = options.nextOffsetOf ?? ((s) => decodePartitionSnapshot(s.data).nextOffset);
    this.snap = snapshot;
  }

  private repair(): void {
    const { index, term } = this.snap.meta;
    if (index === 0) return;
    if (this.log.termAt(index) === term) {
      if (this.log.firstIndex() - 1 > index) throw this.corrupt(`the log starts at ${this.log.firstIndex()}, past its snapshot at ${index}`);
      return;
    }
    if (index < this.log.firstIndex() - 1) throw this.corrupt(`the log starts at ${this.log.firstIndex()}, past its snapshot at ${index}`);
    // The snapshot file is written before the log is reset: a crash in between leaves this; finish the reset.
    this.log.resetTo({ entryIndex: index, term, baseOffset: this.nextOffsetOf(this.snap) });
  }

  firstIndex(): number {
    return this.log.firstIndex();
  }

  lastIndex(): number {
    return this.log.lastIndex();
  }

  termAt(index: number): number | undefined {
    return this.log.termAt(index);
  }

  entries(lo: number, hiExclusive: number, bytesMax: number): Entry[] {
    return this.log.entries(lo, hiExclusive, bytesMax).map((batch) => this.toEntry(batch));
  }

  configEntries(lo: number, hiExclusive: number): Entry[] {
    const out: Entry[] = [];
    const end = Math.min(hiExclusive, this.log.lastIndex() + 1);
    for (let index = Math.max(lo, this.log.firstIndex()); index < end; index++) {
      // Headers come from the sparse index and the tail cache; only control batches are read whole.
      if (!this.log.headerAt(index).control) continue;
      const [entry] = this.entries(index, index + 1, Number.MAX_SAFE_INTEGER);
      if (entry !== undefined && entry.type === 'config') out.push(entry);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    let nextOffset = this.log.endOffset;
    const batches = entries.map((entry) => {
      const stamp = { baseOffset: nextOffset, entryIndex: entry.index, term: entry.term };
      if (entry.type === 'normal') {
        const header = checkBatchHeader(entry.data, 0);
        if (header instanceof BatchFault) throw header.toError(`entry ${entry.index}: `);
        if (header.control) throw new SkeinError('CORRUPT_BATCH', { message: `entry ${entry.index}: a normal entry must be a data batch` });
        nextOffset += header.recordCount;
        // A copy: the entry's bytes are shared with the core and with messages in flight.
        return stampBatch(entry.data, stamp, { copy: true });
      }
      const payload = new Uint8Array(1 + entry.data.byteLength);
      payload[0] = entry.type === 'noop' ? CONTROL_NOOP : CONTROL_CONFIG;
      payload.set(entry.data, 1);
      return stampBatch(encodeControlBatch({ data: payload, timestamp: 0 }), stamp);
    });
    this.log.append(batches);
  }

  truncateSuffix(fromIndex: number): void {
    this.log.truncateSuffix(fromIndex);
  }

  installSnapshot(snapshot: Snapshot): void {
    const baseOffset = this.nextOffsetOf(snapshot);
    this.writeSnapshot(snapshot);
    this.log.resetTo({ entryIndex: snapshot.meta.index, term: snapshot.meta.term, baseOffset });
  }

  compact(snapshot: Snapshot, keepFromIndex: number): void {
    const { index, term } = snapshot.meta;
    if (index > this.log.lastIndex() || this.log.termAt(index) !== term) throw new Error(`log storage: snapshot at ${index}:${term} is not of this log`);
    this.writeSnapshot(snapshot);
    // Whole segments only: the log may keep a few entries the snapshot covers.
    this.log.dropSegmentsBefore(Math.min(keepFromIndex, index + 1));
  }

  sync(): Promise<void> {
    const index = this.log.lastIndex();
    const done = this.options.durability === 'page-cache' ? Promise.resolve() : this.log.flush();
    const { onSynced } = this.options;
    return onSynced === undefined ? done : done.then(() => onSynced(index));
  }

  /** The log's retention, never past the snapshot: a follower behind it can always be sent the snapshot. */
  enforceRetention(options: { epochMs?: number; beforeIndex?: number } = {}): RetentionResult {
    return this.log.enforceRetention({ ...options, beforeIndex: Math.min(options.beforeIndex ?? Number.POSITIVE_INFINITY, this.snap.meta.index + 1) });
  }

  private toEntry(batch: Uint8Array): Entry {
    const header = checkBatchHeader(batch, 0);
    if (header instanceof BatchFault) throw this.corrupt(header.reason);
    if (!header.control) return { index: header.entryIndex, term: header.term, type: 'normal', data: batch };
    const payload = batch.subarray(BATCH_HEADER_BYTES, header.batchLength);
    const type: EntryType | null = payload[0] === CONTROL_NOOP ? 'noop' : payload[0] === CONTROL_CONFIG ? 'config' : null;
    if (type === null) throw this.corrupt(`control batch at ${header.entryIndex} is not a Raft entry`);
    return { index: header.entryIndex, term: header.term, type, data: payload.subarray(1) };
  }

  private writeSnapshot(snapshot: Snapshot): void {
    const payload = encodeWire(snapshotToWire(snapshot));
    const file = new Uint8Array(FILE_HEADER_BYTES + payload.byteLength);
    file.set(MAGIC, 0);
    file[4] = raftFileVersion;
    new DataView(file.buffer).setUint32(8, raftFileChecksum(raftFileVersion, payload)!);
    file.set(payload, FILE_HEADER_BYTES);
    writeFileAtomic(dirname(this.options.snapshotPath), basename(this.options.snapshotPath), file, { durable: true });
    this.snap = snapshot;
  }

  private corrupt(reason: string): SkeinError {
    return new SkeinError('STORAGE_CORRUPT', { message: `raft log storage: ${reason}` });
  }
}

function loadSnapshot(path: string): Snapshot {
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptySnapshot;
    throw new SkeinError('STORAGE_FAILED', { message: `cannot read ${path}`, cause: error });
  }
  const corrupt = (why: string): SkeinError => new SkeinError('STORAGE_CORRUPT', { message: `${path}: ${why}` });
  if (file.byteLength < FILE_HEADER_BYTES || !MAGIC.every((b, i) => file[i] === b)) throw corrupt('not a skein snapshot file');
  const payload = file.subarray(FILE_HEADER_BYTES);
  const checksum = raftFileChecksum(file[4]!, payload);
  if (checksum === null) throw corrupt(`unknown version ${file[4]}`);
  if (file.readUInt32BE(8) !== checksum) throw corrupt('checksum mismatch');
  try {
    return snapshotFromWire(decodeWire(payload));
  } catch (error) {
    if (isSkeinError(error, 'MALFORMED_REQUEST')) throw corrupt(error.message);
    throw error;
  }
}
