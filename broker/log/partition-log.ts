import { mkdirSync } from 'node:fs';
import { SkeinError } from '../../transport/errors.js';
import { logLimits } from '../../transport/limits.js';
import { BATCH_HEADER_BYTES, BatchFault, checkBatch } from '../../transport/protocol/record-batch.js';
import type { BatchHeader } from '../../transport/protocol/record-batch.js';
import { DirLock } from './dir-lock.js';
import { attempt, fsyncDir, storageCorrupt, writeFileAtomic } from './files.js';
import { Flusher } from './flusher.js';
import type { LogPoint } from './flusher.js';
import { SEGMENT_HEADER_BYTES, encodeCleanMarker } from './formats.js';
import type { ResetPoint } from './formats.js';
import { resolveOptions } from './options.js';
import type { PartitionLogOptions, ResolvedOptions } from './options.js';
import { recoverDirectory, resetDirectory } from './crash-recovery.js';
import type { RecoveryReport } from './crash-recovery.js';
import { Segment } from './segment.js';
import { scanSegment } from './segment-scan.js';
import { TailCache } from './tail-cache.js';

export interface AppendResult {
  /** Entry index of the first and last batch appended. */
  firstIndex: number;
  lastIndex: number;
  /** The log's end offset after the append. */
  nextOffset: number;
}

export interface ReadOptions {
  /** First offset wanted; the first batch returned is the one holding it. */
  offset: number;
  /** Byte budget; at least one whole batch is returned even when it is larger (unless withinBudget). Capped at logLimits.readBytesMax. */
  maxBytes: number;
  /**
   * Never return more than maxBytes: when the first batch is larger, none, and its size in firstBatchBytes.
   * For a reader that reserved room for what it reads (a push) and must not hold more.
   */
  withinBudget?: boolean;
  /** Return no batch with a higher entry index (a consumer reads only what Raft committed). */
  maxIndex?: number;
}

export interface ReadResult {
  /** Whole batches, each a view into one read buffer (or into the tail cache): no copies. */
  batches: Buffer[];
  bytes: number;
  /** The offset to read from next: after the last batch returned, or the requested offset when none was. */
  nextOffset: number;
  /** Entry index of the last batch returned, or null when none was. */
  lastIndex: number | null;
  /** With withinBudget: the size of the batch at the offset asked for, when it alone exceeded the budget. */
  firstBatchBytes?: number;
}

export interface RetentionResult {
  segmentsDeleted: number;
  bytesDeleted: number;
}

export interface LogStats {
  segments: number;
  logBytes: number;
  /** Segments with an open file descriptor and their sparse index in memory (bounded by logLimits.openSegmentsMax). */
  loadedSegments: number;
  indexBytes: number;
  tailCacheBytes: number;
  durableIndex: number;
  lastIndex: number;
}

/**
 * The durable, segmented log of one partition, which is also the Raft log of
 * the partition's group: every Raft entry is one record batch, stored as the
 * producer encoded it and the leader stamped it.
 *
 * Two ways in: Raft addresses batches by entry index (contiguous 1, 2, 3, ...)
 * and term; consumers address records by offset (dense over data records; a
 * control batch holds none and shares its base offset with the next batch).
 * Both keys are monotonic, so each segment's sparse index answers either in
 * O(log n), followed by a walk of at most one index interval of headers.
 *
 * Everything but fsync is synchronous: writes land in the page cache in
 * microseconds, and Raft wants a storage call to return with the state
 * changed. fsync runs in the thread pool (group commit, see Flusher); the
 * durable point is reported separately from the end of the log.
 */
export class PartitionLog implements AsyncDisposable {
  /** What open() found and repaired. */
  readonly recovery: RecoveryReport;
  private segments: Segment[];
  /** Older segments currently loaded (fd + index), least recently used first; the active one is never here. */
  private loaded: Segment[] = [];
  private readonly cache: TailCache;
  private readonly flusher: Flusher;
  private recordsSinceFlush = 0;
  private cancelTimer: (() => void) | null = null;
  private failure: SkeinError | null = null;
  /** Set when close() starts: no more writes; reads keep working until the files are closed. */
  private closing = false;
  private closed = false;
  /** Running maximum of the sealed segments' newest timestamps, for time lookups; null when stale. */
  private sealedMaxTimestamps: number[] | null = null;

