import { SkeinError } from '../transport/errors.js';
import { brokerLimits } from '../transport/limits.js';
import { methods, readTopicConfig, topicNameProblem, type DescribeClusterResponse, type TopicConfig, type TopicMetadata } from '../transport/protocol/messages.js';
import { callSignal } from './check.js';
import type { Cluster } from './cluster.js';
import { retrying } from './retry.js';
import { GroupAdmin, type GroupDescription, type GroupListing, type ResetOffsetsOptions } from './groups/group-admin.js';
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

  /** A group's members (client ids, hosts, assignment) and, per partition of its topics, committed offset, end offset and lag. UNKNOWN_GROUP when there is none. */
  describeGroup(name: string, options?: Signal): Promise<GroupDescription> {
    return this.groups.describeGroup(name, { signal: callSignal(options, 'describeGroup') });
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
