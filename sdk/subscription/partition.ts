import { systemClock } from '../../transport/clock.js';
import { SkeinError, errorFromWire, isSkeinError } from '../../transport/errors.js';
import { brokerLimits, sdkLimits } from '../../transport/limits.js';
import { methods, type SubscribeResponse } from '../../transport/protocol/messages.js';
import type { DecodedRecord } from '../../transport/protocol/records.js';
import { sharedAbortController, sleep } from '../../transport/abort.js';
import type { Cluster } from '../cluster.js';
import type { BrokerConnection, PushListener } from '../broker-connection.js';
import { BatchCursor } from '../consumer/cursor.js';
import { resolveFrom, type From } from '../consumer/from.js';
import { deserializeRecord, type ConsumedRecord } from '../consumer/record.js';
import { retrying } from '../retry.js';
import type { TopicDefinition } from '../topic.js';
import { readBatches } from '../../transport/protocol/responses.js';

/** What a subscription reports about itself (read them with `subscription.status()`). */
export type SubscriptionStatus =
  | { type: 'subscribed'; topic: string; partition: number; brokerId: number; offset: number }
  | { type: 'resubscribing'; topic: string; partition: number; offset: number; error: SkeinError }
  | { type: 'handlerError'; topic: string; partition: number; offset: number; error: unknown }
  | { type: 'deserializationError'; topic: string; partition: number; offset: number; error: SkeinError }
  /** A pushed batch whose records could not be decoded: its records [offset, nextOffset) were stepped over. */
  | { type: 'corruptBatch'; topic: string; partition: number; offset: number; nextOffset: number; error: SkeinError }
  | { type: 'failed'; topic: string; partition: number; error: SkeinError }
  | { type: 'closed' };

export interface PartitionSubscriberOptions<V, K> {
  cluster: Cluster;
  topic: TopicDefinition<V, K>;
  partition: number;
  from: From;
  handler: (record: ConsumedRecord<V, K>) => unknown;
  inFlightMax: number;
  creditBytes: number;
  creditRecords: number;
  nextSubscriptionId: () => number;
  emit: (status: SubscriptionStatus) => void;
}

interface Received {
  /** The subscription that received it: credit goes back to that one only. */
  attempt: Attempt;
  cursor: BatchCursor;
  /** Records of this push not yet finished by the handler (or skipped). */
  unfinished: number;
  bytesReturned: number;
}

/** One live `subscribe` on one connection; events from an older one are ignored. */
interface Attempt {
  id: number;
  connection: BrokerConnection;
  /** Credit the handler has freed and the broker has not been told about yet. */
  owedBytes: number;
  owedRecords: number;
}

/**
 * Delivers one partition's pushed records to the handler, in offset order,
 * once each. The broker pushes committed batches within the credit we grant;
 * we grant more only as the handler finishes records, so the handler's pace
 * sets the flow and buffered records never exceed the window (plus one batch).
 * When the subscription ends (pushEnd: the leader moved) or its connection
 * dies, buffered records are dropped and we subscribe again at the current
 * leader from the next offset the handler has not seen; records below it are skipped.
 */
export class PartitionSubscriber<V, K> {
  /** The next offset to hand to the handler; null until `from` is resolved. */
  position: number | null = null;
  private readonly received: Received[] = [];
  private attempt: Attempt | null = null;
  private running = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly stopController = sharedAbortController();
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wakeLoop: (() => void) | null = null;
  private needsSubscribe = true;
  private dispatching = false;
  private cancelCreditTimer: (() => void) | null = null;
  private lastError: SkeinError | null = null;
  readonly stats = { pushes: 0, records: 0, skipped: 0, creditMessages: 0, resubscribes: 0 };

  constructor(private readonly options: PartitionSubscriberOptions<V, K>) {}

  start(): void {
    this.loop = this.maintain();
  }

  /** Stops: no handler call starts after this; resolves once the running ones have finished. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.cancelCreditTimer?.();
      this.cancelCreditTimer = null;
      this.stopController.abort(new SkeinError('CLIENT_CLOSED', { message: 'the subscription is closed' }));
      this.wakeLoop?.();
      this.received.length = 0;
      const attempt = this.attempt;
      this.attempt = null;
      if (attempt !== null) {
        attempt.connection.unlisten(attempt.id);
        // Best effort: the broker also drops the subscription when the connection closes.
        attempt.connection.request(methods.unsubscribe, { subscriptionId: attempt.id }).catch(() => undefined);
      }
    }
    await this.loop;
    if (this.running > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Keeps a live subscription at the current leader until stopped or refused for good. */
  private async maintain(): Promise<void> {
    const { cluster, topic, partition } = this.options;
    const signal = this.stopController.signal;
    while (!this.stopped) {
      if (!this.needsSubscribe) {
        await new Promise<void>((resolve) => (this.wakeLoop = resolve));
        this.wakeLoop = null;
        continue;
      }
      try {
        await retrying(
          {
            what: `subscribe to ${topic.name}/${partition}`,
            signal,
            deadlineMs: systemClock.nowMs() + cluster.options.deliveryTimeoutMs,
            onFailure: (error) => cluster.classify(error, { topic: topic.name, partition }),
          },
          (attemptSignal) => this.subscribeOnce(attemptSignal),
        );
      } catch (error) {
        if (this.stopped) return;
        const failure = isSkeinError(error) ? error : new SkeinError('INTERNAL', { message: String(error), cause: error });
        if (failure.code !== 'TIMEOUT') {
          this.options.emit({ type: 'failed', topic: topic.name, partition, error: failure });
          this.stopped = true;
          return;
        }
        // A leader gone for longer than the deadline: keep trying, a subscription is meant to outlive outages.
        this.options.emit({ type: 'resubscribing', topic: topic.name, partition, offset: this.position ?? -1, error: failure });
        await sleep(sdkLimits.retryBackoffMsMax, signal).catch(() => undefined);
      }
    }
  }

