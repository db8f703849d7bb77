import { SkeinError } from '../transport/errors.js';
import { brokerLimits } from '../transport/limits.js';
import { methods, readTopicConfig, topicNameProblem, type DescribeClusterResponse, type TopicConfig, type TopicMetadata } from '../transport/protocol/messages.js';
import { callSignal } from './check.js';
import type { Cluster } from './cluster.js';
import { alterControllerVoters, alterTopic, cancelReassignments, decommissionBroker, listReassignments, reassignPartitions, rebalance, recommissionBroker, watchMoves, type PartitionMove } from './reassignments.js';
import { retrying } from './retry.js';
import type { AlterTopicRequest, FinishedMove, ListReassignmentsRequest, ListReassignmentsResponse, MoveStatus, PartitionRef, ReassignmentResult, RebalanceResponse } from '../transport/protocol/reassignment.js';
import { GroupAdmin, type DescribeGroupOptions, type GroupDescription, type GroupListing, type ResetOffsetsOptions } from './groups/group-admin.js';
import { readDescribeClusterResponse, readMetadataResponse } from '../transport/protocol/responses.js';

export interface CreateTopicOptions {
  name: string;
  partitions: number;
  replicationFactor: number;
  /** Retention, segment size and flush policy; absent fields take the cluster defaults. */
  config?: Partial<TopicConfig>;
}

type Signal = { signal?: AbortSignal };

/**
 * Topic and cluster administration. Requests go to any broker (it forwards
 * to the controller) and are retried through controller changes.
 */
export class Admin {
  private readonly groups: GroupAdmin;

  /** @internal Use `skein.admin()`. */
  constructor(private readonly cluster: Cluster) {
    this.groups = new GroupAdmin(cluster);
  }

  /** Every consumer group of the cluster, sorted by name, with its state and number of members. */
  listGroups(options?: Signal): Promise<GroupListing[]> {
    return this.groups.listGroups({ signal: callSignal(options, 'listGroups') });
  }

  /**
   * A group's members (client ids, hosts, assignment, progress on each partition, stalled) and, per partition of its
   * topics, committed offset, end offset, lag and dead-letter and skip counts. UNKNOWN_GROUP when there is none.
   */
  describeGroup(name: string, options?: DescribeGroupOptions): Promise<GroupDescription> {
    return this.groups.describeGroup(name, { ...options, signal: callSignal(options, 'describeGroup') });
  }

  /** Moves a group's committed offsets (any direction); GROUP_NOT_EMPTY while it has members. */
  resetOffsets(name: string, reset: ResetOffsetsOptions, options?: Signal): Promise<{ topic: string; partition: number; offset: number }[]> {
    return this.groups.resetOffsets(name, reset, { signal: callSignal(options, 'resetOffsets') });
  }

  /** Forgets a group and its committed offsets; GROUP_NOT_EMPTY while it has members, UNKNOWN_GROUP when there is none. */
  deleteGroup(name: string, options?: Signal): Promise<void> {
    return this.groups.deleteGroup(name, { signal: callSignal(options, 'deleteGroup') });
  }

  /**
   * Creates a topic and resolves once every partition has a leader, so a
   * producer can use it at once. TOPIC_EXISTS, INVALID_TOPIC and
   * INVALID_REPLICATION_FACTOR say what was wrong.
   */
  async createTopic(topic: CreateTopicOptions, options?: Signal): Promise<TopicMetadata> {
    const signal = callSignal(options, 'createTopic');
    const request = checkCreateTopic(topic);
    const deadlineMs = this.cluster.deadline({});
    await this.cluster.callAny(methods.createTopic, request, { signal, deadlineMs });
    // The controller answered; wait until the brokers know the partitions' leaders too.
    return retrying(
      {
        what: `waiting for the leaders of topic ${request.name}`,
        signal,
        deadlineMs,
        onFailure: (error) => (error instanceof SkeinError && (error.retriable || error.code === 'UNKNOWN_TOPIC') ? 'retry' : 'fatal'),
      },
      async (attemptSignal) => {
        await this.cluster.metadata.refresh([request.name]);
        const meta = await this.cluster.metadata.topic(request.name, attemptSignal);
        if (meta.partitions.length < request.partitions || meta.partitions.some((p) => p.leader === null)) {
          throw new SkeinError('LEADER_NOT_AVAILABLE', { message: `topic ${request.name} has partitions without a leader yet` });
        }
        return meta;
      },
    );
  }

