import { systemClock } from '../../transport/clock.js';
import { SkeinError } from '../../transport/errors.js';
import { brokerLimits, sdkLimits } from '../../transport/limits.js';
import { abortable, sharedAbortController } from '../../transport/abort.js';
import { callSignal, OptionReader } from '../check.js';
import type { Cluster } from '../cluster.js';
import { checkFrom, defaultFrom, type From } from '../consumer/from.js';
import type { ConsumedRecord } from '../consumer/record.js';
import { retrying } from '../retry.js';
import { resolveTopic, type TopicDefinition, type TopicInput } from '../topic.js';
import { PartitionSubscriber, type SubscriptionStatus } from './partition.js';
import { StatusFeed } from './status.js';

export interface SubscribeOptions<V = unknown, K = unknown> {
  topic: TopicInput<V, K>;
  /** One partition; default: all partitions of the topic. */
  partition?: number;
  /** Where to start. Default 'earliest' (every record kept); 'latest' for only records written from now on. */
  from?: From;
  /** Called once per record, in offset order per partition; the subscription's pace is its pace. */
  handler: (record: ConsumedRecord<V, K>) => unknown;
  /** Handler calls running at once per partition (they start in offset order). Default 1: strictly one after another. */
  inFlightMax?: number;
  /** @deprecated The name before 0.2; use `inFlightMax` (read until the next release). */
  maxInFlight?: number;
  /** The credit window per partition: bytes and records the broker may push ahead of the handler. Defaults 1 MiB and 1000. */
  creditBytes?: number;
  creditRecords?: number;
  /** Aborting it closes the subscription. */
  signal?: AbortSignal;
}

const knownOptions = ['topic', 'partition', 'from', 'handler', 'inFlightMax', 'creditBytes', 'creditRecords', 'signal'];

/**
 * A push consumer: the broker pushes committed records and the handler runs
 * on each. Observe it with `status()`; stop it with `close()` (or `await using`,
 * or the signal). A handler that throws is reported as a 'handlerError' status
 * and the subscription moves on (the record counts as delivered).
 */
export class Subscription<V = unknown, K = unknown> implements AsyncDisposable {
  private readonly topic: TopicDefinition<V, K>;
  private readonly feed = new StatusFeed<SubscriptionStatus>(sdkLimits.statusEventsMax);
  private readonly subscribers = new Map<number, PartitionSubscriber<V, K>>();
  private readonly settings: { from: From; inFlightMax: number; creditBytes: number; creditRecords: number; partition: number | undefined };
  private readonly handler: (record: ConsumedRecord<V, K>) => unknown;
  private readonly signal: AbortSignal | undefined;
  private readonly startController = sharedAbortController();
  private closing: Promise<void> | null = null;
  private failedPartitions = 0;
  private markClosed!: () => void;
  /** Resolves once the subscription has stopped: closed, or every partition failed for good. */
  readonly closed: Promise<void> = new Promise((resolve) => (this.markClosed = resolve));

