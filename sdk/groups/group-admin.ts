import { isSkeinError, SkeinError } from '../../transport/errors.js';
import {
  groupMethods,
  groupNameProblem,
  groupsTopic,
  type DescribeGroupResponse,
  type GroupPartition,
  type MemberProgress,
} from '../../transport/protocol/groups.js';
import { readCommitResponse, readDescribeGroupResponse, readFindCoordinatorResponse, readListGroupsResponse } from '../../transport/protocol/responses.js';
import { groupLimits } from '../../transport/limits.js';
import { OptionReader } from '../check.js';
import { topicNameProblem } from '../../transport/protocol/messages.js';
import type { Cluster } from '../cluster.js';
import { checkFrom, resolveFrom, type From } from '../consumer/from.js';
import { retrying } from '../retry.js';

export interface GroupListing {
  group: string;
  state: string;
  members: number;
}

/** Per partition of a group's topics: where the group stands against the end of the log. */
export interface GroupPartitionStatus {
  topic: string;
  partition: number;
  /** The next offset the group will read; null when it never committed one. */
  committed: number | null;
  /** The partition's high watermark: the offset after its last committed record. */
  end: number;
  /** end − committed; null without a commit. */
  lag: number | null;
  /** The member owning it now, or null. */
  owner: string | null;
  state: 'owned' | 'revoking' | 'held' | 'unassigned';

  /** Records of it dead-lettered, and skipped, by the members that held it (counted since its coordinator took over). */
  deadLettered: number;
  skipped: number;
}

/** A member's consumption of one partition it holds, against the group's commit and the end of the log. */
export interface MemberPartitionProgress extends MemberProgress {
  committed: number | null;
  end: number | null;
  /** end − where the member stands (finished, else fetched, else committed); null when that is not known yet. */
  lag: number | null;
  /** Records to read, and its finished offset has not moved for stalledAfterMs. */
  stalled: boolean;
}

export type GroupMemberDescription = Omit<DescribeGroupResponse['members'][number], 'progress'> & {
  progress: MemberPartitionProgress[];
  /** Holds a partition it is stalled on (see MemberPartitionProgress.stalled). */
  stalled: boolean;
};

export interface GroupDescription extends Omit<DescribeGroupResponse, 'offsets' | 'members' | 'counts'> {
  members: GroupMemberDescription[];
  partitions: GroupPartitionStatus[];
}

export interface DescribeGroupOptions {
  signal?: AbortSignal;
  /** How long a member's finished offset may stand still, with records to read, before it counts as stalled. Default 10 s. */
  stalledAfterMs?: number;
}

export interface ResetOffsetsOptions {
  topic: string;
  /** One partition; default every partition of the topic. */
  partition?: number;
  to: From;
}

type Signal = { signal?: AbortSignal };

/** The group administration of `Admin` (see admin.ts). */
export class GroupAdmin {
  constructor(private readonly cluster: Cluster) {}

  /** Every group of the cluster, sorted by name, with its state and member count. */
  async listGroups(options: Signal = {}): Promise<GroupListing[]> {
    let partitions: number;
    try {
      const meta = await retrying(
        { what: `metadata of ${groupsTopic}`, signal: options.signal, deadlineMs: this.cluster.deadline({}), onFailure: (error) => this.cluster.classify(error, { topic: groupsTopic }) },
        async (signal) => {
          await this.cluster.metadata.refresh([groupsTopic]);
          return this.cluster.metadata.topic(groupsTopic, signal);
        },
      );
      partitions = meta.partitions.length;
    } catch (error) {
      // No group was ever used: the internal topic does not exist yet.
      if (isSkeinError(error, 'UNKNOWN_TOPIC')) return [];
      throw error;
    }
    const answers = await Promise.all(
      Array.from({ length: partitions }, (_, partition) =>
        this.cluster.callPartition<unknown>({ topic: groupsTopic, partition, method: groupMethods.listGroups, body: { partition } }, { signal: options.signal }).then(readListGroupsResponse),
      ),
    );
    return answers.flatMap((a) => a.groups).sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  }

