import { systemClock } from '../../transport/clock.js';
import { backoffMs } from '../../transport/retry.js';
import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { brokerLimits, groupLimits } from '../../transport/limits.js';
import { topicNameProblem } from '../../transport/protocol/messages.js';
import { OptionReader } from '../check.js';
import type { Cluster } from '../cluster.js';
import { Consumer } from '../consumer/consumer.js';
import type { From } from '../consumer/from.js';
import { undecodableRecord, type ConsumedRecord } from '../consumer/record.js';
import { Producer } from '../producer/producer.js';
import { serdes } from '../serde.js';
import { defineTopic } from '../topic.js';
import type { OwnedPartition } from './membership.js';
import { GroupSession, groupOptionNames, keyOf, type GroupOptions, type Progress } from './session.js';

export interface GroupSubscribeOptions<V = unknown, K = unknown> extends GroupOptions<V, K> {
  /**
   * Runs on each record, started in offset order per partition (partitions
   * run side by side); by default one at a time per partition.
   */
  handler: (record: ConsumedRecord<V, K>) => unknown;
  /**
   * Handlers running at once on one partition. Default 1. Above one they start
   * in offset order but may finish in any order (a record being retried does
   * not hold the next ones back); what is committed is the lowest record not
   * yet finished, so a crash never skips one that was still running.
   */
  inFlightMax?: number;
  /** A handler that throws is tried again with exponential backoff (with jitter), up to attemptsMax in all. Defaults 5, 100 ms to 10 s. */
  retry?: {
    attemptsMax?: number;
    backoffMs?: { min?: number; max?: number };
    /** @deprecated The name before 0.2; use `attemptsMax` (read until the next release). */
    maxAttempts?: number;
  };
  /**
   * Where a record goes once its attempts are spent, with headers naming its
   * origin and the error; the record then counts as finished. Without one, the
   * record is reported (`skipped`) and finished.
   */
  deadLetterTopic?: string;
  /** Bytes asked for in one fetch of one partition. Default 1 MiB. */
  fetchBytesMax?: number;
}

/** A record as it was stored: raw key and value, with where it came from. */
interface StoredRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: ConsumedRecord['headers'];
}

interface Worker<V, K> {
  readonly owned: OwnedPartition;
  readonly consumer: Consumer<V, K>;
  stopped: boolean;
  wake: (() => void) | null;
  done: Promise<void>;
  /** Handlers running now (they settle, never reject: see `failure`). */
  readonly running: Set<Promise<void>>;
  /** Offsets handed to a handler and not finished, in offset order: the first is what a commit may not pass. */
  readonly unfinished: Set<number>;
  /** What ended a handler abnormally (a dead letter that could not be sent): the subscription fails with it. */
  failure: unknown;
}

/**
 * A push consumer in a consumer group: `handler` runs on every record of the
 * partitions this member owns, one at a time per partition. A record is
 * finished when its handler resolved, or when it was dead-lettered or
 * skipped after its attempts; auto-commit commits the finished ones. A
 * revoked partition stops taking new records at once; the record in hand
 * finishes (retries stop), then it is committed and released.
 */
export class GroupSubscription<V = unknown, K = unknown> extends GroupSession<V, K> implements AsyncDisposable {
  private readonly workers = new Map<string, Worker<V, K>>();
  private readonly handler: (record: ConsumedRecord<V, K>) => unknown;
  private readonly attemptsMax: number;
  private readonly backoff: { min: number; max: number };
  private readonly deadLetterTopic: string | null;
  private readonly fetchBytesMax: number;
  private readonly inFlightMax: number;
  private deadLetters: Producer<number> | null = null;

