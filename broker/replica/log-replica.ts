import { join } from 'node:path';
import { withTimeout } from '../../transport/abort.js';
import { systemClock } from '../../transport/clock.js';
import type { Prng } from '../../transport/core/prng.js';
import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import type { LeaderHint, TopicConfig } from '../../transport/protocol/messages.js';
import { BatchFault, type BatchHeader, checkBatchHeader, stampBatch } from '../../transport/protocol/record-batch.js';
import { isNoSpace } from '../log/files.js';
import { PartitionLog, type PartitionLogOptions, type ReadResult } from '../log/index.js';
import type { RaftMux } from '../raft/mux.js';
import { RaftDriver, type RaftDriverOptions, type RaftStateMachine } from '../raft/driver.js';
import { FileHardStateStore } from '../raft/hard-state.js';
import { bootstrapState } from '../raft/core/membership.js';
import type { Entry, Ready, Snapshot } from '../raft/core/types.js';
import { decodePartitionSnapshot, encodePartitionSnapshot, LogStorage, storableMessage } from '../raft/log-storage.js';
import { AdvanceSignal } from '../partition/advance-signal.js';

export interface ReplicaHooks {
  /** A committed data batch, in log order (also while replaying after a restart). */
  applyBatch(header: BatchHeader, batch: Uint8Array): void;
  /** The state machine's part of a snapshot, and restoring from one. Partitions have none. */
  snapshotState?(): Uint8Array;
  restoreState?(state: Uint8Array): void;
  /** Whether restoreState would take these bytes: a snapshot from a peer is checked on receipt, never restored blind. */
  checkState?(state: Uint8Array): boolean;
  /** Leadership (the ability to take writes) was gained or lost. */
  leadershipChanged?(writable: boolean): void;
}

export interface RaftTiming {
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
}

export interface LogReplicaOptions {
  group: string;
  brokerId: number;
  /** The replica's own directory: the log lives in log/, Raft's state beside it. */
  dir: string;
  /**
   * The voters a fresh group starts with, the same on every founding replica; null for a replica that
   * joins a running group (a broker joining the metadata group, a replica a move adds): it starts empty
   * and takes the group's first entry (or a snapshot) from the leader, since its own bootstrap entry
   * would differ from theirs at the same index and term.
   */
  voters: readonly number[] | null;
  /** Founding members that follow without voting (the metadata group's beyond --controller-voters); none by default. */
  learners?: readonly number[];
  config: TopicConfig;
  mux: RaftMux;
  prng: Prng;
  timing: RaftTiming;
  hooks: ReplicaHooks;
  /** How followers learn commits (see RaftCoreOptions): partitions piggyback, the metadata group does not wait. */
  commitNotice?: 'immediate' | 'piggyback';
  /** The replica stopped because its storage failed. */
  onFatal?: (error: unknown) => void;
  /** The catch-up throttle its appends to learners draw on (partitions; the metadata group is not throttled). */
  learnerBudget?: RaftDriverOptions['learnerBudget'];
}

/**
 * One replica of a Raft group whose log is a partition log: the metadata
 * group and every partition are one of these. It owns the log, the Raft
 * driver and what follows from them: the high watermark (offset after the
 * last committed record), who leads, whether this replica may take writes,
 * and which offset the next proposal gets.
 *
 * A new leader takes no writes until the no-op of its term is applied: by
 * then every entry before it is committed and applied here, so its view of
 * the log (and of idempotent producers) is complete, and the next offset is
 * simply the high watermark.
 */
export class LogReplica implements RaftStateMachine {
  readonly changes = new AdvanceSignal();

  private highWatermarkValue = 0;
  /** Term whose no-op this replica applied while leading; 0 when not writable. */
  private writableTerm = 0;
  private nextOffset = 0;
  private closedValue = false;
  /** The leader as the last Ready told it: what a replica whose storage failed still knows (its log cannot be asked). */
  private lastHint: LeaderHint = { leaderId: null, leaderEpoch: 0 };
  private storageFailureValue: SkeinError | null = null;
  /** Set by leave(): every Ready wakes the graceful stop's waits (a heartbeat changes whether the group needs us). */
  private leaving = false;
  private driver!: RaftDriver;
  private readonly persistedWaiters: Array<{ index: number; resolve: () => void; reject: (error: unknown) => void }> = [];

