import { isSkeinError, SkeinError } from '../../transport/errors.js';
import {
  groupMethods,
  groupNameProblem,
  groupsTopic,
  type CommitResponse,
  type DescribeGroupResponse,
  type FindCoordinatorResponse,
  type GroupPartition,
  type ListGroupsResponse,
} from '../../transport/protocol/groups.js';
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
}

export interface GroupDescription extends Omit<DescribeGroupResponse, 'offsets'> {
  partitions: GroupPartitionStatus[];
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
        this.cluster.callPartition<ListGroupsResponse>({ topic: groupsTopic, partition, method: groupMethods.listGroups, body: { partition } }, { signal: options.signal }),
      ),
    );
    return answers.flatMap((a) => a.groups ?? []).sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  }

  /** The group's members, assignment, and per partition committed offset, end offset and lag. UNKNOWN_GROUP when there is none. */
  async describeGroup(group: string, options: Signal = {}): Promise<GroupDescription> {
    const described = await this.call<DescribeGroupResponse>(group, groupMethods.describeGroup, {}, options.signal);
    const topics = new Set([...described.members.flatMap((m) => m.topics), ...described.offsets.map((o) => o.topic)]);
    const owners = new Map<string, { member: string; state: 'owned' | 'revoking' }>();
    for (const m of described.members) {
      for (const p of m.assignment) owners.set(key(p), { member: m.memberId, state: 'owned' });
      for (const p of m.revoking) owners.set(key(p), { member: m.memberId, state: 'revoking' });
    }
    const held = new Set(described.held.map(key));
    const committed = new Map(described.offsets.map((o) => [key(o), o.offset]));
    const partitions: GroupPartitionStatus[] = [];
    for (const topic of [...topics].sort()) {
      let count: number;
      try {
        count = (await this.cluster.metadata.topic(topic, options.signal)).partitions.length;
      } catch (error) {
        if (isSkeinError(error, 'UNKNOWN_TOPIC')) continue;
        throw error;
      }
      const ends = await Promise.all(Array.from({ length: count }, (_, partition) => resolveFrom(this.cluster, { topic, partition, from: 'latest' }, { signal: options.signal })));
      ends.forEach((end, partition) => {
        const at = committed.get(key({ topic, partition })) ?? null;
        const owner = owners.get(key({ topic, partition }));
        const state = owner?.state ?? (held.has(key({ topic, partition })) ? 'held' : 'unassigned');
        partitions.push({ topic, partition, committed: at, end, lag: at === null ? null : Math.max(0, end - at), owner: owner?.member ?? null, state });
      });
    }
    const { offsets: _, ...rest } = described;
    return { ...rest, partitions };
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
    const response = await this.call<CommitResponse>(group, groupMethods.resetOffsets, { offsets }, options.signal);
    return response.offsets;
  }

  /** Forgets the group and its committed offsets. GROUP_NOT_EMPTY while it has members; UNKNOWN_GROUP when there is none. */
  async deleteGroup(group: string, options: Signal = {}): Promise<void> {
    await this.call(group, groupMethods.deleteGroup, {}, options.signal);
  }

  private async call<T>(group: string, method: string, body: Record<string, unknown>, signal: AbortSignal | undefined): Promise<T> {
    const problem = groupNameProblem(group);
    if (problem !== null) throw new SkeinError('INVALID_ARGUMENT', { message: `${method}: ${problem}` });
    const { topic, partition } = await this.cluster.callAny<FindCoordinatorResponse>(groupMethods.findCoordinator, { group }, { signal });
    return this.cluster.callPartition<T>({ topic, partition, method, body: { group, ...body } }, { signal });
  }
}

function key(p: GroupPartition): string {
  return `${p.topic}/${p.partition}`;
}
