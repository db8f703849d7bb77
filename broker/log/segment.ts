import { closeSync, fdatasyncSync, ftruncateSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BATCH_HEADER_BYTES, BatchFault, checkBatchHeader } from '../../transport/protocol/record-batch.js';
import type { BatchHeader } from '../../transport/protocol/record-batch.js';
import { attempt, readAt, removeFile, storageCorrupt, writeAllAt, writeFileAtomic } from './files.js';
import {
  SEGMENT_HEADER_BYTES,
  decodeIndexEntries,
  decodeIndexHeader,
  decodeSegmentHeader,
  encodeIndexFile,
  encodeSegmentHeader,
  segmentStem,
} from './formats.js';
import type { SegmentHeader, SegmentSummary } from './formats.js';
import { SparseIndex } from './sparse-index.js';

export interface LocatedBatch {
  position: number;
  header: BatchHeader;
}

/**
 * One segment file: its immutable header, a summary kept current in memory
 * (last index and term, next offset, newest timestamp, size), and, while the
 * segment is in use, an open file descriptor and its sparse index. The
 * partition log decides when a segment is loaded, written, sealed or removed;
 * this class only does each of those things correctly for one file.
 */
export class Segment implements SegmentSummary {
  readonly stem: string;
  readonly path: string;
  readonly indexPath: string;
  readonly baseOffset: number;
  readonly baseIndex: number;
  readonly prevTerm: number;
  readonly createdMs: number;

  logBytes: number;
  lastIndex: number;
  lastTerm: number;
  nextOffset: number;
  maxTimestamp = -1;

  /** Null while unloaded (an older segment that fell out of the LRU). */
  index: SparseIndex | null = null;
  fd: number | null = null;
  /** Asynchronous fsyncs in flight on `fd`: it must stay open until they finish. */
  pendingSyncs = 0;
  private closeWhenIdle = false;
  private bytesSinceIndexEntry = 0;

  private constructor(
    readonly dir: string,
    header: SegmentHeader,
    readonly indexIntervalBytes: number,
  ) {
    this.stem = segmentStem(header.baseOffset, header.baseIndex);
    this.path = join(dir, `${this.stem}.log`);
    this.indexPath = join(dir, `${this.stem}.index`);
    this.baseOffset = header.baseOffset;
    this.baseIndex = header.baseIndex;
    this.prevTerm = header.prevTerm;
    this.createdMs = header.createdMs;
    this.logBytes = SEGMENT_HEADER_BYTES;
    this.lastIndex = header.baseIndex - 1;
    this.lastTerm = header.prevTerm;
    this.nextOffset = header.baseOffset;
  }

  /** Creates an empty segment file atomically (a crash leaves it whole or absent) and opens it. */
  static create(dir: string, header: SegmentHeader, indexIntervalBytes: number): Segment {
    const segment = new Segment(dir, header, indexIntervalBytes);
    writeFileAtomic(dir, `${segment.stem}.log`, encodeSegmentHeader(header), { durable: true });
    segment.index = new SparseIndex();
    segment.open();
    return segment;
  }

  /** Reads an existing segment's header; the summary says "empty" until loadSummary or a scan fills it in. */
  static fromFile(dir: string, name: string, expected: { baseOffset: number; baseIndex: number }, indexIntervalBytes: number): Segment {
    const path = join(dir, name);
    const fd = attempt('open', path, () => openSync(path, 'r'));
    let bytes: Buffer;
    try {
      bytes = readAt(fd, path, 0, SEGMENT_HEADER_BYTES);
    } finally {
      closeSync(fd);
    }
    const header = decodeSegmentHeader(bytes);
    if (typeof header === 'string') throw storageCorrupt(path, `not a skein segment: ${header}`);
    if (header.baseOffset !== expected.baseOffset || header.baseIndex !== expected.baseIndex) {
      throw storageCorrupt(path, `header says base offset ${header.baseOffset} and base index ${header.baseIndex}, the name says otherwise`);
    }
    return new Segment(dir, header, indexIntervalBytes);
  }

  get empty(): boolean {
    return this.lastIndex < this.baseIndex;
  }

  get loaded(): boolean {
    return this.index !== null && this.fd !== null;
  }

  open(): number {
    if (this.fd === null) {
      // r+ on every segment: a truncation can turn an older segment back into the active one.
      this.fd = attempt('open', this.path, () => openSync(this.path, 'r+'));
      this.closeWhenIdle = false;
    }
    return this.fd;
  }

