import { makeBatch } from './helpers.js';
import type { BatchSpec } from './helpers.js';

const SEGMENT_HEADER_BYTES = 64;

interface ModelSegment {
  baseIndex: number;
  createdMs: number;
}

export interface ModelBatch {
  spec: BatchSpec;
  bytes: Buffer;
  nextOffset: number;
  maxTimestamp: number;
}

/**
 * The partition log as plain arrays: the batches, where segments start, and
 * the point before the first entry. It answers every query by brute force,
 * and rolls segments by the rule the log documents (a batch goes into the
 * active segment if that is empty or the batch fits segmentBytes), so it can
 * predict read boundaries and retention exactly.
 */
export class LogModel {
  batches: ModelBatch[] = [];
  segments: ModelSegment[];
  /** Index, term and next offset of the point before the first batch. */
  base = { index: 0, term: 0, offset: 0 };
  nowMs = 1_000_000;

  constructor(readonly segmentBytes: number) {
    this.segments = [{ baseIndex: 1, createdMs: this.nowMs }];
  }

  get firstIndex(): number {
    return this.base.index + 1;
  }

  get lastIndex(): number {
    return this.base.index + this.batches.length;
  }

  get lastTerm(): number {
    return this.batches.at(-1)?.spec.term ?? this.base.term;
  }

  get endOffset(): number {
    return this.batches.at(-1)?.nextOffset ?? this.base.offset;
  }

  get startOffset(): number {
    return this.batches[0]?.spec.baseOffset ?? this.base.offset;
  }

  batch(index: number): ModelBatch {
    return this.batches[index - this.firstIndex]!;
  }

  /** Batches of segment k (by entry index range). */
  segmentRange(k: number): [number, number] {
    const lo = this.segments[k]!.baseIndex;
    const hi = k + 1 < this.segments.length ? this.segments[k + 1]!.baseIndex : this.lastIndex + 1;
    return [lo, hi];
  }

  segmentBytesOf(k: number): number {
    const [lo, hi] = this.segmentRange(k);
    let bytes = SEGMENT_HEADER_BYTES;
    for (let i = lo; i < hi; i++) bytes += this.batch(i).bytes.length;
    return bytes;
  }

  segmentOf(index: number): number {
    let k = 0;
    while (k + 1 < this.segments.length && this.segments[k + 1]!.baseIndex <= index) k++;
    return k;
  }

  nextSpecs(shapes: Array<{ records: number; valueBytes: number; termBump: boolean; timestampDelta: number }>): BatchSpec[] {
    const out: BatchSpec[] = [];
    let index = this.lastIndex;
    let offset = this.endOffset;
    let term = Math.max(this.lastTerm, 1);
    for (const shape of shapes) {
      if (shape.termBump) term++;
      out.push({ entryIndex: ++index, baseOffset: offset, term, records: shape.records, valueBytes: shape.valueBytes, timestamp: 1_700_000_000_000 + shape.timestampDelta });
      offset += shape.records;
    }
    return out;
  }

  append(specs: BatchSpec[]): Buffer[] {
    const out: Buffer[] = [];
    for (const spec of specs) {
      const bytes = makeBatch(spec);
      const k = this.segments.length - 1;
      const active = this.segments[k]!;
      const activeEmpty = active.baseIndex > this.lastIndex;
      if (!activeEmpty && this.segmentBytesOf(k) + bytes.length > this.segmentBytes) {
        this.segments.push({ baseIndex: spec.entryIndex, createdMs: this.nowMs });
      }
      this.batches.push({
        spec,
        bytes,
        nextOffset: spec.baseOffset + spec.records,
        maxTimestamp: spec.records === 0 ? -1 : spec.timestamp + spec.records - 1,
      });
      out.push(bytes);
    }
    return out;
  }

  roll(): void {
    const active = this.segments.at(-1)!;
    if (active.baseIndex <= this.lastIndex) this.segments.push({ baseIndex: this.lastIndex + 1, createdMs: this.nowMs });
  }

  truncateSuffix(fromIndex: number): void {
    if (fromIndex > this.lastIndex) return;
    while (this.segments.length > 1 && this.segments.at(-1)!.baseIndex >= fromIndex) this.segments.pop();
    this.batches.length = Math.max(0, fromIndex - this.firstIndex);
  }

  resetTo(point: { entryIndex: number; term: number; baseOffset: number }): void {
    this.batches = [];
    this.base = { index: point.entryIndex, term: point.term, offset: point.baseOffset };
    this.segments = [{ baseIndex: point.entryIndex + 1, createdMs: this.nowMs }];
  }

  /** Deletes whole oldest segments while `eligible` says so, never the last one. */
  deleteOldest(eligible: (k: number, bytesAfter: number) => boolean): number {
    let deleted = 0;
    let total = 0;
    for (let k = 0; k < this.segments.length; k++) total += this.segmentBytesOf(k);
    while (this.segments.length > 1) {
      const size = this.segmentBytesOf(0);
      if (!eligible(0, total - size)) break;
      const [lo, hi] = this.segmentRange(0);
      const last = this.batch(hi - 1);
      this.base = { index: hi - 1, term: last.spec.term, offset: last.nextOffset };
      this.batches.splice(0, hi - lo);
      this.segments.shift();
      total -= size;
      deleted++;
    }
    return deleted;
  }

  segmentMaxTimestamp(k: number): number {
    const [lo, hi] = this.segmentRange(k);
    let max = -1;
    for (let i = lo; i < hi; i++) max = Math.max(max, this.batch(i).maxTimestamp);
    return max;
  }

  termAt(index: number): number | undefined {
    if (index === this.base.index) return this.base.term;
    if (index < this.base.index || index > this.lastIndex) return undefined;
    return this.batch(index).spec.term;
  }

  /** What read() must return: from the batch holding `offset` to the end of its segment, within the budget. */
  read(offset: number, maxBytes: number, maxIndex: number): Buffer[] {
    if (offset === this.endOffset) return [];
    const start = this.batches.find((b) => b.nextOffset > offset)!;
    return this.run(start.spec.entryIndex, (b) => b.spec.entryIndex <= maxIndex, maxBytes);
  }

  entries(lo: number, hi: number, maxBytes: number): Buffer[] {
    if (lo === hi) return [];
    return this.run(lo, (b) => b.spec.entryIndex < hi, maxBytes);
  }

  private run(from: number, more: (b: ModelBatch) => boolean, maxBytes: number): Buffer[] {
    const [, segmentEnd] = this.segmentRange(this.segmentOf(from));
    const out: Buffer[] = [];
    let bytes = 0;
    for (let i = from; i < segmentEnd; i++) {
      const b = this.batch(i);
      if (!more(b) || (out.length > 0 && bytes + b.bytes.length > maxBytes)) break;
      out.push(b.bytes);
      bytes += b.bytes.length;
    }
    return out;
  }

  offsetForTimestamp(timestamp: number): number | null {
    return this.batches.find((b) => b.maxTimestamp >= timestamp)?.spec.baseOffset ?? null;
  }
}
