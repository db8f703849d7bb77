import { systemClock } from '../../transport/clock.js';
import { randomBytes } from 'node:crypto';
import { SkeinError, isSkeinError } from '../../transport/errors.js';
import { recordLimits, sdkLimits } from '../../transport/limits.js';
import { acksValues, methods, type Acks } from '../../transport/protocol/messages.js';
import { BATCH_HEADER_BYTES } from '../../transport/protocol/record-batch.js';
import type { RecordHeader, RecordInput } from '../../transport/protocol/records.js';
import { Prng } from '../../transport/core/prng.js';
import { abortable, sharedAbortController, whenAborted } from '../../transport/abort.js';
import { callSignal, OptionReader } from '../check.js';
import type { Cluster } from '../cluster.js';
import { checkedPartition, DefaultPartitioner, type Partitioner } from '../partitioner.js';
import { retrying } from '../retry.js';
import { resolveTopic, type TopicInput } from '../topic.js';
import { recordBytesBound, SendGroup, type Acknowledgement, type PendingRecord } from './batch.js';
import { ByteBudget } from './budget.js';
import { PartitionPipeline, type PipelineStats, type ProduceTarget, type ProducerIdentity } from './pipeline.js';
import { readInitProducerResponse, readProduceResponse } from '../../transport/protocol/responses.js';

/** Record headers as an application passes them: a map, or a list when a key repeats. */
export type HeadersInput = Readonly<Record<string, string | Uint8Array>> | readonly { key: string; value: string | Uint8Array }[];

export interface Message<V = unknown, K = unknown> {
  /** Keyed records of one key always land on one partition (murmur2 of the serialized key). */
  key?: K | null;
  value: V;
  headers?: HeadersInput;
  /** Milliseconds since the Unix epoch; default: when `send` was called. */
  timestamp?: number;
  /** Overrides the partitioner. */
  partition?: number;
}

export interface SendInput<V = unknown, K = unknown> {
  topic: TopicInput<V, K>;
  messages: readonly Message<V, K>[];
}

/** Where a record was written. `offset` is null only with `acks: 'none'`, which never hears back. */
export interface RecordMetadata<O extends number | null = number> {
  topic: string;
  partition: number;
  offset: O;
  timestamp: number;
}

export interface ProducerOptions {
  /** 'all' (default): after a majority of replicas hold the batch; 'leader': after the leader's append; 'none': fire and forget. */
  acks?: Acks;
  /** Exactly-once writes through retries (producer id + sequence numbers). Default: true with acks 'all'; it needs acks 'all'. */
  idempotent?: boolean;
  /** How long a batch waits for more records before it may go. Default 5 ms. */
  lingerMs?: number;
  /** A batch closes at this many bytes. Default 512 KiB. */
  batchBytesMax?: number;
  /** Batches in flight per partition. Default 5. */
  inFlightMax?: number;
  /** @deprecated The name before 0.2; use `inFlightMax` (read until the next release). */
  maxInFlight?: number;
  /** Bytes of records accepted and not yet acknowledged; `send` waits beyond it. Default 64 MiB. */
  bufferBytesMax?: number;
  /** Chooses a partition for records without one. Default: murmur2 of the key; sticky for keyless records. */
  partitioner?: Partitioner;
  /** A record not acknowledged within this fails with TIMEOUT. Default: the client's deliveryTimeoutMs. */
  deliveryTimeoutMs?: number;
}

interface ResolvedProducerOptions {
  acks: Acks;
  idempotent: boolean;
  lingerMs: number;
  batchBytesMax: number;
  inFlightMax: number;
  bufferBytesMax: number;
  partitioner: Partitioner | undefined;
  deliveryTimeoutMs: number;
}

const knownOptions = ['acks', 'idempotent', 'lingerMs', 'batchBytesMax', 'inFlightMax', 'bufferBytesMax', 'partitioner', 'deliveryTimeoutMs'];

