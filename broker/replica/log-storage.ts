import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Decoder, Encoder } from 'cbor-x';
import { SkeinError } from '../../transport/errors.js';
import { BatchFault, checkBatchHeader, controlPayload, encodeControlBatch, stampBatch } from '../../transport/protocol/record-batch.js';
import { writeFileAtomic } from '../log/files.js';
import type { PartitionLog } from '../log/index.js';
import type { RaftStorage } from '../raft/core/storage.js';
import type { ConfigState, Entry, EntryType, Snapshot } from '../raft/core/types.js';

/**
 * The partition log seen as Raft storage: every Raft entry is one batch.
 * A `normal` entry's data IS the record batch (the leader stamped its base
 * offset; the entry index and term are stamped here, from the entry). Raft's
 * own entries (no-op, configuration) become control batches whose payload is
 * one type byte and the entry's data; they hold no records and take no offset.
 *
 * The snapshot point (the entry before firstIndex()) lives in the log itself
 * (its reset marker / first segment). Its membership and the state-machine
 * data of groups that snapshot (the metadata group) live in one small file
 * beside the log, replaced atomically.
 */
export interface LogStorageOptions {
  log: PartitionLog;
  /** Membership of a fresh group: every replica derives the same from the topic assignment. */
  bootstrapConfig: ConfigState;
  /** Where the latest snapshot's membership and data are kept (outside the log's directory). */
  snapshotPath: string;
  /**
   * 'fsync': sync() waits for fsync (acks mean on disk). 'page-cache': sync()
   * returns once written — acks survive a process crash, not a power loss —
   * and the log's own flush policy fsyncs in the background.
   */
  durability: 'fsync' | 'page-cache';
  /** Milliseconds since the epoch, for control batches' timestamps. */
  clock?: () => number;
  /** Entries up to this index are as durable as `durability` promises (after each sync). */
  onPersisted?: (index: number) => void;
}

const controlType: Record<Exclude<EntryType, 'normal'>, number> = { noop: 1, config: 2 };
const typeOfControl = new Map<number, EntryType>([
  [1, 'noop'],
  [2, 'config'],
]);

interface StoredSnapshot {
  index: number;
  term: number;
  config: ConfigState;
  data: Uint8Array;
}

const snapshotCodec = { encoder: new Encoder({ useRecords: false, mapsAsObjects: true }), decoder: new Decoder({ useRecords: false, mapsAsObjects: true }) };

export class LogRaftStorage implements RaftStorage {
  private readonly log: PartitionLog;
  private stored: StoredSnapshot | null;
  private readonly clock: () => number;

  constructor(private readonly options: LogStorageOptions) {
    this.log = options.log;
    this.clock = options.clock ?? Date.now;
    this.stored = readSnapshotFile(options.snapshotPath);
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
    const out: Entry[] = [];
    let next = lo;
    let bytes = 0;
    // The log stops at segment boundaries; keep reading while the budget allows.
    while (next < hiExclusive) {
      const batches = this.log.entries(next, hiExclusive, Math.max(1, bytesMax - bytes));
      for (const batch of batches) {
        if (out.length > 0 && bytes + batch.length > bytesMax) return out;
        out.push(toEntry(batch));
        bytes += batch.length;
        next++;
      }
      if (batches.length === 0 || bytes >= bytesMax) break;
    }
    return out;
  }

  configEntries(lo: number, hiExclusive: number): Entry[] {
    const out: Entry[] = [];
    for (let index = Math.max(lo, this.firstIndex()); index < Math.min(hiExclusive, this.lastIndex() + 1); index++) {
      // Headers only: a restart reads 76 bytes per entry, not the records.
      if (!this.log.headerAt(index).control) continue;
      const entry = toEntry(this.log.entries(index, index + 1, 1)[0]!);
      if (entry.type === 'config') out.push(entry);
    }
    return out;
  }

