import { SkeinError } from '../../transport/errors.js';
import { brokerLimits, transportLimits } from '../../transport/limits.js';
import {
  type CreditMessage,
  methods,
  type PushEndMessage,
  type PushMessage,
  type SubscribeRequest,
  type SubscribeResponse,
} from '../../transport/protocol/messages.js';
import { BatchFault, checkBatchHeader } from '../../transport/protocol/record-batch.js';
import type { PartitionView } from '../partition/view.js';

/**
 * The push subscriptions of one client connection. The broker sends
 * committed batches as they commit while the subscription has credit (bytes
 * and records); the client grants more as its handler finishes records, so a
 * slow consumer is never flooded and the broker holds nothing per
 * subscription but a position. Pushes come from the partition's leader; when
 * this broker stops leading, the subscription ends with NOT_LEADER and the
 * leader hint, and the client resubscribes there from `nextOffset`.
 *
 * Credit is the client's word; the connection's room is the broker's own
 * bound. A push is read from the log only into room reserved on the
 * connection first, so a client that grants credit and then stops reading
 * holds what it was sent and no more, however many subscriptions it opened.
 */
export interface PushSink {
  notify(method: string, body: unknown, options?: { reservedBytes?: number }): Promise<void>;
  /** Room to send up to `wantedBytes` now (0: none; see whenSendRoom); the grant goes to `notify` or back. */
  reserveSendBytes(wantedBytes: number): number;
  releaseSendBytes(bytes: number): void;
  /** Resolves once room may have grown (or the connection closed). */
  whenSendRoom(): Promise<void>;
  readonly isOpen: boolean;
}

interface Subscription {
  readonly id: number;
  readonly view: PartitionView;
  offset: number;
  creditBytes: number;
  creditRecords: number;
  pumping: boolean;
  ended: boolean;
  stopListening: () => void;
}

export interface PushCounters {
  pushes: number;
  pushedBytes: number;
  ended: number;
}

export class PushSubscriptions {
  private readonly subscriptions = new Map<number, Subscription>();
  readonly counters: PushCounters = { pushes: 0, pushedBytes: 0, ended: 0 };

  constructor(
    private readonly sink: PushSink,
    /** The replica of a partition this broker leads; throws NOT_LEADER / UNKNOWN_TOPIC otherwise. */
    private readonly leaderView: (topic: string, partition: number) => PartitionView,
  ) {}

  subscribe(request: SubscribeRequest): SubscribeResponse {
    const view = this.leaderView(request.topic, request.partition);
    if (this.subscriptions.has(request.subscriptionId)) {
      throw new SkeinError('INVALID_ARGUMENT', { message: `subscription ${request.subscriptionId} exists on this connection` });
    }
    if (this.subscriptions.size >= brokerLimits.subscriptionsPerConnectionMax) {
      throw new SkeinError('BACKPRESSURE', { message: `at most ${brokerLimits.subscriptionsPerConnectionMax} subscriptions per connection` });
    }
    if (request.offset < view.logStartOffset || request.offset > Math.max(view.highWatermark, view.logEndOffset)) {
      throw new SkeinError('OFFSET_OUT_OF_RANGE', {
        message: `offset ${request.offset} is outside ${view.topic}/${view.partition} [${view.logStartOffset}, ${view.highWatermark}]`,
        details: { offset: request.offset, logStartOffset: view.logStartOffset, highWatermark: view.highWatermark },
      });
    }
    const sub: Subscription = {
      id: request.subscriptionId,
      view,
      offset: request.offset,
      creditBytes: request.creditBytes,
      creditRecords: request.creditRecords,
      pumping: false,
      ended: false,
      stopListening: () => {},
    };
    sub.stopListening = view.changes.listen(() => void this.pump(sub));
    this.subscriptions.set(sub.id, sub);
    // After the response is on its way: the first push must not overtake the answer to subscribe.
    queueMicrotask(() => void this.pump(sub));
    return { highWatermark: view.highWatermark, logStartOffset: view.logStartOffset };
  }