  private constructor(
    private readonly options: LogReplicaOptions,
    readonly log: PartitionLog,
    private readonly storage: LogStorage,
  ) {}

  static async open(options: LogReplicaOptions): Promise<LogReplica> {
    const { config } = options;
    const logOptions: PartitionLogOptions = {
      dir: join(options.dir, 'log'),
      segmentBytes: config.segmentBytes,
      retention: { ...(config.retentionBytes !== null ? { bytes: config.retentionBytes } : {}), ...(config.retentionMs !== null ? { ms: config.retentionMs } : {}) },
      // With fsync on every persist, Raft's own sync() drives flushing (group commit);
      // the other policies fsync in the background and Raft waits only for the write.
      flush: config.flush.mode === 'always' ? 'manual' : config.flush.mode === 'records' ? { everyRecords: config.flush.records } : { everyMs: config.flush.intervalMs },
      // Every body is checked once before it gets here: by produce on the leader, by storableMessage on a follower.
      verifyOnAppend: false,
    };
    const log = await PartitionLog.open(logOptions);
    let replica: LogReplica | undefined;
    try {
      const storage = LogStorage.open({
        log,
        snapshotPath: join(options.dir, 'raft-snapshot'),
        durability: config.flush.mode === 'always' ? 'fsync' : 'page-cache',
        onSynced: (index) => replica?.persisted(index),
      });
      const hardStateStore = new FileHardStateStore(join(options.dir, 'raft-state'));
      if (options.voters !== null && storage.lastIndex() === 0 && storage.snapshot().meta.index === 0) {
        // A fresh group: every replica writes the same first entry (the membership), committed by definition.
        const boot = bootstrapState({ voters: [...options.voters], votersOutgoing: [], learners: [...(options.learners ?? [])], learnersNext: [] });
        storage.append([boot.entry]);
        await storage.sync();
        await hardStateStore.save(boot.hardState);
      }
      const self = new LogReplica(options, log, storage);
      replica = self;
      self.highWatermarkValue = log.startOffset;
      self.driver = await RaftDriver.open({
        group: options.group,
        id: options.brokerId,
        storage,
        hardStateStore,
        transport: options.mux.transport(options.group, (message) => storableMessage(message) && (message.type !== 'snapshot' || self.acceptsSnapshotData(message.snapshot.data))),
        stateMachine: self,
        prng: options.prng,
        tickMs: options.timing.tickMs,
        electionTicks: options.timing.electionTicks,
        heartbeatTicks: options.timing.heartbeatTicks,
        commitNotice: options.commitNotice,
        learnerBudget: options.learnerBudget,
        onReady: (ready) => self.observe(ready),
        onFatal: (error) => self.storageFailed(error),
      });
      return self;
    } catch (error) {
      await log.close().catch(() => {});
      throw error;
    }
  }

  // ------------------------------------------------------------------ views

  get highWatermark(): number {
    return this.highWatermarkValue;
  }

  get logStartOffset(): number {
    this.ensureOpen();
    return this.log.startOffset;
  }

  get logEndOffset(): number {
    this.ensureOpen();
    return this.log.endOffset;
  }

  get closed(): boolean {
    return this.closedValue;
  }

  /** Why this replica stopped by itself (STORAGE_FULL while its disk is full, else STORAGE_FAILED), or null. */
  get storageFailure(): SkeinError | null {
    return this.storageFailureValue;
  }

  /** True while this replica leads and has applied the no-op of its term. */
  isWritable(): boolean {
    return !this.closedValue && this.writableTerm !== 0 && this.writableTerm === this.driver.status().term && this.driver.status().role === 'leader';
  }

  /**
   * Throws why this replica cannot take writes: NOT_LEADER with the leader
   * hint, LEADER_NOT_AVAILABLE while a new leader starts, STORAGE_FULL
   * (retriable, with the hint) while its disk is full.
   */
  assertWritable(): void {
    if (!this.isWritable()) throw this.notWritable();
  }

  leaderHint(): LeaderHint {
    // A closed replica's storage is gone; what it last knew is the best hint it has (never itself: it leads nothing now).
    if (this.closedValue) return this.lastHint.leaderId === this.options.brokerId ? { leaderId: null, leaderEpoch: this.lastHint.leaderEpoch } : this.lastHint;
    const status = this.driver.status();
    return { leaderId: status.leader === 0 ? null : status.leader, leaderEpoch: status.term };
  }