  snapshot(): Snapshot {
    const index = this.log.firstIndex() - 1;
    const term = this.log.termAt(index) ?? 0;
    const stored = this.stored;
    // A snapshot may cover entries the log still holds (compaction deletes whole segments only).
    if (stored !== null && stored.index >= index) return { meta: { index: stored.index, term: stored.term, config: stored.config }, data: stored.data };
    // Retention moved the start past the stored snapshot, or there is none (a partition's state
    // is its log): a follower behind the start just continues the log where it now starts.
    return { meta: { index, term, config: stored?.config ?? this.options.bootstrapConfig }, data: encodeSnapshotData(this.log.startOffset) };
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    let nextOffset = this.log.endOffset;
    const batches = entries.map((entry) => {
      let batch: Uint8Array;
      if (entry.type === 'normal') {
        const header = checkBatchHeader(entry.data, 0);
        if (header instanceof BatchFault) throw header.toError(`raft entry ${entry.index}: `);
        batch = stampBatch(entry.data, { baseOffset: header.baseOffset, entryIndex: entry.index, term: entry.term });
        nextOffset = header.nextOffset;
      } else {
        const payload = new Uint8Array(entry.data.byteLength + 1);
        payload[0] = controlType[entry.type];
        payload.set(entry.data, 1);
        batch = stampBatch(encodeControlBatch({ data: payload, timestamp: this.clock() }), { baseOffset: nextOffset, entryIndex: entry.index, term: entry.term });
      }
      return batch;
    });
    this.log.append(batches);
  }

  truncateSuffix(fromIndex: number): void {
    this.log.truncateSuffix(fromIndex);
  }

  installSnapshot(snapshot: Snapshot): void {
    const { nextOffset } = decodeSnapshotData(snapshot.data);
    this.saveSnapshot(snapshot);
    this.log.resetTo({ entryIndex: snapshot.meta.index, term: snapshot.meta.term, baseOffset: nextOffset });
  }

  compact(snapshot: Snapshot, keepFromIndex: number): void {
    this.saveSnapshot(snapshot);
    this.log.dropSegmentsBefore(keepFromIndex);
  }

  sync(): Promise<void> {
    const index = this.log.lastIndex();
    const done = this.options.durability === 'fsync' ? this.log.flush() : Promise.resolve();
    const { onPersisted } = this.options;
    return onPersisted === undefined ? done : done.then(() => onPersisted(index));
  }

  private saveSnapshot(snapshot: Snapshot): void {
    const stored: StoredSnapshot = { index: snapshot.meta.index, term: snapshot.meta.term, config: snapshot.meta.config, data: snapshot.data };
    writeFileAtomic(dirname(this.options.snapshotPath), basename(this.options.snapshotPath), snapshotCodec.encoder.encode(stored), { durable: true });
    this.stored = stored;
  }
}

/**
 * The data of every snapshot of a log-backed group starts with the offset the
 * log continues at, so a follower installing it can reset its log there; the
 * state machine's own bytes follow.
 */
export function encodeSnapshotData(nextOffset: number, state: Uint8Array = new Uint8Array(0)): Uint8Array {
  return snapshotCodec.encoder.encode({ nextOffset, state });
}

export function decodeSnapshotData(data: Uint8Array): { nextOffset: number; state: Uint8Array } {
  let value: unknown;
  try {
    value = data.byteLength === 0 ? null : snapshotCodec.decoder.decode(data);
  } catch (error) {
    throw new SkeinError('PROTOCOL_VIOLATION', { message: 'snapshot data is not CBOR', cause: error });
  }
  const { nextOffset, state } = (value ?? {}) as { nextOffset?: unknown; state?: unknown };
  if (typeof nextOffset !== 'number' || !Number.isSafeInteger(nextOffset) || nextOffset < 0 || !(state instanceof Uint8Array)) {
    throw new SkeinError('PROTOCOL_VIOLATION', { message: 'snapshot data lacks a valid nextOffset and state' });
  }
  return { nextOffset, state };
}

function toEntry(batch: Uint8Array): Entry {
  const header = checkBatchHeader(batch, 0);
  if (header instanceof BatchFault) throw header.toError('raft storage: ');
  if (!header.control) return { index: header.entryIndex, term: header.term, type: 'normal', data: batch };
  const payload = controlPayload(batch, { verifyBody: false });
  const type = typeOfControl.get(payload[0] ?? 0);
  if (type === undefined) throw new SkeinError('STORAGE_CORRUPT', { message: `control batch of entry ${header.entryIndex} has unknown type ${payload[0]}` });
  return { index: header.entryIndex, term: header.term, type, data: payload.subarray(1) };
}

function readSnapshotFile(path: string): StoredSnapshot | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SkeinError('STORAGE_FAILED', { message: `cannot read ${path}`, cause: error });
  }
  try {
    const value = snapshotCodec.decoder.decode(bytes) as StoredSnapshot;
    if (!Number.isSafeInteger(value.index) || !Number.isSafeInteger(value.term) || !(value.data instanceof Uint8Array) || !Array.isArray(value.config?.voters)) {
      throw new Error('fields out of shape');
    }
    return value;
  } catch (error) {
    throw new SkeinError('STORAGE_CORRUPT', { message: `${path} is not a skein snapshot file`, cause: error });
  }
}
