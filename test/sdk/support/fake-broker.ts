import { SkeinError } from '../../../transport/errors.js';
import type { MessageChannel } from '../../../transport/channel.js';
import {
  methods,
  readCreateTopic,
  readCredit,
  readDeleteTopic,
  readFetch,
  readHello,
  readListOffsets,
  readMetadata,
  readProduce,
  readSubscribe,
  readUnsubscribe,
  type LeaderHint,
  type MetadataResponse,
  type TopicConfig,
  type TopicMetadata,
} from '../../../transport/protocol/messages.js';
import { decodeBatchHeader, decodeRecords, stampBatch, type BatchHeader } from '../../../transport/protocol/record-batch.js';
import { RpcChannel } from '../../../transport/rpc/index.js';
import type { BrokerAddress } from '../../../sdk/address.js';
import { createMemoryChannelPair } from '../../transport/support/memory-channel.js';

/**
 * An in-process cluster of fake brokers speaking the client protocol over
 * in-memory channels and RpcChannel, for SDK tests. It is not a broker: each
 * partition has one log shared by its replicas (replication is perfect), but
 * every answer a client can get is reproduced faithfully — NOT_LEADER with or
 * without hints, duplicates of idempotent retries, OUT_OF_ORDER_SEQUENCE,
 * long-polled fetches, credit-limited pushes, pushEnd on leader moves — and a
 * test can move leaders, drop connections, delay or fail requests, and see
 * every produce request that arrived.
 */

export type HintMode = 'full' | 'idOnly' | 'none';

export interface StoredBatch {
  header: BatchHeader;
  bytes: Uint8Array;
}

interface ProducerState {
  nextSequence: number;
  /** Base sequence → base offset of the batches written, to answer retries as duplicates. */
  written: Map<number, number>;
}

interface FakePartition {
  leader: number | null;
  leaderEpoch: number;
  replicas: number[];
  log: StoredBatch[];
  endOffset: number;
  producers: Map<number, ProducerState>;
  waiters: Set<() => void>;
}

interface FakeTopic {
  name: string;
  topicId: number;
  partitions: FakePartition[];
  config: TopicConfig;
}

export interface ProduceArrival {
  brokerId: number;
  topic: string;
  partition: number;
  producerId: number;
  baseSequence: number;
  recordCount: number;
  /** The batch body (what the producer sealed), to prove a resend carried the same bytes. */
  body: Uint8Array;
  outcome: 'appended' | 'duplicate' | 'error';
  errorCode?: string;
}

/** What an interceptor may do with one request before the broker handles it. */
export type InterceptResult =
  | undefined
  | { fail: SkeinError }
  | { delayMs: number }
  /** Hold the request until this settles (a test's own gate, no clock involved). */
  | { until: Promise<unknown> }
  /** Handle the request (append a produce), then never answer it: the client times out not knowing. */
  | { handleThenDrop: true }
  /** Answer with this body instead (a malformed answer, say). */
  | { respond: unknown };

export type Interceptor = (request: { brokerId: number; method: string; body: unknown }) => InterceptResult;

interface Subscription {
  id: number;
  rpc: RpcChannel;
  topic: string;
  partition: number;
  offset: number;
  creditBytes: number;
  creditRecords: number;
  pumping: boolean;
  /** Bytes pushed and not yet credited back. */
  outstandingBytes: number;
}

interface ServerConnection {
  brokerId: number;
  greeted: boolean;
  rpc: RpcChannel;
  drop: (reason: SkeinError) => void;
  subscriptions: Map<number, Subscription>;
}

export class FakeCluster {
  readonly clusterId = 'fake-cluster';
  private readonly brokerIds: number[];
  private readonly down = new Set<number>();
  private readonly topics = new Map<string, FakeTopic>();
  private readonly connections = new Set<ServerConnection>();
  private readonly udpPorts = new Map<number, number>();
  private nextTopicId = 1;
  hintMode: HintMode = 'full';
  /** Every produce request that reached a broker, in arrival order. */
  readonly produces: ProduceArrival[] = [];
  readonly requests: { brokerId: number; method: string }[] = [];
  readonly credits: { subscriptionId: number; bytes: number; records: number }[] = [];
  interceptor: Interceptor | null = null;
  /** The most bytes ever pushed and not yet credited back, per subscription id. */
  readonly pushedBytesHighWater = new Map<number, number>();
  /** Records pushed, per subscription id. */
  readonly pushedRecords = new Map<number, number>();
  dials = 0;
  /** Topics a broker has not heard of yet (its metadata lags the controller, broker 1). */
  readonly lagging = new Map<number, Set<string>>();
  /** Requests that arrived on a connection before its hello (the client must greet first). */
  ungreeted = 0;