  /** The topic's partitions, leaders, replicas and config; UNKNOWN_TOPIC when there is none. */
  async describeTopic(name: string, options?: Signal): Promise<TopicMetadata> {
    const signal = callSignal(options, 'describeTopic');
    checkName(name, 'describeTopic');
    await this.refresh([name], signal);
    return this.cluster.metadata.topic(name, signal);
  }

  /** Names of all topics, sorted. */
  async listTopics(options?: Signal): Promise<string[]> {
    const signal = callSignal(options, 'listTopics');
    const response = readMetadataResponse(await this.cluster.callAny(methods.metadata, {}, { signal }));
    return response.topics.map((t) => t.name).sort();
  }

  /** Deletes a topic and its records. UNKNOWN_TOPIC when there is none. */
  async deleteTopic(name: string, options?: Signal): Promise<void> {
    const signal = callSignal(options, 'deleteTopic');
    checkName(name, 'deleteTopic');
    await this.cluster.callAny(methods.deleteTopic, { name }, { signal });
    this.cluster.metadata.invalidate(name);
  }

  /** The brokers of the cluster (with liveness as the controller sees it) and the controller. */
  async describeCluster(options?: Signal): Promise<DescribeClusterResponse> {
    const signal = callSignal(options, 'describeCluster');
    return readDescribeClusterResponse(await this.cluster.callAny(methods.describeCluster, {}, { signal }));
  }

  /**
   * Moves partitions to new replica sets (the first replica becomes the preferred leader): new replicas
   * catch up as learners, then join, then the leaving ones go. Answers per partition once each move is
   * recorded: its moveId, `reordered` (same brokers, only the preferred leader changes), or an error
   * (INVALID_REPLICA_ASSIGNMENT, UNKNOWN_BROKER, INVALID_BROKER_STATE, REASSIGNMENT_IN_PROGRESS...).
   * Follow the moves with watchMoves or listReassignments.
   */
  reassignPartitions(moves: readonly PartitionMove[], options?: Signal): Promise<ReassignmentResult[]> {
    return reassignPartitions(this.cluster, moves, { signal: callSignal(options, 'reassignPartitions') });
  }

  /** Cancels moves not yet past their joint configuration (REASSIGNMENT_NOT_CANCELLABLE after; NO_REASSIGNMENT_IN_PROGRESS without one). */
  cancelReassignments(partitions: readonly PartitionRef[], options?: Signal): Promise<ReassignmentResult[]> {
    return cancelReassignments(this.cluster, partitions, { signal: callSignal(options, 'cancelReassignments') });
  }

  /** Moves queued or in progress (with each new replica's catch-up), and the last finished ones. */
  listReassignments(request: ListReassignmentsRequest = {}, options?: Signal): Promise<ListReassignmentsResponse> {
    return listReassignments(this.cluster, request, { signal: callSignal(options, 'listReassignments') });
  }

  /** Yields the moves still going about every second until all have finished, then returns how each ended. */
  watchMoves(moveIds: readonly number[], options?: Signal & { everyMs?: number }): AsyncGenerator<MoveStatus[], FinishedMove[]> {
    return watchMoves(this.cluster, moveIds, options);
  }

