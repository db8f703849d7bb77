import { assignPartitions } from './assignor.js';
import { refused, type CommittedOffset, type GroupCommand, type GroupResult, type HeartbeatCommand, type MemberView, type ShapeStamp } from './commands.js';
import { groupCostBytes } from './cost.js';
import { groupInvariantProblem } from './invariants.js';
import { cloneMember, newMember, normalizeTopics, ownedEntries, sameTopics, type Member } from './member.js';
import { compareStrings, keyOf, partitionKey, sortedPartitions, type PartitionKey, type TopicPartition, type TopicShape } from './partitions.js';

/**
 * One consumer group's replicated state: its members, the target assignment
 * the assignor computed for them, who owns which partition right now, and
 * the committed offsets. Changed only through the commands of the
 * coordinator's log (see commands.ts), with the command's time; no clock,
 * timer or I/O here.
 *
 * The handshake that keeps every partition with at most one owner: a
 * partition leaves its owner's `assigned` for its `revoking` when the target
 * moves it elsewhere, and is free only once the owner reports it no longer
 * holds it (or the owner is gone and its lease has ended: until then the
 * partition is held). Only a free partition is given, and only to the member
 * whose target holds it, at that member's next heartbeat.
 */
export interface StoredOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly committedAtMs: number;
  /** Records of the partition dead-lettered and skipped by the group's members, all told (see DeadLetterCounts). */
  readonly counts: DeadLetterCounts;
}

/**
 * Records the members dead-lettered and skipped, kept with the committed
 * offset so that they are replicated, snapshotted and survive a coordinator
 * change as commits do. Members report theirs cumulatively per ownership
 * (since the grant at `stintEpoch`, an epoch never given twice): the last
 * report of the current ownership is kept, so that a retried commit adds
 * only what it reports beyond it.
 */
export interface DeadLetterCounts {
  readonly deadLettered: number;
  readonly skipped: number;
  readonly stintEpoch: number;
  readonly stintDeadLettered: number;
  readonly stintSkipped: number;
}

export const noCounts: DeadLetterCounts = { deadLettered: 0, skipped: 0, stintEpoch: 0, stintDeadLettered: 0, stintSkipped: 0 };

export interface Hold {
  readonly tp: TopicPartition;
  /** The previous owner's lease has ended by then: the partition is free from this instant. */
  readonly untilMs: number;
}

/** A member replaced by a newer one with its instance id: it is told so (FENCED_INSTANCE_ID) instead of rejoining. */
export interface Replaced {
  readonly instanceId: string;
  readonly atMs: number;
}

export type GroupState = 'empty' | 'reconciling' | 'stable';

export class Group {
  /** Bumped each time the target assignment is computed again. */
  epoch = 0;
  /** The last member epoch given: member epochs come from this one counter, so none is ever given twice in a group. */
  memberEpochs = 0;
  emptySinceMs: number | null;
  readonly topics = new Map<string, TopicShape>();
  readonly members = new Map<string, Member>();
  readonly target = new Map<string, TopicPartition[]>();
  /** Who owns each owned partition (in its `assigned` or `revoking`): derived, never serialized. */
  readonly owner = new Map<PartitionKey, string>();
  readonly holds = new Map<PartitionKey, Hold>();
  readonly offsets = new Map<PartitionKey, StoredOffset>();
  /** Oldest first; at most replacedMembersMax. */
  readonly replaced = new Map<string, Replaced>();

  constructor(
    readonly name: string,
    readonly createdAtMs: number,
    private readonly replacedMax: number,
  ) {
    this.emptySinceMs = createdAtMs;
  }

  clone(): Group {
    const copy = new Group(this.name, this.createdAtMs, this.replacedMax);
    copy.epoch = this.epoch;
    copy.memberEpochs = this.memberEpochs;
    copy.emptySinceMs = this.emptySinceMs;
    for (const [k, v] of this.topics) copy.topics.set(k, v);
    for (const [k, v] of this.members) copy.members.set(k, cloneMember(v));
    for (const [k, v] of this.target) copy.target.set(k, v);
    for (const [k, v] of this.owner) copy.owner.set(k, v);
    for (const [k, v] of this.holds) copy.holds.set(k, v);
    for (const [k, v] of this.offsets) copy.offsets.set(k, v);
    for (const [k, v] of this.replaced) copy.replaced.set(k, v);
    return copy;
  }

