import { SkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import { clusterLimits } from '../../transport/limits.js';
import type { BrokerInfo, TopicConfig, TopicMetadata } from '../../transport/protocol/messages.js';
import type { BrokerState, BrokerView } from './core/brokers.js';
import { applyMoveReport, cancelMove, checkMoveTarget, newMove, startMove, type MoveDecision, type MoveReason, type MoveRecord, type MoveReport } from './core/move-record.js';

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
  /** The partition's move in progress (core/move-record.ts); absent while it is not moving. */
  move?: MoveRecord;
  /** Its replicas are no longer those it was created with: none of them may write the group's first entry again (see assigned.ts). */
  moved?: boolean;
}

/** How a finished move ended, remembered (the last clusterLimits.moveOutcomesKeptMax) so a waiter learns it after a reconnect. */
export interface MoveOutcomeRecord {
  moveId: number;
  topic: string;
  partition: number;
  outcome: 'done' | 'cancelled' | 'dropped';
  original: number[];
  target: number[];
  cancelReason: string | null;
  finishedAtMs: number;
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
  /** Decommission: the broker takes nothing new and its replicas are moved off; recommission takes it back; gone ends it for good. */
  | { type: 'decommissionBroker'; id: number }
  | { type: 'recommissionBroker'; id: number }
  | { type: 'brokerGone'; id: number }
  | { type: 'createTopic'; name: string; config: TopicConfig; assignment: number[][] }
  | { type: 'deleteTopic'; name: string }
  | { type: 'partitionLeader'; topicId: number; partition: number; leader: number | null; leaderEpoch: number }
  /** Growing a topic: partitions appended with these replicas (the count only grows). */
  | { type: 'addPartitions'; topicId: number; assignment: number[][] }
  /** The replication factor wanted; the moves that reach it are reassignPartition commands of their own. */
  | { type: 'setReplicationFactor'; topicId: number; replicationFactor: number }
  | { type: 'reassignPartition'; topicId: number; partition: number; target: number[]; reason: MoveReason; atMs: number }
  | { type: 'startMoves'; moves: Array<{ topicId: number; partition: number; moveId: number }>; atMs: number }
  | { type: 'cancelMove'; topicId: number; partition: number; reason: string; atMs: number }
  | { type: 'moveReport'; topicId: number; partition: number; report: MoveReport; atMs: number }
  /** Proposed once by a controller that found no key: the first committed wins, later ones change nothing. */
  | { type: 'clusterKey'; key: Uint8Array }
  /** A block of producer ids for one broker to issue: never issued again, whoever asks next. */
  | { type: 'producerIds'; brokerId: number; count: number };

/** The command of one type, as the method that applies it takes it. */
type CommandOf<T extends MetadataCommand['type']> = Extract<MetadataCommand, { type: T }>;

/** Producer ids [first, first + count). */
export interface ProducerIdBlock {
  first: number;
  count: number;
}

export type CommandResult =
  | { ok: true; topic?: TopicMetadata; producerIds?: ProducerIdBlock; moveId?: number; reordered?: boolean; outcome?: 'cancelled' | 'cancelling' }
  | { ok: false; error: { code: SkeinError['code']; message: string } };

export interface MetadataSnapshot {
  clusterId: string;
  nextTopicId: number;
  brokers: BrokerRecord[];
  topics: TopicRecord[];
  /** Absent from snapshots of clusters that never issued a producer id (and of earlier versions). */
  clusterKey?: Uint8Array;
  nextProducerId?: number;
  /** Absent in snapshots written before partitions could move. */
  nextMoveId?: number;
  moveHistory?: MoveOutcomeRecord[];
}

/** Bytes of the cluster key (HMAC-SHA256 keys of the hash's size). */
export const clusterKeyBytes = 32;

/** How many topics and partitions a cluster holds (brokerLimits by default; smaller in tests at the edge). */
export interface MetadataLimits {
  topicsMax: number;
  partitionsMax: number;
  partitionReplicasPerBrokerMax: number;
  brokersMax: number;
  movesPendingMax: number;
}

export const metadataLimits: MetadataLimits = {
  brokersMax: clusterLimits.brokersMax,
  movesPendingMax: clusterLimits.movesPendingMax,
  topicsMax: brokerLimits.topicsMax,
  partitionsMax: brokerLimits.partitionsMax,
  partitionReplicasPerBrokerMax: brokerLimits.partitionReplicasPerBrokerMax,
};

export class MetadataState {
  readonly clusterId: string;
  private nextTopicId = 1;
  private key: Uint8Array | null = null;
  private nextProducerId = 0;
  private nextMoveId = 1;
  /** Finished moves, oldest first, at most clusterLimits.moveOutcomesKeptMax. */
  private moveHistory: MoveOutcomeRecord[] = [];
  /** Moves queued or in flight, by moveId: what movesPendingMax counts and the scheduler walks. */
  private readonly moving = new Map<number, { topic: TopicRecord; partition: PartitionRecord }>();
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
      case 'activateBroker':
        return this.activateBroker(command);
      case 'createTopic':
        return this.createTopic(command);
      case 'deleteTopic':
        return this.deleteTopic(command);
      case 'partitionLeader':
        return this.partitionLeader(command);
      case 'clusterKey':
        return this.keepClusterKey(command);
      case 'producerIds':
        return this.issueProducerIds(command);
      case 'decommissionBroker':
      case 'recommissionBroker':
      case 'brokerGone':
        return this.changeState(command.type, command.id);
      case 'addPartitions':
        return this.addPartitions(command.topicId, command.assignment);
      case 'setReplicationFactor':
        return this.setReplicationFactor(command);
      case 'reassignPartition':
        return this.reassign(command);
      case 'startMoves':
        return this.startMoves(command);
      case 'cancelMove':
        return this.cancelPartitionMove(command);
      case 'moveReport':
        return this.reportMove(command);
    }
  }

  private activateBroker(command: CommandOf<'activateBroker'>): CommandResult {
    const lifecycle = this.lifecycles.get(command.id);
    if (lifecycle === undefined) return fail('UNKNOWN_BROKER', `the cluster has no broker ${command.id}`);
    if (lifecycle.state === 'joining') lifecycle.state = 'active';
    return { ok: true };
  }

  private createTopic(command: CommandOf<'createTopic'>): CommandResult {
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

  private deleteTopic(command: CommandOf<'deleteTopic'>): CommandResult {
    const topic = this.topics.get(command.name);
    if (topic === undefined) return fail('UNKNOWN_TOPIC', `topic ${command.name} does not exist`);
    for (const p of topic.partitions) if (p.move !== undefined) this.finishMove(topic, p, 'dropped', p.replicas, null);
    this.topics.delete(topic.name);
    this.topicsById.delete(topic.topicId);
    this.count(topic, -1);
    this.topicsDeletedCount++;
    return { ok: true };
  }

  private partitionLeader(command: CommandOf<'partitionLeader'>): CommandResult {
    const partition = this.topicsById.get(command.topicId)?.partitions[command.partition];
    if (partition === undefined) return fail('UNKNOWN_PARTITION', `no partition ${command.topicId}/${command.partition}`);
    // While it moves, a new replica that won an election after the joint configuration may lead.
    if (command.leader !== null && !partition.replicas.includes(command.leader) && !(partition.move?.phase !== 'queued' && partition.move?.target.includes(command.leader))) {
      return fail('INVALID_ARGUMENT', `broker ${command.leader} is not a replica of partition ${command.topicId}/${command.partition}`);
    }
    // Reports race each other; only newer news wins, so an old leader's late report cannot roll metadata back.
    if (command.leaderEpoch < partition.leaderEpoch) return { ok: true };
    if (command.leaderEpoch === partition.leaderEpoch && partition.leader !== null) return { ok: true };
    partition.leader = command.leader;
    partition.leaderEpoch = command.leaderEpoch;
    return { ok: true };
  }

  private keepClusterKey(command: CommandOf<'clusterKey'>): CommandResult {
    if (this.key === null) this.key = Uint8Array.from(command.key);
    return { ok: true };
  }

  private issueProducerIds(command: CommandOf<'producerIds'>): CommandResult {
    if (this.key === null) return fail('INVALID_ARGUMENT', 'producer ids are issued only once the cluster has its key');
    if (this.nextProducerId + command.count > Number.MAX_SAFE_INTEGER) return fail('LIMIT_EXCEEDED', 'the cluster has issued every producer id there is');
    const block = { first: this.nextProducerId, count: command.count };
    this.nextProducerId += command.count;
    return { ok: true, producerIds: block };
  }

  private setReplicationFactor(command: CommandOf<'setReplicationFactor'>): CommandResult {
    const topic = this.topicsById.get(command.topicId);
    if (topic === undefined) return fail('UNKNOWN_TOPIC', `no topic with id ${command.topicId}`);
    topic.replicationFactor = command.replicationFactor;
    return { ok: true, topic: toMetadata(topic) };
  }

  private startMoves(command: CommandOf<'startMoves'>): CommandResult {
    for (const m of command.moves) {
      const found = this.moving.get(m.moveId);
      if (found === undefined || found.topic.topicId !== m.topicId || found.partition.partition !== m.partition) continue;
      this.decide(found.topic, found.partition, startMove(found.partition.move!, command.atMs), command.atMs);
    }
    return { ok: true };
  }

  private cancelPartitionMove(command: CommandOf<'cancelMove'>): CommandResult {
    const topic = this.topicsById.get(command.topicId);
    const partition = topic?.partitions[command.partition];
    if (topic === undefined || partition === undefined) return fail('UNKNOWN_PARTITION', `no partition ${command.topicId}/${command.partition}`);
    const decision = cancelMove(partition.move ?? null, command.reason);
    const moveId = partition.move?.moveId;
    const result = this.decide(topic, partition, decision, command.atMs);
    if (!result.ok) return result;
    return { ok: true, moveId, outcome: decision.kind === 'finished' ? 'cancelled' : 'cancelling' };
  }

  private reportMove(command: CommandOf<'moveReport'>): CommandResult {
    const topic = this.topicsById.get(command.topicId);
    const partition = topic?.partitions[command.partition];
    if (topic === undefined || partition === undefined) return { ok: true };
    return this.decide(topic, partition, applyMoveReport(partition.move ?? null, command.report), command.atMs);
  }

  /** The key that proves a producer id was issued by this cluster (never sent to clients), or null before the first id. */
  get clusterKey(): Uint8Array | null {
    return this.key;
  }

  /** Producer ids below this were handed to brokers (and never will be again). */
  get producerIdsIssued(): number {
    return this.nextProducerId;
  }

  private addPartitions(topicId: number, assignment: number[][]): CommandResult {
    const topic = this.topicsById.get(topicId);
    if (topic === undefined) return fail('UNKNOWN_TOPIC', `no topic with id ${topicId}`);
    const total = topic.partitions.length + assignment.length;
    if (total > brokerLimits.partitionsPerTopicMax) return fail('INVALID_TOPIC', `topic ${topic.name} would have ${total} partitions, more than ${brokerLimits.partitionsPerTopicMax}`);
    const unknown = assignment.flat().filter((id) => this.lifecycles.get(id)?.state !== 'active');
    if (unknown.length > 0) return fail('INVALID_REPLICATION_FACTOR', `assignment names brokers that take no replicas: ${[...new Set(unknown)].join(', ')}`);
    const overLimit = this.overLimit(assignment, 0);
    if (overLimit !== null) return fail('LIMIT_EXCEEDED', `topic ${topic.name}: ${overLimit}`);
    const added = assignment.map((replicas, i): PartitionRecord => ({ partition: topic.partitions.length + i, replicas: [...replicas], leader: null, leaderEpoch: 0 }));
    topic.partitions.push(...added);
    this.count({ ...topic, partitions: added }, 1);
    return { ok: true, topic: toMetadata(topic) };
  }

  /** A new move, or a reorder (same brokers: only the preferred leader changes, at once). Liveness is the controller's to check before it proposes. */
  private reassign(command: CommandOf<'reassignPartition'>): CommandResult {
    const topic = this.topicsById.get(command.topicId);
    const partition = topic?.partitions[command.partition];
    if (topic === undefined) return fail('UNKNOWN_TOPIC', `no topic with id ${command.topicId}`);
    if (partition === undefined) return fail('UNKNOWN_PARTITION', `topic ${topic.name} has no partition ${command.partition}`);
    const checked = checkMoveTarget({ current: partition.replicas, target: command.target, moving: partition.move ?? null, brokers: this.brokerViews(() => true), checkAlive: false });
    if (checked.kind === 'refused') return fail(checked.error.code, checked.error.message);
    if (checked.kind === 'reorder') {
      partition.replicas = checked.target;
      return { ok: true, reordered: true };
    }
    if (this.moving.size >= this.limits.movesPendingMax) return fail('BACKPRESSURE', `the cluster holds ${this.moving.size} moves, its limit (movesPendingMax ${this.limits.movesPendingMax}); wait for some to finish`);
    const move = newMove({ moveId: this.nextMoveId++, original: partition.replicas, target: checked.target, reason: command.reason, atMs: command.atMs });
    partition.move = move;
    this.moving.set(move.moveId, { topic, partition });
    return { ok: true, moveId: move.moveId };
  }

  /** Carries out a controller decision about a partition's move. */
  private decide(topic: TopicRecord, partition: PartitionRecord, decision: MoveDecision, atMs: number): CommandResult {
    switch (decision.kind) {
      case 'refused':
        return fail(decision.error.code, decision.error.message);
      case 'unchanged':
        return { ok: true };
      case 'updated':
        partition.move = decision.move;
        return { ok: true };
      case 'finished':
        this.finishMove(topic, partition, decision.outcome, [...decision.replicas], atMs);
        return { ok: true };
    }
  }

  private finishMove(topic: TopicRecord, partition: PartitionRecord, outcome: MoveOutcomeRecord['outcome'], replicas: number[], atMs: number | null): void {
    const move = partition.move!;
    for (const id of partition.replicas) this.replicasByBroker.set(id, (this.replicasByBroker.get(id) ?? 0) - 1);
    for (const id of replicas) this.replicasByBroker.set(id, (this.replicasByBroker.get(id) ?? 0) + 1);
    if (outcome === 'done') partition.moved = true;
    partition.replicas = replicas;
    delete partition.move;
    this.moving.delete(move.moveId);
    this.moveHistory.push({ moveId: move.moveId, topic: topic.name, partition: partition.partition, outcome, original: [...move.original], target: [...move.target], cancelReason: move.cancelReason, finishedAtMs: atMs ?? move.acceptedAtMs });
    if (this.moveHistory.length > clusterLimits.moveOutcomesKeptMax) this.moveHistory.shift();
  }

  /** The brokers as the move checks see them, with liveness from `alive` (the controller's view; everyone when applying). */
  brokerViews(alive: (id: number) => boolean): Map<number, BrokerView> {
    const views = new Map<number, BrokerView>();
    for (const [id, l] of this.lifecycles) views.set(id, { id, state: l.state, alive: alive(id) });
    return views;
  }

  /** Moves queued or in flight, oldest first. */
  moves(): Array<{ topic: TopicRecord; partition: PartitionRecord; move: MoveRecord }> {
    return [...this.moving.values()].map(({ topic, partition }) => ({ topic, partition, move: partition.move! })).sort((a, b) => a.move.moveId - b.move.moveId);
  }

  /** Finished moves, newest first. */
  finishedMoves(): readonly MoveOutcomeRecord[] {
    return [...this.moveHistory].reverse();
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

  /** Decommission, recommission, gone: each from the states it may follow; repeating one is a no-op. */
  private changeState(kind: 'decommissionBroker' | 'recommissionBroker' | 'brokerGone', id: number): CommandResult {
    const lifecycle = this.lifecycles.get(id);
    if (lifecycle === undefined) return fail('UNKNOWN_BROKER', `the cluster has no broker ${id}`);
    const { state } = lifecycle;
    const refuse = (why: string): CommandResult => fail('INVALID_BROKER_STATE', `broker ${id} is ${state}: ${why}`);
    switch (kind) {
      case 'decommissionBroker':
        if (state === 'joining' || state === 'gone') return refuse('only an active broker is decommissioned');
        lifecycle.state = 'decommissioning';
        return { ok: true };
      case 'recommissionBroker':
        if (state !== 'decommissioning') return refuse('only a broker being decommissioned is recommissioned');
        lifecycle.state = 'active';
        return { ok: true };
      case 'brokerGone': {
        if (state !== 'decommissioning') return refuse('only a decommissioned broker leaves for good');
        const holds = this.topicList().some((t) => t.partitions.some((p) => p.replicas.includes(id) || p.move?.target.includes(id) === true));
        if (holds) return fail('INVALID_BROKER_STATE', `broker ${id} still holds replicas`);
        lifecycle.state = 'gone';
        return { ok: true };
      }
    }
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
      ...(this.key === null ? {} : { clusterKey: this.key, nextProducerId: this.nextProducerId }),
      nextMoveId: this.nextMoveId,
      moveHistory: this.moveHistory,
    });
  }

  static fromSnapshot(snapshot: MetadataSnapshot, limits: MetadataLimits = metadataLimits): MetadataState {
    const state = new MetadataState(snapshot.clusterId, snapshot.brokers, limits);
    state.nextTopicId = snapshot.nextTopicId;
    state.key = snapshot.clusterKey === undefined ? null : Uint8Array.from(snapshot.clusterKey);
    state.nextProducerId = snapshot.nextProducerId ?? 0;
    state.nextMoveId = snapshot.nextMoveId ?? 1;
    state.moveHistory = structuredClone(snapshot.moveHistory ?? []);
    for (const topic of structuredClone(snapshot.topics)) state.add(topic);
    return state;
  }

  private add(topic: TopicRecord): void {
    this.topics.set(topic.name, topic);
    this.topicsById.set(topic.topicId, topic);
    this.count(topic, 1);
    for (const partition of topic.partitions) if (partition.move !== undefined) this.moving.set(partition.move.moveId, { topic, partition });
  }

  private count(topic: TopicRecord, sign: 1 | -1): void {
    this.partitionCount += sign * topic.partitions.length;
    for (const p of topic.partitions) for (const id of p.replicas) this.replicasByBroker.set(id, (this.replicasByBroker.get(id) ?? 0) + sign);
  }

  /** Why a topic with this assignment would pass a limit, or null. */
  private overLimit(assignment: number[][], newTopics = 1): string | null {
    const { topicsMax, partitionsMax, partitionReplicasPerBrokerMax } = this.limits;
    if (this.topics.size + newTopics > topicsMax) return `the cluster holds ${this.topics.size} topics, its limit (topicsMax ${topicsMax})`;
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
