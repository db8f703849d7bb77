import { groupLimits } from '../../../transport/limits.js';
import type { DescribeGroupResponse } from '../../../transport/protocol/groups.js';
import { refused, type GroupCommand, type GroupResult, type HeartbeatCommand, type ShapeStamp } from './commands.js';
import { Group, type GroupState } from './group.js';
import { compareStrings, sortedPartitions } from './partitions.js';

/**
 * Every group of one coordinator: the state machine of one partition of the
 * internal groups topic. Its leader is the coordinator of these groups; every
 * replica applies the same commands in log order and so holds the same
 * groups, which is why a new leader serves at once after a failover and a
 * restarted replica rebuilds from its last snapshot plus the entries after
 * it, never from all of history.
 *
 * Bounded: groups, members, topics and partitions per group, and the
 * estimated snapshot bytes of the whole (limits.ts, groupLimits). A command
 * that would grow past a bound is refused with GROUP_FULL and changes
 * nothing, except a change of topic metadata, which cannot be refused: a
 * topic recreated larger than the bounds allow is then treated as missing.
 */
export type ShardLimits = {
  readonly [K in 'membersPerGroupMax' | 'topicsPerGroupMax' | 'partitionsPerGroupMax' | 'groupsPerCoordinatorMax' | 'coordinatorStateBytesMax' | 'replacedMembersMax']: number;
};

/** A member as describeGroup shows it (less what only the coordinator's soft state knows). */
export type MemberDescription = Omit<DescribeGroupResponse['members'][number], 'lastHeardAgoMs' | 'progress'>;

export interface GroupDescription {
  name: string;
  state: GroupState;
  epoch: number;
  members: MemberDescription[];
  offsets: { topic: string; partition: number; offset: number; committedAtMs: number }[];
  /** Records dead-lettered and skipped per partition (those with any), as members committed them. */
  counts: { topic: string; partition: number; deadLettered: number; skipped: number }[];
  /** Partitions of members that are gone, waiting for their lease to end. */
  held: { topic: string; partition: number; untilMs: number }[];
}

export class GroupShard {
  readonly limits: ShardLimits;
  private readonly groups = new Map<string, Group>();
  private readonly costs = new Map<string, number>();
  private costTotal = 0;
  private lastNowMs = 0;

  constructor(limits: ShardLimits = groupLimits) {
    this.limits = limits;
  }

  /** Applies one command of the log. Time never runs backwards inside: a command stamped earlier than the last counts as the last. */
  apply(command: GroupCommand): GroupResult {
    const nowMs = (this.lastNowMs = Math.max(this.lastNowMs, command.nowMs));
    const existing = this.groups.get(command.group);
    switch (command.type) {
      case 'delete':
        if (existing === undefined) return refused('UNKNOWN_GROUP', `group ${command.group} does not exist`);
        if (existing.members.size > 0) return refused('GROUP_NOT_EMPTY', `group ${command.group} has ${existing.members.size} member(s); stop them before deleting it`, { members: existing.members.size });
        this.drop(command.group);
        return { ok: true };
      case 'expireGroup':
        if (existing !== undefined && existing.members.size === 0) this.drop(command.group);
        return { ok: true };
      default:
        return this.applyToGroup(existing, command, nowMs);
    }
  }

  /** Whether a heartbeat changes the state (then it goes through the log) or is answered as is. */
  needsWrite(command: HeartbeatCommand, nowMs: number): boolean {
    const group = this.groups.get(command.group);
    if (group === undefined) return command.epoch === 0;
    return group.needsWrite(command, Math.max(nowMs, this.lastNowMs));
  }

  /** The answer to a heartbeat that changes nothing. */
  answer(command: HeartbeatCommand): GroupResult {
    const group = this.groups.get(command.group);
    if (group === undefined) return refused('UNKNOWN_MEMBER', `group ${command.group} has no member ${command.memberId}: rejoin`);
    return group.answer(command);
  }

  group(name: string): Group | undefined {
    return this.groups.get(name);
  }

  names(): string[] {
    return [...this.groups.keys()].sort(compareStrings);
  }

  get size(): number {
    return this.groups.size;
  }

  /** The estimated snapshot bytes of every group here. */
  get costBytes(): number {
    return this.costTotal;
  }

  /** The time of the latest command applied. */
  get nowMs(): number {
    return this.lastNowMs;
  }

