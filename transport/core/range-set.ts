/**
 * A set of integers kept as sorted, disjoint, non-adjacent half-open ranges
 * [start, end). Used for received packet numbers, acknowledged and
 * to-be-resent stream bytes, and out-of-order stream data. The common case
 * (appending right after the last range) is O(1); the rest is a binary search
 * plus a splice.
 */
export class RangeSet {
  /** Interleaved [start0, end0, start1, end1, ...]. */
  private r: number[] = [];

  get count(): number {
    return this.r.length >> 1;
  }

  get isEmpty(): boolean {
    return this.r.length === 0;
  }

  start(index: number): number {
    return this.r[index << 1]!;
  }

  end(index: number): number {
    return this.r[(index << 1) + 1]!;
  }

  /** Smallest member; the set must not be empty. */
  get min(): number {
    return this.r[0]!;
  }

  /** One past the largest member; the set must not be empty. */
  get max(): number {
    return this.r[this.r.length - 1]!;
  }

  clear(): void {
    this.r.length = 0;
  }

  /** Index of the first range whose end is > x (the range containing x, or the first after it). */
  private firstEndingAfter(x: number): number {
    const r = this.r;
    let lo = 0;
    let hi = r.length >> 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (r[(mid << 1) + 1]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  has(x: number): boolean {
    const i = this.firstEndingAfter(x);
    return i < this.r.length >> 1 && this.r[i << 1]! <= x;
  }

  /** True when every member of [start, end) is in the set. */
  covers(start: number, end: number): boolean {
    if (start >= end) return true;
    const i = this.firstEndingAfter(start);
    return i < this.r.length >> 1 && this.r[i << 1]! <= start && this.r[(i << 1) + 1]! >= end;
  }

  /** Adds [start, end). Returns how many members were new. */
  add(start: number, end: number): number {
    if (start >= end) return 0;
    const r = this.r;
    const n = r.length;
    // Fast path: extends or follows the last range.
    if (n === 0 || start > r[n - 1]!) {
      r.push(start, end);
      return end - start;
    }
    if (start >= r[n - 2]!) {
      const lastEnd = r[n - 1]!;
      if (end <= lastEnd) return 0;
      r[n - 1] = end;
      return end - lastEnd;
    }
    // General case: merge every range that overlaps or touches [start, end).
    const i = this.firstEndingAfter(start - 1); // first range with end >= start (touching counts)
    let added = end - start;
    let newStart = start;
    let newEnd = end;
    let j = i;
    while (j < r.length >> 1 && r[j << 1]! <= end) {
      const s = r[j << 1]!;
      const e = r[(j << 1) + 1]!;
      added -= Math.max(0, Math.min(e, end) - Math.max(s, start));
      if (s < newStart) newStart = s;
      if (e > newEnd) newEnd = e;
      j++;
    }
    r.splice(i << 1, (j - i) << 1, newStart, newEnd);
    return added;
  }

  /** Removes [start, end) from the set. */
  remove(start: number, end: number): void {
    if (start >= end || this.r.length === 0) return;
    const r = this.r;
    const i = this.firstEndingAfter(start);
    let j = i;
    const replacement: number[] = [];
    while (j < r.length >> 1 && r[j << 1]! < end) {
      const s = r[j << 1]!;
      const e = r[(j << 1) + 1]!;
      if (s < start) replacement.push(s, start);
      if (e > end) replacement.push(end, e);
      j++;
    }
    if (j > i || replacement.length > 0) r.splice(i << 1, (j - i) << 1, ...replacement);
  }

  /** Removes every member below x. */
  removeBelow(x: number): void {
    const r = this.r;
    const i = this.firstEndingAfter(x);
    if (i > 0) r.splice(0, i << 1);
    if (r.length > 0 && r[0]! < x) r[0] = x;
  }

  /** Removes the lowest range (used to keep a bounded number of ranges). */
  shift(): void {
    this.r.splice(0, 2);
  }

  /** The smallest member >= x that is NOT in the set. */
  nextMissing(x: number): number {
    const i = this.firstEndingAfter(x);
    if (i < this.r.length >> 1 && this.r[i << 1]! <= x) return this.r[(i << 1) + 1]!;
    return x;
  }

  /** Start of the first range that begins after x, or Infinity. */
  nextStartAfter(x: number): number {
    const i = this.firstEndingAfter(x);
    if (i >= this.r.length >> 1) return Infinity;
    const s = this.r[i << 1]!;
    return s > x ? s : i + 1 < this.r.length >> 1 ? this.r[(i + 1) << 1]! : Infinity;
  }
}