  /** @internal Use `skein.subscribe({ group, ... })`. */
  constructor(cluster: Cluster, options: GroupSubscribeOptions<V, K>, onClosed: () => void) {
    const r = new OptionReader(options, 'subscribe()', 'INVALID_CONFIG', [...groupOptionNames, 'handler', 'retry', 'deadLetterTopic', 'fetchBytesMax', 'inFlightMax']);
    super(cluster, options, r, onClosed);
    const handler = r.fn<(record: ConsumedRecord<V, K>) => unknown>('handler');
    if (handler === undefined) throw r.fail('subscribe(): handler is required');
    this.handler = handler;
    const retry = new OptionReader(options.retry, 'subscribe() retry', 'INVALID_CONFIG', ['attemptsMax', 'backoffMs']);
    this.attemptsMax = retry.int('attemptsMax', { min: 1, max: groupLimits.handlerAttemptsMax }, groupLimits.handlerAttemptsDefault);
    const backoff = new OptionReader(options.retry?.backoffMs, 'subscribe() retry.backoffMs', 'INVALID_CONFIG', ['min', 'max']);
    const min = backoff.int('min', { min: 0, max: groupLimits.handlerBackoffMsMax }, groupLimits.handlerBackoffMsMin);
    this.backoff = { min, max: backoff.int('max', { min, max: groupLimits.handlerBackoffMsMax }, Math.max(min, groupLimits.handlerBackoffMsMax)) };
    this.deadLetterTopic = r.has('deadLetterTopic') ? r.string('deadLetterTopic', { bytesMax: brokerLimits.topicNameBytesMax }, '') : null;
    const problem = this.deadLetterTopic === null ? null : topicNameProblem(this.deadLetterTopic);
    if (problem !== null) throw r.fail(`subscribe(): deadLetterTopic: ${problem}`);
    this.fetchBytesMax = r.int('fetchBytesMax', { min: 1024, max: brokerLimits.fetchBytesMax }, 1024 * 1024);
    this.inFlightMax = r.int('inFlightMax', { min: 1, max: groupLimits.handlerInFlightMax }, 1);
    this.begin(this.deadLetterTopic === null ? [] : [this.deadLetterTopic]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  override close(): Promise<void> {
    return super.close().then(() => this.deadLetters?.close());
  }

  // ------------------------------------------------------------------ GroupSession

  protected start(owned: OwnedPartition, from: From): void {
    const topic = this.topics.get(owned.topic);
    if (topic === undefined) return;
    const consumer = new Consumer<V, K>(this.cluster, { topic, partition: owned.partition, from, fetchBytesMax: this.fetchBytesMax }, () => {});
    const worker: Worker<V, K> = { owned, consumer, stopped: false, wake: null, done: Promise.resolve(), running: new Set(), unfinished: new Set(), failure: undefined };
    worker.done = this.work(worker).catch((error: unknown) => this.fail(isSkeinError(error) ? error : new SkeinError('INTERNAL', { message: String(error), cause: error })));
    this.workers.set(keyOf(owned), worker);
  }

  protected async drain(owned: OwnedPartition[]): Promise<void> {
    const stopping = owned.map((o) => this.stop(keyOf(o))).filter((w) => w !== undefined);
    await Promise.all(stopping.map((w) => w.done));
  }

  protected drop(owned: OwnedPartition[]): void {
    for (const o of owned) this.stop(keyOf(o));
  }

  protected changed(): void {}

  // ------------------------------------------------------------------ the work of one partition

  private stop(key: string): Worker<V, K> | undefined {
    const worker = this.workers.get(key);
    if (worker === undefined) return undefined;
    this.workers.delete(key);
    worker.stopped = true;
    worker.wake?.();
    void worker.consumer.close();
    return worker;
  }

  /** Reads the partition and hands its records to handlers until stopped; resolves once every handler it started has settled. */
  private async work(worker: Worker<V, K>): Promise<void> {
    try {
      await this.dispatch(worker);
    } finally {
      // Stopped (revoked, lost, closing) or failed: nothing new starts, and what runs finishes first (drain waits for this).
      await Promise.all(worker.running);
    }
    if (worker.failure !== undefined) throw worker.failure;
  }

  private async dispatch(worker: Worker<V, K>): Promise<void> {
    const { owned } = worker;
    while (!worker.stopped && worker.failure === undefined) {
      let records: ConsumedRecord<V, K>[];
      try {
        records = await worker.consumer.fetch({ recordsMax: 100, waitMsMax: 500 });
      } catch (error) {
        if (worker.stopped) return;
        // A failed read is dealt with in order: after every record before it finished.
        await Promise.all(worker.running);
        if (worker.failure !== undefined) return;
        await this.readFailed(worker, error);
        continue;
      }
      if (records.length > 0) this.fetchedUpTo(owned, records[records.length - 1]!.offset + 1);
      for (const record of records) {
        while (worker.running.size >= this.inFlightMax) await Promise.race(worker.running);
        const progress = this.progress.get(keyOf(owned));
        if (worker.stopped || worker.failure !== undefined || progress === undefined || !this.membership.mayConsume(owned.topic, owned.partition)) return;
        progress.handed = record.offset + 1;
        this.launch(worker, progress, record);
      }
    }
  }

  /** Runs one record's handler (with retries, then dead letter or skip) beside the others; finished moves to the lowest record still unfinished. */
  private launch(worker: Worker<V, K>, progress: Progress, record: ConsumedRecord<V, K>): void {
    worker.unfinished.add(record.offset);
    const run = this.deliver(worker, record).then(
      (finished) => {
        // Not finished (revoked while it was being retried): it stays the lowest unfinished, and nothing after it is committed.
        if (!finished) return;
        worker.unfinished.delete(record.offset);
        progress.finished = worker.unfinished.size === 0 ? progress.handed : worker.unfinished.values().next().value!;
      },
      (error: unknown) => void (worker.failure ??= error),
    );
    worker.running.add(run);
    void run.finally(() => worker.running.delete(run));
  }

  /** Runs the handler with retries; then dead-letters or skips. False if the partition was revoked first (the record stays unfinished). */
  private async deliver(worker: Worker<V, K>, record: ConsumedRecord<V, K>): Promise<boolean> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.attemptsMax; attempt++) {
      try {
        await this.handler(record);
        return true;
      } catch (error) {
        lastError = error;
        this.feed.emit({ type: 'handlerError', topic: record.topic, partition: record.partition, offset: record.offset, attempt, error });
      }
      if (attempt < this.attemptsMax && !(await this.pause(worker, this.backoffMs(attempt)))) return false;
    }
    if (worker.stopped) return false;
    const topic = this.topics.get(record.topic)!;
    const stored = { ...record, key: record.key === null ? null : topic.key.serialize(record.key), value: topic.value.serialize(record.value) };
    await this.giveUp(stored, lastError, this.attemptsMax);
    return true;
  }