  /** @internal Use `skein.subscribe()`. */
  constructor(
    private readonly cluster: Cluster,
    options: SubscribeOptions<V, K>,
    private readonly nextSubscriptionId: () => number,
    private readonly onClosed: (subscription: Subscription<V, K>) => void,
  ) {
    const r = new OptionReader(options, 'subscribe()', 'INVALID_CONFIG', knownOptions);
    this.topic = resolveTopic(options.topic, 'subscribe()');
    const handler = r.fn<(record: ConsumedRecord<V, K>) => unknown>('handler');
    if (handler === undefined) throw r.fail('subscribe(): handler is required: (record) => void | Promise<void>');
    this.handler = handler;
    this.signal = r.signal('signal');
    this.settings = {
      partition: r.has('partition') ? r.int('partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 }, 0) : undefined,
      from: r.has('from') ? checkFrom(options.from, 'subscribe()') : defaultFrom,
      inFlightMax: r.int('inFlightMax', { min: 1, max: sdkLimits.pushInFlightMax }, 1),
      creditBytes: r.int('creditBytes', { min: 1024, max: brokerLimits.pushCreditBytesMax }, sdkLimits.pushCreditBytesDefault),
      creditRecords: r.int('creditRecords', { min: 1, max: brokerLimits.pushCreditRecordsMax }, sdkLimits.pushCreditRecordsDefault),
    };
    if (this.signal?.aborted) {
      void this.close();
      return;
    }
    this.signal?.addEventListener('abort', () => void this.close(), { once: true });
    void this.start();
  }

  /**
   * Status events from now on, as an async iterable of tagged unions:
   * 'subscribed', 'resubscribing' (leader moved or connection lost),
   * 'handlerError', 'deserializationError', 'corruptBatch' (a batch whose
   * records could not be decoded was stepped over), 'failed' (a partition
   * stopped for good) and a final 'closed'. A slow reader loses the oldest events (at most
   * sdkLimits.statusEventsMax are kept per reader), never memory.
   */
  status(): AsyncIterableIterator<SubscriptionStatus> {
    return this.feed.iterate();
  }

  /** The next offset the handler will see on `partition` (default: the only one), or undefined before it is known. */
  position(partition?: number): number | undefined {
    const subscribers = [...this.subscribers.values()];
    if (partition === undefined) {
      if (subscribers.length > 1) throw new SkeinError('INVALID_ARGUMENT', { message: 'position: this subscription reads several partitions; name one' });
      return subscribers[0]?.position ?? undefined;
    }
    return this.subscribers.get(partition)?.position ?? undefined;
  }

  /**
   * Stops every partition; resolves once no handler call is running, and none
   * starts after. Idempotent. A handler that never returns keeps it waiting:
   * abort `signal` to stop waiting (dispatch has stopped either way).
   */
  async close(options?: { signal?: AbortSignal }): Promise<void> {
    const signal = callSignal(options, 'close');
    if (this.closing === null) {
      this.startController.abort(new SkeinError('CLIENT_CLOSED', { message: 'the subscription is closed' }));
      this.closing = Promise.all([...this.subscribers.values()].map((s) => s.stop())).then(() => {
        this.feed.emit({ type: 'closed' });
        this.feed.end();
        this.markClosed();
        this.onClosed(this);
      });
    }
    return abortable(this.closing, signal);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async start(): Promise<void> {
    const topic = this.topic.name;
    let partitions: number[];
    try {
      const meta = await retrying(
        {
          what: `metadata of ${topic}`,
          signal: this.startController.signal,
          deadlineMs: systemClock.nowMs() + this.cluster.options.deliveryTimeoutMs,
          onFailure: (error) => this.cluster.classify(error, { topic }),
        },
        (signal) => this.cluster.metadata.topic(topic, signal),
      );
      const count = meta.partitions.length;
      const only = this.settings.partition;
      if (only !== undefined && only >= count) {
        throw new SkeinError('UNKNOWN_PARTITION', { message: `topic ${topic} has ${count} partitions; there is no partition ${only}`, details: { topic, partition: only } });
      }
      partitions = only !== undefined ? [only] : Array.from({ length: count }, (_, i) => i);
    } catch (error) {
      if (this.closing !== null) return;
      const failure = error instanceof SkeinError ? error : new SkeinError('INTERNAL', { message: String(error), cause: error });
      this.feed.emit({ type: 'failed', topic, partition: this.settings.partition ?? -1, error: failure });
      void this.close();
      return;
    }
    if (this.closing !== null) return;
    for (const partition of partitions) {
      const subscriber = new PartitionSubscriber<V, K>({
        cluster: this.cluster,
        topic: this.topic,
        partition,
        from: this.settings.from,
        handler: this.handler,
        inFlightMax: this.settings.inFlightMax,
        creditBytes: this.settings.creditBytes,
        creditRecords: this.settings.creditRecords,
        nextSubscriptionId: this.nextSubscriptionId,
        emit: (status) => {
          this.feed.emit(status);
          if (status.type === 'failed' && ++this.failedPartitions === partitions.length) void this.close();
        },
      });
      this.subscribers.set(partition, subscriber);
      subscriber.start();
    }
  }
}
