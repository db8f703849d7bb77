import type { IndexColumns } from './formats.js';

/**
 * The sparse index of one segment: every so many bytes, one entry naming a
 * batch by entry index, base offset and file position, plus the largest data
 * timestamp before it. All four columns are monotonic (entry indexes strictly,
 * offsets and timestamps weakly: a control batch shares its offset with the
 * next batch), so one binary search answers "where is index i", "where is
 * offset o" and "where could timestamp t start", then a short forward walk
 * over batch headers (at most one interval) finds the exact batch.
 *
 * Columns are typed arrays: 32 bytes an entry, no per-entry objects.
 */
export class SparseIndex implements IndexColumns {
  count = 0;
  entryIndex: Float64Array;
  baseOffset: Float64Array;
  timestampBefore: Float64Array;
  position: Uint32Array;

  constructor(capacity = 16) {
    this.entryIndex = new Float64Array(capacity);
    this.baseOffset = new Float64Array(capacity);
    this.timestampBefore = new Float64Array(capacity);
    this.position = new Uint32Array(capacity);
  }

  static fromColumns(columns: IndexColumns): SparseIndex {
    const index = new SparseIndex(0);
    index.count = columns.count;
    index.entryIndex = columns.entryIndex;
    index.baseOffset = columns.baseOffset;
    index.timestampBefore = columns.timestampBefore;
    index.position = columns.position;
    return index;
  }

  get bytes(): number {
    return this.entryIndex.length * 32;
  }

  push(entryIndex: number, baseOffset: number, timestampBefore: number, position: number): void {
    if (this.count === this.entryIndex.length) this.grow(Math.max(16, this.count * 2));
    const i = this.count++;
    this.entryIndex[i] = entryIndex;
    this.baseOffset[i] = baseOffset;
    this.timestampBefore[i] = timestampBefore;
    this.position[i] = position;
  }

  /** Drops the entries of batches at or after file position `position` (a truncation). */
  truncateAtPosition(position: number): void {
    while (this.count > 0 && this.position[this.count - 1]! >= position) this.count--;
  }

  /** Slot of the last entry with entryIndex <= `entryIndex`, or -1. */
  floorByIndex(entryIndex: number): number {
    return this.lastAtMost(this.entryIndex, entryIndex);
  }

  /** Slot of the last entry with baseOffset <= `offset`, or -1. */
  floorByOffset(offset: number): number {
    return this.lastAtMost(this.baseOffset, offset);
  }

  /** Slot of the last entry all of whose predecessors are older than `timestamp`, or -1. */
  floorByTimestamp(timestamp: number): number {
    return this.lastAtMost(this.timestampBefore, timestamp - 1);
  }

  private lastAtMost(column: Float64Array, key: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (column[mid]! <= key) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  private grow(capacity: number): void {
    const copy = <T extends Float64Array | Uint32Array>(from: T, to: T): T => {
      to.set(from.subarray(0, this.count));
      return to;
    };
    this.entryIndex = copy(this.entryIndex, new Float64Array(capacity));
    this.baseOffset = copy(this.baseOffset, new Float64Array(capacity));
    this.timestampBefore = copy(this.timestampBefore, new Float64Array(capacity));
    this.position = copy(this.position, new Uint32Array(capacity));
  }
}