  get raft(): RaftDriver {
    return this.driver;
  }

  /**
   * Hands leadership to a voter `eligible` takes, caught up ones first (graceful shutdown), and resolves once a
   * successor has committed an entry of its own term as seen from here (it then takes writes), or after
   * `timeoutMs`: true when handed over, or when this replica did not lead. It wakes on the replica's changes
   * (roles, terms, commits), never on a timer of its own.
   */
  async handOverLeadership(timeoutMs: number, eligible: (id: number) => boolean = () => true): Promise<boolean> {
    const status = this.driver.status();
    if (status.role !== 'leader') return true;
    const others = status.config.voters.filter((id) => id !== status.id && eligible(id));
    // One that holds every committed entry takes over within a round trip; one behind would first have to catch up.
    const target = others.find((id) => this.driver.peerCaughtUp(id)) ?? others[0];
    if (target === undefined) return false;
    try {
      this.driver.transferLeadership(target);
    } catch {
      return false;
    }
    const handedOver = (): boolean => {
      const now = this.driver.status();
      return now.role !== 'leader' && now.leader !== 0 && now.leader !== now.id && this.driver.termAt(now.commit) === now.term;
    };
    await this.waitFor(handedOver, timeoutMs, 'leadership transfer');
    return handedOver();
  }

  /**
   * A graceful stop's part: this replica campaigns no more, hands its leadership over (within `handoverMs`),
   * then waits until the group would go on committing without it — a majority of the other voters keeping
   * up, so none has to catch up before the next commit (see RaftCore.replaceable) — up to `catchUpMs` from
   * the start. Once `graceMs` have passed it waits no more while fewer than a majority of the other voters
   * are `alive` (nothing it waits for could happen: its peers stopped before it, say); before that, a voter
   * that is restarting may not have been heard from yet. True when the group can do without it.
   */
  async leave(options: { handoverMs: number; catchUpMs: number; graceMs: number; alive: () => ReadonlySet<number> }): Promise<boolean> {
    if (this.closedValue) return true;
    const startedMs = systemClock.nowMs();
    this.leaving = true;
    this.driver.leave();
    const eligible = (id: number): boolean => options.alive().has(id);
    await this.handOverLeadership(options.handoverMs, eligible);
    const worthWaiting = (): boolean => {
      const { id: self, config } = this.driver.status();
      const others = config.voters.filter((id) => id !== self);
      // A lone replica (or one of two) is always needed: no majority without it exists.
      if (others.length <= config.voters.length / 2) return false;
      if (systemClock.nowMs() - startedMs < options.graceMs) return true;
      return others.filter(eligible).length > config.voters.length / 2;
    };
    const done = (): boolean => this.closedValue || this.driver.replaceable() !== false || !worthWaiting();
    const leftMs = (untilMs: number): number => untilMs - (systemClock.nowMs() - startedMs);
    // Nothing may change when the grace ends (no leader, its peers gone): look again then.
    await this.waitFor(done, leftMs(Math.min(options.graceMs, options.catchUpMs)), 'graceful stop');
    await this.waitFor(done, leftMs(options.catchUpMs), 'graceful stop');
    return this.closedValue || this.driver.replaceable() !== false;
  }

