import { systemClock } from '../../transport/clock.js';
import { SkeinError } from '../../transport/errors.js';
import { groupLimits } from '../../transport/limits.js';
import type {
  CommitRequest,
  CommitResponse,
  DeleteGroupRequest,
  DescribeGroupRequest,
  DescribeGroupResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  LeaveRequest,
  ListGroupsResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
  ResetOffsetsRequest,
} from '../../transport/protocol/groups.js';
import { encodeRecordBatch, NO_PRODUCER } from '../../transport/protocol/record-batch.js';
import type { MetadataState } from '../cluster/metadata-state.js';
import type { Partition } from '../partition/partition.js';
import { encodeGroupCommand } from './core/command-codec.js';
import type { GroupCommand, GroupResult, HeartbeatCommand, JoinDetails, MemberView, ShapeStamp } from './core/commands.js';
import { Liveness } from './core/liveness.js';
import { partitionKey } from './core/partitions.js';
import { MemberReports } from './core/reports.js';
import type { EndOffsets } from './end-offsets.js';
import type { GroupLog } from './group-log.js';

/**
 * The coordinator of the groups of one `__skein_groups` partition, alive
 * while this broker leads it. It turns requests into commands of the
 * partition's log, stamped with its clock and the topic shapes it reads from
 * the metadata (so every replica applies them alike), and answers once they
 * are committed and applied. A heartbeat that changes nothing is answered
 * from memory without a write. It keeps the one soft state (when it last
 * heard each member, see Liveness) and proposes expiries from it, and tells
 * the groups when one of their topics was deleted or recreated.
 */
export interface CoordinatorOptions {
  readonly brokerId: number;
  readonly partition: Partition;
  readonly log: GroupLog;
  readonly endOffsets: EndOffsets;
  metadata(): MetadataState;
  metadataCaughtUp(): boolean;
  /** See groupLimits.failoverGraceElectionTimeouts. */
  readonly failoverGraceMs: number;
  /** How long one proposal may wait to commit. */
  readonly proposeTimeoutMs: number;
}

export class Coordinator {
  private readonly liveness: Liveness;
  private readonly reports = new MemberReports();
  private readonly cancelTick: () => void;
  /** When a topics change was last proposed for each group (proposed again after expiryRetryMs). */
  private readonly topicsProposedAtMs = new Map<string, number>();
  private stopped = false;

  constructor(private readonly options: CoordinatorOptions) {
    this.liveness = new Liveness({ sinceMs: systemClock.epochMs(), failoverGraceMs: options.failoverGraceMs, retryMs: groupLimits.expiryRetryMs, emptyGroupRetentionMs: groupLimits.emptyGroupRetentionMs });
    this.cancelTick = systemClock.every(groupLimits.livenessTickMs, () => this.tick(), { keepAlive: false });
  }

  stop(): void {
    this.stopped = true;
    this.cancelTick();
  }

  // ------------------------------------------------------------------ requests

  async heartbeat(request: HeartbeatRequest, clientHost: string, signal: AbortSignal): Promise<HeartbeatResponse> {
    const nowMs = systemClock.epochMs();
    const { shard } = this.options.log;
    const member = shard.group(request.group)?.members.get(request.memberId);
    const command: { -readonly [K in keyof HeartbeatCommand]: HeartbeatCommand[K] } = {
      type: 'heartbeat',
      group: request.group,
      nowMs,
      memberId: request.memberId,
      epoch: request.memberEpoch,
      ...this.stamp(request.topics ?? member?.topics ?? []),
    };
    if (request.topics !== undefined) command.topics = request.topics;
    if (request.owned !== undefined) command.owned = request.owned;
    if (request.memberEpoch === 0 && member === undefined) {
      command.join = joinDetails(request, clientHost);
      const leaseEnd = this.replacedLeaseEnd(request.group, request.instanceId, nowMs);
      if (leaseEnd !== undefined) command.replacedLeaseEndMs = leaseEnd;
    }
    const result = shard.needsWrite(command, nowMs) ? await this.propose(command, signal) : shard.answer(command);
    const view = answered(result).member!;
    this.liveness.heard(request.group, request.memberId, nowMs);
    if (request.progress !== undefined) this.report(request.group, view.memberId, request.progress, nowMs);
    return this.heartbeatResponse(request.group, view);
  }

  async leave(request: LeaveRequest, signal: AbortSignal): Promise<Record<string, never>> {
    answered(await this.propose({ type: 'leave', group: request.group, nowMs: systemClock.epochMs(), memberId: request.memberId, epoch: request.memberEpoch, temporary: request.temporary }, signal));
    return {};
  }

