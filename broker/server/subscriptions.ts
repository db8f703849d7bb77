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
import { joinBatches } from './fetch.js';

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
 * connection first, and never beyond it, so a client that grants credit and
 * then stops reading holds what it was sent and no more, however many
 * subscriptions it opened. The subscriptions of a connection take turns for
 * room and for the event loop (pushBytesMax per turn), so none of them, and
 * no client, waits behind the others' reads.
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
  /** Size of the batch at `offset` when it alone exceeded the room last reserved (0: fits or unknown). */
  firstBatchBytes: number;
  pumping: boolean;
  ended: boolean;
  stopListening: () => void;
}

/** Counted for every connection's subscriptions together (the broker's counters). */
export interface PushCounters {
  pushes: number;
  pushedBytes: number;
  pushesEnded: number;
}

export class PushSubscriptions {
  private readonly subscriptions = new Map<number, Subscription>();
  /** Subscriptions waiting for room on the connection or for the next turn, in the order they get it. */
  private readonly waiting = new Set<Subscription>();
  private roomAwaited = false;
  /** Bytes reserved for pushes read in this turn of the event loop (see takeTurn). */
  private turnBytes = 0;

  constructor(
    private readonly sink: PushSink,
    /** The replica of a partition this broker leads; throws NOT_LEADER / UNKNOWN_TOPIC otherwise. */
    private readonly leaderView: (topic: string, partition: number) => PartitionView,
    private readonly counters: PushCounters,
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
      firstBatchBytes: 0,
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
    if (sub.pumping || sub.ended || this.waiting.has(sub)) return;
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
        // No await between a return below and `pumping = false`: whoever resumes it finds it idle.
        if (this.turnBytes >= brokerLimits.pushBytesMax) {
          this.waiting.add(sub);
          return;
        }
        const reservedBytes = this.reserve(sub);
        if (reservedBytes === 0) {
          if (this.sink.isOpen) this.waitForRoom(sub);
          return;
        }
        this.takeTurn(reservedBytes);
        const push = this.read(sub, reservedBytes);
        if (push === 'nothing') return;
        if (push === 'larger') continue;
        // Awaiting the send is the backpressure: a congested link slows the pushes, never queues them.
        await this.sink.notify(methods.push, push, { reservedBytes });
      }
    } catch (error) {
      await this.end(sub, error instanceof SkeinError ? error : new SkeinError('INTERNAL', { message: 'push failed', cause: error }));
    } finally {
      sub.pumping = false;
    }
  }

  /**
   * Room for the subscription's next push: what its credit asks (within pushBytesMax), and at least its next
   * batch when that is known to be larger. 0, holding nothing, when the connection has less room than that.
   */
  private reserve(sub: Subscription): number {
    const envelopeBytes = transportLimits.rpcEnvelopeBytesMax;
    const wantedBytes = envelopeBytes + Math.max(Math.min(sub.creditBytes, brokerLimits.pushBytesMax), sub.firstBatchBytes);
    const reservedBytes = this.sink.reserveSendBytes(wantedBytes);
    if (reservedBytes >= envelopeBytes + Math.max(1, sub.firstBatchBytes)) return reservedBytes;
    this.sink.releaseSendBytes(reservedBytes);
    return 0;
  }

  /**
   * The next push, read into the room reserved for it and never beyond it: a push that does not fit waits
   * for room (the client taking what it was sent) instead of being read, refused, and read again.
   * 'larger': the next batch alone exceeds the room (the next reservation asks for all of it).
   */
  private read(sub: Subscription, reservedBytes: number): PushMessage | 'larger' | 'nothing' {
    const { view } = sub;
    const result = view.readCommitted(sub.offset, reservedBytes - transportLimits.rpcEnvelopeBytesMax, { withinBudget: true });
    if (result.batches.length === 0) {
      this.sink.releaseSendBytes(reservedBytes);
      if (result.firstBatchBytes === undefined) return 'nothing';
      sub.firstBatchBytes = result.firstBatchBytes;
      return 'larger';
    }
    sub.firstBatchBytes = 0;
    let records = 0;
    for (const batch of result.batches) {
      const header = checkBatchHeader(batch, 0);
      if (header instanceof BatchFault) {
        this.sink.releaseSendBytes(reservedBytes);
        throw header.toError(`${view.topic}/${view.partition}: `);
      }
      records += header.nextOffset - Math.max(header.baseOffset, sub.offset);
    }
    const push: PushMessage = { subscriptionId: sub.id, batches: joinBatches(result.batches), nextOffset: result.nextOffset, highWatermark: view.highWatermark };
    sub.offset = result.nextOffset;
    sub.creditBytes -= result.bytes;
    sub.creditRecords -= records;
    this.counters.pushes++;
    this.counters.pushedBytes += result.bytes;
    return push;
  }

  /**
   * Subscriptions wait for the connection's room in turn, behind one wake-up: with every subscription waiting
   * on its own, each acknowledgement of a client that reads slowly woke all of them to find room for one.
   */
  private waitForRoom(sub: Subscription): void {
    this.waiting.add(sub);
    if (this.roomAwaited) return;
    this.roomAwaited = true;
    void this.sink.whenSendRoom().then(() => {
      this.roomAwaited = false;
      this.resumeWaiting();
    });
  }

  /**
   * Resumes waiting subscriptions in order while this turn has room for pushes. One that found no room on the
   * connection, or no turn left, is queued again (last, so the next wake-up starts with another): the rest wait.
   */
  private readonly resumeWaiting = (): void => {
    while (this.turnBytes < brokerLimits.pushBytesMax) {
      const [first] = this.waiting;
      if (first === undefined) return;
      this.waiting.delete(first);
      void this.pump(first);
      if (this.waiting.has(first)) return;
    }
  };

  /**
   * A connection's pushes read at most pushBytesMax per turn of the event loop; the subscriptions beyond wait
   * for the next turn, in turn. 1,024 subscriptions starting at once (or woken by room for 32 MiB) read a
   * push each in one synchronous run, a quarter second in which every other client's requests waited.
   */
  private takeTurn(bytes: number): void {
    if (this.turnBytes === 0) {
      setImmediate(() => {
        this.turnBytes = 0;
        this.resumeWaiting();
      });
    }
    this.turnBytes += bytes;
  }

  private async end(sub: Subscription, error: SkeinError): Promise<void> {
    if (sub.ended) return;
    this.remove(sub);
    this.counters.pushesEnded++;
    const message: PushEndMessage = { subscriptionId: sub.id, error: error.toWire() as PushEndMessage['error'] };
    // The connection may be gone already; then the client notices that instead.
    await this.sink.notify(methods.pushEnd, message).catch(() => {});
  }

  private remove(sub: Subscription): void {
    sub.ended = true;
    this.waiting.delete(sub);
    sub.stopListening();
    this.subscriptions.delete(sub.id);
  }
}
