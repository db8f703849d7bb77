import { compareStrings, keyOf, sortedPartitions, type PartitionKey, type TopicPartition, type TopicShape } from './partitions.js';

/**
 * The server-side assignor: which member of a group should own which
 * partition (the target assignment), computed by the coordinator whenever
 * the group's members, subscriptions or topics change. Deterministic: the
 * same input gives the same output on every replica, whatever its order.
 *
 * - Balanced: when every member subscribes to the same topics, partition
 *   counts differ by at most one. With different subscriptions, no partition
 *   can move to another member subscribed to its topic that owns two or more
 *   fewer (the best balance those subscriptions allow, as Kafka's uniform
 *   assignor defines it).
 * - Sticky: each member keeps what it was assigned before wherever that is
 *   still valid, and only what must move for balance moves: a member joining
 *   takes its share from the members that have most, a member leaving has its
 *   partitions spread over the others and nothing else moves.
 */
export interface AssignorMember {
  readonly memberId: string;
  /** Topic names it subscribes to; names without a shape (no such topic) are ignored. */
  readonly topics: readonly string[];
  /** Its previous target: kept where still valid. */
  readonly current: readonly TopicPartition[];
}

export interface AssignorInput {
  readonly members: readonly AssignorMember[];
  readonly topics: readonly TopicShape[];
}

export function assignPartitions(input: AssignorInput): Map<string, TopicPartition[]> {
  const members = [...input.members].sort((a, b) => compareStrings(a.memberId, b.memberId));
  for (let i = 1; i < members.length; i++) {
    if (members[i]!.memberId === members[i - 1]!.memberId) throw new Error(`assignPartitions: member ${members[i]!.memberId} is listed twice`);
  }
  const shapes = new Map(input.topics.map((t) => [t.name, t]));
  const subscribed = members.map((m) => new Set(m.topics.filter((t) => shapes.has(t))));
  const state = new Ownership(members.length);
  keepValid(members, subscribed, shapes, state);
  const topics = [...new Set(subscribed.flatMap((s) => [...s]))].sort(compareStrings);
  const all = topics.flatMap((name) => Array.from({ length: shapes.get(name)!.partitions }, (_, partition) => ({ topic: name, partition })));
  if (members.length > 0) {
    const first = subscribed[0]!;
    const homogeneous = subscribed.every((s) => s.size === first.size && [...s].every((t) => first.has(t)));
    if (homogeneous) assignByQuota(all, state);
    else assignByMoves(all, subscribed, state);
  }
  return new Map(members.map((m, i) => [m.memberId, sortedPartitions(state.owned[i]!.values())]));
}

/** Who owns what while the assignment is built: each partition at most once. */
class Ownership {
  readonly owner = new Map<PartitionKey, number>();
  readonly owned: Map<PartitionKey, TopicPartition>[];

  constructor(members: number) {
    this.owned = Array.from({ length: members }, () => new Map());
  }

  count(member: number): number {
    return this.owned[member]!.size;
  }

  give(tp: TopicPartition, member: number): void {
    const key = keyOf(tp);
    const previous = this.owner.get(key);
    if (previous !== undefined) this.owned[previous]!.delete(key);
    this.owner.set(key, member);
    this.owned[member]!.set(key, tp);
  }

  take(tp: TopicPartition): void {
    const key = keyOf(tp);
    const previous = this.owner.get(key);
    if (previous === undefined) return;
    this.owned[previous]!.delete(key);
    this.owner.delete(key);
  }
}

/** Keeps each member's previous partitions that still exist and that it still subscribes to (a partition listed twice goes to the first member). */
function keepValid(members: readonly AssignorMember[], subscribed: readonly Set<string>[], shapes: ReadonlyMap<string, TopicShape>, state: Ownership): void {
  members.forEach((member, i) => {
    for (const tp of sortedPartitions(member.current)) {
      const shape = shapes.get(tp.topic);
      const valid = shape !== undefined && subscribed[i]!.has(tp.topic) && Number.isSafeInteger(tp.partition) && tp.partition >= 0 && tp.partition < shape.partitions;
      if (valid && !state.owner.has(keyOf(tp))) state.give(tp, i);
    }
  });
}

/**
 * Every member may own every partition: each gets floor(N/M) or one more,
 * the extra ones going to the members that already own most (so they keep
 * them). Members above their quota give up their highest partitions; the
 * free partitions are dealt round-robin to members below quota.
 */
function assignByQuota(all: readonly TopicPartition[], state: Ownership): void {
  const count = state.owned.length;
  const base = Math.floor(all.length / count);
  const extra = all.length % count;
  const byOwned = Array.from({ length: count }, (_, i) => i).sort((a, b) => state.count(b) - state.count(a) || a - b);
  const quota = new Array<number>(count);
  byOwned.forEach((member, rank) => (quota[member] = base + (rank < extra ? 1 : 0)));
  for (let member = 0; member < count; member++) {
    const mine = sortedPartitions(state.owned[member]!.values());
    for (const tp of mine.slice(quota[member]!)) state.take(tp);
  }
  let next = 0;
  for (const tp of all) {
    if (state.owner.has(keyOf(tp))) continue;
    while (state.count(next) >= quota[next]!) next = (next + 1) % count;
    state.give(tp, next);
    next = (next + 1) % count;
  }
}

/**
 * Subscriptions differ: free partitions go to the least-loaded member that
 * subscribes to their topic (the most constrained partitions first), then
 * single partitions move from the most-loaded members to eligible members
 * with two or more fewer until no such move is left. Each move lowers the
 * sum of squared counts, so this ends.
 */
function assignByMoves(all: readonly TopicPartition[], subscribed: readonly Set<string>[], state: Ownership): void {
  const eligible = new Map<string, number[]>();
  subscribed.forEach((topics, member) => {
    for (const topic of topics) {
      const list = eligible.get(topic) ?? [];
      list.push(member);
      eligible.set(topic, list);
    }
  });
  const leastLoaded = (topic: string): number => {
    let best = -1;
    for (const member of eligible.get(topic)!) if (best < 0 || state.count(member) < state.count(best)) best = member;
    return best;
  };
  const free = all.filter((tp) => !state.owner.has(keyOf(tp)));
  free.sort((a, b) => eligible.get(a.topic)!.length - eligible.get(b.topic)!.length);
  for (const tp of free) state.give(tp, leastLoaded(tp.topic));
  while (moveOne(state, leastLoaded)) {
    // each pass moves one partition
  }
}

function moveOne(state: Ownership, leastLoaded: (topic: string) => number): boolean {
  const members = Array.from({ length: state.owned.length }, (_, i) => i).sort((a, b) => state.count(b) - state.count(a) || a - b);
  const minimum = state.count(members[members.length - 1]!);
  const lightest = new Map<string, number>();
  for (const from of members) {
    if (state.count(from) - minimum < 2) return false;
    const mine = sortedPartitions(state.owned[from]!.values());
    for (let i = mine.length - 1; i >= 0; i--) {
      const tp = mine[i]!;
      let to = lightest.get(tp.topic);
      if (to === undefined) lightest.set(tp.topic, (to = leastLoaded(tp.topic)));
      if (state.count(to) <= state.count(from) - 2) {
        state.give(tp, to);
        return true;
      }
    }
  }
  return false;
}