  private async subscribeOnce(signal: AbortSignal): Promise<void> {
    const { cluster, topic, partition } = this.options;
    if (this.position === null) {
      this.position = await resolveFrom(cluster, { topic: topic.name, partition, from: this.options.from }, { signal });
    }
    const target = await cluster.partitionTarget(topic.name, partition, 'leader', signal);
    const attempt: Attempt = { id: this.options.nextSubscriptionId(), connection: target.connection, owedBytes: 0, owedRecords: 0 };
    // Listen first: the first push may arrive right behind the answer.
    target.connection.listen(attempt.id, this.listener(attempt));
    this.attempt = attempt;
    const offset = this.position;
    try {
      await target.connection.request<SubscribeResponse>(
        methods.subscribe,
        { subscriptionId: attempt.id, topic: topic.name, partition, offset, creditBytes: this.options.creditBytes, creditRecords: this.options.creditRecords },
        { signal },
      );
    } catch (error) {
      target.connection.unlisten(attempt.id);
      if (this.attempt === attempt) this.attempt = null;
      // The broker may have registered it before the answer was lost: best effort, it must not push into the void.
      if (target.connection.isOpen) target.connection.request(methods.unsubscribe, { subscriptionId: attempt.id }).catch(() => undefined);
      throw error;
    }
    if (this.attempt !== attempt) return;
    this.needsSubscribe = false;
    this.options.emit({ type: 'subscribed', topic: topic.name, partition, brokerId: target.brokerId, offset });
  }

  private listener(attempt: Attempt): PushListener {
    return {
      push: (body) => {
        if (this.attempt === attempt) this.onPush(attempt, body);
      },
      pushEnd: (body) => {
        if (this.attempt !== attempt) return;
        const wire = (body as { error?: unknown } | null)?.error;
        this.lost(attempt, errorFromWire(wire));
      },
      connectionLost: (error) => {
        if (this.attempt === attempt) this.lost(attempt, error);
      },
    };
  }

  /** The subscription ended: drop what is buffered and subscribe again from the position. */
  private lost(attempt: Attempt, error: SkeinError): void {
    if (this.stopped) return;
    attempt.connection.unlisten(attempt.id);
    this.attempt = null;
    this.received.length = 0;
    this.lastError = error;
    this.stats.resubscribes++;
    const { topic, partition } = this.options;
    // Learn from the reason (a NOT_LEADER hint) before the retry loop asks where to go.
    const verdict = this.options.cluster.classify(error, { topic: topic.name, partition, brokerId: attempt.connection.brokerId });
    if (verdict === 'fatal') {
      this.stopped = true;
      this.options.emit({ type: 'failed', topic: topic.name, partition, error });
      this.wakeLoop?.();
      return;
    }
    this.options.emit({ type: 'resubscribing', topic: topic.name, partition, offset: this.position ?? -1, error });
    this.needsSubscribe = true;
    this.wakeLoop?.();
  }

  private onPush(attempt: Attempt, body: unknown): void {
    let cursor: BatchCursor;
    try {
      cursor = new BatchCursor(readBatches(body, 'push'));
    } catch (error) {
      this.lost(attempt, isSkeinError(error) ? error : new SkeinError('PROTOCOL_VIOLATION', { message: String(error) }));
      return;
    }
    this.stats.pushes++;
    this.received.push({ attempt, cursor, unfinished: cursor.recordCount, bytesReturned: 0 });
    this.dispatch();
  }

