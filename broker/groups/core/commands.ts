import type { ErrorCode } from '../../../transport/errors.js';
import type { TopicPartition, TopicShape } from './partitions.js';

/**
 * The commands of a coordinator's log: each is one record in a partition of
 * the internal groups topic, applied in log order by every replica of that
 * partition. The coordinator (the partition's leader) stamps each with its
 * clock (`nowMs`) and with what it read from the cluster metadata (topic
 * shapes), so applying is deterministic: same commands, same state, on every
 * replica, after any restart.
 *
 * A command that cannot be carried out is answered with an error result and
 * changes nothing; applying never throws on one.
 */

/** What a member tells about itself when it joins (member epoch 0). */
export interface JoinDetails {
  /** Static membership: a restarted member with the same instance id takes its predecessor's place and partitions. */
  readonly instanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
}

/** The coordinator's view of topics a command names: current shapes, and names it found absent. */
export interface ShapeStamp {
  readonly shapes?: readonly TopicShape[];
  readonly missing?: readonly string[];
}

export interface CommittedOffset {
  readonly topic: string;
  /** The topic's id when the member read it: an offset of a deleted and recreated topic is refused. */
  readonly topicId: number;
  readonly partition: number;
  /** The next offset to consume: every record below it was finished with. */
  readonly offset: number;
  /**
   * A member's commit: records of the partition it dead-lettered and skipped
   * since the partition was given to it (cumulative, so a retried or reordered
   * commit counts nothing twice). Summed into the group's durable counts.
   */
  readonly deadLettered?: number;
  readonly skipped?: number;
}

export interface HeartbeatCommand extends ShapeStamp {
  readonly type: 'heartbeat';
  readonly group: string;
  readonly nowMs: number;
  readonly memberId: string;
  /** 0 joins (with `join`); otherwise the latest epoch the member was given. */
  readonly epoch: number;
  readonly join?: JoinDetails;
  /** The topics it subscribes to: with a join, and whenever they change. */
  readonly topics?: readonly string[];
  /** What it holds now, when that changed: a revoked partition it no longer lists is released. */
  readonly owned?: readonly TopicPartition[];
  /**
   * A join that replaces a live static member (same instance id): when that
   * member's lease ends, as the coordinator's liveness knows it. Its
   * partitions are held until then, so the two never own one at once.
   */
  readonly replacedLeaseEndMs?: number;
}

export type GroupCommand =
  | HeartbeatCommand
  /** Leaving: the member released everything first. A static member may leave `temporary`-ly: its partitions wait a session timeout for its return. */
  | { readonly type: 'leave'; readonly group: string; readonly nowMs: number; readonly memberId: string; readonly epoch: number; readonly temporary: boolean }
  /**
   * The coordinator gives up on a member: unheard for its session timeout
   * ('session'), too slow to release revoked partitions ('rebalance'), or
   * away longer than its session timeout ('away'). Its partitions are held
   * until `leaseEndMs`, past which the member has stopped using them.
   */
  | { readonly type: 'expire'; readonly group: string; readonly nowMs: number; readonly memberId: string; readonly reason: ExpireReason; readonly leaseEndMs: number }
  | { readonly type: 'commit'; readonly group: string; readonly nowMs: number; readonly memberId: string; readonly epoch: number; readonly offsets: readonly CommittedOffset[] }
  /** Admin: sets committed offsets, in any direction; refused while the group has members. */
  | ({ readonly type: 'reset'; readonly group: string; readonly nowMs: number; readonly offsets: readonly CommittedOffset[] } & ShapeStamp)
  | { readonly type: 'delete'; readonly group: string; readonly nowMs: number }
  /** The metadata of a topic the group knows changed (deleted, recreated). */
  | ({ readonly type: 'topics'; readonly group: string; readonly nowMs: number } & ShapeStamp)
  /** An empty group past its retention: forgotten, offsets and all (a no-op if a member joined meanwhile). */
  | { readonly type: 'expireGroup'; readonly group: string; readonly nowMs: number };

export type ExpireReason = 'session' | 'rebalance' | 'away';

export interface GroupError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** What a heartbeat is answered with. */
export interface MemberView {
  readonly memberId: string;
  readonly epoch: number;
  readonly groupEpoch: number;
  /** The partitions it owns and may consume; it releases those it holds and this does not list. */
  readonly assignment: TopicPartition[];
  /** Partitions meant for it that others have not released yet: worth asking again soon. */
  readonly pending: number;
}

export type GroupResult =
  | { readonly ok: true; readonly member?: MemberView; readonly committed?: readonly CommittedOffset[] }
  | { readonly ok: false; readonly error: GroupError };

export function refused(code: ErrorCode, message: string, details?: Record<string, unknown>): GroupResult {
  return { ok: false, error: details === undefined ? { code, message } : { code, message, details } };
}