  /** Closes the descriptor now, or as soon as its in-flight fsyncs finish, and forgets the index. */
  unload(): void {
    this.index = null;
    if (this.fd === null) return;
    if (this.pendingSyncs > 0) {
      this.closeWhenIdle = true;
      return;
    }
    const fd = this.fd;
    this.fd = null;
    attempt('close', this.path, () => closeSync(fd));
  }

  /** Called by the flusher when an asynchronous fsync on this segment's descriptor completes. */
  syncSettled(): void {
    this.pendingSyncs--;
    if (this.pendingSyncs === 0 && this.closeWhenIdle && this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      this.closeWhenIdle = false;
      closeSync(fd);
    }
  }

  // ------------------------------------------------------------- summary

  /**
   * Takes a sealed segment's summary from its index file if that file is
   * intact and describes exactly this file's size; false means scan instead.
   */
  loadSummary(fileBytes: number): boolean {
    const bytes = this.readIndexFile();
    if (bytes === null) return false;
    const header = decodeIndexHeader(bytes);
    if (typeof header === 'string' || header.logBytes !== fileBytes) return false;
    if (header.lastIndex < this.baseIndex - 1 || header.nextOffset < this.baseOffset) return false;
    this.setSummary(header);
    return true;
  }

  /** Loads the sparse index from its file; false when it is missing, stale or damaged (the caller rebuilds it). */
  loadIndex(): boolean {
    const bytes = this.readIndexFile();
    if (bytes === null) return false;
    const header = decodeIndexHeader(bytes);
    if (typeof header === 'string' || header.logBytes !== this.logBytes || header.lastIndex !== this.lastIndex) return false;
    const columns = decodeIndexEntries(bytes, header.entryCount, header.entriesCrc);
    if (typeof columns === 'string') return false;
    if (columns.count === 0 ? !this.empty : columns.entryIndex[0] !== this.baseIndex || columns.position[0] !== SEGMENT_HEADER_BYTES) return false;
    this.index = SparseIndex.fromColumns(columns);
    this.resumeIndexInterval();
    return true;
  }