export function resolveProducerOptions(options: unknown, deliveryTimeoutMsDefault: number): ResolvedProducerOptions {
  const r = new OptionReader(options, 'producer()', 'INVALID_CONFIG', knownOptions);
  const acks = r.oneOf('acks', acksValues, 'all');
  const idempotent = r.bool('idempotent', acks === 'all');
  if (idempotent && acks !== 'all') {
    // With a leader-only ack a batch can be acknowledged and then lost in a failover; the sequence would then have a hole.
    throw r.fail(`producer(): idempotent: true needs acks: 'all' (got acks: '${acks}'); set idempotent: false to use acks '${acks}'`);
  }
  return {
    acks,
    idempotent,
    lingerMs: r.int('lingerMs', { min: 0, max: sdkLimits.lingerMsMax }, sdkLimits.lingerMsDefault),
    batchBytesMax: r.int('batchBytesMax', { min: BATCH_HEADER_BYTES + 32, max: recordLimits.batchBytesMax }, sdkLimits.producerBatchBytesDefault),
    inFlightMax: r.int('inFlightMax', { min: 1, max: sdkLimits.producerInFlightMax }, sdkLimits.producerInFlightDefault),
    bufferBytesMax: r.int('bufferBytesMax', { min: 1024, max: sdkLimits.producerBufferBytesMax }, sdkLimits.producerBufferBytesDefault),
    partitioner: r.fn<Partitioner>('partitioner'),
    deliveryTimeoutMs: r.int('deliveryTimeoutMs', { min: 1, max: sdkLimits.deliveryTimeoutMsMax }, deliveryTimeoutMsDefault),
  };
}

export interface ProducerStats extends PipelineStats {
  /** Bytes of records buffered now, and the most ever buffered at once. */
  bufferedBytes: number;
  bufferedBytesHighWater: number;
  /** `send` calls not yet in the buffers now: waiting for buffer space, metadata, or an earlier send (they enter in call order). */
  sendsWaiting: number;
}

/**
 * Sends records to topics: batched per partition, pipelined, retried through
 * leader changes, and (by default) idempotent, so a retried batch is never
 * written twice. Create one with `skein.producer()`.
 */
export class Producer<O extends number | null = number> implements AsyncDisposable {
  private readonly options: ResolvedProducerOptions;
  private readonly budget: ByteBudget;
  private readonly pipelines = new Map<string, PartitionPipeline>();
  private readonly partitioner: DefaultPartitioner;
  private readonly closeController = sharedAbortController();
  /** The producer id its pipelines start with (the latest issued), asked for at the first idempotent batch. */
  private identity: Promise<ProducerIdentity> | null = null;
  private closing: Promise<void> | null = null;
  private readonly admitting = new Set<Promise<void>>();
  /** The admission of the latest send: the next one waits for it (sends enter the buffers in call order). */
  private admissionTail: Promise<void> = Promise.resolve();
  /** `send` calls made so far, to tell which were made before the first contact with the cluster failed. */
  private sendsCalled = 0;
  /** A first contact that reached no broker, and the sends made before it failed: each of those fails with it. */
  private unreachable: { error: SkeinError; sendsBefore: number } | null = null;

  /** @internal Use `skein.producer()`. */
  constructor(
    private readonly cluster: Cluster,
    options: ProducerOptions | undefined,
    private readonly onClosed: (producer: Producer<O>) => void,
    random: Prng = new Prng(randomBytes(4).readUInt32LE(0)),
  ) {
    this.options = resolveProducerOptions(options, cluster.options.deliveryTimeoutMs);
    this.budget = new ByteBudget(this.options.bufferBytesMax);
    this.partitioner = new DefaultPartitioner(random);
  }