  /**
   * Waits, woken by the replica's changes, until `condition` holds or `timeoutMs` passed. Even a wait of 0
   * lasts until the timers' next turn: a handover started by a stop without one then still goes through
   * when the successor answers at once, as it did before the stop waited for catch-up.
   */
  private async waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return;
    const deadline = withTimeout(undefined, Math.max(0, timeoutMs), () => new SkeinError('TIMEOUT', { message: `${this.options.group}: ${what} timed out` }));
    try {
      while (!condition() && !deadline.signal.aborted) await this.changes.next(deadline.signal);
    } finally {
      deadline.dispose();
    }
  }

  /** Whole committed batches from the one holding `offset` (see ReadOptions.withinBudget). */
  readCommitted(offset: number, maxBytes: number, options: { withinBudget?: boolean } = {}): ReadResult {
    this.ensureOpen();
    return this.log.read({ offset, maxBytes, maxIndex: this.driver.status().applied, withinBudget: options.withinBudget ?? false });
  }

  offsetForTimestamp(timestamp: number): number | null {
    this.ensureOpen();
    return this.log.offsetForTimestamp(timestamp);
  }

  /**
   * Snapshots the applied state once enough entries were applied since the
   * last snapshot (bounding what a restart scans), keeping `keepEntries`
   * behind it in the log, then applies the log's retention (which never
   * passes the snapshot). Returns the segments retention deleted.
   */
  async maintain(options: { nowMs: number; keepEntries: number; force?: boolean }): Promise<number> {
    if (this.closedValue) return 0;
    const { applied } = this.driver.status();
    if (options.force === true || applied - this.storage.snapshot().meta.index >= brokerLimits.snapshotEveryEntries) {
      await this.driver.snapshot({ keepEntries: options.keepEntries });
    }
    if (this.closedValue) return 0;
    return this.storage.enforceRetention({ epochMs: options.nowMs }).segmentsDeleted;
  }

  // ------------------------------------------------------------------ writes

  /**
   * Proposes a data batch (verified by the caller) at the next offset.
   * Synchronously stamps the offset and returns it with the entry index, or
   * throws (NOT_LEADER, LEADER_NOT_AVAILABLE, BACKPRESSURE...) having
   * changed nothing. `committed` resolves once the batch is committed and
   * applied here; `persisted` once it is in this replica's log as durably as
   * the topic's flush policy asks.
   */
  propose(batch: Uint8Array, header: BatchHeader, options: { signal?: AbortSignal } = {}): { baseOffset: number; index: number; committed: Promise<void>; persisted: Promise<void> } {
    this.assertWritable();
    const baseOffset = this.nextOffset;
    // Entry index and term are stamped when the entry is written (the storage knows them then).
    stampBatch(batch, { baseOffset, entryIndex: 0, term: 0 });
    const result = this.driver.tryPropose(batch, { signal: options.signal });
    // The core's NOT_LEADER knows the leader's id only; ours carries the full hint.
    if (!result.ok) throw result.error.code === 'NOT_LEADER' ? this.notWritable() : result.error;
    const { index } = result.value.proposed;
    this.nextOffset = baseOffset + header.recordCount;
    const committed = result.value.applied.then(
      () => undefined,
      (error: unknown) => {
        throw isSkeinError(error, 'NOT_LEADER') ? this.deposed(error) : error;
      },
    );
    const persisted = this.whenPersisted(index);
    // acks 'leader' and 'none' never wait for the commit, 'all' never for the local write: neither failure may become an unhandled rejection.
    committed.catch(() => {});
    persisted.catch(() => {});
    return { baseOffset, index, committed, persisted };
  }

  async close(options: { discard?: boolean } = {}): Promise<void> {
    if (this.closedValue && this.driver.isStopped) {
      await this.log.close().catch(() => {});
      return;
    }
    this.closedValue = true;
    this.writableTerm = 0;
    this.driver.close();
    for (const waiter of this.persistedWaiters.splice(0)) waiter.resolve();
    this.changes.notify();
    await this.log.close(options);
  }

  // ------------------------------------------------------------------ the state machine

  apply(entry: Entry): void {
    if (entry.type === 'normal') {
      const header = checkBatchHeader(entry.data, 0);
      if (header instanceof BatchFault) throw header.toError(`${this.options.group} entry ${entry.index}: `);
      this.highWatermarkValue = header.nextOffset;
      this.options.hooks.applyBatch(header, entry.data);
      this.changes.notify();
      return;
    }
    // The driver replays committed entries while it is being constructed: no leadership then.
    if (entry.type === 'noop' && this.driver !== undefined) {
      const status = this.driver.status();
      if (status.role === 'leader' && entry.term === status.term && this.writableTerm !== entry.term) {
        // Everything before our no-op is applied: offsets continue from the high watermark.
        this.writableTerm = entry.term;
        this.nextOffset = this.highWatermarkValue;
        this.options.hooks.leadershipChanged?.(true);
      }
    }
    // A new term's first entry committing matters to waiters too (a leadership handover completes).
    this.changes.notify();
  }

  private acceptsSnapshotData(data: Uint8Array): boolean {
    const { checkState } = this.options.hooks;
    if (checkState === undefined) return true;
    const { state } = decodePartitionSnapshot(data);
    return state.byteLength === 0 || checkState(state);
  }

  restore(snapshot: Snapshot): void {
    const { nextOffset, state } = decodePartitionSnapshot(snapshot.data);
    this.highWatermarkValue = nextOffset;
    if (state.byteLength > 0) this.options.hooks.restoreState?.(state);
    this.changes.notify();
  }

  snapshot(): Uint8Array {
    return encodePartitionSnapshot({ nextOffset: this.highWatermarkValue, state: this.options.hooks.snapshotState?.() ?? new Uint8Array(0) });
  }

  // ------------------------------------------------------------------ internals

  /**
   * The driver stopped: a write or fsync of this replica's storage failed.
   * It takes no writes and serves no reads until its owner reopens it (see
   * Broker), and it must not touch its log to say so: every call would throw.
   */
  private storageFailed(error: unknown): void {
    const full = isNoSpace(error);
    const message = `${this.options.group}: ${full ? 'the disk is full' : 'storage failed'} on broker ${this.options.brokerId} (${(error as Error)?.message ?? String(error)})`;
    this.storageFailureValue = new SkeinError(full ? 'STORAGE_FULL' : 'STORAGE_FAILED', { message, cause: error });
    this.closedValue = true;
    this.writableTerm = 0;
    // What was waiting to be persisted never will be (here): acks 'leader' must not answer success.
    for (const waiter of this.persistedWaiters.splice(0)) waiter.reject(this.storageFailureValue);
    this.options.hooks.leadershipChanged?.(false);
    this.changes.notify();
    this.options.onFatal?.(this.storageFailureValue);
  }

  private observe(ready: Ready): void {
    if (ready.softState !== null) this.lastHint = { leaderId: ready.softState.leader === 0 ? null : ready.softState.leader, leaderEpoch: this.lastHint.leaderEpoch };
    if (ready.hardState !== null) this.lastHint = { leaderId: this.lastHint.leaderId, leaderEpoch: ready.hardState.term };
    if (this.leaving) this.changes.notify();
    if (ready.softState === null && ready.hardState === null) return;
    // Leadership of a term ends when the role changes or the term moves on: between two Readies a
    // replica can lose leadership and win it back in a later term, and the softState alone hides that.
    const role = ready.softState?.role;
    const term = ready.hardState?.term;
    if (this.writableTerm !== 0 && ((role !== undefined && role !== 'leader') || (term !== undefined && term !== this.writableTerm))) {
      this.writableTerm = 0;
      this.options.hooks.leadershipChanged?.(false);
    }
    this.changes.notify();
  }

  private whenPersisted(index: number): Promise<void> {
    return new Promise((resolve, reject) => this.persistedWaiters.push({ index, resolve, reject }));
  }

  private persisted(index: number): void {
    if (this.persistedWaiters.length === 0) return;
    let kept = 0;
    for (const waiter of this.persistedWaiters) {
      if (waiter.index <= index) waiter.resolve();
      else this.persistedWaiters[kept++] = waiter;
    }
    this.persistedWaiters.length = kept;
  }

  /** A closed replica answers like one that does not lead: the client goes to the leader. */
  private ensureOpen(): void {
    if (this.closedValue) throw this.notWritable();
  }

  /** A proposal of a leadership that ended: NOT_LEADER with the hint we have, and the outcome unknown (it may yet commit). */
  private deposed(error: SkeinError): SkeinError {
    return new SkeinError('NOT_LEADER', { message: error.message, details: { ...this.leaderHint(), outcome: 'unknown' }, cause: error });
  }

  /** Why this replica takes no writes now (see assertWritable). */
  notWritable(): SkeinError {
    const failure = this.storageFailureValue;
    if (failure?.code === 'STORAGE_FULL') return new SkeinError('STORAGE_FULL', { message: failure.message, details: { ...this.leaderHint() } });
    if (this.closedValue) return new SkeinError('NOT_LEADER', { message: `${this.options.group} is closed here`, details: { ...this.leaderHint() } });
    const status = this.driver.status();
    if (status.role === 'leader') {
      return new SkeinError('LEADER_NOT_AVAILABLE', { message: `${this.options.group}: the new leader is still committing its first entry` });
    }
    return new SkeinError('NOT_LEADER', { message: `${this.options.group} is led by ${status.leader || 'nobody yet'}`, details: { ...this.leaderHint() } });
  }
}