  // ------------------------------------------------------------------ commands

  /**
   * Whether applying `command` changes what the group is made of (members,
   * subscriptions, topics): the shard applies those to a copy, checks the
   * limits on it, and keeps it only if they hold.
   */
  isStructural(command: GroupCommand): boolean {
    switch (command.type) {
      case 'heartbeat': {
        const member = this.members.get(command.memberId);
        if (member === undefined) return command.epoch === 0;
        return (command.topics !== undefined && !sameTopics(member.topics, normalizeTopics(command.topics))) || this.shapesDiffer(command);
      }
      case 'commit':
        return false;
      default:
        return true;
    }
  }

  heartbeat(command: HeartbeatCommand, nowMs: number): GroupResult {
    let member = this.members.get(command.memberId);
    let recompute = false;
    if (member === undefined && command.epoch === 0) {
      const joined = this.join(command, nowMs);
      if ('ok' in joined) return joined;
      member = joined.member;
      recompute = joined.recompute;
    } else {
      const problem = this.refusal(member, command.memberId, command.epoch === 0 ? null : command.epoch);
      if (problem !== null) return problem;
    }
    const self = member!;
    recompute = this.applyShapes(command, nowMs) || recompute;
    if (command.topics !== undefined) {
      const topics = normalizeTopics(command.topics);
      if (!sameTopics(self.topics, topics)) {
        self.topics = topics;
        recompute = true;
      }
    }
    if (command.owned !== undefined) this.release(self, command.owned);
    if (recompute) this.recompute(nowMs);
    this.reconcile(self, nowMs);
    return { ok: true, member: this.view(self) };
  }

  /** Leaving for good frees what it held at once (it released everything first); a temporary leave keeps it for its return. */
  leave(memberId: string, epoch: number, temporary: boolean, nowMs: number): GroupResult {
    const member = this.members.get(memberId);
    if (member === undefined) return this.refusal(undefined, memberId, null)!;
    if (epoch > member.epoch) return this.fencedEpoch(member, epoch);
    if (!temporary) {
      this.remove(member, nowMs, nowMs);
      this.recompute(nowMs);
      return { ok: true };
    }
    if (member.instanceId === null) return refused('INVALID_ARGUMENT', `member ${memberId} has no instance id: only a static member can leave temporarily`);
    if (member.awaySinceMs === null) member.awaySinceMs = nowMs;
    for (const key of member.revoking.keys()) this.owner.delete(key);
    member.revoking.clear();
    member.revokingSinceMs = null;
    return { ok: true };
  }

  /** The coordinator gave up on a member; what it owned is held until its lease has surely ended. A member already gone is no error. */
  expire(memberId: string, leaseEndMs: number, nowMs: number): GroupResult {
    const member = this.members.get(memberId);
    if (member === undefined) return { ok: true };
    // An away member stopped consuming when it left: nothing to wait for.
    this.remove(member, member.awaySinceMs !== null ? nowMs : Math.max(nowMs, leaseEndMs), nowMs);
    this.recompute(nowMs);
    return { ok: true };
  }

  /** All or nothing: every partition must be owned by the member at the commit's epoch. Offsets never move backwards here. */
  commit(memberId: string, epoch: number, offsets: readonly CommittedOffset[], nowMs: number): GroupResult {
    const member = this.members.get(memberId);
    const problem = this.refusal(member, memberId, epoch) ?? this.offsetsProblem(offsets);
    if (problem !== null) return problem;
    const stale = offsets.filter((o) => {
      const key = partitionKey(o.topic, o.partition);
      const held = member!.assigned.get(key) ?? member!.revoking.get(key);
      return held === undefined || held.sinceEpoch > epoch || held.topicId !== o.topicId;
    });
    if (stale.length > 0) {
      const partitions = stale.map((o) => ({ topic: o.topic, partition: o.partition }));
      const list = partitions.map((p) => `${p.topic}/${p.partition}`).join(', ');
      return refused('STALE_MEMBER_EPOCH', `member ${memberId} of group ${this.name} does not own ${list} at epoch ${epoch}`, { partitions, epoch: member!.epoch });
    }
    return { ok: true, committed: this.store(offsets, nowMs, false, (o) => (member!.assigned.get(partitionKey(o.topic, o.partition)) ?? member!.revoking.get(partitionKey(o.topic, o.partition)))!.sinceEpoch) };
  }