  private readIndexFile(): Buffer | null {
    try {
      return readFileSync(this.indexPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw storageCorrupt(this.indexPath, `unreadable index: ${(error as Error).message}`);
    }
  }

  writeIndexFile(options: { durable: boolean }): void {
    if (this.index === null) throw new Error(`segment ${this.stem}: writing an index that is not loaded`);
    writeFileAtomic(this.dir, `${this.stem}.index`, encodeIndexFile(this, this.index), options);
  }

  /** The summary of this segment holding no batch. */
  emptySummary(): SegmentSummary {
    return { logBytes: SEGMENT_HEADER_BYTES, lastIndex: this.baseIndex - 1, lastTerm: this.prevTerm, nextOffset: this.baseOffset, maxTimestamp: -1 };
  }

  private setSummary(summary: SegmentSummary): void {
    this.logBytes = summary.logBytes;
    this.lastIndex = summary.lastIndex;
    this.lastTerm = summary.lastTerm;
    this.nextOffset = summary.nextOffset;
    this.maxTimestamp = summary.maxTimestamp;
  }

  /**
   * Picks up the index interval where the batches on file left it, so the
   * entries appended next land where an uninterrupted run (or a rebuild)
   * would put them: at most one interval of batches between entries, which
   * bounds every walk from an entry.
   */
  private resumeIndexInterval(): void {
    const index = this.index;
    this.bytesSinceIndexEntry = index === null || index.count === 0 ? 0 : this.logBytes - index.position[index.count - 1]!;
  }

  /** Empties the summary and index before a scan rebuilds them batch by batch through observe(). */
  resetSummary(): void {
    this.setSummary(this.emptySummary());
    this.index = new SparseIndex();
    this.bytesSinceIndexEntry = 0;
  }

  /**
   * Accounts for the batch now stored at `position` (the end of the file):
   * summary, and an index entry when a whole interval has passed since the
   * last one. Appends and scans both go through here, so a rebuilt index is
   * the index the appends built.
   */
  observe(header: BatchHeader, position: number): void {
    const index = this.index!;
    if (index.count === 0 || this.bytesSinceIndexEntry >= this.indexIntervalBytes) {
      index.push(header.entryIndex, header.baseOffset, this.maxTimestamp, position);
      this.bytesSinceIndexEntry = 0;
    }
    this.bytesSinceIndexEntry += header.batchLength;
    this.logBytes = position + header.batchLength;
    this.lastIndex = header.entryIndex;
    this.lastTerm = header.term;
    this.nextOffset = header.nextOffset;
    if (!header.control && header.maxTimestamp > this.maxTimestamp) this.maxTimestamp = header.maxTimestamp;
  }

  // ----------------------------------------------------------------- I/O

  /** Appends already-validated batches at the end of the file with one writev. */
  write(batches: readonly Uint8Array[], headers: readonly BatchHeader[]): void {
    const fd = this.open();
    const start = this.logBytes;
    try {
      writeAllAt(fd, this.path, batches, start);
    } catch (error) {
      // Put the file back to its known end, so memory and disk agree; if even that fails the log is failed anyway.
      try {
        ftruncateSync(fd, start);
      } catch {
        // The caller marks the log failed; reopening recovers from the file as it is.
      }
      throw error;
    }
    let position = start;
    for (const header of headers) {
      this.observe(header, position);
      position += header.batchLength;
    }
  }

  read(position: number, length: number): Buffer {
    return readAt(this.open(), this.path, position, length);
  }

  syncNow(): void {
    const fd = this.open();
    attempt('fsync', this.path, () => fdatasyncSync(fd));
  }

  /**
   * Cuts the file at `position` (a batch boundary) and sets the summary to
   * what precedes it. The index is cut at the same position; `before` is the
   * summary of the remaining batches, computed by the caller from a walk.
   */
  truncateAt(position: number, before: Omit<SegmentSummary, 'logBytes'>): void {
    const fd = this.open();
    attempt('truncate', this.path, () => ftruncateSync(fd, position));
    this.setSummary({ ...before, logBytes: position });
    this.index?.truncateAtPosition(position);
    this.resumeIndexInterval();
    // An index file of the old contents must not be mistaken for this one's.
    removeFile(this.indexPath);
  }

  /** Deletes both files (the index first: a .log without an index is rebuilt, an index without a .log is an orphan). */
  remove(): void {
    this.unload();
    removeFile(this.indexPath);
    removeFile(this.path);
  }

  // --------------------------------------------------------------- walking

  /**
   * Walks batch headers from the sparse-index entry at or before a key up to
   * the first batch `stop` accepts, reading only headers (the index bounds
   * the walk to about one interval). Returns null when no batch in this
   * segment is accepted. A header failing its checks is STORAGE_CORRUPT.
   */
  seek(slot: number, stop: (header: BatchHeader) => boolean): LocatedBatch | null {
    let found: LocatedBatch | null = null;
    this.walk(slot < 0 ? SEGMENT_HEADER_BYTES : this.index!.position[slot]!, this.logBytes, (header, position) => {
      if (!stop(header)) return false;
      found = { header, position };
      return true;
    });
    return found;
  }

  /** Headers of every batch in [from, to), read with the same bounded windows as seek. */
  headersBetween(from: number, to: number): LocatedBatch[] {
    const out: LocatedBatch[] = [];
    this.walk(from, Math.min(to, this.logBytes), (header, position) => {
      out.push({ header, position });
      return false;
    });
    return out;
  }

  private walk(start: number, end: number, visit: (header: BatchHeader, position: number) => boolean): void {
    const windowBytes = Math.max(4096, this.indexIntervalBytes + 2 * BATCH_HEADER_BYTES);
    let position = start;
    let window: Buffer = Buffer.alloc(0);
    let windowStart = 0;
    while (position < end) {
      if (position + BATCH_HEADER_BYTES > windowStart + window.length) {
        window = this.read(position, Math.min(windowBytes, this.logBytes - position));
        windowStart = position;
      }
      const header = this.headerIn(window, position - windowStart, position);
      if (visit(header, position)) return;
      position += header.batchLength;
    }
  }

  /** The header at `at` inside `bytes` (which starts at file position `position - at`), or STORAGE_CORRUPT. */
  headerIn(bytes: Buffer, at: number, position: number): BatchHeader {
    if (bytes.length - at < BATCH_HEADER_BYTES) throw storageCorrupt(this.path, `batch header at byte ${position} is cut short`, { position });
    const header = checkBatchHeader(bytes, at);
    if (header instanceof BatchFault) throw storageCorrupt(this.path, `batch at byte ${position}: ${header.reason}`, { position });
    if (position + header.batchLength > this.logBytes) {
      throw storageCorrupt(this.path, `batch at byte ${position} runs past the end of the segment`, { position });
    }
    return header;
  }
}