  async commit(request: CommitRequest, signal: AbortSignal): Promise<CommitResponse> {
    this.refuseUnknownGroup(request.group, 'UNKNOWN_MEMBER');
    await this.options.endOffsets.check(request.offsets, signal);
    const command: GroupCommand = { type: 'commit', group: request.group, nowMs: systemClock.epochMs(), memberId: request.memberId, epoch: request.memberEpoch, offsets: request.offsets };
    const result = answered(await this.propose(command, signal));
    return { offsets: (result.committed ?? []).map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })) };
  }

  offsetFetch(request: OffsetFetchRequest): OffsetFetchResponse {
    const description = this.describeOrThrow(request.group);
    const topics = request.topics === undefined ? null : new Set(request.topics);
    return { offsets: description.offsets.filter((o) => topics === null || topics.has(o.topic)) };
  }

  listGroups(): ListGroupsResponse {
    const { shard } = this.options.log;
    return { groups: shard.names().map((name) => ({ group: name, state: shard.group(name)!.state(), members: shard.group(name)!.members.size })) };
  }

  describe(request: DescribeGroupRequest): DescribeGroupResponse {
    const nowMs = systemClock.epochMs();
    const description = this.describeOrThrow(request.group, nowMs);
    return {
      group: description.name,
      state: description.state,
      epoch: description.epoch,
      coordinator: { brokerId: this.options.brokerId, partition: this.options.partition.partition },
      members: description.members.map((m) => {
        const heard = this.liveness.heardAtMs(request.group, m.memberId);
        return { ...m, lastHeardAgoMs: heard === undefined ? null : Math.max(0, nowMs - heard), progress: this.reports.progressOf(request.group, m.memberId, nowMs) };
      }),
      offsets: description.offsets,
      held: description.held,
      counts: description.counts,
    };
  }

  async reset(request: ResetOffsetsRequest, signal: AbortSignal): Promise<CommitResponse> {
    this.refuseUnknownGroup(request.group, 'UNKNOWN_GROUP');
    await this.options.endOffsets.check(request.offsets, signal);
    const command: GroupCommand = { type: 'reset', group: request.group, nowMs: systemClock.epochMs(), offsets: request.offsets, ...this.stamp(request.offsets.map((o) => o.topic)) };
    const result = answered(await this.propose(command, signal));
    return { offsets: (result.committed ?? []).map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })) };
  }

  async deleteGroup(request: DeleteGroupRequest, signal: AbortSignal): Promise<Record<string, never>> {
    this.refuseUnknownGroup(request.group, 'UNKNOWN_GROUP');
    answered(await this.propose({ type: 'delete', group: request.group, nowMs: systemClock.epochMs() }, signal));
    return {};
  }

  // ------------------------------------------------------------------ internals

  /** Proposes one command as a record of the partition and resolves with its result once it is committed and applied here. */
  private async propose(command: GroupCommand, signal?: AbortSignal): Promise<GroupResult> {
    const batch = encodeRecordBatch({ ...NO_PRODUCER, records: [{ value: encodeGroupCommand(command), timestamp: command.nowMs }] });
    const options = signal === undefined ? { acks: 'all' as const, timeoutMs: this.options.proposeTimeoutMs } : { acks: 'all' as const, timeoutMs: this.options.proposeTimeoutMs, signal };
    const { baseOffset } = await this.options.partition.produce(batch, options);
    const result = this.options.log.takeResult(baseOffset);
    // Committed, but applied while this replica did not collect results: leadership moved meanwhile.
    if (result === undefined) throw new SkeinError('NOT_LEADER', { message: `group ${command.group}: the coordinator changed while the request was being written`, details: { ...this.options.partition.leaderHint(), outcome: 'unknown' } });
    return result;
  }

  /** The shapes of `topics` as the metadata has them now; names it lacks are missing only once this broker has caught up. */
  private stamp(topics: readonly string[]): ShapeStamp {
    const state = this.options.metadata();
    const shapes: { name: string; topicId: number; partitions: number }[] = [];
    const missing: string[] = [];
    for (const name of topics) {
      const record = state.topic(name);
      if (record !== undefined) shapes.push({ name, topicId: record.topicId, partitions: record.partitions.length });
      else if (this.options.metadataCaughtUp()) missing.push(name);
    }
    return { ...(shapes.length > 0 ? { shapes } : {}), ...(missing.length > 0 ? { missing } : {}) };
  }

  private report(group: string, memberId: string, progress: HeartbeatRequest['progress'] & {}, nowMs: number): void {
    const member = this.options.log.shard.group(group)?.members.get(memberId);
    if (member === undefined) return;
    this.reports.report(group, memberId, progress, new Set([...member.assigned.keys(), ...member.revoking.keys()]), nowMs);
  }

  /** A live static member that a join with its instance id replaces: when its lease ends, as this coordinator knows it. */
  private replacedLeaseEnd(group: string, instanceId: string | undefined, nowMs: number): number | undefined {
    if (instanceId === undefined) return undefined;
    const previous = [...(this.options.log.shard.group(group)?.members.values() ?? [])].find((m) => m.instanceId === instanceId);
    if (previous === undefined || previous.awaySinceMs !== null) return undefined;
    return Math.max(nowMs, this.liveness.leaseEndMs(group, previous));
  }

  private heartbeatResponse(groupName: string, view: MemberView): HeartbeatResponse {
    const group = this.options.log.shard.group(groupName)!;
    const member = group.members.get(view.memberId);
    const sessionMs = member?.sessionTimeoutMs ?? groupLimits.sessionTimeoutMsDefault;
    return {
      memberId: view.memberId,
      memberEpoch: view.epoch,
      groupEpoch: view.groupEpoch,
      heartbeatIntervalMs: Math.min(groupLimits.heartbeatIntervalMsDefault, Math.floor(sessionMs / 3)),
      assignment: view.assignment.map((tp) => ({
        topic: tp.topic,
        topicId: group.topics.get(tp.topic)?.topicId ?? 0,
        partition: tp.partition,
        committed: group.offsets.get(partitionKey(tp.topic, tp.partition))?.offset ?? null,
      })),
      pending: view.pending,
    };
  }

  private describeOrThrow(group: string, nowMs = systemClock.epochMs()): NonNullable<ReturnType<GroupLog['shard']['describe']>> {
    const description = this.options.log.shard.describe(group, nowMs);
    if (description === undefined) throw new SkeinError('UNKNOWN_GROUP', { message: `group ${group} does not exist` });
    return description;
  }

  /** Refuses at once, without a write, what the log would refuse anyway. */
  private refuseUnknownGroup(group: string, code: 'UNKNOWN_GROUP' | 'UNKNOWN_MEMBER'): void {
    if (this.options.log.shard.group(group) !== undefined) return;
    throw new SkeinError(code, { message: code === 'UNKNOWN_GROUP' ? `group ${group} does not exist` : `group ${group} has no members: rejoin` });
  }

  /** Expiries due, and groups whose topics changed in the metadata; each proposed, its failure only retried later. */
  private tick(): void {
    if (this.stopped || !this.options.partition.isLeader()) return;
    const nowMs = systemClock.epochMs();
    const { shard } = this.options.log;
    const due = this.liveness.due(shard, nowMs);
    this.reports.sweep(shard);
    if (this.options.metadataCaughtUp()) due.push(...this.topicChanges(nowMs));
    for (const command of due) this.propose(command).catch(() => {});
  }

  private topicChanges(nowMs: number): GroupCommand[] {
    const out: GroupCommand[] = [];
    const state = this.options.metadata();
    const { shard } = this.options.log;
    for (const [name, at] of this.topicsProposedAtMs) if (at + groupLimits.expiryRetryMs <= nowMs || shard.group(name) === undefined) this.topicsProposedAtMs.delete(name);
    for (const name of shard.names()) {
      if (this.topicsProposedAtMs.has(name)) continue;
      const known = [...shard.group(name)!.topics.values()];
      const changed = known.some((shape) => {
        const record = state.topic(shape.name);
        return record === undefined || record.topicId !== shape.topicId || record.partitions.length !== shape.partitions;
      });
      if (!changed) continue;
      this.topicsProposedAtMs.set(name, nowMs);
      out.push({ type: 'topics', group: name, nowMs, ...this.stamp(known.map((s) => s.name)) });
    }
    return out;
  }
}

function joinDetails(request: HeartbeatRequest, clientHost: string): JoinDetails {
  return {
    instanceId: request.instanceId ?? null,
    clientId: request.clientId ?? '',
    clientHost: clientHost.slice(0, groupLimits.clientHostBytesMax),
    sessionTimeoutMs: request.sessionTimeoutMs ?? groupLimits.sessionTimeoutMsDefault,
    rebalanceTimeoutMs: request.rebalanceTimeoutMs ?? groupLimits.rebalanceTimeoutMsDefault,
  };
}

/** The result's success, or its refusal as the typed error the client gets. */
function answered(result: GroupResult): Extract<GroupResult, { ok: true }> {
  if (result.ok) return result;
  throw new SkeinError(result.error.code, { message: result.error.message, ...(result.error.details === undefined ? {} : { details: { ...result.error.details } }) });
}