  /** Admin: offsets in any direction, only while nobody consumes. */
  reset(command: ShapeStamp & { offsets: readonly CommittedOffset[] }, nowMs: number): GroupResult {
    if (this.members.size > 0) {
      return refused('GROUP_NOT_EMPTY', `group ${this.name} has ${this.members.size} member(s); stop them (or wait for them to expire) before resetting offsets`, { members: this.members.size });
    }
    this.applyShapes(command, nowMs);
    const problem = this.offsetsProblem(command.offsets);
    if (problem !== null) return problem;
    for (const o of command.offsets) {
      if (o.partition >= this.topics.get(o.topic)!.partitions) return refused('UNKNOWN_PARTITION', `topic ${o.topic} has no partition ${o.partition}`);
    }
    const committed = this.store(command.offsets, nowMs, true);
    this.pruneTopics();
    return { ok: true, committed };
  }

  /** The metadata of topics the group knows changed. */
  topicsChanged(stamp: ShapeStamp, nowMs: number): GroupResult {
    if (this.applyShapes(stamp, nowMs)) this.recompute(nowMs);
    this.pruneTopics();
    return { ok: true };
  }

  // ------------------------------------------------------------------ queries

  /** Whether a heartbeat changes the replicated state; if not, the coordinator answers it without writing to its log. */
  needsWrite(command: HeartbeatCommand, nowMs: number): boolean {
    const member = this.members.get(command.memberId);
    if (member === undefined) return command.epoch === 0;
    if (command.epoch === 0) return true;
    if (this.refusal(member, command.memberId, command.epoch) !== null) return false;
    if (this.isStructural(command)) return true;
    if (command.owned !== undefined) {
      const reported = new Set(command.owned.map(keyOf));
      for (const key of member.revoking.keys()) if (!reported.has(key)) return true;
    }
    const plan = this.plan(member, nowMs);
    return plan.revoke.length > 0 || plan.grant.length > 0;
  }

  /** What a heartbeat that changes nothing is answered with: the member's view, or why it may not act. */
  answer(command: HeartbeatCommand): GroupResult {
    const member = this.members.get(command.memberId);
    return this.refusal(member, command.memberId, command.epoch === 0 ? null : command.epoch) ?? { ok: true, member: this.view(member!) };
  }

  view(member: Member): MemberView {
    const target = this.target.get(member.memberId) ?? [];
    return {
      memberId: member.memberId,
      epoch: member.epoch,
      groupEpoch: this.epoch,
      assignment: sortedPartitions([...member.assigned.values()].map((o) => o.tp)),
      pending: target.filter((tp) => !member.assigned.has(keyOf(tp))).length,
    };
  }

  state(): GroupState {
    if (this.members.size === 0) return 'empty';
    for (const member of this.members.values()) {
      const target = this.target.get(member.memberId) ?? [];
      if (member.revoking.size > 0 || member.awaySinceMs !== null || target.length !== member.assigned.size) return 'reconciling';
      if (!target.every((tp) => member.assigned.has(keyOf(tp)))) return 'reconciling';
    }
    return 'stable';
  }

  /** Every name the group knows: subscribed by a member, or with a shape. */
  knownTopics(): Set<string> {
    const names = new Set(this.topics.keys());
    for (const member of this.members.values()) for (const topic of member.topics) names.add(topic);
    return names;
  }

  partitionCount(): number {
    let count = 0;
    for (const shape of this.topics.values()) count += shape.partitions;
    return count;
  }

  /** An upper bound of this group's bytes in a snapshot (see cost.ts). */
  costBytes(): number {
    return groupCostBytes(this);
  }

  // ------------------------------------------------------------------ the handshake

  /** What reconciling `member` would do now: partitions to ask back, free partitions of its target to give. */
  plan(member: Member, nowMs: number): { revoke: PartitionKey[]; grant: TopicPartition[] } {
    if (member.awaySinceMs !== null) return { revoke: [], grant: [] };
    const target = this.target.get(member.memberId) ?? [];
    const wanted = new Set(target.map(keyOf));
    const revoke = [...member.assigned.keys()].filter((key) => !wanted.has(key));
    const grant = target.filter((tp) => {
      const key = keyOf(tp);
      return !member.assigned.has(key) && !member.revoking.has(key) && this.isFree(key, nowMs);
    });
    return { revoke, grant };
  }

