import { SkeinError } from '../../../transport/errors.js';
import type { Prng } from '../../../transport/core/prng.js';
import { raftLimits } from '../../../transport/limits.js';
import { applyConfEntry, encodeConfEntry, isJoint, isVoterIn, type ConfChange } from './membership.js';
import { MembershipHistory } from './membership-history.js';
import { RaftLog } from './raft-log.js';
import { ReadIndexQueue, type ConfirmedRead, type ReadRequest } from './read-index.js';
import type { RaftLogReader } from './storage.js';
import type { Progress } from './progress.js';
import { jointValue } from './quorum.js';
import { ProgressTracker } from './tracker.js';
import {
  noNode,
  type AppendRequest,
  type AppendResponse,
  type ConfigState,
  type Entry,
  type EntryType,
  type HardState,
  type Heartbeat,
  type HeartbeatResponse,
  type InstallSnapshot,
  type NodeId,
  type RaftMessage,
  type ReadState,
  type Ready,
  type Role,
  type SnapshotMeta,
  type SoftState,
  type VoteRequest,
  type VoteResponse,
} from './types.js';

/**
 * One replica of one Raft group as a pure state machine, in the style of
 * etcd's raft: the caller ticks it, steps it with messages and local
 * requests, takes a Ready (what to persist, send and apply) and advances it.
 * No clock, timer, disk or socket in here; election timeouts are drawn from
 * an injected seeded PRNG so a simulator can replay any run.
 *
 * Beyond the paper's core: pre-vote and check-quorum (a returning partitioned
 * replica cannot disrupt a healthy leader; a leader that lost its majority
 * steps down), batched and pipelined appends with a bounded window per
 * follower, fast backtracking on conflict with term hints, leadership
 * transfer, learners and joint-consensus membership changes (membership.ts),
 * snapshots, and read-index reads.
 */

export interface RaftCoreOptions {
  readonly id: NodeId;
  /** The stable log (see storage.ts); the core only reads it. */
  readonly storage: RaftLogReader;
  /** The hard state as last made durable (emptyHardState for a new replica). */
  readonly hardState: HardState;
  readonly prng: Prng;
  /** Election timeout in ticks: followers wait a random [electionTicks, 2 * electionTicks) ticks. */
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly inflightAppendsMax?: number;
  readonly inflightBytesMax?: number;
  readonly appendBytesMax?: number;
  /** Entries appended by the leader and not yet committed; proposals beyond are refused with BACKPRESSURE. */
  readonly uncommittedEntriesMax?: number;
  readonly readsPendingMax?: number;
  readonly applyBytesPerReadyMax?: number;
  /**
   * How followers learn a new commit index: 'immediate' sends an append at
   * once (empty if need be), 'piggyback' lets it ride on the next append or
   * heartbeat. Piggybacking halves a leader's Raft traffic under steady
   * writes (no empty append and answer per commit) at the cost of followers
   * learning commits up to a heartbeat late when writes stop; commitment
   * itself, and what the leader acknowledges, is unchanged.
   */
  readonly commitNotice?: 'immediate' | 'piggyback';
  /**
   * Bytes the leader may send to learners (members that catch up before they vote) right now, shared
   * with whatever else draws on it; voters are never held back by it. Absent: learners are not throttled.
   * Injected, like the storage: the core reads no clock.
   */
  readonly learnerBudget?: LearnerBudget;
}

export interface LearnerBudget {
  /** Bytes that may be sent now (0 or less: none). */
  available(): number;
  spend(bytes: number): void;
}

export type RaftResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: SkeinError };

export interface Proposed {
  readonly index: number;
  readonly term: number;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly config: ConfigState;
  /** The entry that made `config`: the configuration is committed once commit reaches it. */
  readonly configIndex: number;
  readonly transferee: NodeId;
}

/** What a leader knows of one member's log (see RaftCore.progress). */
export interface MemberProgress {
  readonly match: number;
  readonly next: number;
  readonly state: 'probe' | 'replicate' | 'snapshot';
  /** Ticks since the leader last heard from it (Infinity: never). */
  readonly heardAgoTicks: number;
}

/** Operating events counted, never thrown: what an operator looks at when a group misbehaves. */
export interface RaftCounters {
  electionsStarted: number;
  preElectionsStarted: number;
  leadershipsWon: number;
  checkQuorumStepDowns: number;
  votesIgnoredInLease: number;
  staleMessages: number;
  /** Messages no correct peer sends (a second leader in our term, a commit past our log): dropped. */
  protocolViolations: number;
  appendsRejected: number;
  snapshotsSent: number;
  snapshotsInstalled: number;
  transfersAborted: number;
  readsDropped: number;
  /** Appends to a learner held back because the learner budget was spent (it is tried again at its next answer). */
  learnerAppendsThrottled: number;
}

function fail<T>(code: ConstructorParameters<typeof SkeinError>[0], message: string, details?: Record<string, unknown>): RaftResult<T> {
  return { ok: false, error: new SkeinError(code, { message, details }) };
}

const emptyData = new Uint8Array(0);
const utf8 = new TextEncoder();