  /**
   * A record no attempt can finish: to the dead-letter topic when there is
   * one, else reported and skipped; either way counted, on the status feed,
   * and finished.
   */
  private async giveUp(record: StoredRecord, error: unknown, attempts: number): Promise<void> {
    if (this.deadLetterTopic === null) {
      this.count(record, 'skipped', 1);
      this.feed.emit({ type: 'skipped', topic: record.topic, partition: record.partition, reason: 'handler', from: record.offset, to: record.offset + 1 });
      return;
    }
    await this.deadLetter(record, error, attempts);
    this.count(record, 'deadLettered', 1);
    this.feed.emit({ type: 'deadLettered', topic: record.topic, partition: record.partition, offset: record.offset, deadLetterTopic: this.deadLetterTopic, attempts });
  }

  /** Produces the record (its key and value as they were stored) to the dead-letter topic, acknowledged by all replicas. */
  private async deadLetter(record: StoredRecord, error: unknown, attempts: number): Promise<void> {
    const target = defineTopic(this.deadLetterTopic!, { value: serdes.bytes(), key: serdes.bytes() });
    this.deadLetters ??= new Producer<number>(this.cluster, { acks: 'all' }, () => {});
    const message = error instanceof Error ? error.message : String(error);
    const headers = [
      ...record.headers,
      { key: 'skein.dlq.topic', value: record.topic },
      { key: 'skein.dlq.partition', value: String(record.partition) },
      { key: 'skein.dlq.offset', value: String(record.offset) },
      { key: 'skein.dlq.timestamp', value: String(record.timestamp) },
      { key: 'skein.dlq.group', value: this.group },
      { key: 'skein.dlq.client', value: this.cluster.options.clientId },
      { key: 'skein.dlq.attempts', value: String(attempts) },
      { key: 'skein.dlq.error.code', value: isSkeinError(error) ? error.code : 'HANDLER_ERROR' },
      { key: 'skein.dlq.error.message', value: truncateUtf8(message, groupLimits.deadLetterErrorBytesMax) },
      // A record stored without a value is dead-lettered with an empty one, and says so.
      ...(record.value === null ? [{ key: 'skein.dlq.value', value: 'null' }] : []),
    ];
    await this.deadLetters.send({ topic: target, messages: [{ key: record.key, value: record.value ?? new Uint8Array(0), headers, timestamp: record.timestamp }] });
  }