  private reconcile(member: Member, nowMs: number): void {
    this.pruneHolds(nowMs);
    const { revoke, grant } = this.plan(member, nowMs);
    if (revoke.length === 0 && grant.length === 0) return;
    member.epoch = ++this.memberEpochs;
    for (const key of revoke) {
      member.revoking.set(key, member.assigned.get(key)!);
      member.assigned.delete(key);
    }
    if (revoke.length > 0 && member.revokingSinceMs === null) member.revokingSinceMs = nowMs;
    for (const tp of grant) {
      const key = keyOf(tp);
      this.holds.delete(key);
      member.assigned.set(key, { tp, topicId: this.topics.get(tp.topic)!.topicId, sinceEpoch: member.epoch });
      this.owner.set(key, member.memberId);
    }
  }

  /** The member reports what it holds: revoked partitions it no longer lists are free. Anything else it lists changes nothing. */
  private release(member: Member, owned: readonly TopicPartition[]): void {
    const reported = new Set(owned.map(keyOf));
    for (const key of [...member.revoking.keys()]) {
      if (reported.has(key)) continue;
      member.revoking.delete(key);
      this.owner.delete(key);
    }
    if (member.revoking.size === 0) member.revokingSinceMs = null;
  }

  private isFree(key: PartitionKey, nowMs: number): boolean {
    return !this.owner.has(key) && (this.holds.get(key)?.untilMs ?? Number.NEGATIVE_INFINITY) <= nowMs;
  }

  /** Computes the target again (sticky: from the previous one). Away members cannot release: what is no longer theirs is free at once. */
  private recompute(nowMs: number): void {
    this.epoch += 1;
    this.pruneTopics();
    const members = [...this.members.values()].map((m) => ({ memberId: m.memberId, topics: m.topics, current: this.target.get(m.memberId) ?? [] }));
    const next = assignPartitions({ members, topics: [...this.topics.values()] });
    this.target.clear();
    for (const [memberId, partitions] of next) this.target.set(memberId, partitions);
    for (const member of this.members.values()) {
      if (member.awaySinceMs === null) continue;
      const wanted = new Set(next.get(member.memberId)!.map(keyOf));
      for (const key of [...member.assigned.keys()]) {
        if (wanted.has(key)) continue;
        member.assigned.delete(key);
        this.owner.delete(key);
      }
    }
    this.pruneHolds(nowMs);
  }

  /** Only time ends a hold: not a topic dropped from the group for a while, nor one recreated under the same name. */
  private pruneHolds(nowMs: number): void {
    for (const [key, hold] of [...this.holds]) if (hold.untilMs <= nowMs) this.holds.delete(key);
  }

  // ------------------------------------------------------------------ membership

  private join(command: HeartbeatCommand, nowMs: number): { member: Member; recompute: boolean } | GroupResult {
    const { join: details, topics } = command;
    if (details === undefined || topics === undefined) return refused('MALFORMED_REQUEST', 'a join (member epoch 0) carries the member\'s details and topics');
    if (this.replaced.has(command.memberId)) return this.refusal(undefined, command.memberId, null)!;
    const member = newMember(command.memberId, details, topics, nowMs);
    member.epoch = ++this.memberEpochs;
    const previous = details.instanceId === null ? undefined : [...this.members.values()].find((m) => m.instanceId === details.instanceId);
    this.emptySinceMs = null;
    this.members.set(member.memberId, member);
    if (previous === undefined) {
      this.target.set(member.memberId, []);
      return { member, recompute: true };
    }
    // Unstamped, the predecessor's lease can have run at most a session from now.
    this.replace(previous, member, nowMs, command.replacedLeaseEndMs ?? nowMs + previous.sessionTimeoutMs);
    return { member, recompute: !sameTopics(previous.topics, member.topics) };
  }

