import { systemClock, type Clock } from '../../transport/clock.js';
import type { Prng } from '../../transport/core/prng.js';
import { SkeinError } from '../../transport/errors.js';
import { raftLimits } from '../../transport/limits.js';
import { isNodeId, type ConfChange } from './core/membership.js';
import { RaftCore, type Proposed, type RaftCoreOptions, type RaftCounters, type RaftResult, type RaftStatus } from './core/raft.js';
import type { RaftStorage } from './core/storage.js';
import type { Entry, HardState, NodeId, RaftMessage, Ready, Snapshot } from './core/types.js';
import type { HardStateStore } from './hard-state.js';
import type { RaftTransport } from './mux.js';
import { ProposalWaiters, ReadWaiters } from './waiters.js';

/** The application state a group replicates. Called in log order, one call at a time. */
export interface RaftStateMachine {
  /** Applies one committed entry. Every entry comes here in index order, noop and config entries too (most ignore them). */
  apply(entry: Entry): void;
  /** Replaces the whole state with a snapshot's (a leader sent one, or the replica restarts from its own). */
  restore(snapshot: Snapshot): void;
  /** The state as of the last applied entry, for a snapshot. A group whose state is its log returns empty bytes. */
  snapshot(): Uint8Array;
}

export interface RaftDriverOptions {
  /** The group's id on the wire (its transport is already bound to it; this names it in errors). */
  readonly group: string;
  readonly id: NodeId;
  readonly storage: RaftStorage;
  readonly hardStateStore: HardStateStore;
  readonly transport: RaftTransport;
  readonly stateMachine: RaftStateMachine;
  /** Seeds election timeouts and read ids. */
  readonly prng: Prng;
  /** Ticks and proposal deadlines run on it; default systemClock (the Raft simulation passes its own). */
  readonly clock?: Clock;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly commitNotice?: RaftCoreOptions['commitNotice'];
  /** Bytes this replica may send to learners as leader (see CatchUpThrottle); absent: not throttled. */
  readonly learnerBudget?: RaftCoreOptions['learnerBudget'];
  /** Pipelining tuning (defaults from raftLimits): appends in flight per follower, bytes per append. */
  readonly inflightAppendsMax?: number;
  readonly appendBytesMax?: number;
  readonly proposalTimeoutMs?: number;
  /** Called once if the replica stops because its storage failed. */
  readonly onFatal?: (error: unknown) => void;
  /** Sees every Ready before it is processed (tracing, the simulator's checkers). */
  readonly onReady?: (ready: Ready) => void;
}

export interface RaftDriverCounters extends RaftCounters {
  readies: number;
  entriesPersisted: number;
  entriesApplied: number;
  hardStateSaves: number;
  snapshotsTaken: number;
}

/**
 * The I/O shell around one RaftCore: ticks it on a timer, feeds it the
 * transport's messages, and processes each Ready in the order that keeps
 * Raft's promises — send what may go early, write entries and hard state,
 * apply the committed entries (durable on a quorum already, so they need not
 * wait for this replica's write), wait until the writes are durable, only
 * then send what depends on them, and advance. A Ready carrying a snapshot
 * restores it before applying anything. Readies are processed one at a time;
 * messages and ticks keep stepping the core meanwhile.
 *
 * Hard state: the term and vote are saved (and awaited) whenever they
 * change; the commit index rides along but is never saved on its own — a
 * replica that restarts with an older commit relearns it from its leader,
 * and the saved commit never passes the log that was durable when saved.
 */
export class RaftDriver {
  private readonly core: RaftCore;
  private readonly options: RaftDriverOptions;
  private readonly clock: Clock;
  private readonly proposals: ProposalWaiters;
  private readonly reads: ReadWaiters;
  private readonly readIdPrefix: string;
  private readSeq = 0;
  private savedHardState: HardState;
  private durableLastIndex: number;
  private appliedIndex: number;
  private processing = false;
  private stopped = false;
  private failureValue: unknown = null;
  /** What status() last said: a replica stopped by its storage keeps answering with it. */
  private lastStatus!: RaftStatus;
  private readonly tickMs: number;
  private readonly whenIdle: Array<() => void> = [];
  private readonly cancelTick: () => void;
  private readonly unsubscribe: () => void;
  private readonly driverCounters = { readies: 0, entriesPersisted: 0, entriesApplied: 0, hardStateSaves: 0, snapshotsTaken: 0 };