  /** Starts handler calls in offset order, up to inFlightMax at once. */
  private dispatch(): void {
    // A synchronous handler finishes inside deliver(); the loop below picks up from there without recursing.
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      this.dispatchLoop();
    } catch (error) {
      // Nothing may end delivery without a word: a fault here (a bug) stops the partition with a 'failed' event.
      if (this.attempt !== null) this.lost(this.attempt, new SkeinError('INTERNAL', { message: `push delivery of ${this.options.topic.name}/${this.options.partition} failed: ${String(error)}`, cause: error }));
      return;
    } finally {
      this.dispatching = false;
    }
    if (this.running === 0) this.sendCredit(true);
  }

  private dispatchLoop(): void {
    while (!this.stopped && this.running < this.options.inFlightMax && this.received.length > 0) {
      const entry = this.received[0]!;
      const decoded = this.nextDecoded(entry);
      if (decoded === undefined) continue;
      if (decoded === null) {
        // Every record of the push has been handed out; a push of control batches alone is finished now.
        this.received.shift();
        if (entry.cursor.recordCount === 0) this.finish(entry, 0);
        continue;
      }
      if (decoded.offset < this.position!) {
        this.stats.skipped++;
        this.finish(entry, 1);
        continue;
      }
      this.position = decoded.offset + 1;
      this.deliver(entry, decoded);
    }
  }

  /** The push's next record, null when it has no more, or undefined when a batch of it could not be decoded (reported, its records stepped over and credited). */
  private nextDecoded(entry: Received): DecodedRecord | null | undefined {
    try {
      return entry.cursor.next(0);
    } catch (error) {
      const skipped = entry.cursor.skipBatch();
      if (!isSkeinError(error) || skipped === null) throw error;
      const { topic, partition } = this.options;
      this.options.emit({ type: 'corruptBatch', topic: topic.name, partition, offset: skipped.baseOffset, nextOffset: skipped.nextOffset, error });
      this.position = Math.max(this.position!, skipped.nextOffset);
      this.finish(entry, skipped.recordCount);
      return undefined;
    }
  }

  private deliver(entry: Received, decoded: DecodedRecord): void {
    const { topic, partition } = this.options;
    let record: ConsumedRecord<V, K>;
    try {
      record = deserializeRecord(topic, partition, decoded);
    } catch (error) {
      this.options.emit({ type: 'deserializationError', topic: topic.name, partition, offset: decoded.offset, error: error as SkeinError });
      this.finish(entry, 1);
      return;
    }
    this.running++;
    this.stats.records++;
    const done = (): void => {
      this.running--;
      this.finish(entry, 1);
      if (this.stopped && this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      this.dispatch();
    };
    let result: unknown;
    try {
      result = this.options.handler(record);
    } catch (error) {
      this.options.emit({ type: 'handlerError', topic: topic.name, partition, offset: decoded.offset, error });
      done();
      return;
    }
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
      Promise.resolve(result).then(done, (error: unknown) => {
        this.options.emit({ type: 'handlerError', topic: topic.name, partition, offset: decoded.offset, error });
        done();
      });
    } else done();
  }

  /** `count` records of a push are finished: their credit (and the push's bytes, pro rata) is owed to the broker. */
  private finish(entry: Received, count: number): void {
    const total = entry.cursor.recordCount;
    entry.unfinished -= count;
    const bytes = entry.unfinished <= 0 ? entry.cursor.byteLength - entry.bytesReturned : Math.floor((entry.cursor.byteLength * count) / total);
    entry.bytesReturned += bytes;
    // A push from a subscription that has ended owes nothing: the new one started with a full window.
    if (entry.attempt !== this.attempt) return;
    entry.attempt.owedBytes += bytes;
    entry.attempt.owedRecords += count;
    this.sendCredit(false);
  }

  /**
   * Tells the broker about freed credit, coalesced: once a quarter of the
   * window is owed, or everything a moment after the handler has gone idle
   * (pushCreditIdleFlushMs), so a trickle of pushes is not answered one
   * credit message each.
   */
  private sendCredit(idle: boolean): void {
    const attempt = this.attempt;
    if (attempt === null || !owesCredit(attempt)) return;
    const enough = attempt.owedBytes * 4 >= this.options.creditBytes || attempt.owedRecords * 4 >= this.options.creditRecords;
    if (enough) this.returnOwedCredit(attempt);
    else if (idle && this.received.length === 0 && this.cancelCreditTimer === null && !this.stopped) this.cancelCreditTimer = systemClock.after(sdkLimits.pushCreditIdleFlushMs, this.flushIdleCredit);
  }

  private readonly flushIdleCredit = (): void => {
    this.cancelCreditTimer = null;
    const attempt = this.attempt;
    if (attempt !== null && !this.stopped && owesCredit(attempt)) this.returnOwedCredit(attempt);
  };

  private returnOwedCredit(attempt: Attempt): void {
    // One message carries at most what a broker accepts (readCredit); the rest goes with the next one.
    const bytes = Math.min(attempt.owedBytes, brokerLimits.pushCreditBytesMax);
    const records = Math.min(attempt.owedRecords, brokerLimits.pushCreditRecordsMax);
    const body = { subscriptionId: attempt.id, bytes, records };
    attempt.owedBytes -= bytes;
    attempt.owedRecords -= records;
    this.stats.creditMessages++;
    attempt.connection.notify(methods.credit, body).catch((error: unknown) => {
      if (this.attempt === attempt && isSkeinError(error)) this.lost(attempt, error);
    });
  }

  get error(): SkeinError | null {
    return this.lastError;
  }
}

function owesCredit(attempt: Attempt): boolean {
  return attempt.owedBytes > 0 || attempt.owedRecords > 0;
}