  /** The group as an operator sees it; holds that ended by `nowMs` (default: the last command's time) are left out. */
  describe(name: string, nowMs = this.lastNowMs): GroupDescription | undefined {
    const group = this.groups.get(name);
    if (group === undefined) return undefined;
    const offsets = [...group.offsets.values()].sort((a, b) => compareStrings(a.topic, b.topic) || a.partition - b.partition);
    return {
      name,
      state: group.state(),
      epoch: group.epoch,
      members: group.sortedMembers().map((m) => ({
        memberId: m.memberId,
        instanceId: m.instanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        epoch: m.epoch,
        topics: [...m.topics],
        assignment: sortedPartitions([...m.assigned.values()].map((o) => o.tp)),
        revoking: sortedPartitions([...m.revoking.values()].map((o) => o.tp)),
        target: sortedPartitions(group.target.get(m.memberId) ?? []),
        away: m.awaySinceMs !== null,
        joinedAtMs: m.joinedAtMs,
      })),
      offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, committedAtMs: o.committedAtMs })),
      counts: offsets.filter((o) => o.counts.deadLettered + o.counts.skipped > 0).map((o) => ({ topic: o.topic, partition: o.partition, deadLettered: o.counts.deadLettered, skipped: o.counts.skipped })),
      held: [...group.holds.values()].filter((h) => h.untilMs > nowMs).map((h) => ({ topic: h.tp.topic, partition: h.tp.partition, untilMs: h.untilMs })).sort((a, b) => compareStrings(a.topic, b.topic) || a.partition - b.partition),
    };
  }

  // ------------------------------------------------------------------ snapshots (see snapshot.ts)

  /** @internal The groups as they are, for the snapshot writer. */
  entries(): IterableIterator<[string, Group]> {
    return this.groups.entries();
  }

  /** @internal Rebuilds a shard from groups a snapshot reader checked. */
  static restore(groups: Iterable<Group>, lastNowMs: number, limits: ShardLimits = groupLimits): GroupShard {
    const shard = new GroupShard(limits);
    shard.lastNowMs = lastNowMs;
    for (const group of groups) {
      shard.groups.set(group.name, group);
      shard.account(group.name, group);
    }
    return shard;
  }

  // ------------------------------------------------------------------ internals

  private applyToGroup(existing: Group | undefined, command: Exclude<GroupCommand, { type: 'delete' | 'expireGroup' }>, nowMs: number): GroupResult {
    if (existing === undefined) {
      const creates = (command.type === 'heartbeat' && command.epoch === 0) || command.type === 'reset';
      if (!creates) return command.type === 'expire' || command.type === 'topics' ? { ok: true } : refused('UNKNOWN_MEMBER', `group ${command.group} has no members: rejoin`);
      if (this.groups.size >= this.limits.groupsPerCoordinatorMax) {
        return refused('GROUP_FULL', `this coordinator holds ${this.groups.size} groups, its most; group ${command.group} cannot be created`);
      }
    }
    const structural = existing === undefined || existing.isStructural(command);
    const work = structural ? (existing?.clone() ?? new Group(command.group, nowMs, this.limits.replacedMembersMax)) : existing;
    let result = dispatch(work, command, nowMs);
    if (!result.ok || !structural) {
      if (result.ok && command.type === 'heartbeat') this.account(command.group, work);
      return result;
    }
    let problem = this.limitProblem(work, existing);
    if (problem !== null && command.type === 'topics') {
      // Metadata is a fact: a topic recreated too large for the bounds is treated as missing instead.
      const retry = existing!.clone();
      result = dispatch(retry, { ...command, ...withoutGrowth(command, existing!) }, nowMs);
      this.install(command.group, retry);
      return result;
    }
    if (problem !== null) return problem;
    this.install(command.group, work);
    return result;
  }

  private install(name: string, group: Group): void {
    this.groups.set(name, group);
    this.account(name, group);
  }

  private drop(name: string): void {
    this.groups.delete(name);
    this.costTotal -= this.costs.get(name) ?? 0;
    this.costs.delete(name);
  }

  private account(name: string, group: Group): void {
    const cost = group.costBytes();
    this.costTotal += cost - (this.costs.get(name) ?? 0);
    this.costs.set(name, cost);
  }

  /** GROUP_FULL if `work` passes a bound that `before` did not (a group never shrinks into a refusal). */
  private limitProblem(work: Group, before: Group | undefined): GroupResult | null {
    const { limits } = this;
    const grew = (measure: (g: Group) => number, max: number): boolean => {
      const after = measure(work);
      return after > max && after > (before === undefined ? 0 : measure(before));
    };
    const full = (what: string): GroupResult => refused('GROUP_FULL', `group ${work.name} would have ${what}`);
    if (grew((g) => g.members.size, limits.membersPerGroupMax)) return full(`more than ${limits.membersPerGroupMax} members`);
    if (grew((g) => g.knownTopics().size, limits.topicsPerGroupMax)) return full(`more than ${limits.topicsPerGroupMax} topics`);
    if (grew((g) => g.partitionCount(), limits.partitionsPerGroupMax)) return full(`more than ${limits.partitionsPerGroupMax} partitions`);
    const own = this.costs.get(work.name) ?? 0;
    const cost = work.costBytes();
    if (this.costTotal - own + cost > limits.coordinatorStateBytesMax && cost > own) {
      return refused('GROUP_FULL', `this coordinator's groups would take more than ${limits.coordinatorStateBytesMax} bytes; group ${work.name} cannot grow`);
    }
    return null;
  }
}

function dispatch(group: Group, command: Exclude<GroupCommand, { type: 'delete' | 'expireGroup' }>, nowMs: number): GroupResult {
  switch (command.type) {
    case 'heartbeat':
      return group.heartbeat(command, nowMs);
    case 'leave':
      return group.leave(command.memberId, command.epoch, command.temporary, nowMs);
    case 'expire':
      return group.expire(command.memberId, command.leaseEndMs, nowMs);
    case 'commit':
      return group.commit(command.memberId, command.epoch, command.offsets, nowMs);
    case 'reset':
      return group.reset(command, nowMs);
    case 'topics':
      return group.topicsChanged(command, nowMs);
  }
}

/** The stamp with every shape that would grow the group turned into a missing topic. */
function withoutGrowth(stamp: ShapeStamp, group: Group): ShapeStamp {
  const grows = (s: { name: string; topicId: number; partitions: number }): boolean => {
    const known = group.topics.get(s.name);
    return known === undefined || s.partitions > known.partitions;
  };
  const shapes = stamp.shapes ?? [];
  return { shapes: shapes.filter((s) => !grows(s)), missing: [...(stamp.missing ?? []), ...shapes.filter(grows).map((s) => s.name)] };
}