  /**
   * Sends records and resolves with where each was written, in input order,
   * once all are acknowledged. Waits while the producer buffer is full. Rejects
   * with the first record's failure if any fails (others may be written).
   *
   * Aborting `signal` rejects with its reason: records still waiting for
   * buffer space are never sent; records already buffered may still be written.
   */
  async send<V, K>(input: SendInput<V, K>, options?: { signal?: AbortSignal }): Promise<RecordMetadata<O>[]> {
    const signal = callSignal(options, 'send');
    signal?.throwIfAborted();
    if (this.closing !== null) throw new SkeinError('CLIENT_CLOSED', { message: 'send: the producer is closed' });
    // close() waits for sends still on their way into the buffer, so it flushes them too.
    let admitted!: () => void;
    const admission = new Promise<void>((resolve) => (admitted = resolve));
    this.admitting.add(admission);
    let acknowledgements: Promise<Acknowledgement[]>;
    let partitions: number[];
    let topicName: string;
    // Sends enter the buffers in call order: one waiting for metadata or buffer space must not be
    // overtaken by a later one, or records of one partition would be written out of the order sent.
    const previous = this.admissionTail;
    this.admissionTail = admission;
    // The delivery deadline counts from the call, queueing included.
    const calledAt = { nowMs: systemClock.nowMs(), epochMs: systemClock.epochMs() };
    const sendNumber = ++this.sendsCalled;
    let queued = true;
    try {
      await abortable(previous, signal);
      queued = false;
      // Sends enter one at a time: without this, each made before the cluster was found unreachable would wait out a first contact of its own.
      if (this.unreachable !== null && sendNumber <= this.unreachable.sendsBefore) throw this.unreachable.error;
      ({ acknowledgements, partitions, topicName } = await this.admit(input, signal, calledAt).catch((error: unknown) => {
        if (isSkeinError(error, 'NO_BROKERS_REACHABLE')) this.unreachable = { error, sendsBefore: this.sendsCalled };
        throw error;
      }));
    } finally {
      this.admitting.delete(admission);
      // A send aborted while queued still holds its place until the one ahead is in, so nothing behind it jumps ahead.
      if (queued) void previous.then(admitted);
      else admitted();
    }
    const acks = await abortable(acknowledgements, signal);
    return acks.map((ack, i) => ({ topic: topicName, partition: partitions[i]!, offset: ack.offset as O, timestamp: ack.timestamp }));
  }

  /** Checks and serializes the records, finds their partitions, waits for buffer space, and hands them to the pipelines. */
  private async admit<V, K>(
    input: SendInput<V, K>,
    signal: AbortSignal | undefined,
    calledAt: { nowMs: number; epochMs: number },
  ): Promise<{ acknowledgements: Promise<Acknowledgement[]>; partitions: number[]; topicName: string }> {
    if (typeof input !== 'object' || input === null) throw new SkeinError('INVALID_ARGUMENT', { message: 'send: expected { topic, messages }' });
    const topic = resolveTopic(input.topic, 'send');
    const messages = input.messages;
    if (!Array.isArray(messages) || messages.length === 0 || messages.length > sdkLimits.messagesPerSendMax) {
      throw new SkeinError('INVALID_ARGUMENT', { message: `send: messages must be a list of 1 to ${sdkLimits.messagesPerSendMax} messages` });
    }
    const deadlineMs = calledAt.nowMs + this.options.deliveryTimeoutMs;
    // Serialize first: a bad message fails the call before anything is buffered. Records are stamped with when send was called.
    const prepared = messages.map((message, i) => prepareMessage(message, i, topic, calledAt.epochMs));
    // The common case (metadata cached and fresh) costs no retry machinery.
    const meta =
      this.cluster.metadata.fresh(topic.name) ??
      (await retrying(
        {
          what: `metadata of ${topic.name}`,
          signal,
          deadlineMs,
          onFailure: (error) => this.cluster.classify(error, { topic: topic.name }),
        },
        (attemptSignal) => this.cluster.metadata.topic(topic.name, attemptSignal),
      ));
    const partitionCount = meta.partitions.length;
    const partitions = prepared.map(({ input: record, partition }, i) => {
      if (partition !== undefined) {
        if (partition >= partitionCount) {
          throw new SkeinError('UNKNOWN_PARTITION', { message: `send: message ${i} names partition ${partition}, but topic ${topic.name} has ${partitionCount}`, details: { topic: topic.name, partition } });
        }
        return partition;
      }
      const key = record.key ?? null;
      return this.options.partitioner === undefined
        ? this.partitioner.partition({ topic: topic.name, key, partitionCount })
        : checkedPartition(this.options.partitioner, { topic: topic.name, key, partitionCount });
    });
    let total = 0;
    for (const p of prepared) total += p.bytes;
    await this.budget.acquire(total, { signal, deadlineMs });
    if (this.closeController.signal.aborted) {
      this.budget.release(total);
      throw new SkeinError('CLIENT_CLOSED', { message: 'send: the producer closed while this send waited for buffer space' });
    }
    const group = new SendGroup(prepared.length);
    prepared.forEach((p, index) => {
      const pending: PendingRecord = { input: p.input, bytes: p.bytes, group, index };
      this.pipeline(topic.name, partitions[index]!, partitionCount).append(pending);
    });
    return { acknowledgements: group.promise, partitions, topicName: topic.name };
  }