export class RaftCore {
  readonly id: NodeId;
  readonly counters: RaftCounters = {
    electionsStarted: 0,
    preElectionsStarted: 0,
    leadershipsWon: 0,
    checkQuorumStepDowns: 0,
    votesIgnoredInLease: 0,
    staleMessages: 0,
    protocolViolations: 0,
    appendsRejected: 0,
    snapshotsSent: 0,
    snapshotsInstalled: 0,
    transfersAborted: 0,
    readsDropped: 0,
    learnerAppendsThrottled: 0,
  };

  private term: number;
  private vote: NodeId;
  private lead: NodeId = noNode;
  private role: Role = 'follower';
  private readonly log: RaftLog;
  private readonly tracker: ProgressTracker;
  private readonly reads: ReadIndexQueue;
  private readonly storage: RaftLogReader;
  private readonly prng: Prng;

  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly appendBytesMax: number;
  private readonly uncommittedEntriesMax: number;
  private readonly commitNoticeAtOnce: boolean;
  private readonly applyBytesPerReadyMax: number;
  private readonly learnerBudget: LearnerBudget | undefined;

  private electionElapsed = 0;
  /** Ticks since this core was made: when each peer was last heard from (Progress.heardAtTick). */
  private ticks = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private transferee: NodeId = noNode;
  /** Set by leave(): this member campaigns no more (it still votes and replicates). */
  private leaving = false;
  /** What our leader last said of us in a heartbeat (see replaceable); null: a leader that does not say. */
  private leaderSpare: boolean | null = false;
  /** The commit index when the previous heartbeats went out: a follower holding it keeps up within a heartbeat. */
  private commitAtLastHeartbeat = 0;
  /** Index of the last config entry this leader may not yet see committed (one change in flight at a time). */
  private pendingConfIndex = 0;
  private readonly configs: MembershipHistory;

  /** Peers that may have appends to send, flushed when the driver takes a Ready: batches what one turn proposed. */
  private readonly dirty = new Map<NodeId, boolean>();
  private messages: RaftMessage[] = [];
  private messagesAfterPersist: RaftMessage[] = [];
  private readStates: ReadState[] = [];
  private persisted: HardState;
  private handedOut: HardState;
  private lastSoft: SoftState = { role: 'follower', leader: noNode };
  private outstanding: Ready | null = null;

  constructor(options: RaftCoreOptions) {
    this.id = options.id;
    this.storage = options.storage;
    this.prng = options.prng;
    this.electionTicks = options.electionTicks ?? raftLimits.electionTicksDefault;
    this.heartbeatTicks = options.heartbeatTicks ?? raftLimits.heartbeatTicksDefault;
    if (!(this.heartbeatTicks >= 1 && this.electionTicks > this.heartbeatTicks)) {
      throw new Error('raft: electionTicks must exceed heartbeatTicks >= 1');
    }
    this.preVote = options.preVote ?? true;
    this.checkQuorum = options.checkQuorum ?? true;
    this.appendBytesMax = options.appendBytesMax ?? raftLimits.appendBytesMax;
    this.uncommittedEntriesMax = options.uncommittedEntriesMax ?? raftLimits.proposalQueueMax;
    this.commitNoticeAtOnce = (options.commitNotice ?? 'immediate') === 'immediate';
    this.applyBytesPerReadyMax = options.applyBytesPerReadyMax ?? raftLimits.applyBytesPerReadyMax;
    this.learnerBudget = options.learnerBudget;
    this.tracker = new ProgressTracker({
      inflightCountMax: options.inflightAppendsMax ?? raftLimits.inflightAppendsMax,
      inflightBytesMax: options.inflightBytesMax ?? raftLimits.inflightBytesMax,
    });
    this.reads = new ReadIndexQueue(options.readsPendingMax ?? raftLimits.readsPendingMax);

    const snapshot = this.storage.snapshot().meta;
    const hs = options.hardState;
    // Commit is persisted lazily and never past the durable log; the snapshot is committed by definition.
    const committed = Math.min(Math.max(hs.commit, snapshot.index), this.storage.lastIndex());
    this.log = new RaftLog(this.storage, { committed, applied: snapshot.index });
    this.term = hs.term;
    this.vote = hs.vote;
    this.persisted = { term: hs.term, vote: hs.vote, commit: committed };
    this.handedOut = this.persisted;
    // Membership is a function of the log: the snapshot's, then every config entry after it.
    this.configs = new MembershipHistory({ index: snapshot.index, config: snapshot.config });
    for (const entry of this.storage.configEntries(snapshot.index + 1, this.log.lastIndex() + 1)) this.configs.appended(entry.index, [entry]);
    this.tracker.setConfig(this.configs.current(), this.log.lastIndex());
    this.becomeFollower(this.term, noNode);
  }

  // ------------------------------------------------------------ public inputs

