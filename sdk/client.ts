import { SkeinError } from '../transport/errors.js';
import { abortable } from '../transport/abort.js';
import { callSignal } from './check.js';
import { Admin } from './admin.js';
import { Cluster } from './cluster.js';
import type { Dialer } from './broker-connection.js';
import { Consumer, type ConsumerOptions } from './consumer/consumer.js';
import { createDialer } from './dial.js';
import { resolveSkeinOptions, type SkeinOptions } from './options.js';
import { Producer, type ProducerOptions } from './producer/producer.js';
import { Subscription, type SubscribeOptions } from './subscription/subscription.js';
import { GroupConsumer, type GroupConsumerOptions } from './groups/group-consumer.js';
import { GroupSubscription, type GroupSubscribeOptions } from './groups/group-subscription.js';

/** @internal How tests put a client on an in-memory network. */
export interface SkeinInternals {
  dial?: Dialer;
}

interface Closable {
  close(options?: { signal?: AbortSignal }): Promise<void>;
}

/**
 * The skein client: one per application (or per cluster it talks to). It
 * bootstraps from any broker in `brokers`, keeps one connection per broker and
 * the cluster metadata, and follows partition leaders by itself.
 *
 * ```ts
 * await using skein = new Skein({ brokers: ['127.0.0.1:9092'], clientId: 'orders-service' });
 * ```
 */
export class Skein implements AsyncDisposable {
  private readonly cluster: Cluster;
  private readonly children = new Set<Closable>();
  private readonly closeDialer: () => Promise<void>;
  private closing: Promise<void> | null = null;
  private subscriptionIds = 0;

  constructor(options: SkeinOptions, internals: SkeinInternals = {}) {
    const resolved = resolveSkeinOptions(options);
    const dialer =
      internals.dial === undefined
        ? createDialer({ loss: resolved.loss, transport: resolved.transport, bootstrap: resolved.brokers })
        : { dial: internals.dial, close: async () => {} };
    this.closeDialer = dialer.close;
    this.cluster = new Cluster(resolved, dialer.dial);
  }

  /**
   * A producer. With `acks: 'none'` its sends resolve with `offset: null`
   * (fire and forget: nothing comes back to say where, or whether, records landed).
   */
  producer(options: ProducerOptions & { acks: 'none' }): Producer<null>;
  producer(options?: ProducerOptions & { acks?: 'all' | 'leader' }): Producer<number>;
  /** Acks chosen at run time (a flag, a config file): offsets are null when they are 'none'. */
  producer(options?: ProducerOptions): Producer<number | null>;
  producer(options?: ProducerOptions): Producer<number> | Producer<null> | Producer<number | null> {
    this.throwIfClosed('producer');
    return this.adopt(new Producer<number>(this.cluster, options, (p) => this.children.delete(p)));
  }

  /** A pull consumer in a consumer group: it shares the partitions of its topics with the group's other members and commits what it finished. */
  consumer<V = unknown, K = unknown>(options: GroupConsumerOptions<V, K>): GroupConsumer<V, K>;
  /** A pull consumer of one partition or all partitions of a topic, keeping its own position. */
  consumer<V = unknown, K = unknown>(options: ConsumerOptions<V, K>): Consumer<V, K>;
  consumer<V = unknown, K = unknown>(options: ConsumerOptions<V, K> | GroupConsumerOptions<V, K>): Consumer<V, K> | GroupConsumer<V, K> {
    this.throwIfClosed('consumer');
    if (isGrouped(options)) {
      const consumer: GroupConsumer<V, K> = new GroupConsumer<V, K>(this.cluster, options, () => this.children.delete(consumer));
      return this.adopt(consumer);
    }
    return this.adopt(new Consumer<V, K>(this.cluster, options as ConsumerOptions<V, K>, (c) => this.children.delete(c)));
  }

  /** A push consumer in a consumer group: `handler` runs on each record of the partitions this member owns, with retries and a dead-letter topic. */
  subscribe<V = unknown, K = unknown>(options: GroupSubscribeOptions<V, K>): GroupSubscription<V, K>;
  /** A push subscription: the broker pushes committed records and `handler` runs on each. */
  subscribe<V = unknown, K = unknown>(options: SubscribeOptions<V, K>): Subscription<V, K>;
  subscribe<V = unknown, K = unknown>(options: SubscribeOptions<V, K> | GroupSubscribeOptions<V, K>): Subscription<V, K> | GroupSubscription<V, K> {
    this.throwIfClosed('subscribe');
    if (isGrouped(options)) {
      const subscription: GroupSubscription<V, K> = new GroupSubscription<V, K>(this.cluster, options, () => this.children.delete(subscription));
      return this.adopt(subscription);
    }
    const nextId = (): number => (this.subscriptionIds = (this.subscriptionIds + 1) % 0x1_0000_0000);
    return this.adopt(new Subscription<V, K>(this.cluster, options as SubscribeOptions<V, K>, nextId, (s) => this.children.delete(s)));
  }

  /** Topic and cluster administration. */
  admin(): Admin {
    this.throwIfClosed('admin');
    return new Admin(this.cluster);
  }

  /**
   * Closes producers (delivering what they buffered, each record bounded by
   * its delivery deadline), consumers and subscriptions, then every
   * connection. Idempotent. Aborting `signal` stops waiting for producers and
   * handlers: what is still pending fails with CLIENT_CLOSED, and connections close at once.
   */
  async close(options?: { signal?: AbortSignal }): Promise<void> {
    const signal = callSignal(options, 'close');
    if (this.closing === null) {
      this.closing = (async () => {
        await Promise.allSettled([...this.children].map((child) => child.close({ signal })));
        await this.cluster.close();
        await this.closeDialer();
      })();
    }
    return abortable(this.closing, signal);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private adopt<T extends Closable>(child: T): T {
    this.children.add(child);
    return child;
  }

  private throwIfClosed(what: string): void {
    if (this.closing !== null) throw new SkeinError('CLIENT_CLOSED', { message: `${what}(): the client is closed` });
  }
}

/** Options naming a group make a group consumer. */
function isGrouped<T extends object>(options: T): options is Extract<T, { group: string }> {
  return typeof options === 'object' && options !== null && (options as { group?: unknown }).group !== undefined;
}