  constructor(options: { brokers?: number } = {}) {
    this.brokerIds = Array.from({ length: options.brokers ?? 3 }, (_, i) => i + 1);
  }

  address(brokerId: number): BrokerAddress {
    return { host: '127.0.0.1', port: this.udpPorts.get(brokerId) ?? 9090 + brokerId };
  }

  bootstrap(): string[] {
    return this.brokerIds.map((id) => `127.0.0.1:${this.address(id).port}`);
  }

  /** The dialer a client under test uses (in memory). */
  readonly dial = async (address: BrokerAddress): Promise<MessageChannel> => {
    this.dials++;
    const brokerId = this.brokerIds.find((id) => this.address(id).port === address.port && address.host === '127.0.0.1');
    if (brokerId === undefined || this.down.has(brokerId)) {
      throw new SkeinError('CONNECTION_REFUSED', { message: `no fake broker at ${address.host}:${address.port}` });
    }
    const [client, server] = createMemoryChannelPair();
    this.accept(brokerId, server, (reason) => server.fail(reason));
    return client;
  };

  /**
   * Serves the brokers on real UDP endpoints on loopback instead (the client
   * then uses its default dialer). Returns a function that closes them.
   */
  async listen(options: { loss?: string } = {}): Promise<() => Promise<void>> {
    const { Endpoint } = await import('../../../transport/endpoint.js');
    const endpoints = await Promise.all(
      this.brokerIds.map(async (brokerId) => {
        const endpoint = await Endpoint.open({ host: '127.0.0.1', port: 0, acceptConnections: true, loss: options.loss ?? null });
        this.udpPorts.set(brokerId, endpoint.address.port);
        endpoint.onConnection((connection) => {
          if (this.down.has(brokerId)) {
            void connection.close();
            return;
          }
          this.accept(brokerId, connection, () => void connection.close());
        });
        return endpoint;
      }),
    );
    return async () => {
      await Promise.all(endpoints.map((e) => e.close()));
    };
  }

  private accept(brokerId: number, channel: MessageChannel, drop: (reason: SkeinError) => void): void {
    const connection: ServerConnection = { brokerId, greeted: false, drop, subscriptions: new Map(), rpc: undefined as unknown as RpcChannel };
    connection.rpc = new RpcChannel(channel, {
      handler: (method, body) => this.handle(connection, method, body),
      onNotify: (method, body) => this.onNotify(connection, method, body),
    });
    this.connections.add(connection);
    channel.onClose(() => {
      this.connections.delete(connection);
      connection.subscriptions.clear();
    });
  }

  // ---------------------------------------------------------------- control

  createTopic(name: string, options: { partitions: number; replicationFactor?: number; leaders?: number[] }): void {
    const rf = Math.min(options.replicationFactor ?? 3, this.brokerIds.length);
    const partitions: FakePartition[] = [];
    for (let p = 0; p < options.partitions; p++) {
      const replicas = Array.from({ length: rf }, (_, i) => this.brokerIds[(p + i) % this.brokerIds.length]!);
      partitions.push({
        leader: options.leaders?.[p] ?? replicas[0]!,
        leaderEpoch: 1,
        replicas,
        log: [],
        endOffset: 0,
        producers: new Map(),
        waiters: new Set(),
      });
    }
    this.topics.set(name, {
      name,
      topicId: this.nextTopicId++,
      partitions,
      config: { retentionMs: null, retentionBytes: null, segmentBytes: 1 << 20, flush: { mode: 'always' } },
    });
  }

  partition(topic: string, partition: number): FakePartition {
    const p = this.topics.get(topic)?.partitions[partition];
    if (p === undefined) throw new Error(`no fake partition ${topic}/${partition}`);
    return p;
  }

  /** Moves leadership (a new epoch); subscriptions at the old leader end with NOT_LEADER. */
  moveLeader(topic: string, partition: number, leader: number | null): void {
    const p = this.partition(topic, partition);
    const old = p.leader;
    p.leader = leader;
    p.leaderEpoch++;
    for (const connection of this.connections) {
      if (connection.brokerId !== old) continue;
      for (const sub of [...connection.subscriptions.values()]) {
        if (sub.topic !== topic || sub.partition !== partition) continue;
        connection.subscriptions.delete(sub.id);
        const error = this.notLeader(topic, partition, old ?? -1);
        void sub.rpc.notify(methods.pushEnd, { subscriptionId: sub.id, error: error.toWire() }).catch(() => undefined);
      }
    }
  }

