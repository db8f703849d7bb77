import { brokerLimits } from '../../transport/limits.js';
import { type ReplicationSpan, replicationSpan, type WireEnvelope } from '../raft/codec.js';

/**
 * The two connections a broker keeps to each peer. A connection delivers in
 * order, so on one link a Raft catch-up append of a megabyte, on a lossy
 * path, held every group's heartbeats and votes behind it for longer than an
 * election timeout: followers campaigned, leaders stepped down through check
 * quorum (seen in the cluster simulation). Control traffic (heartbeats,
 * votes, answers, small appends) takes one connection, bulk replication
 * (large appends, snapshots) the other, each with its own stream and
 * congestion window, as etcd splits its appends from its other messages.
 */
export const peerLanes = ['control', 'bulk'] as const;
export type PeerLane = (typeof peerLanes)[number];

/** Where a Raft message goes: a lane, or nowhere, for a copy of what the bulk lane is still delivering. */
export type PeerRoute = PeerLane | 'duplicate';

/**
 * Picks the lane of each Raft message to one peer. Within a group, appends
 * must not overtake each other: a small append that arrives before the large
 * one it follows is refused, and the leader then sends everything again from
 * the follower's match. So once a group sends a large append or a snapshot,
 * its appends stay on the bulk lane until the peer has them (the bulk
 * connection's acknowledged stream offset passes where they end); then the
 * group is back on the control lane.
 *
 * A leader probing a follower resends its append at every heartbeat answer.
 * With heartbeats no longer queued behind the append, those answers come
 * back long before a megabyte crosses a lossy link, and each resend added
 * another copy behind it (twenty a second): the follower's catch-up took
 * seconds longer than the copy already under way. An append or snapshot
 * that resends what the bulk lane holds undelivered (see covers) is dropped:
 * the copy ahead of it arrives first, in order, or the lane dies with both.
 * Once the peer has it, a resend goes: the follower may have dropped what
 * arrived.
 * Holds at most one entry per Raft group this broker hosts (its own groups
 * name the messages it sends).
 */
export class PeerLaneChooser {
  /** Per group with appends on the bulk lane: the span they carry, and where on the lane's stream they end (Infinity: not yet sent). */
  private readonly bulk = new Map<string, ReplicationSpan & { endBytes: number }>();

  /** `bytes` is the message's estimate (raftWireBytes); `bulkAckedBytes` how far the peer acknowledged the bulk lane's stream. */
  choose(wire: WireEnvelope, bytes: number, bulkAckedBytes: number): PeerRoute {
    const span = replicationSpan(wire);
    if (span === null) return 'control';
    const group = wire.g as string;
    let held = this.bulk.get(group);
    if (held !== undefined && held.endBytes <= bulkAckedBytes) {
      this.bulk.delete(group);
      held = undefined;
    }
    if (held !== undefined && covers(held, span)) return 'duplicate';
    if (span.kind === 'snapshot' || bytes > brokerLimits.peerControlAppendBytesMax) {
      const joined = held !== undefined && continues(held, span) ? { ...held, toIndex: Math.max(held.toIndex, span.toIndex) } : span;
      this.bulk.set(group, { ...joined, endBytes: Infinity });
      return 'bulk';
    }
    if (held === undefined) return 'control';
    // A small append behind the group's large ones follows them, and holds the group on the bulk lane until it too arrives.
    held.endBytes = Infinity;
    return 'bulk';
  }

  /** A bulk message of `group` went out on the lane's stream, ending at `endBytes`. */
  shipped(group: string, endBytes: number): void {
    const held = this.bulk.get(group);
    if (held !== undefined) held.endBytes = endBytes;
  }

  /** The bulk lane's connection was lost with what it held (or replaced, its offsets starting over): nothing of it is pending. */
  reset(): void {
    this.bulk.clear();
  }

  get bulkGroupCount(): number {
    return this.bulk.size;
  }
}

/**
 * Whether `span` would resend what `held` still carries: an append of the same
 * term starting inside the held span (a probing leader's resend from the same
 * index, grown by what was appended since: the tail follows once the follower
 * answers the copy under way), or the same snapshot. An empty append carries
 * nothing and goes.
 */
function covers(held: ReplicationSpan, span: ReplicationSpan): boolean {
  if (held.term !== span.term || held.kind !== span.kind) return false;
  if (span.kind === 'snapshot') return held.toIndex === span.toIndex;
  return span.toIndex > span.fromIndex && span.fromIndex >= held.fromIndex && span.fromIndex < held.toIndex;
}

/** Whether `span` continues `held` (same term, starting inside or right after it), so together they are one span. */
function continues(held: ReplicationSpan, span: ReplicationSpan): boolean {
  return held.kind === 'append' && span.kind === 'append' && held.term === span.term && span.fromIndex >= held.fromIndex && span.fromIndex <= held.toIndex;
}

/** Bytes a Raft message will take on the wire, roughly: entries dominate. */
export function raftWireBytes(wire: WireEnvelope): number {
  let bytes = 64;
  const entries = wire.n;
  if (Array.isArray(entries)) for (const entry of entries) bytes += 16 + (((entry as unknown[])[2] as Uint8Array | undefined)?.byteLength ?? 0);
  const snapshot = wire.s as { d?: Uint8Array } | undefined;
  if (snapshot?.d instanceof Uint8Array) bytes += snapshot.d.byteLength;
  return bytes;
}
