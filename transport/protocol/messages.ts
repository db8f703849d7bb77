import { SkeinError } from '../errors.js';
import { brokerLimits, logLimits, recordLimits } from '../limits.js';
import { BodyReader, malformed } from './validate.js';

/**
 * The client protocol: every request a client (or a peer broker) sends, every
 * response and push it gets back. Bodies travel as CBOR maps inside the RPC
 * envelope of transport/rpc. The broker reads each request through its
 * `read*` function, so a malformed body is a MALFORMED_REQUEST naming the
 * field and nothing else happens.
 *
 * Version 2: producer ids are issued by the cluster (`initProducer`), and an
 * idempotent batch is taken only with the proof issued with its id (version 1
 * clients chose their own ids; a broker refuses their hello). A field added
 * later must be optional so old peers can ignore it.
 */
export const protocolVersion = 2;

export const methods = {
  hello: 'hello',
  metadata: 'metadata',
  produce: 'produce',
  fetch: 'fetch',
  listOffsets: 'listOffsets',
  subscribe: 'subscribe',
  unsubscribe: 'unsubscribe',
  createTopic: 'createTopic',
  deleteTopic: 'deleteTopic',
  describeCluster: 'describeCluster',
  /** A producer id of the client's own, with the proof that it was issued to it (any broker answers). */
  initProducer: 'initProducer',
  /** One-way, client → broker: more credit for a push subscription. */
  credit: 'credit',
  /** One-way, broker → client: committed batches for a push subscription. */
  push: 'push',
  /** One-way, broker → client: a subscription ended (leader moved, topic deleted, ...). */
  pushEnd: 'pushEnd',
} as const;

export type Acks = 'all' | 'leader' | 'none';
export const acksValues: readonly Acks[] = ['all', 'leader', 'none'];

// ---------------------------------------------------------------- shared shapes
export interface BrokerInfo {
  id: number;
  host: string;
  port: number;
}

export type FlushPolicy = { mode: 'always' } | { mode: 'records'; records: number } | { mode: 'interval'; intervalMs: number };

export interface TopicConfig {
  /** Delete whole segments older than this; null keeps them forever. */
  retentionMs: number | null;
  /** Delete the oldest segments while the partition is larger than this; null keeps them. */
  retentionBytes: number | null;
  segmentBytes: number;
  flush: FlushPolicy;
}

export interface PartitionMetadata {
  partition: number;
  /** The broker that leads the partition's Raft group, as last known; null while there is none. */
  leader: number | null;
  /** The Raft term of that leadership; a larger epoch is newer news. */
  leaderEpoch: number;
  replicas: number[];
}

export interface TopicMetadata {
  name: string;
  topicId: number;
  partitions: PartitionMetadata[];
  config: TopicConfig;
}

/** Details carried by NOT_LEADER, so a client can go straight to the leader. */
export interface LeaderHint {
  leaderId: number | null;
  host?: string;
  port?: number;
  leaderEpoch: number;
}

// ---------------------------------------------------------------- hello
export interface HelloRequest {
  version: number;
  clientId: string;
}
export interface HelloResponse {
  version: number;
  brokerId: number;
  clusterId: string;
}

export function readHello(body: unknown): HelloRequest {
  const r = new BodyReader(body, 'hello');
  const version = r.int('version', { min: 0, max: 0xffff });
  if (version !== protocolVersion) {
    const why = version < protocolVersion ? ' (since version 2 the cluster issues producer ids: upgrade the client)' : '';
    throw new SkeinError('UNSUPPORTED_VERSION', { message: `protocol version ${version} is not supported; this broker speaks ${protocolVersion}${why}` });
  }
  return { version, clientId: r.string('clientId', { bytesMax: 256, optional: true }) ?? '' };
}

// ---------------------------------------------------------------- metadata
export interface MetadataRequest {
  /** Topics to describe; undefined describes all. */
  topics?: string[];
}
export interface MetadataResponse {
  clusterId: string;
  controllerId: number | null;
  brokers: BrokerInfo[];
  topics: TopicMetadata[];
  /** Requested topics that do not exist. */
  missing: string[];
}

