import { systemClock } from '../../transport/clock.js';
import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { brokerLimits, sdkLimits } from '../../transport/limits.js';
import { methods } from '../../transport/protocol/messages.js';
import type { DecodedRecord } from '../../transport/protocol/records.js';
import { abortable, sharedAbortController } from '../../transport/abort.js';
import { callSignal, OptionReader } from '../check.js';
import type { Cluster, ReadFrom } from '../cluster.js';
import { retrying } from '../retry.js';
import { resolveTopic, type TopicDefinition, type TopicInput } from '../topic.js';
import { BatchCursor } from './cursor.js';
import { checkFrom, defaultFrom, resolveFrom, type From } from './from.js';
import { deserializeRecord, type ConsumedRecord } from './record.js';
import { readBatches } from '../../transport/protocol/responses.js';

export interface ConsumerOptions<V = unknown, K = unknown> {
  topic: TopicInput<V, K>;
  /** Read one partition; default: all partitions of the topic. */
  partition?: number;
  /** Where to start. Default 'earliest' (every record kept); 'latest' reads only records written from now on. */
  from?: From;
  /** 'leader' (default) or 'follower': read from another replica (it serves what it knows to be committed). */
  readFrom?: ReadFrom;
  /** Bytes asked for in one fetch of one partition. Default 1 MiB. */
  fetchBytesMax?: number;
  /** Long-poll wait of `for await` iteration. Default 500 ms. */
  waitMsMax?: number;
  /** Records per step of `for await` iteration. Default 1000. */
  recordsMax?: number;
  /** @deprecated The name before 0.2; use `waitMsMax` (read until the next release). */
  maxWaitMs?: number;
  /** @deprecated The name before 0.2; use `recordsMax` (read until the next release). */
  maxRecords?: number;
}

export interface FetchOptions {
  /** At most this many records. Default 1000. */
  recordsMax?: number;
  /** Wait up to this long for records when none are buffered. Default 500 ms; 0 returns at once. */
  waitMsMax?: number;
  signal?: AbortSignal;
  /** @deprecated The name before 0.2; use `recordsMax` (read until the next release). */
  maxRecords?: number;
  /** @deprecated The name before 0.2; use `waitMsMax` (read until the next release). */
  maxWaitMs?: number;
}

interface PartitionState {
  partition: number;
  /** The offset of the next record to hand out; null until `from` is resolved. */
  position: number | null;
  from: From;
  /** The records being handed out, and at most one more response read ahead: the read-ahead bound. */
  cursor: BatchCursor | null;
  next: BatchCursor | null;
  fetch: AbortController | null;
  /** Bumped by seek: answers to fetches from before it are dropped. */
  generation: number;
  /** Fetches started so far, and the serial (1-based) of the last one that answered. */
  fetchesStarted: number;
  lastAnswered: number;
  failure: unknown;
}

const knownOptions = ['topic', 'partition', 'from', 'readFrom', 'fetchBytesMax', 'waitMsMax', 'recordsMax'];

/**
 * A pull consumer: `fetch()` batches of records, or `for await` over them.
 * It keeps its own position per partition (no consumer group) and reads
 * ahead at most one fetch response per partition beyond the one it is
 * handing out, so memory stays bounded however slow the application is.
 */
export class Consumer<V = unknown, K = unknown> implements AsyncIterable<ConsumedRecord<V, K>>, AsyncDisposable {
  private readonly topic: TopicDefinition<V, K>;
  private readonly onlyPartition: number | undefined;
  private readonly readFrom: ReadFrom;
  private readonly fetchBytesMax: number;
  private readonly iterationWaitMs: number;
  private readonly iterationRecords: number;
  private readonly closeController = sharedAbortController();
  private states: PartitionState[] | null = null;
  private initialFrom: From;
  private readonly pendingSeeks = new Map<number, From>();
  private readonly changeWaiters = new Set<() => void>();
  private readonly fetches = new Set<Promise<void>>();
  private turn = 0;
  private lock: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | null = null;