  /** Loads the hard state, restores the state machine from storage's snapshot, and starts ticking. */
  static async open(options: RaftDriverOptions): Promise<RaftDriver> {
    const hardState = await options.hardStateStore.load();
    return new RaftDriver(options, hardState);
  }

  private constructor(options: RaftDriverOptions, hardState: HardState) {
    this.options = options;
    if (!isNodeId(options.id)) throw new SkeinError('INVALID_CONFIG', { message: `replica id ${String(options.id)} is not a positive 32-bit integer` });
    this.clock = options.clock ?? systemClock;
    const tickMs = options.tickMs ?? raftLimits.tickMsDefault;
    this.tickMs = tickMs;
    if (!(tickMs >= raftLimits.tickMsMin && tickMs <= raftLimits.tickMsMax)) {
      throw new SkeinError('INVALID_CONFIG', { message: `tickMs must be within [${raftLimits.tickMsMin}, ${raftLimits.tickMsMax}]` });
    }
    const electionTicks = options.electionTicks ?? raftLimits.electionTicksDefault;
    if (!(electionTicks >= raftLimits.electionTicksMin && electionTicks <= raftLimits.electionTicksMax)) {
      throw new SkeinError('INVALID_CONFIG', { message: `electionTicks must be within [${raftLimits.electionTicksMin}, ${raftLimits.electionTicksMax}]` });
    }
    const timeoutMs = options.proposalTimeoutMs ?? raftLimits.proposalTimeoutMsDefault;
    this.proposals = new ProposalWaiters(this.clock, timeoutMs);
    this.reads = new ReadWaiters(this.clock, timeoutMs);
    const prng = options.prng.fork();
    // Read ids must not repeat across restarts: a stale answer to a reused id could be too old.
    this.readIdPrefix = `${prng.nextUint32().toString(36)}${prng.nextUint32().toString(36)}`;
    this.core = new RaftCore({
      id: options.id,
      storage: options.storage,
      hardState,
      prng,
      electionTicks,
      heartbeatTicks: options.heartbeatTicks,
      preVote: options.preVote,
      checkQuorum: options.checkQuorum,
      commitNotice: options.commitNotice,
      inflightAppendsMax: Math.min(options.inflightAppendsMax ?? raftLimits.inflightAppendsMax, raftLimits.inflightAppendsMax),
      appendBytesMax: Math.min(options.appendBytesMax ?? raftLimits.appendBytesMax, raftLimits.appendBytesMax),
      learnerBudget: options.learnerBudget,
    });
    this.savedHardState = hardState;
    this.durableLastIndex = options.storage.lastIndex();
    const snapshot = options.storage.snapshot();
    if (snapshot.meta.index > 0) options.stateMachine.restore(snapshot);
    this.appliedIndex = snapshot.meta.index;
    this.lastStatus = { ...this.core.status(), applied: this.appliedIndex };
    this.unsubscribe = options.transport.onMessage((message) => this.receive(message));
    // A replica's tick alone must not keep a process alive that is shutting down.
    this.cancelTick = this.clock.every(tickMs, () => this.tick(), { keepAlive: false });
    this.pump();
  }

  // ------------------------------------------------------------ inputs

  tick(): void {
    if (this.stopped) return;
    this.core.tick();
    this.pump();
  }

  receive(message: RaftMessage): void {
    if (this.stopped) return;
    this.core.step(message);
    this.pump();
  }

