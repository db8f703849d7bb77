import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import type { BrokerInfo, TopicConfig, TopicMetadata } from '../../transport/protocol/messages.js';

/**
 * The controller's replicated state: the brokers of the cluster, the topics,
 * where each partition's replicas live and who leads each partition, and
 * what producer ids need (the cluster key that proves an id was issued, the
 * next id to hand out; see producer-ids.ts). Every
 * broker holds a replica of it (the metadata Raft group) and answers metadata
 * requests from it. It changes only by applying committed commands, in log
 * order, so every replica computes the same state; `apply` is deterministic
 * and never throws on a command it cannot carry out: it returns the error as
 * the command's result and leaves the state unchanged.
 */

export interface PartitionRecord {
  partition: number;
  replicas: number[];
  leader: number | null;
  leaderEpoch: number;
}

export interface TopicRecord {
  name: string;
  topicId: number;
  replicationFactor: number;
  config: TopicConfig;
  partitions: PartitionRecord[];
}

export type MetadataCommand =
  | { type: 'registerBroker'; broker: BrokerInfo }
  | { type: 'createTopic'; name: string; config: TopicConfig; assignment: number[][] }
  | { type: 'deleteTopic'; name: string }
  | { type: 'partitionLeader'; topicId: number; partition: number; leader: number | null; leaderEpoch: number }
  /** Proposed once by a controller that found no key: the first committed wins, later ones change nothing. */
  | { type: 'clusterKey'; key: Uint8Array }
  /** A block of producer ids for one broker to issue: never issued again, whoever asks next. */
  | { type: 'producerIds'; brokerId: number; count: number };

/** Producer ids [first, first + count). */
export interface ProducerIdBlock {
  first: number;
  count: number;
}

export type CommandResult =
  | { ok: true; topic?: TopicMetadata; producerIds?: ProducerIdBlock }
  | { ok: false; error: { code: SkeinError['code']; message: string } };

export interface MetadataSnapshot {
  clusterId: string;
  nextTopicId: number;
  brokers: BrokerInfo[];
  topics: TopicRecord[];
  /** Absent from snapshots of clusters that never issued a producer id (and of earlier versions). */
  clusterKey?: Uint8Array;
  nextProducerId?: number;
}

/** Bytes of the cluster key (HMAC-SHA256 keys of the hash's size). */
export const clusterKeyBytes = 32;

/** How many topics and partitions a cluster holds (brokerLimits by default; smaller in tests at the edge). */
export interface MetadataLimits {
  topicsMax: number;
  partitionsMax: number;
  partitionReplicasPerBrokerMax: number;
}

export const metadataLimits: MetadataLimits = {
  topicsMax: brokerLimits.topicsMax,
  partitionsMax: brokerLimits.partitionsMax,
  partitionReplicasPerBrokerMax: brokerLimits.partitionReplicasPerBrokerMax,
};

export class MetadataState {
  readonly clusterId: string;
  private nextTopicId = 1;
  private key: Uint8Array | null = null;
  private nextProducerId = 0;
  private topicsDeletedCount = 0;
  private readonly brokers = new Map<number, BrokerInfo>();
  private readonly topics = new Map<string, TopicRecord>();
  private readonly topicsById = new Map<number, TopicRecord>();
  /** Partitions of every topic, and replicas per broker: what the limits count, kept as topics come and go. */
  private partitionCount = 0;
  private readonly replicasByBroker = new Map<number, number>();

  constructor(
    clusterId: string,
    initialBrokers: readonly BrokerInfo[] = [],
    private readonly limits: MetadataLimits = metadataLimits,
  ) {
    this.clusterId = clusterId;
    for (const broker of initialBrokers) this.brokers.set(broker.id, { ...broker });
  }

  apply(command: MetadataCommand): CommandResult {
    switch (command.type) {
      case 'registerBroker': {
        this.brokers.set(command.broker.id, { id: command.broker.id, host: command.broker.host, port: command.broker.port });
        return { ok: true };
      }
      case 'createTopic': {
        if (this.topics.has(command.name)) {
          return fail('TOPIC_EXISTS', `topic ${command.name} exists`);
        }
        const unknown = command.assignment.flat().filter((id) => !this.brokers.has(id));
        if (unknown.length > 0) {
          return fail('INVALID_REPLICATION_FACTOR', `assignment names unknown brokers ${[...new Set(unknown)].join(', ')}`);
        }
        const overLimit = this.overLimit(command.assignment);
        if (overLimit !== null) return fail('LIMIT_EXCEEDED', `topic ${command.name}: ${overLimit}`);
        const topic: TopicRecord = {
          name: command.name,
          topicId: this.nextTopicId++,
          replicationFactor: command.assignment[0]?.length ?? 0,
          config: command.config,
          partitions: command.assignment.map((replicas, partition) => ({ partition, replicas: [...replicas], leader: null, leaderEpoch: 0 })),
        };
        this.add(topic);
        return { ok: true, topic: toMetadata(topic) };
      }
      case 'deleteTopic': {
        const topic = this.topics.get(command.name);
        if (topic === undefined) return fail('UNKNOWN_TOPIC', `topic ${command.name} does not exist`);
        this.topics.delete(topic.name);
        this.topicsById.delete(topic.topicId);
        this.count(topic, -1);
        this.topicsDeletedCount++;
        return { ok: true };
      }
      case 'partitionLeader': {
        const partition = this.topicsById.get(command.topicId)?.partitions[command.partition];
        if (partition === undefined) return fail('UNKNOWN_PARTITION', `no partition ${command.topicId}/${command.partition}`);
        if (command.leader !== null && !partition.replicas.includes(command.leader)) {
          return fail('INVALID_ARGUMENT', `broker ${command.leader} is not a replica of partition ${command.topicId}/${command.partition}`);
        }
        // Reports race each other; only newer news wins, so an old leader's late report cannot roll metadata back.
        if (command.leaderEpoch < partition.leaderEpoch) return { ok: true };
        if (command.leaderEpoch === partition.leaderEpoch && partition.leader !== null) return { ok: true };
        partition.leader = command.leader;
        partition.leaderEpoch = command.leaderEpoch;
        return { ok: true };
      }
      case 'clusterKey': {
        if (this.key === null) this.key = Uint8Array.from(command.key);
        return { ok: true };
      }
      case 'producerIds': {
        if (this.key === null) return fail('INVALID_ARGUMENT', 'producer ids are issued only once the cluster has its key');
        if (this.nextProducerId + command.count > Number.MAX_SAFE_INTEGER) return fail('LIMIT_EXCEEDED', 'the cluster has issued every producer id there is');
        const block = { first: this.nextProducerId, count: command.count };
        this.nextProducerId += command.count;
        return { ok: true, producerIds: block };
      }
    }
  }