  /** @internal Use `skein.consumer()`. */
  constructor(
    private readonly cluster: Cluster,
    options: ConsumerOptions<V, K>,
    private readonly onClosed: (consumer: Consumer<V, K>) => void,
  ) {
    const r = new OptionReader(options, 'consumer()', 'INVALID_CONFIG', knownOptions);
    this.topic = resolveTopic(options.topic, 'consumer()');
    this.onlyPartition = r.has('partition') ? r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 }, 0) : undefined;
    this.initialFrom = r.has('from') ? checkFrom(options.from, 'consumer()') : defaultFrom;
    this.readFrom = r.oneOf('readFrom', ['leader', 'follower'], 'leader');
    this.fetchBytesMax = r.int('fetchBytesMax', { min: 1024, max: brokerLimits.fetchBytesMax }, sdkLimits.fetchBytesDefault);
    this.iterationWaitMs = r.int('waitMsMax', { min: 0, max: brokerLimits.fetchWaitMsMax }, sdkLimits.fetchWaitMsDefault);
    this.iterationRecords = r.int('recordsMax', { min: 1, max: brokerLimits.fetchRecordsMax }, sdkLimits.fetchRecordsDefault);
  }

  /**
   * Returns up to `recordsMax` records, in offset order per partition, waiting
   * up to `waitMsMax` when none are buffered (an empty list then). A record
   * whose key or value does not deserialize rejects with DESERIALIZATION_FAILED
   * (details: topic, partition, offset) and stays the position: seek past it
   * to go on. Records before it in the same call are returned first. So is a
   * batch whose records cannot be decoded: CORRUPT_BATCH (details: topic,
   * partition, offset, nextOffset), and seek to its nextOffset to go on.
   */
  async fetch(options: FetchOptions = {}): Promise<ConsumedRecord<V, K>[]> {
    const r = new OptionReader(options, 'fetch', 'INVALID_ARGUMENT', ['recordsMax', 'waitMsMax', 'signal']);
    const recordsMax = r.int('recordsMax', { min: 1, max: brokerLimits.fetchRecordsMax }, sdkLimits.fetchRecordsDefault);
    const waitMsMax = r.int('waitMsMax', { min: 0, max: brokerLimits.fetchWaitMsMax }, sdkLimits.fetchWaitMsDefault);
    const signal = r.signal('signal');
    // One fetch at a time: two callers interleaving would each see half of a partition's order.
    const run = this.lock.then(() => this.fetchNow(recordsMax, waitMsMax, signal));
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Moves the position (of one partition, or all) to `from`; takes effect at
   * the next fetch. Records read ahead are dropped.
   */
  seek(from: From, options: { partition?: number } = {}): void {
    this.throwIfClosed('seek');
    const spec = checkFrom(from, 'seek');
    const partition = options.partition;
    if (partition !== undefined && (!Number.isSafeInteger(partition) || partition < 0)) {
      throw new SkeinError('INVALID_ARGUMENT', { message: 'seek: partition must be a non-negative integer' });
    }
    if (this.states === null) {
      if (partition === undefined) {
        this.initialFrom = spec;
        this.pendingSeeks.clear();
      } else this.pendingSeeks.set(partition, spec);
      return;
    }
    const targets = this.states.filter((s) => partition === undefined || s.partition === partition);
    if (targets.length === 0) throw new SkeinError('UNKNOWN_PARTITION', { message: `seek: this consumer does not read partition ${String(partition)}` });
    for (const state of targets) this.reset(state, spec);
  }

  /**
   * The offset of the next record of `partition` (default: the only one read),
   * or undefined before the first fetch has resolved `from`.
   */
  position(partition?: number): number | undefined {
    if (this.states === null) {
      const from = this.pendingSeeks.get(partition ?? this.onlyPartition ?? -1) ?? this.initialFrom;
      return typeof from === 'object' && 'offset' in from ? from.offset : undefined;
    }
    if (partition === undefined) {
      if (this.states.length !== 1) throw new SkeinError('INVALID_ARGUMENT', { message: 'position: this consumer reads several partitions; name one' });
      return this.states[0]!.position ?? undefined;
    }
    const state = this.states.find((s) => s.partition === partition);
    if (state === undefined) throw new SkeinError('UNKNOWN_PARTITION', { message: `position: this consumer does not read partition ${partition}` });
    return state.position ?? undefined;
  }

  /**
   * Long-polls and yields records one by one, a batch of up to `recordsMax`
   * fetched at a time. Leaving the loop early (`break`, `return` or a throw
   * in its body) ends that loop only: the consumer stays open, positioned
   * after the last record the loop handed out, and the next loop or fetch()
   * goes on from there. The consumer closes with close(), `await using`, or
   * its client; a loop running then ends without an error.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumedRecord<V, K>, void, undefined> {
    let batch: ConsumedRecord<V, K>[] = [];
    let handedOut = 0;
    try {
      while (this.closing === null) {
        try {
          batch = await this.fetch({ recordsMax: this.iterationRecords, waitMsMax: this.iterationWaitMs });
        } catch (error) {
          if (this.closing !== null && isSkeinError(error, 'CLIENT_CLOSED')) return;
          throw error;
        }
        handedOut = 0;
        for (const record of batch) {
          handedOut++;
          yield record;
        }
      }
    } finally {
      if (handedOut < batch.length) this.giveBack(batch.slice(handedOut));
    }
  }

  /** Stops reading: fetches in flight are cancelled, read-ahead dropped. Idempotent. */
  async close(options?: { signal?: AbortSignal }): Promise<void> {
    const signal = callSignal(options, 'close');
    if (this.closing === null) {
      this.closeController.abort(new SkeinError('CLIENT_CLOSED', { message: 'the consumer is closed' }));
      for (const wake of this.changeWaiters) wake();
      this.closing = Promise.allSettled([...this.fetches]).then(() => {
        for (const state of this.states ?? []) state.cursor = state.next = null;
        this.onClosed(this);
      });
    }
    return abortable(this.closing, signal);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------- internals

  private throwIfClosed(what: string): void {
    if (this.closing !== null) throw new SkeinError('CLIENT_CLOSED', { message: `${what}: the consumer is closed` });
  }

  private async fetchNow(recordsMax: number, waitMsMax: number, signal: AbortSignal | undefined): Promise<ConsumedRecord<V, K>[]> {
    this.throwIfClosed('fetch');
    signal?.throwIfAborted();
    const states = await this.ready(signal);
    // Only a fetch started by this call answers it: an older one may have asked for a shorter wait.
    const startedBefore = states.map((s) => s.fetchesStarted);
    const answered = (state: PartitionState, i: number): boolean => state.lastAnswered > startedBefore[i]!;
    // The broker long-polls for waitMsMax; a partition whose leader is moving may take longer, but not forever.
    const softUntilMs = systemClock.nowMs() + waitMsMax;
    const hardUntilMs = softUntilMs + this.cluster.options.requestTimeoutMs;
    for (;;) {
      this.throwIfClosed('fetch');
      const records = this.drain(states, recordsMax);
      // Keep one response in flight per partition (read-ahead), except where this call already heard "nothing".
      this.startFetches(states, waitMsMax, (state, i) => records.length === 0 && answered(state, i));
      if (records.length > 0) return records;
      for (const state of states) {
        if (state.failure !== undefined) {
          const failure = state.failure;
          state.failure = undefined;
          throw failure;
        }
      }
      const answeredCount = states.filter(answered).length;
      const now = systemClock.nowMs();
      if (answeredCount === states.length || now >= hardUntilMs || (now >= softUntilMs && answeredCount > 0)) return [];
      await this.changed(signal, now < softUntilMs ? softUntilMs : hardUntilMs);
    }
  }

  /** Partitions known and positions resolved. */
  private async ready(signal: AbortSignal | undefined): Promise<PartitionState[]> {
    const deadlineMs = systemClock.nowMs() + this.cluster.options.deliveryTimeoutMs;
    if (this.states === null) {
      const topic = this.topic.name;
      const meta = await retrying(
        { what: `metadata of ${topic}`, signal, deadlineMs, onFailure: (error) => this.cluster.classify(error, { topic }) },
        (attemptSignal) => this.cluster.metadata.topic(topic, attemptSignal),
      );
      const count = meta.partitions.length;
      if (this.onlyPartition !== undefined && this.onlyPartition >= count) {
        throw new SkeinError('UNKNOWN_PARTITION', { message: `topic ${topic} has ${count} partitions; there is no partition ${this.onlyPartition}`, details: { topic, partition: this.onlyPartition } });
      }
      if (this.states === null) {
        const partitions = this.onlyPartition !== undefined ? [this.onlyPartition] : Array.from({ length: count }, (_, i) => i);
        this.states = partitions.map((partition) => ({
          partition,
          position: null,
          from: this.pendingSeeks.get(partition) ?? this.initialFrom,
          cursor: null,
          next: null,
          fetch: null,
          generation: 0,
          fetchesStarted: 0,
          lastAnswered: 0,
          failure: undefined,
        }));
      }
    }
    const states = this.states;
    const unresolved = states.filter((s) => s.position === null);
    if (unresolved.length > 0) {
      await Promise.all(
        unresolved.map(async (state) => {
          const generation = state.generation;
          const offset = await resolveFrom(this.cluster, { topic: this.topic.name, partition: state.partition, from: state.from }, { signal, deadlineMs });
          if (state.generation === generation) state.position = offset;
        }),
      );
    }
    return states;
  }

  /**
   * Puts records fetched but never handed out back in front: each partition
   * they came from goes back to the first of them (and reads it again). A
   * partition whose position moved since (a seek, or a fetch inside the loop)
   * keeps its new one.
   */
  private giveBack(records: ConsumedRecord<V, K>[]): void {
    if (this.closing !== null || this.states === null) return;
    const first = new Map<number, ConsumedRecord<V, K>>();
    const last = new Map<number, ConsumedRecord<V, K>>();
    for (const record of records) {
      if (!first.has(record.partition)) first.set(record.partition, record);
      last.set(record.partition, record);
    }
    for (const state of this.states) {
      const from = first.get(state.partition);
      if (from !== undefined && state.position === last.get(state.partition)!.offset + 1) this.reset(state, { offset: from.offset });
    }
  }

  private reset(state: PartitionState, from: From): void {
    state.generation++;
    // An offset needs no asking: position() tells it at once.
    state.position = typeof from === 'object' && 'offset' in from ? from.offset : null;
    state.from = from;
    state.cursor = state.next = null;
    state.failure = undefined;
    state.fetch?.abort(new SkeinError('ABORTED', { message: 'seek' }));
    state.fetch = null;
  }

  /** Takes up to `max` records from what is buffered, a partition at a time, starting with a different one each call. */
  private drain(states: PartitionState[], max: number): ConsumedRecord<V, K>[] {
    const out: ConsumedRecord<V, K>[] = [];
    const start = this.turn++;
    for (let i = 0; i < states.length && out.length < max; i++) {
      const state = states[(start + i) % states.length]!;
      while (out.length < max) {
        let decoded: DecodedRecord | null;
        try {
          decoded = this.nextRecord(state);
        } catch (error) {
          // A batch that cannot be decoded stays the position (seek past it to go on); what came before it is returned first.
          if (out.length > 0) return out;
          throw isSkeinError(error) ? new SkeinError(error.code, { message: `${this.topic.name}/${state.partition}: ${error.message}`, cause: error, details: { ...error.details, topic: this.topic.name, partition: state.partition } }) : error;
        }
        if (decoded === null) break;
        let record: ConsumedRecord<V, K>;
        try {
          record = deserializeRecord(this.topic, state.partition, decoded);
        } catch (error) {
          state.cursor?.unread();
          if (out.length > 0) return out;
          throw error;
        }
        out.push(record);
        state.position = decoded.offset + 1;
      }
    }
    return out;
  }

  private nextRecord(state: PartitionState): DecodedRecord | null {
    for (;;) {
      if (state.cursor === null) {
        if (state.next === null) return null;
        state.cursor = state.next;
        state.next = null;
      }
      const record = state.cursor.next(state.position!);
      if (record !== null) return record;
      state.cursor = null;
    }
  }

  /** Starts a fetch for each partition with room for one more response (none buffered, or read-ahead of the current one). */
  private startFetches(states: PartitionState[], waitMsMax: number, skip: (state: PartitionState, index: number) => boolean): void {
    states.forEach((state, i) => {
      if (state.fetch !== null || state.position === null || state.next !== null || state.failure !== undefined || skip(state, i)) return;
      const offset = state.cursor === null ? state.position : Math.max(state.position, state.cursor.endOffset);
      this.startFetch(state, offset, waitMsMax);
    });
  }

  private startFetch(state: PartitionState, offset: number, waitMsMax: number): void {
    const controller = new AbortController();
    const closeSignal = this.closeController.signal;
    const onClose = (): void => controller.abort(closeSignal.reason);
    closeSignal.addEventListener('abort', onClose, { once: true });
    state.fetch = controller;
    const serial = ++state.fetchesStarted;
    const generation = state.generation;
    const topic = this.topic.name;
    // The wire keeps its field names (protocol version 2); the options above follow the naming rule.
    const body = { topic, partition: state.partition, offset, maxBytes: this.fetchBytesMax, maxRecords: brokerLimits.fetchRecordsMax, maxWaitMs: waitMsMax };
    const done = this.cluster
      .callPartition(
        { topic, partition: state.partition, method: methods.fetch, body, readFrom: this.readFrom },
        { signal: controller.signal, timeoutMs: this.cluster.options.requestTimeoutMs + waitMsMax },
      )
      .then(
        (response) => {
          if (state.generation !== generation) return;
          const cursor = new BatchCursor(readBatches(response, 'fetch response'));
          if (cursor.recordCount === 0) return;
          if (state.cursor === null) state.cursor = cursor;
          else state.next = cursor;
        },
      )
      .catch((error: unknown) => {
        if (state.generation === generation && !controller.signal.aborted) state.failure = error;
      })
      .finally(() => {
        closeSignal.removeEventListener('abort', onClose);
        if (state.fetch === controller) state.fetch = null;
        if (state.generation === generation) state.lastAnswered = serial;
        this.fetches.delete(done);
        for (const wake of this.changeWaiters) wake();
      });
    this.fetches.add(done);
  }

  /** Waits for any fetch to finish, `untilMs`, the consumer closing, or the signal. */
  private changed(signal: AbortSignal | undefined, untilMs: number): Promise<void> {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    this.changeWaiters.add(wake);
    const cancel = systemClock.after(Math.max(0, untilMs - systemClock.nowMs()), wake);
    return abortable(woken, signal).finally(() => {
      cancel();
      this.changeWaiters.delete(wake);
    });
  }
}
