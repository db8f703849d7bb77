import type { Entry, Snapshot } from './types.js';

/**
 * The stable (durably written) part of a replica's log, as the core reads it
 * (etcd's Storage). Synchronous: the partition log answers from its index and
 * page cache, and the core must stay a plain state machine.
 *
 * The log holds entries [firstIndex(), lastIndex()]; everything before
 * firstIndex() is covered by snapshot(), whose index is at least
 * firstIndex() - 1 (a replica may keep a few entries its snapshot covers, so
 * a follower slightly behind still gets entries rather than a snapshot).
 * An empty log has lastIndex() === firstIndex() - 1.
 */
export interface RaftLogReader {
  firstIndex(): number;
  lastIndex(): number;
  /**
   * Term of the entry at `index`, for firstIndex() - 1 <= index <= lastIndex()
   * (firstIndex() - 1 answers with the snapshot's term); undefined outside.
   */
  termAt(index: number): number | undefined;
  /**
   * Entries [lo, hiExclusive) with firstIndex() <= lo < hiExclusive <= lastIndex() + 1,
   * stopping before the entry that would take the total data size past
   * `bytesMax` — but always at least one entry, so a large entry still moves.
   */
  entries(lo: number, hiExclusive: number, bytesMax: number): Entry[];
  /**
   * The config entries among [lo, hiExclusive) (firstIndex() <= lo): a replica
   * restarting rebuilds its membership from these without reading every entry.
   */
  configEntries(lo: number, hiExclusive: number): Entry[];
  /** The latest snapshot: what a follower behind firstIndex() is sent. */
  snapshot(): Snapshot;
}

/**
 * What the driver writes through: the reader plus the write hooks. Writes
 * may sit in a page cache until sync() resolves; the driver never lets a
 * message that depends on a write leave before that.
 */
export interface RaftStorage extends RaftLogReader {
  /** Appends entries; entries[0].index must be lastIndex() + 1. */
  append(entries: readonly Entry[]): void;
  /** Removes the entries at fromIndex and after (a conflicting suffix; never a committed entry). */
  truncateSuffix(fromIndex: number): void;
  /** Replaces the whole log with a snapshot received from the leader: afterwards firstIndex() = index + 1 = lastIndex() + 1. */
  installSnapshot(snapshot: Snapshot): void;
  /**
   * Records a snapshot this replica took of its own state machine (index <= lastIndex())
   * and drops the entries before `keepFromIndex` (<= snapshot index + 1), which the
   * snapshot now covers. Followers further behind than that will be sent the snapshot.
   */
  compact(snapshot: Snapshot, keepFromIndex: number): void;
  /** Resolves once every write above is durable. */
  sync(): Promise<void>;
}
