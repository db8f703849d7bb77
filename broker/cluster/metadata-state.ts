import { SkeinError } from '../../transport/errors.js';
import type { BrokerInfo, TopicConfig, TopicMetadata } from '../../transport/protocol/messages.js';

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

export type MetadataCommand =
  | { type: 'registerBroker'; broker: BrokerInfo }
  | { type: 'createTopic'; name: string; config: TopicConfig; assignment: number[][] }
  | { type: 'deleteTopic'; name: string }
  | { type: 'partitionLeader'; topicId: number; partition: number; leader: number | null; leaderEpoch: number };

export type CommandResult = { ok: true; topic?: TopicMetadata } | { ok: false; error: { code: SkeinError['code']; message: string } };

export interface MetadataSnapshot {
  clusterId: string;
  nextTopicId: number;
  brokers: BrokerInfo[];
  topics: TopicRecord[];
}

export class MetadataState {
  readonly clusterId: string;
  private nextTopicId = 1;
  private readonly brokers = new Map<number, BrokerInfo>();
  private readonly topics = new Map<string, TopicRecord>();
  private readonly topicsById = new Map<number, TopicRecord>();

  constructor(clusterId: string, initialBrokers: readonly BrokerInfo[] = []) {
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
        const topic: TopicRecord = {
          name: command.name,
          topicId: this.nextTopicId++,
          replicationFactor: command.assignment[0]?.length ?? 0,
          config: command.config,
          partitions: command.assignment.map((replicas, partition) => ({ partition, replicas: [...replicas], leader: null, leaderEpoch: 0 })),
        };
        this.topics.set(topic.name, topic);
        this.topicsById.set(topic.topicId, topic);
        return { ok: true, topic: toMetadata(topic) };
      }
      case 'deleteTopic': {
        const topic = this.topics.get(command.name);
        if (topic === undefined) return fail('UNKNOWN_TOPIC', `topic ${command.name} does not exist`);
        this.topics.delete(topic.name);
        this.topicsById.delete(topic.topicId);
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
    });
  }

  static fromSnapshot(snapshot: MetadataSnapshot): MetadataState {
    const state = new MetadataState(snapshot.clusterId, snapshot.brokers);
    state.nextTopicId = snapshot.nextTopicId;
    for (const topic of structuredClone(snapshot.topics)) {
      state.topics.set(topic.name, topic);
      state.topicsById.set(topic.topicId, topic);
    }
    return state;
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