  /**
   * A static member comes back as `next` (a new member id, the same instance
   * id) and takes its predecessor's place and target: no rebalance. If the
   * predecessor left temporarily it stopped consuming, and `next` owns its
   * partitions at once; if it is still live (a crash not yet noticed, or two
   * processes given one instance id) they are held until its lease ends.
   */
  private replace(previous: Member, next: Member, nowMs: number, leaseEndMs: number): void {
    this.members.delete(previous.memberId);
    this.target.set(next.memberId, this.target.get(previous.memberId) ?? []);
    this.target.delete(previous.memberId);
    if (previous.awaySinceMs === null) {
      this.remove(previous, Math.max(nowMs, leaseEndMs), nowMs);
      this.replaced.set(previous.memberId, { instanceId: previous.instanceId!, atMs: nowMs });
      if (this.replaced.size > this.replacedMax) this.replaced.delete(this.replaced.keys().next().value!);
      return;
    }
    for (const key of previous.revoking.keys()) this.owner.delete(key);
    for (const [key, owned] of previous.assigned) {
      next.assigned.set(key, { ...owned, sinceEpoch: next.epoch });
      this.owner.set(key, next.memberId);
    }
  }

  /** Drops a member; what it owned is held until `holdUntilMs` (free at once if that is not later than now). */
  private remove(member: Member, holdUntilMs: number, nowMs: number): void {
    this.members.delete(member.memberId);
    this.target.delete(member.memberId);
    for (const owned of ownedEntries(member)) {
      const key = keyOf(owned.tp);
      if (this.owner.get(key) === member.memberId) this.owner.delete(key);
      if (holdUntilMs > nowMs) this.holds.set(key, { tp: owned.tp, untilMs: holdUntilMs });
    }
    if (this.members.size === 0) this.emptySinceMs = nowMs;
  }

  private refusal(member: Member | undefined, memberId: string, epoch: number | null): GroupResult | null {
    if (member === undefined || member.awaySinceMs !== null) {
      const replaced = this.replaced.get(memberId);
      if (replaced !== undefined) {
        return refused('FENCED_INSTANCE_ID', `member ${memberId} of group ${this.name} was replaced by a newer member with instance id ${replaced.instanceId}`, { instanceId: replaced.instanceId });
      }
      return refused('UNKNOWN_MEMBER', `group ${this.name} has no member ${memberId} (it left, expired or was fenced): rejoin`);
    }
    return epoch !== null && epoch > member.epoch ? this.fencedEpoch(member, epoch) : null;
  }

  private fencedEpoch(member: Member, epoch: number): GroupResult {
    return refused('FENCED_MEMBER_EPOCH', `member ${member.memberId} of group ${this.name} is at epoch ${member.epoch}; epoch ${epoch} was never given`, { epoch: member.epoch });
  }

  // ------------------------------------------------------------------ topics and offsets

  private shapesDiffer(stamp: ShapeStamp): boolean {
    for (const shape of stamp.shapes ?? []) {
      const known = this.topics.get(shape.name);
      if (known === undefined || known.topicId !== shape.topicId || known.partitions !== shape.partitions) return true;
    }
    return (stamp.missing ?? []).some((name) => this.topics.has(name));
  }

  /** Takes the coordinator's shapes; a topic deleted or recreated is forgotten first. Returns whether anything changed. */
  private applyShapes(stamp: ShapeStamp, nowMs: number): boolean {
    let changed = false;
    for (const shape of stamp.shapes ?? []) {
      const known = this.topics.get(shape.name);
      if (known !== undefined && known.topicId === shape.topicId && known.partitions === shape.partitions) continue;
      if (known !== undefined) this.forgetTopic(shape.name, nowMs);
      this.topics.set(shape.name, { name: shape.name, topicId: shape.topicId, partitions: shape.partitions });
      changed = true;
    }
    for (const name of stamp.missing ?? []) {
      if (!this.topics.has(name)) continue;
      this.forgetTopic(name, nowMs);
      this.topics.delete(name);
      changed = true;
    }
    return changed;
  }

  /**
   * Nothing of a deleted (or recreated) topic carries over: its offsets go, its
   * owners must release it. Its holds stay until they end: a recreated topic's
   * partition has the same key, and waiting out the old owner's lease is safe.
   */
  private forgetTopic(name: string, nowMs: number): void {
    for (const [key, o] of [...this.offsets]) if (o.topic === name) this.offsets.delete(key);
    for (const member of this.members.values()) {
      for (const [key, owned] of [...member.assigned]) {
        if (owned.tp.topic !== name) continue;
        member.assigned.delete(key);
        if (member.awaySinceMs !== null) this.owner.delete(key);
        else member.revoking.set(key, owned);
      }
      if (member.revoking.size > 0 && member.revokingSinceMs === null) member.revokingSinceMs = nowMs;
    }
    for (const [memberId, partitions] of this.target) this.target.set(memberId, partitions.filter((tp) => tp.topic !== name));
  }