  /** The key that proves a producer id was issued by this cluster (never sent to clients), or null before the first id. */
  get clusterKey(): Uint8Array | null {
    return this.key;
  }

  /** Producer ids below this were handed to brokers (and never will be again). */
  get producerIdsIssued(): number {
    return this.nextProducerId;
  }

  /** Deletions applied to this state object: a broker opening partitions stops when it moves (see Broker.reconcile). Not replicated state. */
  get topicsDeleted(): number {
    return this.topicsDeletedCount;
  }

  /** Topic ids below this were issued (and, if no longer known, deleted). */
  get topicIdsIssued(): number {
    return this.nextTopicId;
  }

  broker(id: number): BrokerInfo | undefined {
    return this.brokers.get(id);
  }

  brokerList(): BrokerInfo[] {
    return [...this.brokers.values()].sort((a, b) => a.id - b.id);
  }

  topic(name: string): TopicRecord | undefined {
    return this.topics.get(name);
  }

  topicById(topicId: number): TopicRecord | undefined {
    return this.topicsById.get(topicId);
  }

  topicList(): TopicRecord[] {
    return [...this.topics.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Replicas and leaderships per broker, for balanced assignment of new topics. */
  load(): Map<number, { replicas: number; leaders: number }> {
    const load = new Map<number, { replicas: number; leaders: number }>();
    for (const id of this.brokers.keys()) load.set(id, { replicas: 0, leaders: 0 });
    for (const topic of this.topics.values()) {
      for (const partition of topic.partitions) {
        partition.replicas.forEach((id, i) => {
          const entry = load.get(id);
          if (entry === undefined) return;
          entry.replicas++;
          if (i === 0) entry.leaders++;
        });
      }
    }
    return load;
  }

  snapshot(): MetadataSnapshot {
    return structuredClone({
      clusterId: this.clusterId,
      nextTopicId: this.nextTopicId,
      brokers: this.brokerList(),
      topics: this.topicList(),
      ...(this.key === null ? {} : { clusterKey: this.key, nextProducerId: this.nextProducerId }),
    });
  }

  static fromSnapshot(snapshot: MetadataSnapshot, limits: MetadataLimits = metadataLimits): MetadataState {
    const state = new MetadataState(snapshot.clusterId, snapshot.brokers, limits);
    state.nextTopicId = snapshot.nextTopicId;
    state.key = snapshot.clusterKey === undefined ? null : Uint8Array.from(snapshot.clusterKey);
    state.nextProducerId = snapshot.nextProducerId ?? 0;
    for (const topic of structuredClone(snapshot.topics)) state.add(topic);
    return state;
  }

  private add(topic: TopicRecord): void {
    this.topics.set(topic.name, topic);
    this.topicsById.set(topic.topicId, topic);
    this.count(topic, 1);
  }

  private count(topic: TopicRecord, sign: 1 | -1): void {
    this.partitionCount += sign * topic.partitions.length;
    for (const p of topic.partitions) for (const id of p.replicas) this.replicasByBroker.set(id, (this.replicasByBroker.get(id) ?? 0) + sign);
  }

  /** Why a topic with this assignment would pass a limit, or null. */
  private overLimit(assignment: number[][]): string | null {
    const { topicsMax, partitionsMax, partitionReplicasPerBrokerMax } = this.limits;
    if (this.topics.size + 1 > topicsMax) return `the cluster holds ${this.topics.size} topics, its limit (topicsMax ${topicsMax})`;
    if (this.partitionCount + assignment.length > partitionsMax) {
      return `${assignment.length} more partitions would make ${this.partitionCount + assignment.length}, above the cluster's limit (partitionsMax ${partitionsMax})`;
    }
    const adding = new Map<number, number>();
    for (const replicas of assignment) for (const id of replicas) adding.set(id, (adding.get(id) ?? 0) + 1);
    for (const [id, more] of adding) {
      const total = (this.replicasByBroker.get(id) ?? 0) + more;
      if (total > partitionReplicasPerBrokerMax) return `broker ${id} would host ${total} partition replicas, above its limit (partitionReplicasPerBrokerMax ${partitionReplicasPerBrokerMax})`;
    }
    return null;
  }
}

export function toMetadata(topic: TopicRecord): TopicMetadata {
  return {
    name: topic.name,
    topicId: topic.topicId,
    config: { ...topic.config, flush: { ...topic.config.flush } },
    partitions: topic.partitions.map((p) => ({ partition: p.partition, leader: p.leader, leaderEpoch: p.leaderEpoch, replicas: [...p.replicas] })),
  };
}

function fail(code: SkeinError['code'], message: string): CommandResult {
  return { ok: false, error: { code, message } };
}