export function readMetadata(body: unknown): MetadataRequest {
  const r = new BodyReader(body ?? {}, 'metadata');
  const topics = r.list('topics', { lengthMax: 10_000, optional: true }, (v, where) => readTopicName(v, where));
  return topics === undefined ? {} : { topics };
}

// ---------------------------------------------------------------- produce
export interface ProduceRequest {
  topic: string;
  partition: number;
  acks: Acks;
  /** One record batch as the producer encoded it (transport/protocol/record-batch). */
  batch: Uint8Array;
  timeoutMs: number;
  /** The proof issued with the batch's producer id (initProducer); an idempotent batch without the right one is refused. */
  producerProof?: Uint8Array;
}
export interface ProduceResponse {
  /** Offset of the batch's first record. */
  baseOffset: number;
  /** True when the broker had this batch already (an idempotent retry) and answered with its first offsets. */
  duplicate: boolean;
}

export function readProduce(body: unknown): ProduceRequest {
  const r = new BodyReader(body, 'produce');
  return {
    topic: readTopicName(r.raw('topic'), 'produce.topic'),
    partition: r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 }),
    acks: r.oneOf('acks', acksValues, 'all'),
    batch: r.bytes('batch', { bytesMax: recordLimits.batchBytesMax }),
    timeoutMs: r.int('timeoutMs', { min: 1, max: 3_600_000, optional: true }) ?? 30_000,
    ...readProof(r.raw('producerProof')),
  };
}

function readProof(proof: unknown): { producerProof?: Uint8Array } {
  if (proof === undefined || proof === null) return {};
  if (!(proof instanceof Uint8Array) || proof.byteLength > producerProofBytesMax) throw malformed(`produce.producerProof must be a byte string of at most ${producerProofBytesMax} bytes`);
  return { producerProof: proof };
}

// ---------------------------------------------------------------- producer ids
/** Longest producer proof a broker reads (its own are shorter; the format is the issuing broker's business). */
export const producerProofBytesMax = 64;

/** No fields yet: the id is the cluster's choice, the epoch starts at 0. */
export type InitProducerRequest = Record<string, never>;
export interface InitProducerResponse {
  /** Unique in the cluster, never issued again. */
  producerId: number;
  producerEpoch: number;
  /** Opaque to the client: sent with every idempotent produce under this id (producerProof), never shown to anyone else. */
  proof: Uint8Array;
}

export function readInitProducer(body: unknown): InitProducerRequest {
  new BodyReader(body ?? {}, 'initProducer');
  return {};
}

// ---------------------------------------------------------------- fetch
export interface FetchRequest {
  topic: string;
  partition: number;
  offset: number;
  maxBytes: number;
  maxRecords: number;
  /** Long poll: wait up to this long for records at `offset` to be committed. */
  maxWaitMs: number;
}
export interface FetchResponse {
  /** Whole committed batches, concatenated, the first one covering `offset`. May start before `offset`. */
  batches: Uint8Array;
  highWatermark: number;
  logStartOffset: number;
}

export function readFetch(body: unknown): FetchRequest {
  const r = new BodyReader(body, 'fetch');
  return {
    topic: readTopicName(r.raw('topic'), 'fetch.topic'),
    partition: r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 }),
    offset: r.int('offset', { min: 0, max: Number.MAX_SAFE_INTEGER }),
    maxBytes: r.int('maxBytes', { min: 1, max: brokerLimits.fetchBytesMax, optional: true }) ?? 1024 * 1024,
    maxRecords: r.int('maxRecords', { min: 1, max: brokerLimits.fetchRecordsMax, optional: true }) ?? brokerLimits.fetchRecordsMax,
    maxWaitMs: r.int('maxWaitMs', { min: 0, max: brokerLimits.fetchWaitMsMax, optional: true }) ?? 0,
  };
}

// ---------------------------------------------------------------- list offsets
export type OffsetSpec = 'earliest' | 'latest' | { timestamp: number };
export interface ListOffsetsRequest {
  topic: string;
  partition: number;
  spec: OffsetSpec;
}
export interface ListOffsetsResponse {
  offset: number;
}