  /**
   * Shapes nobody subscribes to, owns (a member still draining a topic it
   * unsubscribed from commits it) or has offsets in are dropped, so the
   * group's tables stay bounded by what it uses.
   */
  private pruneTopics(): void {
    const used = new Set([...this.offsets.values()].map((o) => o.topic));
    for (const member of this.members.values()) {
      for (const topic of member.topics) used.add(topic);
      for (const owned of ownedEntries(member)) used.add(owned.tp.topic);
    }
    for (const name of [...this.topics.keys()]) if (!used.has(name)) this.topics.delete(name);
  }

  private offsetsProblem(offsets: readonly CommittedOffset[]): GroupResult | null {
    const seen = new Set<PartitionKey>();
    for (const o of offsets) {
      const key = partitionKey(o.topic, o.partition);
      if (seen.has(key)) return refused('MALFORMED_REQUEST', `${o.topic}/${o.partition} is listed twice`);
      seen.add(key);
      const shape = this.topics.get(o.topic);
      if (shape === undefined || shape.topicId !== o.topicId) {
        return refused('UNKNOWN_TOPIC', `group ${this.name} knows no topic ${o.topic} with id ${o.topicId} (it was deleted or recreated)`, { topic: o.topic });
      }
    }
    return null;
  }

  /** Stores offsets (forwards only, unless `anyDirection`), and a member's counts under the ownership `stintEpochOf` tells. */
  private store(offsets: readonly CommittedOffset[], nowMs: number, anyDirection: boolean, stintEpochOf?: (o: CommittedOffset) => number): CommittedOffset[] {
    return offsets.map((o) => {
      const key = partitionKey(o.topic, o.partition);
      const before = this.offsets.get(key);
      const counts = stintEpochOf === undefined ? (before?.counts ?? noCounts) : addCounts(before?.counts ?? noCounts, stintEpochOf(o), o);
      const moves = anyDirection || before === undefined || o.offset > before.offset;
      if (moves || counts !== before?.counts) {
        this.offsets.set(key, { topic: o.topic, partition: o.partition, offset: moves ? o.offset : before!.offset, committedAtMs: moves ? nowMs : before!.committedAtMs, counts });
      }
      return { topic: o.topic, topicId: o.topicId, partition: o.partition, offset: this.offsets.get(key)!.offset };
    });
  }

  // ------------------------------------------------------------------ checking

  /** What is wrong with this state, or null (see invariants.ts). */
  invariantProblem(): string | null {
    return groupInvariantProblem(this);
  }

  /** For restoring a snapshot: rebuilds the owner index from the members. */
  indexOwners(): void {
    this.owner.clear();
    for (const member of this.members.values()) for (const owned of ownedEntries(member)) this.owner.set(keyOf(owned.tp), member.memberId);
  }

  sortedMembers(): Member[] {
    return [...this.members.values()].sort((a, b) => compareStrings(a.memberId, b.memberId));
  }
}

/** A member's cumulative report for the ownership granted at `stintEpoch`, added to `counts` (unchanged, the same object, when it adds nothing). */
function addCounts(counts: DeadLetterCounts, stintEpoch: number, report: { deadLettered?: number; skipped?: number }): DeadLetterCounts {
  const same = counts.stintEpoch === stintEpoch;
  const deadLettered = Math.max(same ? counts.stintDeadLettered : 0, report.deadLettered ?? 0);
  const skipped = Math.max(same ? counts.stintSkipped : 0, report.skipped ?? 0);
  const grewDeadLettered = deadLettered - (same ? counts.stintDeadLettered : 0);
  const grewSkipped = skipped - (same ? counts.stintSkipped : 0);
  if (same && grewDeadLettered === 0 && grewSkipped === 0) return counts;
  if (!same && deadLettered === 0 && skipped === 0) return counts;
  return { deadLettered: counts.deadLettered + grewDeadLettered, skipped: counts.skipped + grewSkipped, stintEpoch, stintDeadLettered: deadLettered, stintSkipped: skipped };
}
