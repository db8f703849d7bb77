import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import { clusterLimits } from '../../transport/limits.js';
import type { BrokerInfo, TopicConfig, TopicMetadata } from '../../transport/protocol/messages.js';
import type { BrokerState } from './core/brokers.js';

/**
 * The controller's replicated state: the brokers of the cluster, the topics,
 * where each partition's replicas live and who leads each partition. Every
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

/** A broker's durable standing in the cluster (see core/brokers.ts); founding brokers start active. */
export interface BrokerLifecycle {
  state: BrokerState;
  /** The data directory that holds this id (storage-identity.ts); null until the broker first registered with one. */
  storageId: string | null;
}

/** A broker as the metadata snapshot holds it: the lifecycle fields are absent in snapshots written before brokers could join. */
export type BrokerRecord = BrokerInfo & Partial<BrokerLifecycle>;

export type MetadataCommand =
  | { type: 'registerBroker'; broker: BrokerInfo; storageId?: string | null }
  | { type: 'activateBroker'; id: number }
  | { type: 'createTopic'; name: string; config: TopicConfig; assignment: number[][] }
  | { type: 'deleteTopic'; name: string }
  | { type: 'partitionLeader'; topicId: number; partition: number; leader: number | null; leaderEpoch: number };

export type CommandResult = { ok: true; topic?: TopicMetadata } | { ok: false; error: { code: SkeinError['code']; message: string } };

export interface MetadataSnapshot {
  clusterId: string;
  nextTopicId: number;
  brokers: BrokerRecord[];
  topics: TopicRecord[];
}

/** How many topics and partitions a cluster holds (brokerLimits by default; smaller in tests at the edge). */
export interface MetadataLimits {
  topicsMax: number;
  partitionsMax: number;
  partitionReplicasPerBrokerMax: number;
  brokersMax: number;
}

export const metadataLimits: MetadataLimits = {
  brokersMax: clusterLimits.brokersMax,
  topicsMax: brokerLimits.topicsMax,
  partitionsMax: brokerLimits.partitionsMax,
  partitionReplicasPerBrokerMax: brokerLimits.partitionReplicasPerBrokerMax,
};

export class MetadataState {
  readonly clusterId: string;
  private nextTopicId = 1;
  private topicsDeletedCount = 0;
  private readonly brokers = new Map<number, BrokerInfo>();
  private readonly lifecycles = new Map<number, BrokerLifecycle>();
  private readonly topics = new Map<string, TopicRecord>();
  private readonly topicsById = new Map<number, TopicRecord>();
  /** Partitions of every topic, and replicas per broker: what the limits count, kept as topics come and go. */
  private partitionCount = 0;
  private readonly replicasByBroker = new Map<number, number>();

  constructor(
    clusterId: string,
    initialBrokers: readonly BrokerRecord[] = [],
    private readonly limits: MetadataLimits = metadataLimits,
  ) {
    this.clusterId = clusterId;
    for (const broker of initialBrokers) {
      this.brokers.set(broker.id, { id: broker.id, host: broker.host, port: broker.port });
      this.lifecycles.set(broker.id, { state: broker.state ?? 'active', storageId: broker.storageId ?? null });
    }
  }

  apply(command: MetadataCommand): CommandResult {
    switch (command.type) {
      case 'registerBroker':
        return this.register(command.broker, command.storageId ?? null);
      case 'activateBroker': {
        const lifecycle = this.lifecycles.get(command.id);
        if (lifecycle === undefined) return fail('UNKNOWN_BROKER', `the cluster has no broker ${command.id}`);
        if (lifecycle.state === 'joining') lifecycle.state = 'active';
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
    }
  }

  /**
   * A broker says where it is. A new id joins (state joining, until the controller activates it once its
   * metadata replica caught up); a known one updates its address. An id held by another data directory,
   * or decommissioned for good, is refused: a broker that lost its disk must not pass for one that has it.
   */
  private register(broker: BrokerInfo, storageId: string | null): CommandResult {
    const known = this.lifecycles.get(broker.id);
    if (known?.state === 'gone') return fail('BROKER_ID_IN_USE', `broker id ${broker.id} was decommissioned for good; a new broker takes a new id`);
    if (known !== undefined && storageId !== null && known.storageId !== null && known.storageId !== storageId) {
      return fail('BROKER_ID_IN_USE', `broker id ${broker.id} belongs to another data directory (storage ${known.storageId.slice(0, 8)}…, this one ${storageId.slice(0, 8)}…)`);
    }
    if (known === undefined && this.brokers.size >= this.limits.brokersMax) {
      return fail('CLUSTER_FULL', `the cluster holds ${this.brokers.size} brokers, its limit (brokersMax ${this.limits.brokersMax})`);
    }
    this.brokers.set(broker.id, { id: broker.id, host: broker.host, port: broker.port });
    if (known === undefined) this.lifecycles.set(broker.id, { state: 'joining', storageId });
    else if (known.storageId === null) known.storageId = storageId;
    return { ok: true };
  }

  /** A broker's state and storage id, or undefined for an id the cluster does not know. */
  lifecycle(id: number): Readonly<BrokerLifecycle> | undefined {
    return this.lifecycles.get(id);
  }

  /** Brokers that take new replicas when alive: active ones. */
  activeBrokerIds(): number[] {
    return [...this.lifecycles].filter(([, l]) => l.state === 'active').map(([id]) => id).sort((a, b) => a - b);
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
      brokers: this.brokerList().map((b): BrokerRecord => ({ ...b, ...this.lifecycles.get(b.id)! })),
      topics: this.topicList(),
    });
  }

  static fromSnapshot(snapshot: MetadataSnapshot, limits: MetadataLimits = metadataLimits): MetadataState {
    const state = new MetadataState(snapshot.clusterId, snapshot.brokers, limits);
    state.nextTopicId = snapshot.nextTopicId;
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