  /**
   * The group's members (with their progress on each partition they hold and a `stalled` flag), and per
   * partition the committed offset, end offset, lag, owner and dead-letter and skip counts. UNKNOWN_GROUP when there is none.
   */
  async describeGroup(group: string, options: DescribeGroupOptions = {}): Promise<GroupDescription> {
    const stalledAfterMs = new OptionReader(options, 'describeGroup', 'INVALID_ARGUMENT', ['signal', 'stalledAfterMs']).int('stalledAfterMs', { min: 0, max: Number.MAX_SAFE_INTEGER }, groupLimits.stalledAfterMsDefault);
    const described = readDescribeGroupResponse(await this.call(group, groupMethods.describeGroup, {}, options.signal));
    const topics = new Set([...described.members.flatMap((m) => m.topics), ...described.offsets.map((o) => o.topic)]);
    const owners = new Map<string, { member: string; state: 'owned' | 'revoking' }>();
    for (const m of described.members) {
      for (const p of m.assignment) owners.set(key(p), { member: m.memberId, state: 'owned' });
      for (const p of m.revoking) owners.set(key(p), { member: m.memberId, state: 'revoking' });
    }
    const held = new Set(described.held.map(key));
    const committed = new Map(described.offsets.map((o) => [key(o), o.offset]));
    const counts = new Map(described.counts.map((c) => [key(c), c]));
    const ends = new Map<string, number>();
    const partitions: GroupPartitionStatus[] = [];
    for (const topic of [...topics].sort()) {
      let count: number;
      try {
        count = (await this.cluster.metadata.topic(topic, options.signal)).partitions.length;
      } catch (error) {
        if (isSkeinError(error, 'UNKNOWN_TOPIC')) continue;
        throw error;
      }
      const topicEnds = await Promise.all(Array.from({ length: count }, (_, partition) => resolveFrom(this.cluster, { topic, partition, from: 'latest' }, { signal: options.signal })));
      topicEnds.forEach((end, partition) => {
        const k = key({ topic, partition });
        ends.set(k, end);
        const at = committed.get(k) ?? null;
        const owner = owners.get(k);
        const state = owner?.state ?? (held.has(k) ? 'held' : 'unassigned');
        const { deadLettered = 0, skipped = 0 } = counts.get(k) ?? {};
        partitions.push({ topic, partition, committed: at, end, lag: at === null ? null : Math.max(0, end - at), owner: owner?.member ?? null, state, deadLettered, skipped });
      });
    }
    const members = described.members.map((m) => {
      const progress = m.progress.map((p) => progressAgainst(p, committed.get(key(p)) ?? null, ends.get(key(p)) ?? null, stalledAfterMs));
      return { ...m, progress, stalled: progress.some((p) => p.stalled) };
    });
    const { offsets: _, counts: __, ...rest } = described;
    return { ...rest, members, partitions };
  }

  /**
   * Moves the group's committed offsets of a topic (or one partition of it)
   * to the earliest, the latest, an offset or a time, in any direction.
   * Refused with GROUP_NOT_EMPTY while the group has members.
   */
  async resetOffsets(group: string, reset: ResetOffsetsOptions, options: Signal = {}): Promise<{ topic: string; partition: number; offset: number }[]> {
    if (typeof reset !== 'object' || reset === null) throw new SkeinError('INVALID_ARGUMENT', { message: 'resetOffsets: expected { topic, partition?, to }' });
    const problem = topicNameProblem(reset.topic);
    if (problem !== null) throw new SkeinError('INVALID_ARGUMENT', { message: `resetOffsets: ${problem}` });
    const to = checkFrom(reset.to, 'resetOffsets');
    await this.cluster.metadata.refresh([reset.topic]);
    const meta = await this.cluster.metadata.topic(reset.topic, options.signal);
    const all = Array.from({ length: meta.partitions.length }, (_, i) => i);
    if (reset.partition !== undefined && !all.includes(reset.partition)) throw new SkeinError('UNKNOWN_PARTITION', { message: `resetOffsets: topic ${reset.topic} has no partition ${String(reset.partition)}` });
    const chosen = reset.partition === undefined ? all : [reset.partition];
    const offsets = await Promise.all(
      chosen.map(async (partition) => ({ topic: reset.topic, topicId: meta.topicId, partition, offset: await resolveFrom(this.cluster, { topic: reset.topic, partition, from: to }, { signal: options.signal }) })),
    );
    return readCommitResponse(await this.call(group, groupMethods.resetOffsets, { offsets }, options.signal), 'resetOffsets response').offsets;
  }

  /** Forgets the group and its committed offsets. GROUP_NOT_EMPTY while it has members; UNKNOWN_GROUP when there is none. */
  async deleteGroup(group: string, options: Signal = {}): Promise<void> {
    await this.call(group, groupMethods.deleteGroup, {}, options.signal);
  }

  /** Asks the group's coordinator; the answer is for the caller's reader (responses.ts). */
  private async call(group: string, method: string, body: Record<string, unknown>, signal: AbortSignal | undefined): Promise<unknown> {
    const problem = groupNameProblem(group);
    if (problem !== null) throw new SkeinError('INVALID_ARGUMENT', { message: `${method}: ${problem}` });
    const { topic, partition } = readFindCoordinatorResponse(await this.cluster.callAny<unknown>(groupMethods.findCoordinator, { group }, { signal }));
    return this.cluster.callPartition<unknown>({ topic, partition, method, body: { group, ...body } }, { signal });
  }
}

/** Where a member stands on a partition: finished, else fetched, else the group's commit (where it started). */
function progressAgainst(p: MemberProgress, committed: number | null, end: number | null, stalledAfterMs: number): MemberPartitionProgress {
  const at = p.finished ?? p.fetched ?? committed;
  const lag = at === null || end === null ? null : Math.max(0, end - at);
  return { ...p, committed, end, lag, stalled: lag !== null && lag > 0 && p.idleMs >= stalledAfterMs };
}

function key(p: GroupPartition): string {
  return `${p.topic}/${p.partition}`;
}