  credit(message: CreditMessage): void {
    const sub = this.subscriptions.get(message.subscriptionId);
    if (sub === undefined) return;
    sub.creditBytes = Math.min(sub.creditBytes + message.bytes, brokerLimits.pushCreditBytesMax);
    sub.creditRecords = Math.min(sub.creditRecords + message.records, brokerLimits.pushCreditRecordsMax);
    void this.pump(sub);
  }

  unsubscribe(subscriptionId: number): void {
    const sub = this.subscriptions.get(subscriptionId);
    if (sub !== undefined) this.remove(sub);
  }

  /** The connection closed: nothing more can be pushed. */
  closeAll(): void {
    for (const sub of [...this.subscriptions.values()]) this.remove(sub);
  }

  get size(): number {
    return this.subscriptions.size;
  }

  private async pump(sub: Subscription): Promise<void> {
    if (sub.pumping || sub.ended) return;
    sub.pumping = true;
    try {
      while (!sub.ended && sub.creditBytes > 0 && sub.creditRecords > 0) {
        const { view } = sub;
        if (view.closed || !view.isLeader()) {
          await this.end(sub, new SkeinError('NOT_LEADER', { message: `this broker stopped leading ${view.topic}/${view.partition}`, details: { ...view.leaderHint() } }));
          return;
        }
        if (sub.offset < view.logStartOffset) {
          await this.end(sub, new SkeinError('OFFSET_OUT_OF_RANGE', { message: `offset ${sub.offset} was deleted by retention`, details: { offset: sub.offset, logStartOffset: view.logStartOffset } }));
          return;
        }
        if (sub.offset >= view.highWatermark) return;
        const envelopeBytes = transportLimits.rpcEnvelopeBytesMax;
        const reservedBytes = this.sink.reserveSendBytes(Math.min(sub.creditBytes, brokerLimits.pushBytesMax) + envelopeBytes);
        if (reservedBytes === 0) {
          if (!this.sink.isOpen) return;
          await this.sink.whenSendRoom();
          continue;
        }
        const result = view.readCommitted(sub.offset, Math.max(1, reservedBytes - envelopeBytes));
        if (result.batches.length === 0) {
          this.sink.releaseSendBytes(reservedBytes);
          return;
        }
        let records = 0;
        for (const batch of result.batches) {
          const header = checkBatchHeader(batch, 0);
          if (header instanceof BatchFault) {
            this.sink.releaseSendBytes(reservedBytes);
            throw header.toError(`${view.topic}/${view.partition}: `);
          }
          records += header.nextOffset - Math.max(header.baseOffset, sub.offset);
        }
        const push: PushMessage = {
          subscriptionId: sub.id,
          batches: result.batches.length === 1 ? result.batches[0]! : Buffer.concat(result.batches),
          nextOffset: result.nextOffset,
          highWatermark: view.highWatermark,
        };
        sub.offset = result.nextOffset;
        sub.creditBytes -= result.bytes;
        sub.creditRecords -= records;
        this.counters.pushes++;
        this.counters.pushedBytes += result.bytes;
        // Awaiting the send is the backpressure: a congested link slows the pushes, never queues them.
        await this.sink.notify(methods.push, push, { reservedBytes });
      }
    } catch (error) {
      await this.end(sub, error instanceof SkeinError ? error : new SkeinError('INTERNAL', { message: 'push failed', cause: error }));
    } finally {
      sub.pumping = false;
    }
  }

  private async end(sub: Subscription, error: SkeinError): Promise<void> {
    if (sub.ended) return;
    this.remove(sub);
    this.counters.ended++;
    const message: PushEndMessage = { subscriptionId: sub.id, error: error.toWire() as PushEndMessage['error'] };
    // The connection may be gone already; then the client notices that instead.
    await this.sink.notify(methods.pushEnd, message).catch(() => {});
  }

  private remove(sub: Subscription): void {
    sub.ended = true;
    sub.stopListening();
    this.subscriptions.delete(sub.id);
  }
}