  /** A fetch failed: retention deleted what the group had not read (go on from the first record kept, and say so); other errors wait and retry. */
  private async readFailed(worker: Worker<V, K>, error: unknown): Promise<void> {
    const details = (isSkeinError(error) ? error.details : undefined) as { offset?: number; logStartOffset?: number } | undefined;
    if (isSkeinError(error, 'OFFSET_OUT_OF_RANGE') && details?.offset !== undefined && details.logStartOffset !== undefined && details.offset < details.logStartOffset) {
      worker.consumer.seek({ offset: details.logStartOffset });
      this.count(worker.owned, 'skipped', details.logStartOffset - details.offset);
      this.feed.emit({ type: 'skipped', topic: worker.owned.topic, partition: worker.owned.partition, reason: 'retention', from: details.offset, to: details.logStartOffset });
      return;
    }
    if (isSkeinError(error, 'DESERIALIZATION_FAILED') || isSkeinError(error, 'CORRUPT_BATCH')) return this.undecodable(worker, error);
    await this.pause(worker, this.backoff.max);
  }

  /**
   * Retrying cannot help a record that does not decode: it goes straight to
   * the dead-letter topic as it was stored (no attempt made), or, without
   * one, is reported and stepped over; never silently. A corrupt batch has no
   * records to send anywhere: it is reported and stepped over whole.
   */
  private async undecodable(worker: Worker<V, K>, error: SkeinError): Promise<void> {
    const { owned } = worker;
    const details = (error.details ?? {}) as { offset?: number; nextOffset?: number };
    const offset = Number(details.offset ?? 0);
    const next = Number(details.nextOffset ?? offset + 1);
    const progress = this.progress.get(keyOf(owned));
    if (progress === undefined || !this.membership.mayConsume(owned.topic, owned.partition)) {
      // Not ours to act on (being revoked, or the lease ended): wait for the stop rather than read the same error again at once.
      await this.pause(worker, groupLimits.pendingHeartbeatMs);
      return;
    }
    progress.handed = next;
    this.feed.emit({ type: 'handlerError', topic: owned.topic, partition: owned.partition, offset, attempt: 0, error });
    const stored = error.code === 'DESERIALIZATION_FAILED' ? undecodableRecord(error) : undefined;
    if (stored !== undefined) {
      await this.giveUp({ ...stored, topic: owned.topic, partition: owned.partition }, error, 0);
    } else {
      this.count(owned, 'skipped', Math.max(1, next - offset));
      this.feed.emit({ type: 'skipped', topic: owned.topic, partition: owned.partition, reason: 'handler', from: offset, to: next });
    }
    worker.consumer.seek({ offset: next });
    progress.finished = next;
  }

  /** The backoff every retry in skein uses (transport/retry.ts), between this subscription's bounds. */
  private backoffMs(attempt: number): number {
    return backoffMs({ backoffMsMin: this.backoff.min, backoffMsMax: this.backoff.max }, attempt - 1, Math.random);
  }

  /** Waits `ms` unless the partition is revoked first; returns whether it is still ours. */
  private pause(worker: Worker<V, K>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (): void => {
        cancel();
        worker.wake = null;
        resolve(!worker.stopped);
      };
      const cancel = systemClock.after(ms, done);
      worker.wake = done;
    });
  }
}

/** At most `bytesMax` bytes of `text` in UTF-8, never ending inside a character. */
export function truncateUtf8(text: string, bytesMax: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.byteLength <= bytesMax) return text;
  // Step back over continuation bytes (10xxxxxx) to the start of the character the limit cuts.
  let end = bytesMax;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
