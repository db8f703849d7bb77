import type { Skein } from '../../../../sdk/index.js';
import type { Cluster } from '../../../../sdk/cluster.js';
import { groupMethods, type CommitResponse, type FindCoordinatorResponse, type HeartbeatResponse } from '../../../../transport/protocol/groups.js';

/**
 * The group protocol as a raw client speaks it, through the SDK's own
 * routing (findCoordinator to any broker, the rest to the leader of the
 * group's `__skein_groups` partition): for broker tests that must send what
 * the SDK never would.
 */
export class GroupWire {
  private coordinator: FindCoordinatorResponse | null = null;
  private readonly cluster: Cluster;

  constructor(
    client: Skein,
    readonly group: string,
  ) {
    this.cluster = (client as unknown as { cluster: Cluster }).cluster;
  }

  async find(): Promise<FindCoordinatorResponse> {
    this.coordinator ??= await this.cluster.callAny<FindCoordinatorResponse>(groupMethods.findCoordinator, { group: this.group });
    return this.coordinator;
  }

  async call<T>(method: string, body: Record<string, unknown>): Promise<T> {
    const { topic, partition } = await this.find();
    return this.cluster.callPartition<T>({ topic, partition, method, body: { group: this.group, ...body } }, { deadlineMs: performance.now() + 20_000 });
  }

  join(memberId: string, topics: string[], more: Record<string, unknown> = {}): Promise<HeartbeatResponse> {
    return this.call(groupMethods.groupHeartbeat, { memberId, memberEpoch: 0, topics, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 60_000, clientId: 'wire', ...more });
  }

  heartbeat(memberId: string, memberEpoch: number, owned?: [string, number][]): Promise<HeartbeatResponse> {
    return this.call(groupMethods.groupHeartbeat, { memberId, memberEpoch, ...(owned === undefined ? {} : { owned }) });
  }

  commit(memberId: string, memberEpoch: number, offsets: { topic: string; topicId: number; partition: number; offset: number }[]): Promise<CommitResponse> {
    return this.call(groupMethods.offsetCommit, { memberId, memberEpoch, offsets });
  }
}

export function owned(response: HeartbeatResponse): [string, number][] {
  return response.assignment.map((a) => [a.topic, a.partition]);
}
