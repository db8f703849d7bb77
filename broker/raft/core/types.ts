/**
 * The vocabulary of the Raft core: entries, hard state, configurations,
 * snapshots and messages. Plain data only, so a message can cross the wire
 * (see ../codec.ts) and a simulator can copy it without sharing state.
 */

/** A replica's id within its group: a positive integer (0 means "nobody"). */
export type NodeId = number;
export const noNode: NodeId = 0;

/**
 * `normal`: an application proposal (a record batch of a partition, a command
 * of the metadata group). `noop`: the empty entry a new leader appends to
 * commit everything before it. `config`: a membership change (see membership.ts).
 * Partition logs store noop and config entries as control batches.
 */
export type EntryType = 'normal' | 'noop' | 'config';

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must be durable before a replica votes or acknowledges: its term, its vote in that term, and (lazily) its commit. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export const emptyHardState: HardState = { term: 0, vote: noNode, commit: 0 };

/**
 * Group membership. Outside a joint configuration `votersOutgoing` and
 * `learnersNext` are empty. In a joint configuration a decision needs a
 * majority of `voters` AND a majority of `votersOutgoing`; `learnersNext` are
 * outgoing voters that become learners when the joint configuration is left.
 */
export interface ConfigState {
  readonly voters: readonly NodeId[];
  readonly votersOutgoing: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly learnersNext: readonly NodeId[];
}

export const emptyConfig: ConfigState = { voters: [], votersOutgoing: [], learners: [], learnersNext: [] };

export interface SnapshotMeta {
  /** Last entry the snapshot covers, and its term. */
  readonly index: number;
  readonly term: number;
  /** Membership as of `index`. */
  readonly config: ConfigState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's state at meta.index; opaque to Raft. */
  readonly data: Uint8Array;
}

export const emptySnapshot: Snapshot = { meta: { index: 0, term: 0, config: emptyConfig }, data: new Uint8Array(0) };

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

interface Addressed {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term; for a pre-vote request, the term the sender would campaign in. */
  readonly term: number;
}

export interface VoteRequest extends Addressed {
  readonly type: 'preVote' | 'vote';
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** Set by a leadership transfer: voters ignore their leader lease for it. */
  readonly transfer: boolean;
}

export interface VoteResponse extends Addressed {
  readonly type: 'preVoteResponse' | 'voteResponse';
  readonly reject: boolean;
}

export interface AppendRequest extends Addressed {
  readonly type: 'append';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

export interface AppendResponse extends Addressed {
  readonly type: 'appendResponse';
  /** Accepted: the follower's log matches the leader's up to here. Rejected: the prevIndex that did not match. */
  readonly index: number;
  readonly reject: boolean;
  /** On reject: the follower's guess of the last (index, term) where the logs could agree (fast backtracking). */
  readonly hintIndex: number;
  readonly hintTerm: number;
}

export interface Heartbeat extends Addressed {
  readonly type: 'heartbeat';
  readonly commit: number;
  /** Read-index round the leader wants confirmed (0: none). */
  readonly readRound: number;
  /**
   * Whether the group could commit without the follower addressed: a majority
   * of the others keeps up (see RaftCore.replaceable). Absent from a leader
   * that predates it.
   */
  readonly spare?: boolean;
}

export interface HeartbeatResponse extends Addressed {
  readonly type: 'heartbeatResponse';
  readonly readRound: number;
}

export interface InstallSnapshot extends Addressed {
  readonly type: 'snapshot';
  readonly snapshot: Snapshot;
}

export interface TimeoutNow extends Addressed {
  readonly type: 'timeoutNow';
}

/** A follower asking its leader for a read index on behalf of a local reader. */
export interface ReadIndexRequest extends Addressed {
  readonly type: 'readIndex';
  readonly requestId: string;
}

export interface ReadIndexResponse extends Addressed {
  readonly type: 'readIndexResponse';
  readonly requestId: string;
  readonly index: number;
}

export type RaftMessage =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | InstallSnapshot
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse;

export type MessageType = RaftMessage['type'];

/** A read is linearizable once the local state machine has applied `index`. */
export interface ReadState {
  readonly requestId: string;
  readonly index: number;
}

export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId;
}

/**
 * One batch of work for the driver, in this order:
 * 1. send `messages` (they never depend on this Ready's writes);
 * 2. install `snapshot`, then write `entries` (entries[0] may overwrite a
 *    suffix of the log from its index) and `hardState`, and make them durable;
 * 3. send `messagesAfterPersist`;
 * 4. restore the state machine from `snapshot`, apply `committedEntries` in order;
 * 5. hand `readStates` to waiting readers once applied reaches their index;
 * 6. call `advance(ready)`.
 * Step and tick may be called between `ready()` and `advance()`.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly RaftMessage[];
  readonly messagesAfterPersist: readonly RaftMessage[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}