export function readListOffsets(body: unknown): ListOffsetsRequest {
  const r = new BodyReader(body, 'listOffsets');
  const topic = readTopicName(r.raw('topic'), 'listOffsets.topic');
  const partition = r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 });
  const rawSpec = r.raw('spec');
  let spec: OffsetSpec;
  if (rawSpec === 'earliest' || rawSpec === 'latest') spec = rawSpec;
  else spec = { timestamp: r.reader('spec').int('timestamp', { min: 0, max: Number.MAX_SAFE_INTEGER }) };
  return { topic, partition, spec };
}

// ---------------------------------------------------------------- push subscriptions
export interface SubscribeRequest {
  /** Chosen by the client, unique per connection; pushes carry it. */
  subscriptionId: number;
  topic: string;
  partition: number;
  offset: number;
  /** Initial credit: the broker sends while both are positive (a whole batch may overshoot them). */
  creditBytes: number;
  creditRecords: number;
}
export interface SubscribeResponse {
  highWatermark: number;
  logStartOffset: number;
}
export interface CreditMessage {
  subscriptionId: number;
  bytes: number;
  records: number;
}
export interface UnsubscribeRequest {
  subscriptionId: number;
}
export interface PushMessage {
  subscriptionId: number;
  batches: Uint8Array;
  /** The offset the next push starts at; resubscribe from here after a leader change. */
  nextOffset: number;
  highWatermark: number;
}
export interface PushEndMessage {
  subscriptionId: number;
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export function readSubscribe(body: unknown): SubscribeRequest {
  const r = new BodyReader(body, 'subscribe');
  return {
    subscriptionId: r.int('subscriptionId', { min: 0, max: 0xffffffff }),
    topic: readTopicName(r.raw('topic'), 'subscribe.topic'),
    partition: r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 }),
    offset: r.int('offset', { min: 0, max: Number.MAX_SAFE_INTEGER }),
    creditBytes: r.int('creditBytes', { min: 1, max: brokerLimits.pushCreditBytesMax }),
    creditRecords: r.int('creditRecords', { min: 1, max: brokerLimits.pushCreditRecordsMax }),
  };
}

export function readCredit(body: unknown): CreditMessage {
  const r = new BodyReader(body, 'credit');
  return {
    subscriptionId: r.int('subscriptionId', { min: 0, max: 0xffffffff }),
    bytes: r.int('bytes', { min: 0, max: brokerLimits.pushCreditBytesMax }),
    records: r.int('records', { min: 0, max: brokerLimits.pushCreditRecordsMax }),
  };
}

export function readUnsubscribe(body: unknown): UnsubscribeRequest {
  const r = new BodyReader(body, 'unsubscribe');
  return { subscriptionId: r.int('subscriptionId', { min: 0, max: 0xffffffff }) };
}

// ---------------------------------------------------------------- admin
export interface CreateTopicRequest {
  name: string;
  partitions: number;
  replicationFactor: number;
  config: Partial<TopicConfig>;
}
export interface DeleteTopicRequest {
  name: string;
}
export interface DescribeClusterResponse {
  clusterId: string;
  controllerId: number | null;
  /** `state`: joining (catching up on the metadata), active, decommissioning or gone; absent from brokers of earlier versions. */
  brokers: (BrokerInfo & { alive: boolean; state?: BrokerLifecycleState })[];
  /** The metadata group's members as the answering broker's copy of it records them. */
  controllerGroup?: { voters: number[]; learners: number[] };
  /**
   * The answering broker's replicas that a failing or full disk stopped
   * (each resumes by itself once the disk takes writes again). Absent from
   * brokers of earlier versions.
   */
  storage?: { brokerId: number; stoppedReplicas: StoppedReplica[] };
}

export type BrokerLifecycleState = 'joining' | 'active' | 'decommissioning' | 'gone';

/** A replica stopped by its storage (see DescribeClusterResponse.storage). */
export interface StoppedReplica {
  /** `topic/partition`, or `metadata`. */
  replica: string;
  code: string;
  message: string;
  sinceMs: number;
}