  /** Drops every connection to `brokerId` (or all) abruptly. */
  dropConnections(brokerId?: number): void {
    for (const connection of [...this.connections]) {
      if (brokerId === undefined || connection.brokerId === brokerId) connection.drop(new SkeinError('PEER_DEAD', { message: 'fake broker dropped the connection' }));
    }
  }

  /** A dead broker refuses connections and drops the ones it had. */
  kill(brokerId: number): void {
    this.down.add(brokerId);
    this.dropConnections(brokerId);
  }

  revive(brokerId: number): void {
    this.down.delete(brokerId);
  }

  /** Every record of a partition's log as [producerId, sequence, value bytes]. */
  records(topic: string, partition: number): { offset: number; value: Uint8Array | null; key: Uint8Array | null }[] {
    const out: { offset: number; value: Uint8Array | null; key: Uint8Array | null }[] = [];
    for (const batch of this.partition(topic, partition).log) {
      for (const r of decodeRecords(batch.bytes)) out.push({ offset: r.offset, value: r.value, key: r.key });
    }
    return out;
  }

  /** Appends a batch as if a producer sent it through the leader (for consumer tests). */
  append(topic: string, partition: number, batch: Uint8Array): number {
    const p = this.partition(topic, partition);
    const header = decodeBatchHeader(batch);
    return this.store(p, header, batch);
  }

  openServerConnections(brokerId?: number): number {
    return [...this.connections].filter((c) => brokerId === undefined || c.brokerId === brokerId).length;
  }

  // ---------------------------------------------------------------- serving

  private async handle(connection: ServerConnection, method: string, body: unknown): Promise<unknown> {
    const brokerId = connection.brokerId;
    this.requests.push({ brokerId, method });
    if (method === methods.hello) connection.greeted = true;
    else if (!connection.greeted) {
      this.ungreeted++;
      throw new SkeinError('PROTOCOL_VIOLATION', { message: 'hello first' });
    }
    const intercepted = this.interceptor?.({ brokerId, method, body });
    if (intercepted !== undefined) {
      if ('fail' in intercepted) {
        if (method === methods.produce) this.noteProduce(brokerId, body, 'error', intercepted.fail.code);
        throw intercepted.fail;
      }
      if ('respond' in intercepted) return intercepted.respond;
      if ('delayMs' in intercepted) await new Promise((resolve) => setTimeout(resolve, intercepted.delayMs));
      if ('until' in intercepted) await intercepted.until;
      if ('handleThenDrop' in intercepted) {
        try {
          await this.serve(connection, method, body);
        } catch {
          // The client never hears of it either way.
        }
        return new Promise(() => {});
      }
    }
    return this.serve(connection, method, body);
  }

  private async serve(connection: ServerConnection, method: string, body: unknown): Promise<unknown> {
    const brokerId = connection.brokerId;
    switch (method) {
      case methods.hello:
        readHello(body);
        return { version: 1, brokerId, clusterId: this.clusterId };
      case methods.metadata:
        return this.metadata(readMetadata(body).topics, brokerId);
      case methods.produce:
        return this.produce(brokerId, body);
      case methods.fetch:
        return this.fetch(brokerId, body);
      case methods.listOffsets: {
        const request = readListOffsets(body);
        const p = this.leaderPartition(brokerId, request.topic, request.partition);
        if (request.spec === 'earliest') return { offset: p.log[0]?.header.baseOffset ?? 0 };
        if (request.spec === 'latest') return { offset: p.endOffset };
        const ts = request.spec.timestamp;
        const batch = p.log.find((b) => b.header.maxTimestamp >= ts);
        if (batch === undefined) return { offset: p.endOffset };
        const record = decodeRecords(batch.bytes).find((r) => r.timestamp >= ts);
        return { offset: record?.offset ?? batch.header.nextOffset };
      }
      case methods.subscribe:
        return this.subscribe(connection, body);
      case methods.unsubscribe:
        connection.subscriptions.delete(readUnsubscribe(body).subscriptionId);
        return {};
      case methods.createTopic: {
        const request = readCreateTopic(body);
        if (this.topics.has(request.name)) throw new SkeinError('TOPIC_EXISTS', { message: `topic ${request.name} exists` });
        if (request.replicationFactor > this.brokerIds.length) throw new SkeinError('INVALID_REPLICATION_FACTOR', { message: 'not enough brokers' });
        this.createTopic(request.name, { partitions: request.partitions, replicationFactor: request.replicationFactor });
        return {};
      }
      case methods.deleteTopic: {
        const { name } = readDeleteTopic(body);
        if (!this.topics.delete(name)) throw new SkeinError('UNKNOWN_TOPIC', { message: `topic ${name} does not exist` });
        return {};
      }
      case methods.describeCluster:
        return {
          clusterId: this.clusterId,
          controllerId: 1,
          brokers: this.brokerIds.map((id) => ({ id, ...this.address(id), alive: !this.down.has(id) })),
        };
      default:
        throw new SkeinError('UNKNOWN_METHOD', { message: `fake broker does not serve ${method}` });
    }
  }