  /** Sends everything buffered now, and resolves once those records are acknowledged or failed. */
  async flush(options?: { signal?: AbortSignal }): Promise<void> {
    const signal = callSignal(options, 'flush');
    await abortable(Promise.all([...this.pipelines.values()].map((p) => p.flush())).then(() => undefined), signal);
  }

  /**
   * Stops accepting records, delivers what is buffered (each record bounded
   * by its delivery deadline), then releases everything. Aborting `signal`
   * fails whatever is still pending with CLIENT_CLOSED and rejects with its reason.
   */
  async close(options?: { signal?: AbortSignal }): Promise<void> {
    const signal = callSignal(options, 'close');
    if (this.closing === null) {
      const closed = new SkeinError('CLIENT_CLOSED', { message: 'the producer closed before these records were acknowledged' });
      const onAbort = (): void => this.closeController.abort(closed);
      const stopListening = signal === undefined ? () => {} : whenAborted(signal, onAbort);
      this.closing = Promise.allSettled([...this.admitting])
        .then(() => Promise.all([...this.pipelines.values()].map((p) => p.flush())))
        .then(() => undefined)
        .finally(() => {
          stopListening();
          this.closeController.abort(closed);
          this.budget.close(closed);
          this.onClosed(this);
        });
      if (signal?.aborted) onAbort();
    }
    return abortable(this.closing, signal);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  stats(): ProducerStats {
    const total: ProducerStats = {
      batchesSent: 0,
      resends: 0,
      duplicates: 0,
      resequenced: 0,
      rotations: 0,
      bufferedBytes: this.budget.used,
      bufferedBytesHighWater: this.budget.highWaterBytes,
      sendsWaiting: this.admitting.size,
    };
    for (const pipeline of this.pipelines.values()) {
      for (const key of ['batchesSent', 'resends', 'duplicates', 'resequenced', 'rotations'] as const) total[key] += pipeline.stats[key];
    }
    return total;
  }

  private pipeline(topic: string, partition: number, partitionCount: number): PartitionPipeline {
    const key = `${topic}/${partition}`;
    let pipeline = this.pipelines.get(key);
    if (pipeline === undefined) {
      const { acks } = this.options;
      const cluster = this.cluster;
      const timeoutMs = cluster.options.requestTimeoutMs;
      pipeline = new PartitionPipeline({
        topic,
        partition,
        idempotent: this.options.idempotent,
        inFlightMax: this.options.inFlightMax,
        batchBytesMax: this.options.batchBytesMax,
        lingerMs: this.options.lingerMs,
        deliveryTimeoutMs: this.options.deliveryTimeoutMs,
        budget: this.budget,
        identity: (fresh, signal) => this.producerIdentity(fresh, signal),
        closeSignal: this.closeController.signal,
        onBatchSealed: () => this.partitioner.batchClosed(topic, partition, partitionCount),
        onFailure: (error, brokerId) => cluster.classify(error, { topic, partition, brokerId }),
        leader: async (signal): Promise<ProduceTarget> => {
          const target = await cluster.partitionTarget(topic, partition, 'leader', signal);
          return {
            brokerId: target.brokerId,
            transmit: (batch, transmitSignal, producerProof) => {
              const body = producerProof === null ? { topic, partition, acks, batch, timeoutMs } : { topic, partition, acks, batch, timeoutMs, producerProof };
              if (acks === 'none') return target.connection.notify(methods.produce, body).then(() => null);
              return target.connection.request(methods.produce, body, { signal: transmitSignal, timeoutMs }).then(readProduceResponse);
            },
            checks: cluster.leaderChecks(topic, partition, target),
          };
        },
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /**
   * A producer id from the cluster. Pipelines share the producer's; one whose
   * partition forgot it asks for a `fresh` one, which new pipelines then
   * share (the old one is as old for them). A failed request leaves nothing
   * behind: the next batch asks again.
   */
  private producerIdentity(fresh: boolean, signal: AbortSignal): Promise<ProducerIdentity> {
    if (fresh || this.identity === null) {
      const asked = this.cluster
        .callAny<unknown>(methods.initProducer, {}, { signal: this.closeController.signal, deadlineMs: systemClock.nowMs() + this.cluster.options.requestTimeoutMs })
        .then(readInitProducerResponse);
      this.identity = asked;
      asked.catch(() => {
        if (this.identity === asked) this.identity = null;
      });
    }
    return abortable(this.identity, signal);
  }
}

const utf8 = new TextEncoder();

/** Serializes one message and checks it against the record limits. */
function prepareMessage<V, K>(
  message: Message<V, K>,
  index: number,
  topic: { name: string; value: { serialize(v: V): Uint8Array }; key: { serialize(k: K): Uint8Array } },
  now: number,
): { input: RecordInput; bytes: number; partition: number | undefined } {
  const where = `send: message ${index} for topic ${topic.name}`;
  const invalid = (message: string, cause?: unknown): SkeinError => new SkeinError('INVALID_ARGUMENT', { message: `${where}: ${message}`, cause });
  if (typeof message !== 'object' || message === null) throw invalid('expected { value, key?, headers?, timestamp?, partition? }');
  const timestamp = message.timestamp ?? now;
  if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp >= 2 ** 52) throw invalid(`timestamp must be an integer in [0, 2^52), got ${String(timestamp)}`);
  const partition = message.partition;
  if (partition !== undefined && (!Number.isSafeInteger(partition) || partition < 0)) throw invalid(`partition must be a non-negative integer, got ${String(partition)}`);
  let value: Uint8Array;
  try {
    value = topic.value.serialize(message.value);
  } catch (cause) {
    throw invalid(`the value could not be serialized (${cause instanceof Error ? cause.message : String(cause)})`, cause);
  }
  let key: Uint8Array | null = null;
  if (message.key !== undefined && message.key !== null) {
    try {
      key = topic.key.serialize(message.key);
    } catch (cause) {
      throw invalid(`the key could not be serialized (${cause instanceof Error ? cause.message : String(cause)})`, cause);
    }
  }
  const headers = prepareHeaders(message.headers, invalid);
  const input: RecordInput = { key, value, headers, timestamp };
  const bytes = recordBytesBound(input);
  let payload = (key?.length ?? 0) + value.length;
  for (const h of headers) payload += Buffer.byteLength(h.key) + h.value.length;
  if (payload > recordLimits.recordBytesMax || bytes + BATCH_HEADER_BYTES > recordLimits.batchBytesMax) {
    throw new SkeinError('RECORD_TOO_LARGE', { message: `${where}: ${payload} bytes of key, value and headers exceed recordBytesMax (${recordLimits.recordBytesMax})` });
  }
  return { input, bytes, partition };
}

function prepareHeaders(headers: HeadersInput | undefined, invalid: (message: string) => SkeinError): RecordHeader[] {
  if (headers === undefined) return [];
  if (typeof headers !== 'object' || headers === null) throw invalid('headers must be a map or a list of { key, value }');
  const entries: [unknown, unknown][] = Array.isArray(headers)
    ? headers.map((h: unknown) => [(h as { key?: unknown })?.key, (h as { value?: unknown })?.value])
    : Object.entries(headers);
  if (entries.length > recordLimits.headersPerRecordMax) throw invalid(`at most ${recordLimits.headersPerRecordMax} headers`);
  return entries.map(([key, value]) => {
    if (typeof key !== 'string' || Buffer.byteLength(key) > recordLimits.headerKeyBytesMax) {
      throw invalid(`a header key must be a string of at most ${recordLimits.headerKeyBytesMax} bytes`);
    }
    if (typeof value === 'string') return { key, value: utf8.encode(value) };
    if (value instanceof Uint8Array) return { key, value };
    throw invalid(`header ${JSON.stringify(key)} must be a string or a Uint8Array`);
  });
}