  /** One logical clock tick (the driver calls this every tickMs). */
  tick(): void {
    this.ticks++;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** A message from a peer. Messages not addressed to us are counted and dropped. */
  step(m: RaftMessage): void {
    if (m.to !== this.id) {
      this.counters.protocolViolations++;
      return;
    }
    if (m.term > this.term) {
      if (m.type === 'preVote' || m.type === 'vote') {
        const inLease = this.lead !== noNode && this.electionElapsed < this.electionTicks;
        if (this.checkQuorum && inLease && !m.transfer) {
          // We heard from a leader within the minimum election timeout: a vote now could only disrupt it.
          this.counters.votesIgnoredInLease++;
          return;
        }
      }
      if (m.type === 'preVote' || (m.type === 'preVoteResponse' && !m.reject)) {
        // A pre-vote never changes a term: it is the term the sender *would* campaign in.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, noNode);
      }
    } else if (m.term < this.term) {
      // Answer a stale leader or candidate with our term, as the paper does (etcd stays silent
      // unless pre-vote or check-quorum is on, counting on our own vote requests to spread the
      // term — but a learner, or a voter outside its latest configuration, never sends any, and
      // our simulator found leaders stuck in an old term forever).
      if (m.type === 'append' || m.type === 'heartbeat') {
        this.send({ type: 'appendResponse', from: this.id, to: m.from, term: this.term, index: 0, reject: true, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'preVote' || m.type === 'vote') {
        this.send({ type: m.type === 'preVote' ? 'preVoteResponse' : 'voteResponse', from: this.id, to: m.from, term: this.term, reject: true });
      }
      this.counters.staleMessages++;
      return;
    }

    if (m.type === 'preVote' || m.type === 'vote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  /** Starts an election now (pre-vote first if enabled), as if the election timeout had passed. */
  campaign(): void {
    this.hup(false);
  }

  /** Appends an application entry if we lead; resolves nothing by itself (watch committedEntries). */
  propose(data: Uint8Array): RaftResult<Proposed> {
    const refused = this.refuseProposal(data.byteLength);
    if (refused !== null) return refused;
    const index = this.appendLocal('normal', data);
    return { ok: true, value: { index, term: this.term } };
  }

  /** Proposes a membership change; it takes effect (through a joint configuration) as soon as each entry is in a log. */
  proposeConfChange(changes: readonly ConfChange[]): RaftResult<Proposed> {
    const entry = { kind: 'enterJoint', changes } as const;
    const data = encodeConfEntry(entry);
    const refused = this.refuseProposal(data.byteLength);
    if (refused !== null) return refused;
    if (this.pendingConfIndex > this.log.committed || isJoint(this.tracker.config)) {
      return fail('RECONFIGURATION_IN_PROGRESS', 'a membership change is still in flight');
    }
    const next = applyConfEntry(this.tracker.config, entry);
    if (typeof next === 'string') return fail('INVALID_ARGUMENT', `membership change refused: ${next}`);
    const index = this.appendLocal('config', data);
    return { ok: true, value: { index, term: this.term } };
  }

  /**
   * Could `to` take over at once? Only a leader knows: a voter that answered
   * within the last two heartbeats (not merely within the election timeout: a
   * replica that died a moment ago must not be chosen) and that is being
   * replicated to and holds every committed entry. A transfer first sends it
   * whatever is still in flight (a round trip, during which the leader refuses
   * proposals); to anyone further behind it would wait much longer.
   */
  peerCaughtUp(to: NodeId): boolean {
    if (this.role !== 'leader' || to === this.id || !this.tracker.config.voters.includes(to)) return false;
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || pr.state !== 'replicate') return false;
    return this.ticks - pr.heardAtTick <= 2 * this.heartbeatTicks && pr.match >= this.log.committed;
  }

  /**
   * Could the group go on committing at once without this member (a graceful
   * stop waits for it)? True when a majority of the others — the leader and
   * followers heard from lately, replicated to and holding every entry
   * committed a heartbeat ago — would remain: none of them has to catch up
   * first. A leader works it out; a follower has its leader's word from the
   * last heartbeat (null: the leader does not say); a member without a
   * leader cannot tell (false). A learner is never needed.
   */
  replaceable(): boolean | null {
    if (this.role === 'leader') return this.spareWithout(this.id);
    if (!this.tracker.isVoter(this.id)) return true;
    if (this.role !== 'follower' || this.lead === noNode) return false;
    return this.leaderSpare;
  }

  /**
   * This member is leaving (a graceful stop): it campaigns no more and ignores timeoutNow; it still votes and
   * replicates. A campaign under way ends (it stays a follower of its term, its own vote given): won after the
   * stop looked for leaderships to hand over, it would leave the group without a leader.
   */
  leave(): void {
    this.leaving = true;
    if (this.role === 'preCandidate' || this.role === 'candidate') this.becomeFollower(this.term, noNode);
  }

  /** Hands leadership to `to` (a voter): it is caught up, then told to campaign at once. */
  transferLeadership(to: NodeId): RaftResult<null> {
    if (this.role !== 'leader') return fail('NOT_LEADER', 'only the leader can transfer leadership', { leader: this.lead });
    if (to === this.id) return { ok: true, value: null };
    if (!this.tracker.config.voters.includes(to)) return fail('INVALID_ARGUMENT', `node ${to} is not a voter of the group`);
    if (this.transferee === to) return { ok: true, value: null };
    this.abortTransfer();
    this.transferee = to;
    // The transfer must finish within one election timeout, or it is abandoned.
    this.electionElapsed = 0;
    const pr = this.tracker.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.dirty.set(to, true);
    return { ok: true, value: null };
  }

  /**
   * A leader whose storage failed stops for good: this names the voter most
   * caught up among those heard from lately and returns a timeoutNow for it,
   * so the group elects at once rather than an election timeout later. The
   * candidate still needs a majority's votes, so a log behind cannot win.
   * Reads neither the log nor the storage (they are what failed). Null when
   * not leading or when no voter qualifies.
   */
  abdicate(): RaftMessage | null {
    if (this.role !== 'leader') return null;
    let best: { id: NodeId; match: number } | null = null;
    for (const id of this.tracker.config.voters) {
      const pr = this.tracker.progress.get(id);
      if (id === this.id || pr === undefined || this.ticks - pr.heardAtTick > 2 * this.heartbeatTicks) continue;
      if (best === null || pr.match > best.match) best = { id, match: pr.match };
    }
    return best === null ? null : { type: 'timeoutNow', from: this.id, to: best.id, term: this.term };
  }

  /**
   * Asks for a linearizable read index: a ReadState with this requestId comes
   * out in a later Ready once leadership is confirmed; the read is safe when
   * the local state machine has applied that index. Callers use unique ids
   * (across restarts too) and time out: a read lost with its leader never answers.
   */
  readIndex(requestId: string): RaftResult<null> {
    if (requestId.length === 0 || utf8.encode(requestId).byteLength > raftLimits.readRequestIdBytesMax) {
      return fail('INVALID_ARGUMENT', `a read request id holds 1 to ${raftLimits.readRequestIdBytesMax} bytes`);
    }
    if (this.role === 'leader') {
      if (!this.leaderRead({ requestId, from: this.id })) return fail('BACKPRESSURE', 'too many reads pending');
      return { ok: true, value: null };
    }
    if (this.lead === noNode) return fail('LEADER_NOT_AVAILABLE', 'no known leader to confirm the read');
    this.send({ type: 'readIndex', from: this.id, to: this.lead, term: this.term, requestId });
    return { ok: true, value: null };
  }

  /** The transport could not deliver to `to`: stop pipelining to it until it answers. */
  reportUnreachable(to: NodeId): void {
    const pr = this.tracker.progress.get(to);
    if (this.role === 'leader' && pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  /** The transport's verdict on a snapshot sent to `to`. */
  reportSnapshot(to: NodeId, delivered: boolean): void {
    const pr = this.tracker.progress.get(to);
    if (this.role !== 'leader' || pr === undefined || pr.state !== 'snapshot') return;
    if (!delivered) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or a heartbeat answer) before the next append.
    pr.probeSent = true;
  }

  status(): RaftStatus {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      config: this.tracker.config,
      configIndex: this.configs.currentIndex(),
      transferee: this.transferee,
    };
  }

  /** A leader's view of every other member of its configuration (learners included); empty when not leading. */
  progress(): ReadonlyMap<NodeId, MemberProgress> {
    const out = new Map<NodeId, MemberProgress>();
    if (this.role !== 'leader') return out;
    for (const [id, pr] of this.tracker.progress) {
      if (id === this.id) continue;
      out.set(id, { match: pr.match, next: pr.next, state: pr.state, heardAgoTicks: this.ticks - pr.heardAtTick });
    }
    return out;
  }

  /**
   * Index, term and membership as of the last applied entry: the metadata of
   * a snapshot of the state machine taken now. Null while a Ready is out or a
   * received snapshot is pending, when the state machine and the core may disagree.
   */
  appliedSnapshotMeta(): SnapshotMeta | null {
    if (this.outstanding !== null || this.log.hasPendingSnapshot()) return null;
    const index = this.log.applied;
    const term = this.log.term(index);
    if (index === 0 || term === undefined) return null;
    return { index, term, config: this.configs.at(index) };
  }

  /** Term of an entry in our log (stable or not), for callers matching proposals to commits. */
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  // ------------------------------------------------------------ Ready / advance

  /** Whether ready() has anything; first sends what the turn batched up (appends, a read round). */
  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    this.flush();
    return (
      this.messages.length > 0 ||
      this.messagesAfterPersist.length > 0 ||
      this.readStates.length > 0 ||
      this.log.nextSnapshotToPersist() !== null ||
      this.log.nextEntriesToPersist().length > 0 ||
      this.log.hasNextCommittedEntries() ||
      !sameHardState(this.hardState(), this.handedOut) ||
      this.lastSoft.role !== this.role ||
      this.lastSoft.leader !== this.lead
    );
  }

  ready(): Ready {
    if (this.outstanding !== null) throw new Error('raft: ready() called before advance() of the previous Ready');
    this.flush();
    const snapshot = this.log.nextSnapshotToPersist();
    const entries = this.log.nextEntriesToPersist();
    // A received snapshot is applied alone; the entries after it follow in the next Ready.
    const committedEntries = snapshot === null ? this.log.nextCommittedEntries(this.applyBytesPerReadyMax) : [];
    const hs = this.hardState();
    const soft: SoftState = { role: this.role, leader: this.lead };
    const rd: Ready = {
      softState: soft.role !== this.lastSoft.role || soft.leader !== this.lastSoft.leader ? soft : null,
      hardState: sameHardState(hs, this.handedOut) ? null : hs,
      snapshot,
      entries,
      messages: this.messages,
      messagesAfterPersist: this.messagesAfterPersist,
      committedEntries,
      readStates: this.readStates,
    };
    this.log.accept({ snapshot, entries, committed: committedEntries });
    this.handedOut = hs;
    this.lastSoft = soft;
    this.messages = [];
    this.messagesAfterPersist = [];
    this.readStates = [];
    this.outstanding = rd;
    return rd;
  }

  /** The driver finished a Ready: its writes are durable and its committed entries applied. */
  advance(rd: Ready): void {
    if (rd !== this.outstanding) throw new Error('raft: advance() with a Ready that is not the outstanding one');
    this.outstanding = null;
    if (rd.hardState !== null) this.persisted = rd.hardState;
    if (rd.snapshot !== null) {
      this.log.stableSnapshotTo(rd.snapshot.meta.index);
      this.log.appliedTo(rd.snapshot.meta.index);
    }
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) this.log.stableTo(lastEntry.index, lastEntry.term);
    if (this.role === 'leader') {
      // A leader counts its own copy only once it is durable (Raft thesis §10.2.1).
      const self = this.tracker.progress.get(this.id);
      if (self !== undefined && self.maybeUpdate(this.log.persistedLastIndex())) this.maybeCommit();
    }
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) this.log.appliedTo(lastApplied.index);
    // Applied entries are never truncated: their configurations are history now.
    this.configs.settle(this.log.applied);
  }

  // ------------------------------------------------------------ roles

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    // Same term, same vote: a pre-candidate has promised nothing.
    this.role = 'preCandidate';
    this.lead = noNode;
    this.tracker.resetVotes();
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    this.counters.leadershipsWon++;
    this.tracker.resetProgress(this.log.lastIndex());
    this.commitAtLastHeartbeat = this.log.committed;
    // A leader outside its latest configuration (see promotable) counts only the others.
    const self = this.tracker.progress.get(this.id);
    if (self !== undefined) {
      self.match = this.log.persistedLastIndex();
      self.becomeReplicate();
      self.recentActive = true;
    }
    // The no-op commits the entries of earlier terms, which may only be committed by counting an
    // entry of ours (§5.4.2, Figure 8). Until it commits, whatever config change our log holds
    // counts as in flight and no new one starts (the no-op-first rule).
    this.pendingConfIndex = this.appendLocal('noop', emptyData);
    for (const id of this.tracker.progress.keys()) if (id !== this.id) this.dirty.set(id, true);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = noNode;
    }
    this.lead = noNode;
    this.leaderSpare = false;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.prng.int(0, this.electionTicks - 1);
    this.abortTransfer();
    this.tracker.resetVotes();
    this.counters.readsDropped += this.reads.size;
    this.reads.reset();
    this.dirty.clear();
    this.pendingConfIndex = 0;
  }

  /**
   * May we campaign? As a voter of our latest configuration — or of the one
   * before it while the latest is not known committed: a leader that appended
   * a configuration without itself and then lost its leadership may hold the
   * only copy of entries the new voters need, and they (still joint) need its
   * vote, which it only gives to a log as long as its own. Leading once more
   * (counting only the new voters) it commits the new configuration and
   * steps down.
   */
  private promotable(): boolean {
    if (this.leaving || this.log.hasPendingSnapshot()) return false;
    if (this.tracker.isVoter(this.id)) return true;
    const index = this.configs.currentIndex();
    if (index <= this.log.committed) return false;
    return isVoterIn(this.configs.at(index - 1), this.id);
  }

  // ------------------------------------------------------------ ticks and elections

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        if (!this.tracker.quorumActive(this.id)) {
          this.counters.checkQuorumStepDowns++;
          this.becomeFollower(this.term, noNode);
          return;
        }
        for (const [id, pr] of this.tracker.progress) if (id !== this.id) pr.recentActive = false;
      }
      if (this.transferee !== noNode) this.abortTransfer();
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      // The latest read round rides along, so reads survive a lost heartbeat.
      this.broadcastHeartbeat(this.reads.round);
      for (const [id, pr] of this.tracker.progress) {
        if (pr.state !== 'snapshot') continue;
        pr.snapshotTicks += this.heartbeatTicks;
        if (pr.snapshotTicks >= this.electionTicks) {
          // No word of the snapshot for an election timeout: it was probably lost; probe again.
          pr.becomeProbe();
          this.dirty.set(id, true);
        }
      }
    }
  }

  private hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.preVote && !transfer) this.startCampaign('preElection');
    else this.startCampaign(transfer ? 'transfer' : 'election');
  }

  private startCampaign(kind: 'preElection' | 'election' | 'transfer'): void {
    let voteTerm: number;
    let type: 'preVote' | 'vote';
    if (kind === 'preElection') {
      this.becomePreCandidate();
      this.counters.preElectionsStarted++;
      voteTerm = this.term + 1;
      type = 'preVote';
    } else {
      this.becomeCandidate();
      this.counters.electionsStarted++;
      voteTerm = this.term;
      type = 'vote';
    }
    this.tracker.recordVote(this.id, true);
    if (this.tracker.tally() === 'won') {
      if (kind === 'preElection') this.startCampaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const to of this.tracker.voters()) {
      if (to === this.id) continue;
      this.send({ type, from: this.id, to, term: voteTerm, lastIndex, lastTerm, transfer: kind === 'transfer' });
    }
  }

  private handleVoteRequest(m: VoteRequest): void {
    const responseType = m.type === 'preVote' ? 'preVoteResponse' : 'voteResponse';
    const canVote =
      this.vote === m.from || (this.vote === noNode && this.lead === noNode) || (m.type === 'preVote' && m.term > this.term);
    // Pre-vote per the Raft thesis §9.6: refuse while we hear from a leader, even without check-quorum.
    const leaseBlocks = m.type === 'preVote' && this.lead !== noNode && this.electionElapsed < this.electionTicks;
    if (canVote && !leaseBlocks && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      // A granted pre-vote answers in the sender's future term, so the sender can count it.
      this.send({ type: responseType, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: responseType, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  // ------------------------------------------------------------ role steps

  private stepFollower(m: RaftMessage): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Word from the leader of our term: it is alive, and it is who clients should ask.
        this.electionElapsed = 0;
        this.lead = m.from;
        if (m.type === 'append') this.handleAppend(m);
        else if (m.type === 'heartbeat') this.handleHeartbeat(m);
        else this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        // Leadership transfers skip pre-vote: the leader itself asked, nothing is being disrupted.
        this.hup(true);
        return;
      case 'readIndexResponse':
        this.readStates.push({ requestId: m.requestId, index: m.index });
        return;
      default:
        this.counters.staleMessages++;
    }
  }

  private stepCandidate(m: RaftMessage): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // A leader of our term exists: it won.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'preVoteResponse':
      case 'voteResponse':
        this.handleVoteResponse(m);
        return;
      default:
        this.counters.staleMessages++;
    }
  }

  private handleVoteResponse(m: VoteResponse): void {
    const mine = this.role === 'preCandidate' ? 'preVoteResponse' : 'voteResponse';
    if (m.type !== mine) {
      this.counters.staleMessages++;
      return;
    }
    this.tracker.recordVote(m.from, !m.reject);
    const result = this.tracker.tally();
    if (result === 'won') {
      if (this.role === 'preCandidate') this.startCampaign('election');
      else this.becomeLeader();
    } else if (result === 'lost') {
      this.becomeFollower(this.term, noNode);
    }
  }

  private stepLeader(m: RaftMessage): void {
    switch (m.type) {
      case 'appendResponse':
        this.handleAppendResponse(m);
        return;
      case 'heartbeatResponse':
        this.handleHeartbeatResponse(m);
        return;
      case 'readIndex':
        if (!this.leaderRead({ requestId: m.requestId, from: m.from })) this.counters.readsDropped++;
        return;
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Another leader in our term: impossible from a correct peer.
        this.counters.protocolViolations++;
        return;
      default:
        this.counters.staleMessages++;
    }
  }

  // ------------------------------------------------------------ follower side of replication

  private handleAppend(m: AppendRequest): void {
    if (m.prevIndex < this.log.committed) {
      // Everything up to our commit already agrees with any leader; tell it where we are.
      this.respondAppend(m.from, { index: this.log.committed, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    if (!this.log.matchTerm(m.prevIndex, m.prevTerm)) {
      this.counters.appendsRejected++;
      // Hint: the last entry of ours that could match, skipping every entry of a term newer than the leader's prevTerm.
      const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
      this.respondAppend(m.from, { index: m.prevIndex, reject: true, hintIndex: hint.index, hintTerm: hint.term });
      return;
    }
    const lastNew = m.prevIndex + m.entries.length;
    const from = this.log.findConflict(m.entries);
    if (from !== 0) {
      const suffix = m.entries.slice(from - m.prevIndex - 1);
      // A correct leader never rewrites our committed log nor sends a membership change that does not apply.
      if (from <= this.log.committed || this.configs.check(from, suffix) !== null) {
        this.counters.protocolViolations++;
        return;
      }
      this.appendToLog(suffix);
    }
    this.log.commitTo(Math.min(m.commit, lastNew));
    this.respondAppend(m.from, { index: lastNew, reject: false, hintIndex: 0, hintTerm: 0 });
  }

  private respondAppend(to: NodeId, fields: Pick<AppendResponse, 'index' | 'reject' | 'hintIndex' | 'hintTerm'>): void {
    this.send({ type: 'appendResponse', from: this.id, to, term: this.term, ...fields });
  }

  private handleHeartbeat(m: Heartbeat): void {
    // The leader sends min(commit, what it knows we hold), so this never passes our log unless the peer is broken.
    if (m.commit > this.log.lastIndex()) this.counters.protocolViolations++;
    else this.log.commitTo(m.commit);
    this.leaderSpare = m.spare ?? null;
    this.send({ type: 'heartbeatResponse', from: this.id, to: m.from, term: this.term, readRound: m.readRound });
  }

  private handleSnapshot(m: InstallSnapshot): void {
    const meta = m.snapshot.meta;
    if (meta.index <= this.log.committed) {
      this.respondAppend(m.from, { index: this.log.committed, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We already hold the snapshot's last entry: nothing to replace, just learn it is committed.
      this.log.commitTo(meta.index);
      this.respondAppend(m.from, { index: this.log.committed, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    // The snapshot's configuration may predate our joining: the config entry that added us follows it in the log.
    const config = meta.config;
    this.log.restore(m.snapshot);
    this.configs.reset({ index: meta.index, config });
    this.tracker.setConfig(config, this.log.lastIndex());
    this.counters.snapshotsInstalled++;
    this.respondAppend(m.from, { index: this.log.lastIndex(), reject: false, hintIndex: 0, hintTerm: 0 });
  }

  // ------------------------------------------------------------ leader side of replication

  /** The progress of a member that just answered us (it is alive), or undefined for a stranger. */
  private heardFrom(id: NodeId): Progress | undefined {
    const pr = this.tracker.progress.get(id);
    if (pr === undefined) this.counters.staleMessages++;
    else {
      pr.recentActive = true;
      pr.heardAtTick = this.ticks;
    }
    return pr;
  }

  private handleAppendResponse(m: AppendResponse): void {
    const pr = this.heardFrom(m.from);
    if (pr === undefined) return;
    if (m.reject) {
      const probeFrom = m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index : m.hintIndex;
      if (pr.maybeDecrTo(m.index, probeFrom)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.dirty.set(m.from, true);
      }
      return;
    }
    if (m.index > this.log.lastIndex()) {
      // Acknowledging entries we never sent: not from a correct follower.
      this.counters.protocolViolations++;
      return;
    }
    const updated = pr.maybeUpdate(m.index);
    if (!updated && !(pr.state === 'probe' && pr.match === m.index)) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot') {
      if (pr.match + 1 >= this.log.firstIndex()) pr.becomeReplicate();
    } else {
      pr.inflights.freeLE(m.index);
    }
    this.maybeCommit();
    if (!this.dirty.has(m.from)) this.dirty.set(m.from, false);
    if (m.from === this.transferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.heardFrom(m.from);
    if (pr === undefined) return;
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.inflights.full()) {
      // A full window may hold only lost appends: an empty append at the window's end either frees it or gets refused, and refusal restarts probing.
      this.sendAppendAt(m.from, pr.next - 1, []);
    } else if (pr.match < this.log.lastIndex() || pr.state === 'probe') {
      this.dirty.set(m.from, true);
    }
    if (m.readRound > 0 && this.tracker.isVoter(m.from)) {
      this.reads.ack(m.from, m.readRound);
      this.releaseReads();
    }
  }

  private maybeCommit(): boolean {
    const index = this.tracker.committed();
    // Only an entry of our own term is committed by counting replicas (§5.4.2, Figure 8).
    if (index <= this.log.committed || this.log.term(index) !== this.term) return false;
    const firstInTerm = this.log.term(this.log.committed) !== this.term;
    this.log.commitTo(index);
    for (const id of this.tracker.progress.keys()) {
      if (id === this.id) continue;
      if (this.commitNoticeAtOnce) this.dirty.set(id, true);
      else if (!this.dirty.has(id)) this.dirty.set(id, false);
    }
    if (firstInTerm) {
      for (const read of this.reads.takeBeforeCommit()) if (!this.leaderRead(read)) this.counters.readsDropped++;
    }
    const configCommitted = this.configs.currentIndex() <= index;
    if (configCommitted && !this.tracker.isVoter(this.id)) {
      // The configuration without us is committed (thesis §4.2.2): tell everyone the commit, then step down.
      this.broadcastHeartbeat(this.reads.round);
      this.becomeFollower(this.term, noNode);
      return true;
    }
    if (configCommitted && isJoint(this.tracker.config) && this.pendingConfIndex <= index) {
      // The joint configuration is committed: move on to the new one by itself.
      this.pendingConfIndex = this.appendLocal('config', encodeConfEntry({ kind: 'leaveJoint' }));
    }
    return true;
  }

  private appendLocal(type: EntryType, data: Uint8Array): number {
    const index = this.log.lastIndex() + 1;
    this.appendToLog([{ index, term: this.term, type, data }]);
    if (type === 'config') this.pendingConfIndex = index;
    for (const id of this.tracker.progress.keys()) if (id !== this.id && !this.dirty.has(id)) this.dirty.set(id, false);
    return index;
  }

  /** Every append goes through here: a config entry takes effect the moment it is in the log. */
  private appendToLog(entries: readonly Entry[]): void {
    this.log.append(entries);
    if (this.configs.appended(entries[0]!.index, entries)) this.configChanged();
  }

  private refuseProposal(bytes: number): RaftResult<Proposed> | null {
    if (this.role !== 'leader') return fail('NOT_LEADER', 'this replica does not lead the group', { leader: this.lead });
    if (this.transferee !== noNode) return fail('LEADER_NOT_AVAILABLE', 'leadership is being transferred');
    if (bytes > raftLimits.entryBytesMax) return fail('RECORD_TOO_LARGE', `an entry holds at most ${raftLimits.entryBytesMax} bytes`);
    if (this.log.lastIndex() - this.log.committed >= this.uncommittedEntriesMax) {
      return fail('BACKPRESSURE', 'too many uncommitted entries');
    }
    return null;
  }

  /** Sends what the dirty peers can take, and starts a read round if reads wait. */
  private flush(): void {
    if (this.role !== 'leader') {
      this.dirty.clear();
      return;
    }
    const round = this.reads.startRound();
    if (round !== null) {
      this.broadcastHeartbeat(round);
      this.releaseReads();
    }
    for (const [id, sendIfEmpty] of this.dirty) {
      let allowEmpty = sendIfEmpty;
      while (this.maybeSendAppend(id, allowEmpty)) allowEmpty = false;
    }
    this.dirty.clear();
  }

  /** Sends one append (or a snapshot) to `to` if its window allows; true if another may follow. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) {
      this.sendSnapshot(to);
      return false;
    }
    const last = this.log.lastIndex();
    let bytesMax = this.appendBytesMax;
    const budget = this.learnerBudget !== undefined && pr.next <= last && this.tracker.config.learners.includes(to) ? this.learnerBudget : undefined;
    let throttled = false;
    if (budget !== undefined) {
      const available = budget.available();
      // Nothing to spend: the learner's next answer (a heartbeat's, at the latest) tries again.
      if (available <= 0) throttled = true;
      else bytesMax = Math.min(bytesMax, available);
      if (throttled) this.counters.learnerAppendsThrottled++;
    }
    // Always at least one entry: one larger than the allowance goes, in debt.
    const entries = pr.next <= last && !throttled ? this.log.slice(pr.next, last + 1, bytesMax) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.sendAppendAt(to, prevIndex, entries, prevTerm);
    let bytes = 0;
    for (const e of entries) bytes += e.data.byteLength;
    budget?.spend(bytes);
    const lastSent = entries[entries.length - 1];
    pr.sentAppend(lastSent === undefined ? null : lastSent.index, bytes);
    return pr.state === 'replicate' && lastSent !== undefined;
  }

  private sendAppendAt(to: NodeId, prevIndex: number, entries: Entry[], knownPrevTerm?: number): void {
    const prevTerm = knownPrevTerm ?? this.log.term(prevIndex);
    if (prevTerm === undefined) {
      this.sendSnapshot(to);
      return;
    }
    this.send({ type: 'append', from: this.id, to, term: this.term, prevIndex, prevTerm, entries, commit: this.log.committed });
  }

  private sendSnapshot(to: NodeId): void {
    const pr = this.tracker.progress.get(to)!;
    // A follower we have not heard from lately may be down: do not ship it a snapshot blind.
    if (!pr.recentActive) return;
    const snapshot = this.storage.snapshot();
    if (snapshot.meta.index === 0 || snapshot.meta.index < this.log.firstIndex() - 1) {
      throw new Error('raft: the log is compacted but storage holds no snapshot covering it');
    }
    this.send({ type: 'snapshot', from: this.id, to, term: this.term, snapshot });
    pr.becomeSnapshot(snapshot.meta.index);
    this.counters.snapshotsSent++;
  }

  private broadcastHeartbeat(readRound: number): void {
    for (const [id, pr] of this.tracker.progress) {
      if (id === this.id) continue;
      // Never tell a follower a commit past what it is known to hold: its tail may still diverge.
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit, readRound, spare: this.spareWithout(id) });
    }
    this.commitAtLastHeartbeat = this.log.committed;
  }

  /** See replaceable: whether a majority without `member` holds what was committed a heartbeat ago (a leader's view). */
  private spareWithout(member: NodeId): boolean {
    const floor = this.commitAtLastHeartbeat;
    const held = (id: NodeId): number => {
      if (id === member) return -1;
      if (id === this.id) return this.log.lastIndex();
      const pr = this.tracker.progress.get(id);
      if (pr === undefined || pr.state !== 'replicate' || this.ticks - pr.heardAtTick > 2 * this.heartbeatTicks) return -1;
      return pr.match;
    };
    return jointValue(this.tracker.config, held) >= floor;
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
  }

  private abortTransfer(): void {
    if (this.transferee !== noNode) this.counters.transfersAborted++;
    this.transferee = noNode;
  }

  // ------------------------------------------------------------ reads

  private leaderRead(request: ReadRequest): boolean {
    // Until an entry of our term commits, our commit index may lag the true one (§6.4 step 1).
    if (this.log.term(this.log.committed) !== this.term) return this.reads.addBeforeCommit(request);
    return this.reads.add(request, this.log.committed);
  }

  private releaseReads(): void {
    const confirmed = this.tracker.quorumValue((id) => (id === this.id ? this.reads.round : this.reads.ackedRound(id)));
    for (const read of this.reads.release(confirmed)) this.deliverRead(read);
  }

  private deliverRead(read: ConfirmedRead): void {
    if (read.from === this.id) this.readStates.push({ requestId: read.requestId, index: read.index });
    else this.send({ type: 'readIndexResponse', from: this.id, to: read.from, term: this.term, requestId: read.requestId, index: read.index });
  }

  // ------------------------------------------------------------ membership

  private configChanged(): void {
    this.tracker.setConfig(this.configs.current(), this.log.lastIndex());
    if (this.role !== 'leader') return;
    if (this.transferee !== noNode && !this.tracker.config.voters.includes(this.transferee)) this.abortTransfer();
    // New members need their first append; a different quorum may commit more.
    for (const id of this.tracker.progress.keys()) if (id !== this.id && !this.dirty.has(id)) this.dirty.set(id, true);
    this.maybeCommit();
  }

  // ------------------------------------------------------------ output

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private send(m: RaftMessage): void {
    // A leader's own messages depend on nothing unwritten once its term (and self-vote) is durable,
    // so they may leave while it writes the same entries to its own disk (thesis §10.2.1).
    const early =
      this.role === 'leader' &&
      this.term === this.persisted.term &&
      (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot' || m.type === 'timeoutNow' || m.type === 'readIndexResponse');
    (early ? this.messages : this.messagesAfterPersist).push(m);
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