  private onNotify(connection: ServerConnection, method: string, body: unknown): void {
    if (method === methods.credit) {
      const credit = readCredit(body);
      this.credits.push(credit);
      const sub = connection.subscriptions.get(credit.subscriptionId);
      if (sub === undefined) return;
      sub.creditBytes += credit.bytes;
      sub.creditRecords += credit.records;
      sub.outstandingBytes -= credit.bytes;
      this.pump(sub);
    } else if (method === methods.produce) {
      // acks 'none': handled, never answered.
      void this.produce(connection.brokerId, body).catch(() => undefined);
    }
  }

  private metadata(topics: string[] | undefined, brokerId: number): MetadataResponse {
    const names = topics ?? [...this.topics.keys()];
    const found: TopicMetadata[] = [];
    const missing: string[] = [];
    for (const name of names) {
      const topic = this.topics.get(name);
      if (topic === undefined || this.lagging.get(brokerId)?.has(name)) {
        missing.push(name);
        continue;
      }
      found.push({
        name,
        topicId: topic.topicId,
        config: topic.config,
        partitions: topic.partitions.map((p, partition) => ({ partition, leader: p.leader, leaderEpoch: p.leaderEpoch, replicas: p.replicas })),
      });
    }
    return { clusterId: this.clusterId, controllerId: 1, brokers: this.brokerIds.map((id) => ({ id, ...this.address(id) })), topics: found, missing };
  }

  private notLeader(topic: string, partition: number, askedBroker: number): SkeinError {
    const p = this.partition(topic, partition);
    let details: Record<string, unknown> | undefined;
    if (this.hintMode !== 'none') {
      const hint: LeaderHint = { leaderId: p.leader, leaderEpoch: p.leaderEpoch };
      if (this.hintMode === 'full' && p.leader !== null) Object.assign(hint, this.address(p.leader));
      details = { ...hint };
    }
    return new SkeinError('NOT_LEADER', { message: `broker ${askedBroker} does not lead ${topic}/${partition}`, details });
  }

  private leaderPartition(brokerId: number, topic: string, partition: number, allowFollower = false): FakePartition {
    const t = this.topics.get(topic);
    if (t === undefined) throw new SkeinError('UNKNOWN_TOPIC', { message: `topic ${topic} does not exist` });
    const p = t.partitions[partition];
    if (p === undefined) throw new SkeinError('UNKNOWN_PARTITION', { message: `no partition ${partition}` });
    if (allowFollower && p.replicas.includes(brokerId)) return p;
    if (p.leader === null) throw new SkeinError('LEADER_NOT_AVAILABLE', { message: 'no leader' });
    if (p.leader !== brokerId) throw this.notLeader(topic, partition, brokerId);
    return p;
  }

  private noteProduce(brokerId: number, body: unknown, outcome: ProduceArrival['outcome'], errorCode?: string): void {
    const b = body as { topic?: string; partition?: number; batch?: Uint8Array };
    let header: BatchHeader | null = null;
    try {
      header = b.batch instanceof Uint8Array ? decodeBatchHeader(b.batch) : null;
    } catch {
      header = null;
    }
    this.produces.push({
      brokerId,
      topic: String(b.topic),
      partition: Number(b.partition),
      producerId: header?.producerId ?? -1,
      baseSequence: header?.baseSequence ?? -1,
      recordCount: header?.recordCount ?? 0,
      body: b.batch instanceof Uint8Array ? b.batch.subarray(40) : new Uint8Array(0),
      outcome,
      ...(errorCode === undefined ? {} : { errorCode }),
    });
  }

