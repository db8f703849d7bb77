import type { RaftLogReader } from './storage.js';
import type { Entry, Snapshot } from './types.js';

/**
 * The replica's log as the core sees it: the stable part read through
 * storage, then the unstable part held here until the driver reports it
 * durable (a suffix of entries, or a snapshot received from the leader that
 * replaces everything), plus the commit and apply positions.
 *
 *   storage: [firstIndex ............ offset-1]
 *   unstable:                                 [offset ........ lastIndex]
 *                                              |in progress| next to persist |
 *
 * Unstable entries override storage from `offset` on: a conflicting suffix is
 * replaced here first and truncated from storage when the driver persists the
 * replacement.
 */
export class RaftLog {
  /** Highest index known committed. */
  committed: number;
  /** Highest index handed to the driver for applying. */
  applying: number;
  /** Highest index the driver has applied. */
  applied: number;

  private snapshot: Snapshot | null = null;
  private snapshotInProgress = false;
  private offset: number;
  private entries: Entry[] = [];
  private offsetInProgress: number;

  constructor(
    private readonly storage: RaftLogReader,
    options: { committed: number; applied: number },
  ) {
    this.offset = storage.lastIndex() + 1;
    this.offsetInProgress = this.offset;
    this.committed = options.committed;
    this.applied = options.applied;
    this.applying = options.applied;
  }

  firstIndex(): number {
    return this.snapshot !== null ? this.snapshot.meta.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    if (this.snapshot !== null) return this.snapshot.meta.index;
    return this.storage.lastIndex();
  }

  /** Term at `index`, or undefined when the log does not hold it (compacted or beyond the end). */
  term(index: number): number | undefined {
    if (this.snapshot !== null && index === this.snapshot.meta.index) return this.snapshot.meta.term;
    if (index >= this.offset) return this.entries[index - this.offset]?.term;
    if (this.snapshot !== null) return undefined;
    return this.storage.termAt(index);
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    if (term === undefined) throw new Error('raft: the last entry has no term');
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** True if a candidate with this last entry is at least as up to date as we are (§5.4.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Highest index of the current log known durable (a leader's own acknowledgement). */
  persistedLastIndex(): number {
    if (this.snapshot !== null) throw new Error('raft: persistedLastIndex with a snapshot pending');
    return this.offset - 1;
  }

  /** Entries [lo, hiExclusive) within bytesMax (at least one); lo >= firstIndex(). */
  slice(lo: number, hiExclusive: number, bytesMax: number): Entry[] {
    if (lo >= hiExclusive) return [];
    if (lo < this.firstIndex()) throw new Error(`raft: slice from ${lo} below firstIndex ${this.firstIndex()}`);
    if (hiExclusive > this.lastIndex() + 1) throw new Error(`raft: slice to ${hiExclusive} past lastIndex ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    if (lo < this.offset) {
      const stable = this.storage.entries(lo, Math.min(hiExclusive, this.offset), bytesMax);
      for (const entry of stable) {
        bytes += entry.data.byteLength;
        out.push(entry);
      }
      if (lo + out.length < Math.min(hiExclusive, this.offset)) return out;
    }
    for (let index = Math.max(lo, this.offset); index < hiExclusive; index++) {
      const entry = this.entries[index - this.offset]!;
      if (out.length > 0 && bytes + entry.data.byteLength > bytesMax) break;
      bytes += entry.data.byteLength;
      out.push(entry);
    }
    return out;
  }

  /**
   * Index of the first of a leader's entries (which follow an entry we hold)
   * that is not in our log yet or conflicts with ours; 0 if we hold them all.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    return 0;
  }

  /** Appends entries (entries[0].index <= lastIndex() + 1), dropping whatever they overwrite. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const from = entries[0]!.index;
    if (from <= this.committed) throw new Error(`raft: append at ${from} would overwrite committed ${this.committed}`);
    if (from > this.lastIndex() + 1) throw new Error(`raft: append at ${from} leaves a gap after ${this.lastIndex()}`);
    if (from === this.offset + this.entries.length) {
      for (const entry of entries) this.entries.push(entry);
    } else if (from <= this.offset) {
      // Replaces part of the stable log: the driver truncates storage when persisting these.
      this.offset = from;
      this.entries = [...entries];
      this.offsetInProgress = from;
    } else {
      this.entries = this.entries.slice(0, from - this.offset).concat(entries);
      this.offsetInProgress = Math.min(this.offsetInProgress, from);
    }
  }

  /**
   * The largest index <= `index` whose term is <= `term`, and that term (0 if
   * the log no longer holds it): where a log with `term` at `index` can
   * possibly agree with ours, skipping a whole term of conflicting entries at
   * once instead of one entry per round trip.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) throw new Error(`raft: commit ${index} past lastIndex ${this.lastIndex()}`);
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index > this.applied) this.applied = index;
    if (this.applying < this.applied) this.applying = this.applied;
  }

  /** Replaces the whole log with a snapshot the leader sent (not yet durable). */
  restore(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    this.snapshotInProgress = false;
    this.offset = snapshot.meta.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.committed = snapshot.meta.index;
  }

  /** A received snapshot not yet applied: while one is pending the replica must not campaign. */
  hasPendingSnapshot(): boolean {
    return this.snapshot !== null;
  }

  // ------------------------------------------------------------ Ready plumbing

  nextSnapshotToPersist(): Snapshot | null {
    return this.snapshot !== null && !this.snapshotInProgress ? this.snapshot : null;
  }

  nextEntriesToPersist(): Entry[] {
    return this.entries.slice(this.offsetInProgress - this.offset);
  }

  /** Committed entries not yet handed out, up to bytesMax (at least one). */
  nextCommittedEntries(bytesMax: number): Entry[] {
    if (this.snapshot !== null && this.snapshotInProgress) return [];
    const from = Math.max(this.applying, this.snapshot !== null ? this.snapshot.meta.index : 0) + 1;
    const to = Math.min(this.committed, this.lastIndex());
    if (from > to) return [];
    return this.slice(from, to + 1, bytesMax);
  }

  hasNextCommittedEntries(): boolean {
    const from = Math.max(this.applying, this.snapshot !== null ? this.snapshot.meta.index : 0) + 1;
    return !(this.snapshot !== null && this.snapshotInProgress) && from <= Math.min(this.committed, this.lastIndex());
  }

  /** Marks what a Ready handed out as being persisted/applied. */
  accept(handed: { snapshot: Snapshot | null; entries: readonly Entry[]; committed: readonly Entry[] }): void {
    if (handed.snapshot !== null) {
      this.snapshotInProgress = true;
      this.applying = Math.max(this.applying, handed.snapshot.meta.index);
    }
    if (handed.entries.length > 0) this.offsetInProgress = handed.entries[handed.entries.length - 1]!.index + 1;
    if (handed.committed.length > 0) this.applying = handed.committed[handed.committed.length - 1]!.index;
  }

  /** The driver made entries up to (index, term) durable; ignored if the log changed since. */
  stableTo(index: number, term: number): void {
    if (index < this.offset) return;
    const at = index - this.offset;
    const entry = this.entries[at];
    if (entry === undefined || entry.term !== term) return;
    this.entries = this.entries.slice(at + 1);
    this.offset = index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  stableSnapshotTo(index: number): void {
    if (this.snapshot !== null && this.snapshot.meta.index === index) {
      this.snapshot = null;
      this.snapshotInProgress = false;
    }
  }
}
