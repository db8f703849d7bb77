import type { RaftStorage } from '../../broker/raft/core/storage.js';
import { emptyHardState, type Entry, type HardState, type Snapshot } from '../../broker/raft/core/types.js';
import type { HardStateStore } from '../../broker/raft/hard-state.js';
import { MemoryStorage } from '../../broker/raft/memory-storage.js';
import type { Prng } from '../../transport/core/prng.js';
import type { Scheduler } from './scheduler.js';

/**
 * One replica's simulated disk. Writes land in what the process sees at
 * once, but reach the platter only when a sync issued after them completes
 * (after a seeded latency). A crash keeps a random prefix of the writes not
 * yet synced — and with torn writes, part of the next append, as a real log
 * keeps after truncating a torn tail at its first bad checksum — and forgets
 * the rest. The hard-state file is replaced atomically: a crash keeps the old
 * or the new version of an unsynced save, never a mix.
 */

type Op =
  | { readonly kind: 'append'; readonly entries: readonly Entry[] }
  | { readonly kind: 'truncate'; readonly from: number }
  | { readonly kind: 'install'; readonly snapshot: Snapshot }
  | { readonly kind: 'compact'; readonly snapshot: Snapshot; readonly keepFrom: number };

export interface DiskOptions {
  readonly syncLatencyMaxMs: number;
  readonly tornWrites: boolean;
}

export interface DiskHooks {
  /** Every append the process makes, with the term of the entry before it (for the log-matching checker). */
  onAppend(entries: readonly Entry[], prevTerm: number): void;
  /** A sync or a hard-state save was issued and is not durable yet: the moment to crash for a nasty test. */
  onDurabilityPending(): void;
}

export class SimDisk {
  incarnation = 0;
  private durable = new MemoryStorage();
  private durableHardState: HardState = emptyHardState;
  private current = new MemoryStorage();
  private pending: Array<{ seq: number; op: Op }> = [];
  private pendingSaves: Array<{ seq: number; state: HardState }> = [];
  private opSeq = 0;
  private saveSeq = 0;
  private lastCompletionMs = 0;
  readonly counters = { syncs: 0, opsLostInCrashes: 0, tornAppends: 0, hardStateSavesLost: 0 };

  constructor(
    private readonly scheduler: Scheduler,
    private readonly prng: Prng,
    private readonly options: DiskOptions,
    private readonly hooks: DiskHooks,
  ) {}

  /** Writes a new group's founding state straight to the platter (before any process runs). */
  format(entries: readonly Entry[], hardState: HardState): void {
    this.durable.append(entries);
    this.durableHardState = hardState;
    this.current = this.durable.clone();
  }

  /** The storage a process of the current incarnation writes through. */
  storage(): RaftStorage {
    const incarnation = this.incarnation;
    const live = (): MemoryStorage => {
      if (incarnation !== this.incarnation) throw new Error('sim disk: a crashed process touched the disk');
      return this.current;
    };
    return {
      firstIndex: () => live().firstIndex(),
      lastIndex: () => live().lastIndex(),
      termAt: (index) => live().termAt(index),
      entries: (lo, hi, bytesMax) => live().entries(lo, hi, bytesMax),
      configEntries: (lo, hi) => live().configEntries(lo, hi),
      snapshot: () => live().snapshot(),
      append: (entries) => {
        const s = live();
        const first = entries[0];
        if (first !== undefined) this.hooks.onAppend(entries, s.termAt(first.index - 1) ?? -1);
        s.append(entries);
        this.record({ kind: 'append', entries: [...entries] });
      },
      truncateSuffix: (from) => {
        live().truncateSuffix(from);
        this.record({ kind: 'truncate', from });
      },
      installSnapshot: (snapshot) => {
        live().installSnapshot(snapshot);
        this.record({ kind: 'install', snapshot });
      },
      compact: (snapshot, keepFrom) => {
        live().compact(snapshot, keepFrom);
        this.record({ kind: 'compact', snapshot, keepFrom });
      },
      sync: () => {
        live();
        this.hooks.onDurabilityPending();
        const covers = this.opSeq;
        return this.afterLatency(incarnation, () => {
          this.counters.syncs++;
          while (this.pending.length > 0 && this.pending[0]!.seq < covers) apply(this.durable, this.pending.shift()!.op);
        });
      },
    };
  }

  hardStateStore(): HardStateStore {
    const incarnation = this.incarnation;
    return {
      load: () => Promise.resolve(this.durableHardState),
      save: (state) => {
        if (incarnation !== this.incarnation) throw new Error('sim disk: a crashed process saved hard state');
        const seq = this.saveSeq++;
        this.pendingSaves.push({ seq, state });
        this.hooks.onDurabilityPending();
        return this.afterLatency(incarnation, () => {
          while (this.pendingSaves.length > 0 && this.pendingSaves[0]!.seq <= seq) this.durableHardState = this.pendingSaves.shift()!.state;
        });
      },
    };
  }

  /** The process dies: unsynced writes are partly kept, partly lost, and its pending syncs never complete. */
  crash(): void {
    const keep = this.prng.int(0, this.pending.length);
    for (let i = 0; i < keep; i++) apply(this.durable, this.pending[i]!.op);
    const torn = this.pending[keep];
    if (this.options.tornWrites && torn !== undefined && torn.op.kind === 'append' && torn.op.entries.length > 1) {
      const part = this.prng.int(1, torn.op.entries.length - 1);
      this.durable.append(torn.op.entries.slice(0, part));
      this.counters.tornAppends++;
    }
    this.counters.opsLostInCrashes += this.pending.length - keep;
    const savesKept = this.prng.int(0, this.pendingSaves.length);
    for (let i = 0; i < savesKept; i++) this.durableHardState = this.pendingSaves[i]!.state;
    this.counters.hardStateSavesLost += this.pendingSaves.length - savesKept;
    this.pending = [];
    this.pendingSaves = [];
    this.current = this.durable.clone();
    this.incarnation++;
  }

  /** What survives a crash now, for checks that look at durability. */
  durableLog(): MemoryStorage {
    return this.durable;
  }

  private record(op: Op): void {
    this.pending.push({ seq: this.opSeq++, op });
  }

  private afterLatency(incarnation: number, complete: () => void): Promise<void> {
    // Completions keep issue order, as one device queue would.
    const at = Math.max(this.scheduler.now + this.prng.int(0, this.options.syncLatencyMaxMs), this.lastCompletionMs);
    this.lastCompletionMs = at;
    return new Promise<void>((resolve) => {
      this.scheduler.at(at, () => {
        if (incarnation !== this.incarnation) return;
        complete();
        resolve();
      });
    });
  }
}

function apply(storage: MemoryStorage, op: Op): void {
  switch (op.kind) {
    case 'append':
      storage.append(op.entries);
      return;
    case 'truncate':
      storage.truncateSuffix(op.from);
      return;
    case 'install':
      storage.installSnapshot(op.snapshot);
      return;
    case 'compact':
      storage.compact(op.snapshot, op.keepFrom);
      return;
  }
}
