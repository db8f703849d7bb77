import type { RaftStorage } from './core/storage.js';
import { emptySnapshot, type Entry, type Snapshot } from './core/types.js';

/**
 * A RaftStorage held in memory: for tests, the simulator's model of a disk,
 * and groups that rebuild from their peers. Durable only as far as the
 * process lives; sync() resolves at once.
 */
export class MemoryStorage implements RaftStorage {
  private snap: Snapshot = emptySnapshot;
  /** Index and term of the entry just before log[0] (a snapshot's, or one kept by compaction). */
  private baseIndex = 0;
  private baseTerm = 0;
  private log: Entry[] = [];

  firstIndex(): number {
    return this.baseIndex + 1;
  }

  lastIndex(): number {
    return this.baseIndex + this.log.length;
  }

  termAt(index: number): number | undefined {
    if (index === this.baseIndex) return this.baseTerm;
    if (index < this.baseIndex) return undefined;
    return this.log[index - this.baseIndex - 1]?.term;
  }

  entries(lo: number, hiExclusive: number, bytesMax: number): Entry[] {
    if (lo < this.firstIndex() || hiExclusive > this.lastIndex() + 1 || lo >= hiExclusive) {
      throw new Error(`raft storage: entries [${lo}, ${hiExclusive}) outside [${this.firstIndex()}, ${this.lastIndex() + 1})`);
    }
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hiExclusive; index++) {
      const entry = this.log[index - this.baseIndex - 1]!;
      if (out.length > 0 && bytes + entry.data.byteLength > bytesMax) break;
      bytes += entry.data.byteLength;
      out.push(entry);
    }
    return out;
  }

  configEntries(lo: number, hiExclusive: number): Entry[] {
    const out: Entry[] = [];
    for (let index = Math.max(lo, this.firstIndex()); index < Math.min(hiExclusive, this.lastIndex() + 1); index++) {
      const entry = this.log[index - this.baseIndex - 1]!;
      if (entry.type === 'config') out.push(entry);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    if (entries[0]!.index !== this.lastIndex() + 1) {
      throw new Error(`raft storage: append at ${entries[0]!.index} after last index ${this.lastIndex()}`);
    }
    for (const entry of entries) this.log.push(entry);
  }

  truncateSuffix(fromIndex: number): void {
    if (fromIndex <= this.baseIndex) throw new Error(`raft storage: truncate at ${fromIndex} reaches into the snapshot`);
    if (fromIndex > this.lastIndex()) return;
    this.log.length = fromIndex - this.baseIndex - 1;
  }

  installSnapshot(snapshot: Snapshot): void {
    this.snap = snapshot;
    this.baseIndex = snapshot.meta.index;
    this.baseTerm = snapshot.meta.term;
    this.log = [];
  }

  compact(snapshot: Snapshot, keepFromIndex: number): void {
    const { index } = snapshot.meta;
    if (index > this.lastIndex() || this.termAt(index) !== snapshot.meta.term) {
      throw new Error(`raft storage: snapshot at ${index} is not of this log`);
    }
    if (keepFromIndex > index + 1) throw new Error('raft storage: compaction would leave a gap after the snapshot');
    this.snap = snapshot;
    const newBase = Math.max(this.baseIndex, keepFromIndex - 1);
    if (newBase === this.baseIndex) return;
    this.baseTerm = this.termAt(newBase)!;
    this.log = this.log.slice(newBase - this.baseIndex);
    this.baseIndex = newBase;
  }

  /** An independent copy (the simulator's disk keeps one per durability point). */
  clone(): MemoryStorage {
    const copy = new MemoryStorage();
    copy.snap = this.snap;
    copy.baseIndex = this.baseIndex;
    copy.baseTerm = this.baseTerm;
    copy.log = [...this.log];
    return copy;
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }
}
