import { describe, expect, it } from 'vitest';
import { AdvanceSignal } from '../../broker/partition/advance-signal.js';
import type { PartitionView } from '../../broker/partition/view.js';
import { type PushCounters, type PushSink, PushSubscriptions } from '../../broker/server/subscriptions.js';
import { brokerLimits, transportLimits } from '../../transport/limits.js';
import { methods, type PushMessage } from '../../transport/protocol/messages.js';
import { committedView } from './server/support/committed-view.js';

/**
 * The broker's push loop against a connection whose room is counted by hand:
 * a client that does not read holds what it was sent, and the broker reads
 * no push it has no room for.
 */
const envelopeBytes = transportLimits.rpcEnvelopeBytesMax;

/** A connection with `roomBytes` of room: reservations take it, the client's acknowledgements (`free`) give it back. */
class CountedSink implements PushSink {
  reserveCalls = 0;
  /** Pushes that were larger than the room reserved for them (the transport refuses those). */
  oversized = 0;
  readonly pushes: PushMessage[] = [];
  readonly ends: unknown[] = [];
  private waiters: Array<() => void> = [];
  isOpen = true;

  constructor(public roomBytes: number) {}

  reserveSendBytes(wantedBytes: number): number {
    this.reserveCalls++;
    const granted = Math.min(wantedBytes, this.roomBytes);
    this.roomBytes -= granted;
    return granted;
  }

  releaseSendBytes(bytes: number): void {
    this.roomBytes += bytes;
  }

  whenSendRoom(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async notify(method: string, body: unknown, options: { reservedBytes?: number } = {}): Promise<void> {
    if (method === methods.pushEnd) {
      this.ends.push(body);
      return;
    }
    const push = body as PushMessage;
    const reserved = options.reservedBytes ?? 0;
    if (push.batches.length + 64 > reserved) this.oversized++;
    // What the push needs is held until acknowledged; the rest of the reservation goes back.
    this.roomBytes += reserved - push.batches.length;
    this.pushes.push(push);
  }

  /** The client acknowledged `bytes`: room grows, and whoever waits for it is woken. */
  free(bytes: number): void {
    this.roomBytes += bytes;
    for (const wake of this.waiters.splice(0)) wake();
  }
}

const counters = (): PushCounters => ({ pushes: 0, pushedBytes: 0, pushesEnded: 0 });
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const subscribe = (subs: PushSubscriptions, id: number, creditBytes: number): void =>
  void subs.subscribe({ subscriptionId: id, topic: 't', partition: 0, offset: 0, creditBytes, creditRecords: 1_000_000 });

describe('push subscriptions on a connection with little room', () => {
  it('a push is never read beyond its room: a next batch larger than the room waits for room, the subscription is not ended', async () => {
    const batchBytes = committedView(1, 10_000).readCommitted(0, 1).bytes;
    const sink = new CountedSink(envelopeBytes + batchBytes + batchBytes / 2);
    const pushCounters = counters();
    const subs = new PushSubscriptions(sink, () => committedView(4, 10_000), pushCounters);
    subscribe(subs, 1, 64 << 20);
    await settle();
    // One batch fit; half of the next did not.
    expect(sink.pushes.length).toBe(1);
    sink.free(batchBytes / 4);
    await settle();
    expect(sink.pushes.length).toBe(1);
    sink.free(batchBytes);
    await settle();
    expect(sink.pushes.length).toBe(2);
    sink.free(10 * batchBytes);
    await settle();
    expect(sink.pushes.map((p) => p.nextOffset)).toEqual([1, 2, 4]);
    expect(sink.oversized).toBe(0);
    expect(sink.ends).toEqual([]);
    expect(pushCounters).toEqual({ pushes: 3, pushedBytes: 4 * batchBytes, pushesEnded: 0 });
  });

  it('subscriptions waiting for room are woken in turn: one wake-up tries those that fit and one more, not all', async () => {
    const batchBytes = committedView(1, 1000).readCommitted(0, 1).bytes;
    const pushBytes = envelopeBytes + batchBytes;
    const sink = new CountedSink(0);
    const count = 1000;
    const subs = new PushSubscriptions(sink, () => committedView(1, 1000), counters());
    for (let id = 1; id <= count; id++) subscribe(subs, id, batchBytes);
    await settle();
    expect(sink.pushes.length).toBe(0);
    for (let round = 1; round <= 5; round++) {
      const before = sink.pushes.length;
      sink.reserveCalls = 0;
      sink.free(3 * pushBytes);
      await settle();
      const pushed = sink.pushes.length - before;
      expect(pushed).toBeGreaterThanOrEqual(3);
      // Those that found room, and those that did not (each at most twice: the second time for its batch's size)
      // until the first of them queued again: the rest were not asked.
      expect(sink.reserveCalls).toBeLessThanOrEqual(2 * pushed + 2);
    }
    // Each subscription is pushed once, in the order they subscribed.
    expect(new Set(sink.pushes.map((p) => p.subscriptionId)).size).toBe(sink.pushes.length);
    expect(sink.pushes.slice(0, 3).map((p) => p.subscriptionId)).toEqual([1, 2, 3]);
    sink.free(count * pushBytes);
    for (let i = 0; i < 10 && sink.pushes.length < count; i++) await settle();
    expect(sink.pushes.length).toBe(count);
    expect(sink.ends).toEqual([]);
  });

  it('a connection\'s pushes read at most pushBytesMax per turn of the event loop: 200 subscriptions starting at once take turns', async () => {
    const sink = new CountedSink(1 << 30);
    const subs = new PushSubscriptions(sink, () => committedView(1, 100_000), counters());
    const batchBytes = committedView(1, 100_000).readCommitted(0, 1).bytes;
    const perTurn: number[] = [];
    for (let id = 1; id <= 200; id++) subscribe(subs, id, 64 << 20);
    // Queued before any push is read: runs once the first turn's pushes are.
    let seen = 0;
    const count = (): void => {
      perTurn.push(sink.pushes.length - seen);
      seen = sink.pushes.length;
      if (seen < 200 && perTurn.length < 1000) setImmediate(count);
    };
    setImmediate(count);
    while (seen < 200 && perTurn.length < 1000) await settle();
    expect(seen).toBe(200);
    const most = Math.ceil(brokerLimits.pushBytesMax / (batchBytes + envelopeBytes)) + 1;
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(most);
    expect(sink.ends).toEqual([]);
  });
});