  /**
   * Moves every replica off broker `brokerId` (and takes nothing new there); once none is left and it is
   * no metadata voter, it is gone for good (its id is never used again). INVALID_REPLICATION_FACTOR when
   * the other active brokers cannot hold its replicas; retried while they could but one of them is not
   * answering right now. Watch describeCluster for its state.
   */
  decommissionBroker(brokerId: number, options?: Signal): Promise<{ replicas: number }> {
    return decommissionBroker(this.cluster, brokerId, { signal: callSignal(options, 'decommissionBroker') });
  }

  /** Cancels a decommission in progress: the broker is active again; its moves not yet committed are cancelled. */
  recommissionBroker(brokerId: number, options?: Signal): Promise<{ cancelled: number }> {
    return recommissionBroker(this.cluster, brokerId, { signal: callSignal(options, 'recommissionBroker') });
  }

  /** Spreads replicas and preferred leaders evenly over the active, alive brokers with the fewest moves; `dryRun` only plans. */
  rebalance(options?: Signal & { dryRun?: boolean }): Promise<RebalanceResponse> {
    return rebalance(this.cluster, { signal: callSignal(options, 'rebalance'), dryRun: options?.dryRun });
  }

  /**
   * Grows a topic (`partitions`: more, never fewer) or changes its replication factor (each partition
   * moves to it; the move ids come back, for watchMoves). Keyed records go where murmur2 of the key modulo
   * the new partition count sends them, as in Kafka: once producers see the new count, most keys land in
   * another partition than before, and per-key order holds within each partition only.
   */
  alterTopic(request: AlterTopicRequest, options?: Signal): Promise<{ topic: TopicMetadata; moveIds: number[] }> {
    return alterTopic(this.cluster, request, { signal: callSignal(options, 'alterTopic') });
  }

  /**
   * Adds a voter to the metadata group (an active broker whose copy has caught up; retry on
   * RECONFIGURATION_IN_PROGRESS while it catches up) or demotes one to learner (never the last).
   * Answers once the new configuration is committed, with the voters and learners.
   */
  alterControllerVoters(change: { add: number } | { remove: number }, options?: Signal): Promise<{ voters: number[]; learners: number[] }> {
    return alterControllerVoters(this.cluster, change, { signal: callSignal(options, 'alterControllerVoters') });
  }

  private async refresh(topics: string[], signal: AbortSignal | undefined): Promise<void> {
    await retrying(
      { what: 'metadata', signal, deadlineMs: this.cluster.deadline({}), onFailure: (error) => this.cluster.classify(error) },
      async () => {
        await this.cluster.metadata.refresh(topics);
      },
    );
  }
}

function checkName(name: unknown, where: string): void {
  const problem = topicNameProblem(name);
  if (problem !== null) throw new SkeinError('INVALID_TOPIC', { message: `${where}: ${problem}` });
}

/** Checks a topic creation locally, so an obvious mistake fails before any request. */
function checkCreateTopic(topic: CreateTopicOptions): { name: string; partitions: number; replicationFactor: number; config: Partial<TopicConfig> } {
  if (typeof topic !== 'object' || topic === null) throw new SkeinError('INVALID_ARGUMENT', { message: 'createTopic: expected { name, partitions, replicationFactor, config? }' });
  checkName(topic.name, 'createTopic');
  const { partitions, replicationFactor } = topic;
  if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > brokerLimits.partitionsPerTopicMax) {
    throw new SkeinError('INVALID_TOPIC', { message: `createTopic: partitions must be an integer from 1 to ${brokerLimits.partitionsPerTopicMax}, got ${String(partitions)}` });
  }
  if (!Number.isSafeInteger(replicationFactor) || replicationFactor < 1 || replicationFactor > brokerLimits.replicationFactorMax) {
    throw new SkeinError('INVALID_REPLICATION_FACTOR', {
      message: `createTopic: replicationFactor must be an integer from 1 to ${brokerLimits.replicationFactorMax}, got ${String(replicationFactor)}`,
    });
  }
  const config = topic.config === undefined ? {} : readTopicConfig(topic.config);
  return { name: topic.name, partitions, replicationFactor, config };
}
