import type { JoinDetails } from './commands.js';
import { compareStrings, type PartitionKey, type TopicPartition } from './partitions.js';

/**
 * A partition a member owns, the member epoch at which it was given it
 * (commits from before that are stale), and the id of its topic then (a
 * member still draining a deleted topic cannot commit into its successor).
 */
export interface Owned {
  readonly tp: TopicPartition;
  readonly topicId: number;
  readonly sinceEpoch: number;
}

/**
 * One member of a group as the coordinator records it. It owns `assigned`
 * (and may consume them) and `revoking` (it was told to release them, and may
 * still commit them while it drains); nobody else owns either. `epoch` is
 * given when it joins and again each time the coordinator changes what it
 * owns, from a counter of the group (no epoch is ever given twice).
 */
export interface Member {
  readonly memberId: string;
  readonly instanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  topics: readonly string[];
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  epoch: number;
  readonly assigned: Map<PartitionKey, Owned>;
  readonly revoking: Map<PartitionKey, Owned>;
  /** When it was first asked to release what it still holds in `revoking`; null when that is empty. */
  revokingSinceMs: number | null;
  /** A static member that left temporarily: when. Its `assigned` wait for it (or its successor) a session timeout. */
  awaySinceMs: number | null;
  readonly joinedAtMs: number;
}

export function newMember(memberId: string, details: JoinDetails, topics: readonly string[], nowMs: number): Member {
  return {
    memberId,
    instanceId: details.instanceId,
    clientId: details.clientId,
    clientHost: details.clientHost,
    topics: normalizeTopics(topics),
    sessionTimeoutMs: details.sessionTimeoutMs,
    rebalanceTimeoutMs: details.rebalanceTimeoutMs,
    epoch: 0,
    assigned: new Map(),
    revoking: new Map(),
    revokingSinceMs: null,
    awaySinceMs: null,
    joinedAtMs: nowMs,
  };
}

export function cloneMember(member: Member): Member {
  return { ...member, topics: [...member.topics], assigned: new Map(member.assigned), revoking: new Map(member.revoking) };
}

/** Sorted, without repeats: two subscriptions are the same when these are. */
export function normalizeTopics(topics: readonly string[]): string[] {
  return [...new Set(topics)].sort(compareStrings);
}

export function sameTopics(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((topic, i) => topic === b[i]);
}

export function ownedEntries(member: Member): Owned[] {
  return [...member.assigned.values(), ...member.revoking.values()];
}