  private async produce(brokerId: number, body: unknown): Promise<unknown> {
    try {
      const request = readProduce(body);
      const p = this.leaderPartition(brokerId, request.topic, request.partition);
      const header = decodeBatchHeader(request.batch);
      if (header.producerId >= 0) {
        // As a broker does: past sequence 0, a producer it holds no state for (evicted, say) is told so, never taken as new.
        if (!p.producers.has(header.producerId) && header.baseSequence !== 0) {
          throw new SkeinError('UNKNOWN_PRODUCER', { message: `no state for producer ${header.producerId}` });
        }
        const state = p.producers.get(header.producerId) ?? { nextSequence: 0, written: new Map<number, number>() };
        p.producers.set(header.producerId, state);
        const duplicateOf = state.written.get(header.baseSequence);
        if (duplicateOf !== undefined) {
          this.noteProduce(brokerId, body, 'duplicate');
          return { baseOffset: duplicateOf, duplicate: true };
        }
        if (header.baseSequence !== state.nextSequence) {
          throw new SkeinError('OUT_OF_ORDER_SEQUENCE', { message: `expected sequence ${state.nextSequence}, got ${header.baseSequence}` });
        }
        const baseOffset = this.store(p, header, request.batch);
        state.written.set(header.baseSequence, baseOffset);
        state.nextSequence = header.baseSequence + header.recordCount;
        this.noteProduce(brokerId, body, 'appended');
        return { baseOffset, duplicate: false };
      }
      const baseOffset = this.store(p, header, request.batch);
      this.noteProduce(brokerId, body, 'appended');
      return { baseOffset, duplicate: false };
    } catch (error) {
      if (error instanceof SkeinError) this.noteProduce(brokerId, body, 'error', error.code);
      throw error;
    }
  }

  private store(p: FakePartition, header: BatchHeader, batch: Uint8Array): number {
    const baseOffset = p.endOffset;
    const stamped = stampBatch(batch, { baseOffset, entryIndex: p.log.length + 1, term: p.leaderEpoch }, { copy: true });
    p.log.push({ header: decodeBatchHeader(stamped), bytes: stamped });
    p.endOffset += header.recordCount;
    for (const wake of [...p.waiters]) wake();
    for (const connection of this.connections) for (const sub of connection.subscriptions.values()) this.pump(sub);
    return baseOffset;
  }

  private readFrom(p: FakePartition, offset: number, maxBytes: number): Uint8Array {
    const parts: Uint8Array[] = [];
    let bytes = 0;
    for (const batch of p.log) {
      if (batch.header.nextOffset <= offset) continue;
      if (parts.length > 0 && bytes + batch.bytes.length > maxBytes) break;
      parts.push(batch.bytes);
      bytes += batch.bytes.length;
    }
    return Buffer.concat(parts);
  }

  private async fetch(brokerId: number, body: unknown): Promise<unknown> {
    const request = readFetch(body);
    const p = this.leaderPartition(brokerId, request.topic, request.partition, true);
    if (request.offset > p.endOffset) throw new SkeinError('OFFSET_OUT_OF_RANGE', { message: `offset ${request.offset} is past the end ${p.endOffset}` });
    if (request.offset === p.endOffset && request.maxWaitMs > 0) {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          p.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, request.maxWaitMs);
        p.waiters.add(wake);
      });
    }
    return { batches: this.readFrom(p, request.offset, request.maxBytes), highWatermark: p.endOffset, logStartOffset: 0 };
  }

  private subscribe(connection: ServerConnection, body: unknown): unknown {
    const request = readSubscribe(body);
    const p = this.leaderPartition(connection.brokerId, request.topic, request.partition);
    const sub: Subscription = {
      id: request.subscriptionId,
      rpc: connection.rpc,
      topic: request.topic,
      partition: request.partition,
      offset: request.offset,
      creditBytes: request.creditBytes,
      creditRecords: request.creditRecords,
      pumping: false,
      outstandingBytes: 0,
    };
    connection.subscriptions.set(sub.id, sub);
    // Pushes follow the answer, as a real broker's would.
    setImmediate(() => this.pump(sub));
    return { highWatermark: p.endOffset, logStartOffset: 0 };
  }

  /** Pushes whole batches from the subscription's offset while both credits are positive. */
  private pump(sub: Subscription): void {
    const p = this.topics.get(sub.topic)?.partitions[sub.partition];
    if (p === undefined || sub.pumping) return;
    while (sub.creditBytes > 0 && sub.creditRecords > 0) {
      const batch = p.log.find((b) => b.header.nextOffset > sub.offset);
      if (batch === undefined) return;
      sub.creditBytes -= batch.bytes.length;
      sub.creditRecords -= batch.header.recordCount;
      sub.offset = batch.header.nextOffset;
      sub.outstandingBytes += batch.bytes.length;
      this.pushedRecords.set(sub.id, (this.pushedRecords.get(sub.id) ?? 0) + batch.header.recordCount);
      this.pushedBytesHighWater.set(sub.id, Math.max(this.pushedBytesHighWater.get(sub.id) ?? 0, sub.outstandingBytes));
      void sub.rpc.notify(methods.push, { subscriptionId: sub.id, batches: batch.bytes, nextOffset: sub.offset, highWatermark: p.endOffset }).catch(() => undefined);
    }
  }
}