export function readCreateTopic(body: unknown): CreateTopicRequest {
  const r = new BodyReader(body, 'createTopic');
  const name = readTopicName(r.raw('name'), 'createTopic.name', 'INVALID_TOPIC');
  const partitions = intOrInvalid(r, 'partitions', 1, brokerLimits.partitionsPerTopicMax, 'INVALID_TOPIC');
  const replicationFactor = intOrInvalid(r, 'replicationFactor', 1, brokerLimits.replicationFactorMax, 'INVALID_REPLICATION_FACTOR');
  const config = r.has('config') ? readTopicConfig(r.raw('config')) : {};
  return { name, partitions, replicationFactor, config };
}

export function readDeleteTopic(body: unknown): DeleteTopicRequest {
  const r = new BodyReader(body, 'deleteTopic');
  return { name: readTopicName(r.raw('name'), 'deleteTopic.name') };
}

/** Partial topic settings; absent fields take the cluster defaults. */
export function readTopicConfig(body: unknown): Partial<TopicConfig> {
  const r = new BodyReader(body, 'config');
  const config: Partial<TopicConfig> = {};
  const invalid = (message: string): SkeinError => new SkeinError('INVALID_TOPIC', { message });
  for (const key of ['retentionMs', 'retentionBytes'] as const) {
    const value = r.raw(key);
    if (value === null) config[key] = null;
    else if (value !== undefined) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw invalid(`config.${key} must be a positive integer or null`);
      config[key] = value;
    }
  }
  const segmentBytes = r.raw('segmentBytes');
  if (segmentBytes !== undefined) {
    if (typeof segmentBytes !== 'number' || !Number.isSafeInteger(segmentBytes) || segmentBytes < logLimits.segmentBytesMin || segmentBytes > logLimits.segmentBytesMax) {
      throw invalid(`config.segmentBytes must be an integer between ${logLimits.segmentBytesMin} and ${logLimits.segmentBytesMax}`);
    }
    config.segmentBytes = segmentBytes;
  }
  if (r.has('flush')) config.flush = readFlushPolicy(r.raw('flush'));
  return config;
}

export function readFlushPolicy(value: unknown): FlushPolicy {
  const invalid = new SkeinError('INVALID_TOPIC', {
    message: "config.flush must be { mode: 'always' }, { mode: 'records', records: N } or { mode: 'interval', intervalMs: T }",
  });
  if (typeof value !== 'object' || value === null) throw invalid;
  const { mode, records, intervalMs } = value as Record<string, unknown>;
  if (mode === 'always') return { mode };
  if (mode === 'records' && typeof records === 'number' && Number.isSafeInteger(records) && records >= 1 && records <= logLimits.flushRecordsMax) return { mode, records };
  if (mode === 'interval' && typeof intervalMs === 'number' && Number.isSafeInteger(intervalMs) && intervalMs >= 1 && intervalMs <= logLimits.flushIntervalMsMax) return { mode, intervalMs };
  throw invalid;
}

function intOrInvalid(r: BodyReader, key: string, min: number, max: number, code: 'INVALID_TOPIC' | 'INVALID_REPLICATION_FACTOR'): number {
  const value = r.raw(key);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new SkeinError(code, { message: `${key} must be an integer between ${min} and ${max}, got ${String(value)}` });
  }
  return value;
}

// ---------------------------------------------------------------- topic names
const topicNamePattern = /^[A-Za-z0-9._-]+$/;

/** Topic names as Kafka allows them: 1–249 of [A-Za-z0-9._-], and not "." or "..". */
export function topicNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'a topic name must be a string';
  if (name.length === 0) return 'a topic name must not be empty';
  if (name.length > brokerLimits.topicNameBytesMax) return `a topic name is at most ${brokerLimits.topicNameBytesMax} characters`;
  if (name === '.' || name === '..') return 'a topic name cannot be "." or ".."';
  if (!topicNamePattern.test(name)) return `topic name ${JSON.stringify(name)} has characters outside [A-Za-z0-9._-]`;
  return null;
}

export function readTopicName(value: unknown, where: string, code: 'MALFORMED_REQUEST' | 'INVALID_TOPIC' = 'MALFORMED_REQUEST'): string {
  const problem = topicNameProblem(value);
  if (problem !== null) throw new SkeinError(code, { message: `${where}: ${problem}` });
  return value as string;
}