  private constructor(
    private readonly options: ResolvedOptions,
    private readonly lock: DirLock,
    recovered: { segments: Segment[]; report: RecoveryReport },
  ) {
    this.segments = recovered.segments;
    this.recovery = recovered.report;
    this.cache = new TailCache(options.tailCacheBytes);
    this.flusher = new Flusher(this.endPoint(), {
      end: () => ({ point: this.endPoint(), segment: this.active }),
      onDurable: (point) => this.options.onDurable(point),
      onFailure: (error) => this.fail(error),
    });
    if (Number.isFinite(options.flush.everyMs)) {
      const flushIfBehind = (): void => {
        if (this.lastIndex() !== this.flusher.durable.index) this.flushInBackground();
      };
      this.cancelTimer = options.clock.every(options.flush.everyMs, flushIfBehind, { keepAlive: false });
    }
  }

  /**
   * Opens (creating if needed) the log in `options.dir`: takes the directory
   * lock (STORAGE_LOCKED if another process or another open log holds it),
   * recovers (see RecoveryReport), and fsyncs the tail so that everything the
   * log then holds is durable.
   */
  static async open(options: PartitionLogOptions): Promise<PartitionLog> {
    const resolved = resolveOptions(options);
    attempt('create directory', resolved.dir, () => mkdirSync(resolved.dir, { recursive: true }));
    const lock = DirLock.acquire(resolved.dir);
    try {
      const recovered = recoverDirectory({ dir: resolved.dir, indexIntervalBytes: resolved.indexIntervalBytes, epochMs: resolved.clock.epochMs() });
      return new PartitionLog(resolved, lock, recovered);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  // ------------------------------------------------------------- the Raft view

  /** Index of the first entry held; lastIndex() + 1 when the log is empty. */
  firstIndex(): number {
    this.usable();
    return this.segments[0]!.baseIndex;
  }

  /** Index of the last entry, or firstIndex() - 1 (the snapshot point) when empty. */
  lastIndex(): number {
    this.usable();
    return this.active.lastIndex;
  }

  lastTerm(): number {
    this.usable();
    return this.active.lastTerm;
  }

  /**
   * Term of entry `index`, for index in [firstIndex() - 1, lastIndex()] (the
   * entry before the first is the snapshot point, whose term is kept);
   * undefined outside that range: compare with firstIndex()/lastIndex() to
   * tell "compacted" from "not yet appended".
   */
  termAt(index: number): number | undefined {
    this.usable();
    if (!Number.isSafeInteger(index)) return undefined;
    const first = this.segments[0]!;
    if (index === first.baseIndex - 1) return first.prevTerm;
    if (index < first.baseIndex || index > this.active.lastIndex) return undefined;
    const slot = this.cache.slotOfIndex(index);
    if (slot >= 0) return this.cache.at(slot).header.term;
    const segment = this.segmentForIndex(index);
    if (index === segment.lastIndex) return segment.lastTerm;
    return this.locateIndex(segment, index).header.term;
  }

  /** The header of entry `index`; OFFSET_OUT_OF_RANGE outside [firstIndex(), lastIndex()]. */
  headerAt(index: number): BatchHeader {
    this.usable();
    this.checkIndexRange(index, index + 1);
    const slot = this.cache.slotOfIndex(index);
    if (slot >= 0) return this.cache.at(slot).header;
    return this.locateIndex(this.segmentForIndex(index), index).header;
  }

  /**
   * The batches of entries [lo, hi), as many as fit `maxBytes` but always at
   * least one when lo < hi (an entry larger than the budget must still be
   * sendable), possibly fewer than asked when they span segments: call again
   * from the next index. OFFSET_OUT_OF_RANGE unless
   * firstIndex() <= lo <= hi <= lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxBytes: number): Buffer[] {
    this.usable();
    this.checkIndexRange(lo, hi);
    if (lo === hi) return [];
    const budget = clampBudget(maxBytes);
    const slot = this.cache.slotOfIndex(lo);
    if (slot >= 0) return this.fromCache(slot, budget, (h) => h.entryIndex < hi).batches;
    const segment = this.segmentForIndex(lo);
    this.load(segment);
    return this.readRun(
      segment,
      segment.index!.floorByIndex(lo),
      (h) => h.entryIndex >= lo,
      (h) => h.entryIndex < hi,
      budget,
    ).batches;
  }

  /**
   * Appends batches already stamped by the leader. Each is checked before
   * anything is written (header, body checksum unless verifyOnAppend is off,
   * exact length) and must continue the log: entry index lastIndex() + 1,
   * base offset endOffset, term not below lastTerm(). A batch that fails
   * leaves the log unchanged: CORRUPT_BATCH / RECORD_TOO_LARGE for bad bytes,
   * INVALID_ARGUMENT for a batch that does not continue the log. Returns once
   * the bytes are in the page cache; flush() (or the flush policy) makes them
   * durable. The log keeps references to the buffers in its tail cache: do
   * not modify them afterwards.
   */
  append(batches: readonly Uint8Array[]): AppendResult {
    this.writable();
    const headers: BatchHeader[] = [];
    let lastIndex = this.active.lastIndex;
    let nextOffset = this.active.nextOffset;
    let lastTerm = this.active.lastTerm;
    for (let i = 0; i < batches.length; i++) {
      const bytes = batches[i];
      if (!(bytes instanceof Uint8Array)) throw invalidArgument(`append: batch ${i} is not a Uint8Array`);
      const header = checkBatch(bytes, 0, bytes.length, this.options.verifyOnAppend);
      if (header instanceof BatchFault) throw header.toError(`append: batch ${i}: `);
      if (header.batchLength !== bytes.length) {
        throw new BatchFault(`batch length ${header.batchLength} but ${bytes.length} bytes given`).toError(`append: batch ${i}: `);
      }
      if (header.entryIndex !== lastIndex + 1) throw invalidArgument(`append: batch ${i} has entry index ${header.entryIndex}, the log continues at ${lastIndex + 1}`);
      if (header.baseOffset !== nextOffset) throw invalidArgument(`append: batch ${i} has base offset ${header.baseOffset}, the log continues at ${nextOffset}`);
      if (header.term < lastTerm) throw invalidArgument(`append: batch ${i} has term ${header.term}, below the log's last term ${lastTerm}`);
      headers.push(header);
      lastIndex = header.entryIndex;
      nextOffset = header.nextOffset;
      lastTerm = header.term;
    }
    const firstIndex = this.active.lastIndex + 1;
    let i = 0;
    while (i < batches.length) {
      this.rollIfDue(headers[i]!.batchLength);
      // One writev for the run of batches that fits the active segment.
      let end = i + 1;
      let size = this.active.logBytes + headers[i]!.batchLength;
      while (end < batches.length && size + headers[end]!.batchLength <= this.options.segmentBytes) size += headers[end++]!.batchLength;
      try {
        this.active.write(batches.slice(i, end), headers.slice(i, end));
      } catch (error) {
        throw this.fail(error as SkeinError);
      }
      for (let k = i; k < end; k++) {
        const bytes = batches[k]!;
        this.cache.push(headers[k]!, Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), this.active.baseIndex);
        this.recordsSinceFlush += headers[k]!.recordCount;
      }
      i = end;
    }
    if (batches.length > 0) {
      const { everyAppend, everyRecords } = this.options.flush;
      if (everyAppend || this.recordsSinceFlush >= everyRecords) this.flushInBackground();
    }
    return { firstIndex, lastIndex: this.active.lastIndex, nextOffset: this.active.nextOffset };
  }

  /**
   * Deletes entries fromIndex and after (Raft conflict resolution); the end
   * offset rolls back with them. fromIndex may be lastIndex() + 1 (nothing to
   * do) down to firstIndex() (everything goes; the log then continues after
   * the snapshot point). OFFSET_OUT_OF_RANGE outside that.
   */
  truncateSuffix(fromIndex: number): void {
    this.writable();
    this.checkIndexRange(fromIndex, fromIndex);
    if (fromIndex > this.active.lastIndex) return;
    let removed = false;
    while (this.segments.length > 1 && this.active.baseIndex >= fromIndex) {
      const segment = this.segments.pop()!;
      this.forget(segment);
      segment.remove();
      removed = true;
    }
    const tail = this.active;
    this.forget(tail); // it is the active segment now: pinned, not in the LRU
    this.load(tail);
    if (fromIndex <= tail.lastIndex) {
      if (fromIndex === tail.baseIndex) {
        tail.truncateAt(SEGMENT_HEADER_BYTES, tail.emptySummary());
      } else {
        const slot = tail.index!.floorByIndex(fromIndex - 1);
        let previous: BatchHeader | null = null;
        let maxTimestamp = tail.index!.timestampBefore[slot]!;
        const cut = tail.seek(slot, (h) => {
          if (h.entryIndex >= fromIndex) return true;
          previous = h;
          if (!h.control && h.maxTimestamp > maxTimestamp) maxTimestamp = h.maxTimestamp;
          return false;
        });
        const last = previous as BatchHeader | null;
        if (cut === null || last === null || last.entryIndex !== fromIndex - 1) throw storageCorrupt(tail.path, `entry ${fromIndex} is missing`);
        tail.truncateAt(cut.position, { lastIndex: last.entryIndex, lastTerm: last.term, nextOffset: last.nextOffset, maxTimestamp });
      }
    }
    if (removed) fsyncDir(this.options.dir);
    this.cache.truncateFrom(fromIndex);
    this.sealedMaxTimestamps = null;
    this.flusher.clamp(this.endPoint());
  }

  /**
   * Discards the whole log and makes it continue after `point`, as when a
   * follower installs a snapshot because it fell behind the leader's
   * retention: afterwards firstIndex() = point.entryIndex + 1, lastIndex() =
   * point.entryIndex, termAt(point.entryIndex) = point.term, and startOffset
   * = endOffset = point.baseOffset. Durable when it returns; a crash midway
   * leaves the old log or finishes the reset on the next open.
   */
  resetTo(point: ResetPoint): void {
    this.writable();
    for (const [name, value] of Object.entries(point)) {
      if (!Number.isSafeInteger(value) || value < 0) throw invalidArgument(`resetTo: ${name} ${value} is not a safe non-negative integer`);
    }
    const fresh = resetDirectory(this.options.dir, this.segments, point, { indexIntervalBytes: this.options.indexIntervalBytes, epochMs: this.options.clock.epochMs() });
    this.segments = [fresh];
    this.loaded = [];
    this.cache.clear();
    this.sealedMaxTimestamps = null;
    this.recordsSinceFlush = 0;
    this.flusher.clamp(this.endPoint());
    this.flusher.assumeDurable(this.endPoint());
  }

  /** Resolves once everything appended before the call is on disk (group commit). */
  flush(): Promise<void> {
    try {
      this.usable();
    } catch (error) {
      return Promise.reject(error as Error);
    }
    this.recordsSinceFlush = 0;
    return this.flusher.flush();
  }

  /** The highest entry index known to be on disk (fsynced); <= lastIndex(). */
  get durableIndex(): number {
    return this.flusher.durable.index;
  }

  /** The end offset of the durable prefix; <= endOffset. */
  get durableOffset(): number {
    return this.flusher.durable.offset;
  }

  // ----------------------------------------------------------- the consumer view

  /** The first offset held (advances when retention deletes segments). */
  get startOffset(): number {
    this.usable();
    return this.segments[0]!.baseOffset;
  }

  /** The offset the next record will get. */
  get endOffset(): number {
    this.usable();
    return this.active.nextOffset;
  }

  /**
   * Whole batches from the one holding `offset`, up to `maxBytes` (at least
   * one batch) and never past `maxIndex`, from one segment. A read at
   * endOffset returns no batches; outside [startOffset, endOffset] it is
   * OFFSET_OUT_OF_RANGE (details carry both bounds). From disk it is one
   * read into one buffer, batches returned as views of it.
   */
  read(options: ReadOptions): ReadResult {
    this.usable();
    const { offset } = options;
    const maxIndex = options.maxIndex ?? Infinity;
    if (!Number.isSafeInteger(offset) || offset < this.startOffset || offset > this.endOffset) {
      throw new SkeinError('OFFSET_OUT_OF_RANGE', {
        message: `offset ${offset} is outside the log [${this.startOffset}, ${this.endOffset}]`,
        details: { offset, startOffset: this.startOffset, endOffset: this.endOffset },
      });
    }
    const budget = clampBudget(options.maxBytes);
    const empty: ReadResult = { batches: [], bytes: 0, nextOffset: offset, lastIndex: null };
    if (offset === this.endOffset) return empty;
    const slot = this.cache.slotOfOffset(offset);
    const within = options.withinBudget === true;
    const result =
      slot >= 0
        ? this.fromCache(slot, budget, (h) => h.entryIndex <= maxIndex, within)
        : this.readOffsetFromDisk(offset, budget, maxIndex, within);
    if (result.firstBatchBytes !== undefined) return { ...empty, firstBatchBytes: result.firstBatchBytes };
    return result.batches.length === 0 ? empty : result;
  }

  /**
   * The base offset of the first data batch holding a record with timestamp
   * >= `timestamp` (the consumer skips earlier records inside it), or null
   * if no record is that new. O(log segments + log index) plus a walk of one
   * index interval.
   */
  offsetForTimestamp(timestamp: number): number | null {
    this.usable();
    if (!Number.isFinite(timestamp)) throw invalidArgument(`offsetForTimestamp: ${timestamp} is not a number`);
    const sealed = this.sealedRunningMax();
    let lo = 0;
    let hi = sealed.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sealed[mid]! < timestamp) lo = mid + 1;
      else hi = mid;
    }
    if (lo === sealed.length && this.active.maxTimestamp < timestamp) return null;
    const segment = this.segments[lo]!;
    this.load(segment);
    const found = segment.seek(segment.index!.floorByTimestamp(Math.ceil(timestamp)), (h) => !h.control && h.maxTimestamp >= timestamp);
    if (found === null) throw storageCorrupt(segment.path, `its summary promises a record at or after ${timestamp} that its batches do not hold`);
    return found.header.baseOffset;
  }

  // --------------------------------------------------------------- maintenance

  /** Seals the active segment and starts a new one (no-op when the active one is empty). */
  roll(): void {
    this.writable();
    if (!this.active.empty) this.rollNow();
  }

  /**
   * Deletes whole old segments past the retention policy: by size (oldest
   * first while the log without it is still >= retention.bytes) and by age
   * (its newest record older than retention.ms). Never the active segment,
   * never a segment holding an entry >= `beforeIndex` (pass Raft's applied or
   * committed index so nothing a follower may still need from this log is
   * lost). Durable on return.
   */
  enforceRetention(options: { epochMs?: number; beforeIndex?: number } = {}): RetentionResult {
    this.writable();
    const nowMs = options.epochMs ?? this.options.clock.epochMs();
    const beforeIndex = options.beforeIndex ?? Infinity;
    const { bytes: keepBytes, ms: keepMs } = this.options.retention;
    let total = this.segments.reduce((sum, s) => sum + s.logBytes, 0);
    return this.deleteOldest((oldest) => {
      if (oldest.lastIndex >= beforeIndex) return false;
      const newest = oldest.maxTimestamp >= 0 ? oldest.maxTimestamp : oldest.createdMs;
      if (!(total - oldest.logBytes >= keepBytes || nowMs - newest > keepMs)) return false;
      total -= oldest.logBytes;
      return true;
    });
  }

  /**
   * Deletes every whole segment whose entries all precede `index` (Raft's
   * compaction after a snapshot), never the active one. The log may keep a
   * few entries before `index`: it deletes whole segments only.
   */
  dropSegmentsBefore(index: number): RetentionResult {
    this.writable();
    if (!Number.isSafeInteger(index)) throw invalidArgument(`dropSegmentsBefore: ${index} is not an integer`);
    return this.deleteOldest((oldest) => oldest.lastIndex < index);
  }

  private deleteOldest(eligible: (oldest: Segment) => boolean): RetentionResult {
    const result: RetentionResult = { segmentsDeleted: 0, bytesDeleted: 0 };
    while (this.segments.length > 1 && eligible(this.segments[0]!)) {
      const oldest = this.segments.shift()!;
      this.forget(oldest);
      oldest.remove();
      result.segmentsDeleted++;
      result.bytesDeleted += oldest.logBytes;
    }
    if (result.segmentsDeleted > 0) {
      // Oldest first, so a crash midway leaves a contiguous suffix; the directory fsync makes the new start durable.
      fsyncDir(this.options.dir);
      this.cache.dropBefore(this.segments[0]!.baseIndex);
      this.sealedMaxTimestamps = null;
    }
    return result;
  }

  stats(): LogStats {
    const loaded = [this.active, ...this.loaded];
    return {
      segments: this.segments.length,
      logBytes: this.segments.reduce((sum, s) => sum + s.logBytes, 0),
      loadedSegments: loaded.length,
      indexBytes: loaded.reduce((sum, s) => sum + (s.index?.bytes ?? 0), 0),
      tailCacheBytes: this.cache.bytes,
      durableIndex: this.flusher.durable.index,
      lastIndex: this.active.lastIndex,
    };
  }

  /**
   * Flushes, writes the active segment's index and a CLEAN marker (so the
   * next open skips rescanning the tail), closes files and releases the
   * directory lock. After a storage failure it only closes and unlocks, and
   * so does `discard` (the caller deletes the directory next).
   */
  async close(options: { discard?: boolean } = {}): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.cancelTimer?.();
    try {
      if (this.failure === null && options.discard !== true) {
        await this.flusher.flush();
        this.active.writeIndexFile({ durable: true });
        writeFileAtomic(this.options.dir, 'CLEAN', encodeCleanMarker({ baseIndex: this.active.baseIndex, logBytes: this.active.logBytes }), { durable: true });
      }
    } finally {
      this.closed = true;
      for (const segment of this.segments) segment.unload();
      this.lock.release();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ------------------------------------------------------------------ internals

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  private endPoint(): LogPoint {
    return { index: this.active.lastIndex, offset: this.active.nextOffset };
  }

  private usable(): void {
    if (this.failure !== null) throw this.failure;
    if (this.closed) throw new SkeinError('STORAGE_FAILED', { message: `the log in ${this.options.dir} is closed` });
  }

  private writable(): void {
    this.usable();
    if (this.closing) throw new SkeinError('STORAGE_FAILED', { message: `the log in ${this.options.dir} is closing` });
  }

  /** Puts the log in the failed state: after a failed write or fsync the disk's state is unknown until reopened. */
  private fail(error: SkeinError): SkeinError {
    this.failure ??= error;
    this.cancelTimer?.();
    return error;
  }

  private flushInBackground(): void {
    this.recordsSinceFlush = 0;
    // A failure is recorded by onFailure and surfaces from the next call; nothing to do here.
    this.flusher.flush().catch(() => {});
  }

  private checkIndexRange(lo: number, hi: number): void {
    const first = this.segments[0]!.baseIndex;
    const last = this.active.lastIndex;
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo < first || hi > last + 1 || lo > hi) {
      throw new SkeinError('OFFSET_OUT_OF_RANGE', {
        message: `entries [${lo}, ${hi}) are outside the log [${first}, ${last + 1})`,
        details: { lo, hi, firstIndex: first, lastIndex: last },
      });
    }
  }

  private rollIfDue(nextBatchBytes: number): void {
    const active = this.active;
    if (active.empty) return;
    const full = active.logBytes + nextBatchBytes > this.options.segmentBytes;
    const old = Number.isFinite(this.options.segmentMs) && this.options.clock.epochMs() - active.createdMs >= this.options.segmentMs;
    if (full || old) this.rollNow();
  }

  private rollNow(): void {
    const old = this.active;
    try {
      // Sealed segments are never torn: fsync before the next segment exists, so recovery only scans the tail.
      old.syncNow();
      old.writeIndexFile({ durable: false });
      this.segments.push(
        Segment.create(
          this.options.dir,
          { baseOffset: old.nextOffset, baseIndex: old.lastIndex + 1, prevTerm: old.lastTerm, createdMs: this.options.clock.epochMs() },
          this.options.indexIntervalBytes,
        ),
      );
    } catch (error) {
      throw this.fail(error as SkeinError);
    }
    this.touch(old);
    this.sealedMaxTimestamps = null;
    const durable = this.flusher.durable;
    if (old.lastIndex > durable.index) {
      this.flusher.assumeDurable({ index: old.lastIndex, offset: old.nextOffset });
      this.options.onDurable(this.flusher.durable);
    }
  }

  private segmentForIndex(index: number): Segment {
    return this.segments[lastAtMost(this.segments, (s) => s.baseIndex, index)]!;
  }

  private segmentForOffset(offset: number): Segment {
    // Segments that hold only control batches share their base offset with the next; the last one wins.
    return this.segments[lastAtMost(this.segments, (s) => s.baseOffset, offset)]!;
  }

  /** Makes sure `segment` has an open descriptor and its sparse index in memory, evicting the least recently used. */
  private load(segment: Segment): void {
    if (segment === this.active) {
      if (!segment.loaded) this.loadIndexOf(segment);
      return;
    }
    if (!segment.loaded) this.loadIndexOf(segment);
    this.touch(segment);
  }

  private loadIndexOf(segment: Segment): void {
    segment.open();
    if (segment.index !== null || segment.loadIndex()) return;
    const expected = { logBytes: segment.logBytes, lastIndex: segment.lastIndex, nextOffset: segment.nextOffset, lastTerm: segment.lastTerm };
    const scan = scanSegment(segment);
    if (scan.fault !== null) {
      throw storageCorrupt(segment.path, `damaged at byte ${scan.fault.position}: ${scan.fault.reason}`, { position: scan.fault.position });
    }
    if (segment.logBytes !== expected.logBytes || segment.lastIndex !== expected.lastIndex || segment.nextOffset !== expected.nextOffset || segment.lastTerm !== expected.lastTerm) {
      throw storageCorrupt(segment.path, 'its batches disagree with its index summary');
    }
    if (segment !== this.active) segment.writeIndexFile({ durable: false });
  }

  private touch(segment: Segment): void {
    const at = this.loaded.indexOf(segment);
    if (at >= 0) this.loaded.splice(at, 1);
    this.loaded.push(segment);
    while (this.loaded.length > logLimits.openSegmentsMax - 1) this.loaded.shift()!.unload();
  }

  private forget(segment: Segment): void {
    const at = this.loaded.indexOf(segment);
    if (at >= 0) this.loaded.splice(at, 1);
  }

  private locateIndex(segment: Segment, index: number): { position: number; header: BatchHeader } {
    this.load(segment);
    const found = segment.seek(segment.index!.floorByIndex(index), (h) => h.entryIndex >= index);
    if (found === null || found.header.entryIndex !== index) throw storageCorrupt(segment.path, `entry ${index} is missing`);
    return found;
  }

  private readOffsetFromDisk(offset: number, budget: number, maxIndex: number, withinBudget: boolean): ReadResult {
    const segment = this.segmentForOffset(offset);
    this.load(segment);
    return this.readRun(
      segment,
      segment.index!.floorByOffset(offset),
      (h) => h.nextOffset > offset,
      (h) => h.entryIndex <= maxIndex,
      budget,
      withinBudget,
    );
  }

  private fromCache(slot: number, budget: number, more: (h: BatchHeader) => boolean, withinBudget = false): ReadResult {
    const batches: Buffer[] = [];
    let bytes = 0;
    let last: BatchHeader | null = null;
    const segmentBaseIndex = this.cache.at(slot).segmentBaseIndex;
    for (let i = slot; i < this.cache.size; i++) {
      const item = this.cache.at(i);
      if (item.segmentBaseIndex !== segmentBaseIndex || !more(item.header)) break;
      if (bytes + item.bytes.length > budget) {
        if (batches.length === 0 && withinBudget) return tooLarge(item.bytes.length);
        if (batches.length > 0) break;
      }
      batches.push(item.bytes);
      bytes += item.bytes.length;
      last = item.header;
    }
    return { batches, bytes, nextOffset: last?.nextOffset ?? 0, lastIndex: last?.entryIndex ?? null };
  }

  /**
   * The one disk read path: from the index entry at `slot`, skip batches
   * until `start` accepts one, then take whole batches while `more` accepts
   * them and they fit `budget` (the first always fits). The first read
   * covers the skip (up to the next index entry) plus the budget, so the
   * usual read is one system call; a run that outgrows it continues with a
   * second read where the first ended. Every batch returned passes its
   * header check and, with verifyOnRead, its body checksum.
   */
  private readRun(
    segment: Segment,
    slot: number,
    start: (h: BatchHeader) => boolean,
    more: (h: BatchHeader) => boolean,
    budget: number,
    withinBudget = false,
  ): ReadResult {
    const index = segment.index!;
    let position = slot < 0 ? SEGMENT_HEADER_BYTES : index.position[slot]!;
    const end = segment.logBytes;
    const skipBytes = slot + 1 < index.count ? index.position[slot + 1]! - position : this.options.indexIntervalBytes;
    let buffer = segment.read(position, Math.min(end - position, skipBytes + budget + BATCH_HEADER_BYTES));
    let bufferStart = position;
    const batches: Buffer[] = [];
    let bytes = 0;
    let last: BatchHeader | null = null;
    let started = false;
    // Reads on from `position`: what is left of the budget, but at least `atLeast` bytes.
    const readOn = (atLeast: number): void => {
      buffer = segment.read(position, Math.min(end - position, Math.max(atLeast, budget - bytes + BATCH_HEADER_BYTES)));
      bufferStart = position;
    };
    while (position < end) {
      if (position + BATCH_HEADER_BYTES > bufferStart + buffer.length) {
        // No batch is shorter than its header: with less budget left than that, the run is complete.
        if (batches.length > 0 && budget - bytes < BATCH_HEADER_BYTES) break;
        readOn(BATCH_HEADER_BYTES);
      }
      let header: BatchHeader;
      try {
        header = segment.headerIn(buffer, position - bufferStart, position);
      } catch (error) {
        // Serve the good batches before damage; the damaged one is reported when a read starts at it.
        if (batches.length > 0) break;
        throw error;
      }
      if (!started) started = start(header);
      if (started) {
        if (!more(header)) break;
        if (bytes + header.batchLength > budget) {
          // Before reading on: a batch that does not fit is not read at all.
          if (batches.length === 0 && withinBudget) return tooLarge(header.batchLength);
          if (batches.length > 0) break;
        }
        if (position + header.batchLength > bufferStart + buffer.length) readOn(header.batchLength);
        const at = position - bufferStart;
        if (this.options.verifyOnRead) {
          const checked = checkBatch(buffer, at, header.batchLength, true);
          if (checked instanceof BatchFault) {
            if (batches.length > 0) break;
            throw storageCorrupt(segment.path, `batch at byte ${position}: ${checked.reason}`, { position });
          }
        }
        batches.push(buffer.subarray(at, at + header.batchLength));
        bytes += header.batchLength;
        last = header;
      }
      position += header.batchLength;
    }
    return { batches, bytes, nextOffset: last?.nextOffset ?? 0, lastIndex: last?.entryIndex ?? null };
  }

  private sealedRunningMax(): number[] {
    if (this.sealedMaxTimestamps === null) {
      let max = -1;
      this.sealedMaxTimestamps = this.segments.slice(0, -1).map((s) => (max = Math.max(max, s.maxTimestamp)));
    }
    return this.sealedMaxTimestamps;
  }
}

function clampBudget(maxBytes: number): number {
  if (!Number.isFinite(maxBytes) || maxBytes < 0) throw invalidArgument(`maxBytes ${maxBytes} is not a non-negative number`);
  return Math.min(Math.floor(maxBytes), logLimits.readBytesMax);
}

function invalidArgument(message: string): SkeinError {
  return new SkeinError('INVALID_ARGUMENT', { message });
}

/** Index of the last item whose key is <= `value` (items sorted by key), or 0. */
function lastAtMost<T>(items: readonly T[], key: (item: T) => number, value: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(items[mid]!) <= value) lo = mid + 1;
    else hi = mid;
  }
  return Math.max(0, lo - 1);
}

/** A read within budget whose first batch alone exceeds it: nothing, and what it would take. */
function tooLarge(firstBatchBytes: number): ReadResult {
  return { batches: [], bytes: 0, nextOffset: 0, lastIndex: null, firstBatchBytes };
}