  /** Proposes an entry; resolves once it is committed and applied here. NOT_LEADER (with details.leader) on a follower. */
  propose(data: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Proposed> {
    return this.waitForProposal(() => this.core.propose(data), options.signal);
  }

  /**
   * Like propose(), but says at once whether the entry entered the log: a
   * caller that stamps the entry with state of its own (a partition leader
   * assigning offsets) must know a refusal before it moves on.
   */
  tryPropose(data: Uint8Array, options: { signal?: AbortSignal } = {}): RaftResult<{ proposed: Proposed; applied: Promise<Proposed> }> {
    if (this.stopped) return { ok: false, error: this.stoppedError() };
    if (this.proposals.size >= raftLimits.waitersMax) return { ok: false, error: new SkeinError('BACKPRESSURE', { message: 'too many proposals waiting' }) };
    const result = this.core.propose(data);
    if (!result.ok) return result;
    const applied = this.proposals.wait(result.value, options.signal);
    this.pump();
    return { ok: true, value: { proposed: result.value, applied } };
  }

  /** Proposes a membership change; resolves once its joint configuration is applied here (the leave follows by itself). */
  changeMembership(changes: readonly ConfChange[], options: { signal?: AbortSignal } = {}): Promise<Proposed> {
    return this.waitForProposal(() => this.core.proposeConfChange(changes), options.signal);
  }

  /** Starts an election now, as if the election timeout had passed (pre-vote first when enabled). */
  campaign(): void {
    this.throwIfStopped();
    this.core.campaign();
    this.pump();
  }

  /** See RaftCore.peerCaughtUp: whether a transfer to `to` would go through at once. */
  peerCaughtUp(to: NodeId): boolean {
    return !this.stopped && this.core.peerCaughtUp(to);
  }

  /** A leader's view of the other members, heard-from ages in ms; empty when not leading (or stopped). */
  peerProgress(): Map<NodeId, { match: number; state: 'probe' | 'replicate' | 'snapshot'; heardAgoMs: number }> {
    const out = new Map<NodeId, { match: number; state: 'probe' | 'replicate' | 'snapshot'; heardAgoMs: number }>();
    if (this.stopped) return out;
    for (const [id, p] of this.core.progress()) out.set(id, { match: p.match, state: p.state, heardAgoMs: p.heardAgoTicks * this.tickMs });
    return out;
  }

  /** See RaftCore.replaceable: whether the group would go on committing without this replica (false once stopped: it cannot tell). */
  replaceable(): boolean | null {
    return !this.stopped && this.core.replaceable();
  }

  /** See RaftCore.leave: this replica campaigns no more (a graceful stop). */
  leave(): void {
    if (!this.stopped) this.core.leave();
  }

  /** Starts handing leadership to `to`; watch status() for the outcome. Throws NOT_LEADER or INVALID_ARGUMENT. */
  transferLeadership(to: NodeId): void {
    this.throwIfStopped();
    const result = this.core.transferLeadership(to);
    if (!result.ok) throw result.error;
    this.pump();
  }

  /**
   * A linearizable read: resolves with an index once this replica's state
   * machine has applied it and the leader confirmed it still led after the
   * call; reading the state machine then sees every write acknowledged before.
   */
  read(options: { signal?: AbortSignal } = {}): Promise<number> {
    if (this.stopped) return Promise.reject(this.stoppedError());
    if (this.reads.size >= raftLimits.waitersMax) return Promise.reject(new SkeinError('BACKPRESSURE', { message: 'too many reads waiting' }));
    const requestId = `${this.readIdPrefix}.${++this.readSeq}`;
    const result = this.core.readIndex(requestId);
    if (!result.ok) return Promise.reject(result.error);
    const promise = this.reads.wait(requestId, options.signal);
    this.pump();
    return promise;
  }

  /** Takes a snapshot of the state machine at the applied index and drops the log before it, keeping `keepEntries` for slow followers. */
  snapshot(options: { keepEntries?: number } = {}): Promise<Snapshot | null> {
    if (this.stopped) return Promise.reject(this.stoppedError());
    return new Promise<Snapshot | null>((resolve, reject) => {
      this.runWhenIdle(() => {
        try {
          resolve(this.takeSnapshot(options.keepEntries ?? 0));
        } catch (error) {
          reject(error);
        }
      });
    }).then(async (snapshot) => {
      if (snapshot !== null) await this.options.storage.sync();
      return snapshot;
    });
  }

  /** Where this replica stands. `applied` is what its state machine holds: a follower read serves from there. */
  status(): RaftStatus {
    // A replica stopped by its storage cannot ask its log: it answers with what it last knew, leading nothing.
    if (this.failureValue !== null) return { ...this.lastStatus, role: 'follower', transferee: 0 };
    this.lastStatus = { ...this.core.status(), applied: this.appliedIndex };
    return this.lastStatus;
  }

  /** Term of an entry in this replica's log (written or not yet), undefined if it holds none there (or its storage stopped it). */
  termAt(index: number): number | undefined {
    return this.failureValue !== null ? undefined : this.core.termAt(index);
  }

  get counters(): RaftDriverCounters {
    return { ...this.core.counters, ...this.driverCounters };
  }

  /** Why the replica stopped by itself (see fail), or null. */
  get failure(): unknown {
    return this.failureValue;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Stops ticking and listening; waiting callers fail with REPLICA_STOPPED. Writes in progress are abandoned. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelTick();
    this.unsubscribe();
    const error = this.stoppedError();
    this.proposals.rejectAll(error);
    this.reads.rejectAll(error);
  }

  // ------------------------------------------------------------ Ready processing

  private pump(): void {
    if (this.processing || this.stopped) return;
    while (this.whenIdle.length > 0) this.whenIdle.shift()!();
    if (!this.core.hasReady()) return;
    const ready = this.core.ready();
    this.processing = true;
    this.process(ready).then(
      () => {
        this.processing = false;
        this.pump();
      },
      (error: unknown) => this.fail(error),
    ).catch((error: unknown) => this.fail(error));
  }

  private async process(rd: Ready): Promise<void> {
    this.driverCounters.readies++;
    this.options.onReady?.(rd);
    const { storage, transport } = this.options;
    for (const m of rd.messages) transport.send(m.to, m);

    let logWritten = false;
    if (rd.snapshot !== null) {
      storage.installSnapshot(rd.snapshot);
      logWritten = true;
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      if (first <= storage.lastIndex()) storage.truncateSuffix(first);
      storage.append(rd.entries);
      this.driverCounters.entriesPersisted += rd.entries.length;
      logWritten = true;
    }
    const hs = rd.hardState;
    let hardStateSave: Promise<void> | null = null;
    if (hs !== null && (hs.term !== this.savedHardState.term || hs.vote !== this.savedHardState.vote)) {
      // Never claim a commit past what the log had made durable before this Ready.
      const saved = { term: hs.term, vote: hs.vote, commit: Math.min(hs.commit, this.durableLastIndex) };
      hardStateSave = this.options.hardStateStore.save(saved).then(() => {
        this.savedHardState = saved;
      });
      this.driverCounters.hardStateSaves++;
    }
    // Committed means durable on a quorum (a leader counts its own copy only once it is durable), so
    // committed entries need not wait for this Ready's fsync of newer ones: under load that fsync is
    // almost always running, and waiting for it added a whole fsync to every acknowledgement.
    // A snapshot must be restored first, so that case keeps the plain order.
    const applyEarly = rd.snapshot === null;
    if (applyEarly) this.applyCommitted(rd);

    if (logWritten || hardStateSave !== null) {
      await Promise.all([logWritten ? storage.sync() : null, hardStateSave]);
      if (this.stopped) return;
      this.durableLastIndex = storage.lastIndex();
    }

    for (const m of rd.messagesAfterPersist) transport.send(m.to, m);

    if (rd.snapshot !== null) {
      this.options.stateMachine.restore(rd.snapshot);
      this.appliedIndex = rd.snapshot.meta.index;
      this.proposals.coveredBySnapshot(this.appliedIndex);
    }
    if (!applyEarly) this.applyCommitted(rd);
    this.answerDeposed(rd);
    this.core.advance(rd);
    for (const rs of rd.readStates) this.reads.confirmed(rs.requestId, rs.index, this.appliedIndex);
    if (rd.committedEntries.length > 0 || rd.snapshot !== null) this.reads.applied(this.appliedIndex);
  }

  /**
   * A leadership that ended (stepped down, or a newer term) leaves proposals no one here will see
   * settle: the next leader's entries overwrite them, or commit them, at indexes this replica may
   * not reach for a long time (cut off) or ever (a later entry of the new term lands elsewhere).
   * They are answered now, after this Ready's commits were applied, so none that did commit is refused.
   */
  private answerDeposed(rd: Ready): void {
    if (rd.softState === null && rd.hardState === null) return;
    const { role, term, leader } = this.core.status();
    this.proposals.deposed(role === 'leader' ? term : 0, () =>
      new SkeinError('NOT_LEADER', {
        message: `replica ${this.options.id} of group ${this.options.group} no longer leads; the proposal may still be committed by the next leader`,
        details: { leader, outcome: 'unknown' },
      }),
    );
  }

  private applyCommitted(rd: Ready): void {
    const sm = this.options.stateMachine;
    for (const entry of rd.committedEntries) {
      sm.apply(entry);
      this.appliedIndex = entry.index;
      this.proposals.applied(entry);
    }
    this.driverCounters.entriesApplied += rd.committedEntries.length;
  }

  private takeSnapshot(keepEntries: number): Snapshot | null {
    const { storage, stateMachine } = this.options;
    const meta = this.core.appliedSnapshotMeta();
    if (meta === null || meta.index <= storage.snapshot().meta.index) return null;
    const data = stateMachine.snapshot();
    if (data.byteLength > raftLimits.snapshotBytesMax) {
      throw new SkeinError('RECORD_TOO_LARGE', { message: `a snapshot of group ${this.options.group} exceeds ${raftLimits.snapshotBytesMax} bytes` });
    }
    const snapshot: Snapshot = { meta, data };
    const keepFrom = Math.max(storage.firstIndex(), meta.index + 1 - Math.max(0, keepEntries));
    storage.compact(snapshot, keepFrom);
    this.driverCounters.snapshotsTaken++;
    return snapshot;
  }

  private runWhenIdle(fn: () => void): void {
    if (this.processing) this.whenIdle.push(fn);
    else fn();
  }

  private waitForProposal(propose: () => RaftResult<Proposed>, signal: AbortSignal | undefined): Promise<Proposed> {
    if (this.stopped) return Promise.reject(this.stoppedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.proposals.size >= raftLimits.waitersMax) {
      return Promise.reject(new SkeinError('BACKPRESSURE', { message: 'too many proposals waiting' }));
    }
    const result = propose();
    if (!result.ok) return Promise.reject(result.error);
    const promise = this.proposals.wait(result.value, signal);
    this.pump();
    return promise;
  }

  /**
   * The replica stops on a storage failure (its log's state is unknown until
   * reopened). Never throws: it runs in a promise's rejection handler, where
   * a throw would become an unhandled rejection and end the process, every
   * other replica of the broker with it. A second failure while stopping
   * (the owner's handler, say) is kept beside the first, never lost.
   */
  private fail(error: unknown): void {
    if (this.stopped) return;
    try {
      this.status();
    } catch {
      // The log failed: the status of the last call stands.
    }
    this.failureValue = error;
    try {
      // Leadership goes to a caught-up follower now, not an election timeout later.
      const handover = this.core.abdicate();
      if (handover !== null) this.options.transport.send(handover.to, handover);
      this.close();
      this.options.onFatal?.(error);
    } catch (secondary) {
      this.failureValue = new AggregateError([error, secondary], `group ${this.options.group} stopped on a storage failure, and stopping failed too`);
    }
  }

  private stoppedError(): SkeinError {
    return new SkeinError('REPLICA_STOPPED', { message: `replica ${this.options.id} of group ${this.options.group} has stopped` });
  }

  private throwIfStopped(): void {
    if (this.stopped) throw this.stoppedError();
  }
}
