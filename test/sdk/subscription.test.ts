import { describe, expect, it } from 'vitest';
import type { ConsumedRecord } from '../../sdk/consumer/record.js';
import type { SubscriptionStatus } from '../../sdk/subscription/partition.js';
import { serdes } from '../../sdk/serde.js';
import { defineTopic } from '../../sdk/topic.js';
import { FakeCluster, fakeClient, until } from './support/harness.js';

const numbers = defineTopic<number>('t', { value: serdes.json<number>() });

async function seeded(count: number, options: { partitions?: number; leaders?: number[]; batchBytesMax?: number } = {}) {
  const cluster = new FakeCluster();
  cluster.createTopic('t', { partitions: options.partitions ?? 1, leaders: options.leaders });
  const skein = fakeClient(cluster);
  const producer = skein.producer({ lingerMs: 0, batchBytesMax: options.batchBytesMax ?? 200 });
  await Promise.all(Array.from({ length: count }, (_, i) => producer.send({ topic: numbers, messages: [{ value: i, partition: i % (options.partitions ?? 1) }] })));
  await producer.close();
  return { cluster, skein, producer: skein.producer({ lingerMs: 0, batchBytesMax: options.batchBytesMax ?? 200 }) };
}

function collect(statuses: AsyncIterable<SubscriptionStatus>): SubscriptionStatus[] {
  const out: SubscriptionStatus[] = [];
  void (async () => {
    for await (const s of statuses) out.push(s);
  })();
  return out;
}

/** Subscribes to partition 0 from the start, recording values; `disrupt` runs inside the handler on each. */
function recording(skein: ReturnType<typeof fakeClient>, creditBytes: number, disrupt: (value: number) => void) {
  const seen: number[] = [];
  const subscription = skein.subscribe({
    topic: numbers,
    partition: 0,
    from: 'earliest',
    creditBytes,
    handler: async (record) => {
      seen.push(record.value);
      disrupt(record.value);
      await new Promise((resolve) => setImmediate(resolve));
    },
  });
  return { seen, subscription };
}

describe('push subscription', () => {
  it('delivers every record in order exactly once across a leader move', async () => {
    const { cluster, skein, producer } = await seeded(100, { leaders: [1] });
    await using _ = skein;
    const { seen, subscription } = recording(skein, 2048, (value) => {
      if (value === 40) cluster.moveLeader('t', 0, 2);
      if (value === 70) cluster.moveLeader('t', 0, 3);
    });
    await using _subscription = subscription;
    const statuses = collect(subscription.status());
    await until(() => seen.length >= 100, '100 records');
    // New records keep flowing from the new leader.
    await producer.send({ topic: numbers, messages: [{ value: 100 }, { value: 101 }] });
    await until(() => seen.length >= 102, '102 records');
    expect(seen).toEqual(Array.from({ length: 102 }, (_, i) => i));
    expect(subscription.position()).toBe(102);
    expect(statuses.filter((s) => s.type === 'resubscribing')).toHaveLength(2);
    expect(statuses.filter((s) => s.type === 'subscribed').map((s) => (s as { brokerId: number }).brokerId)).toEqual([1, 2, 3]);
  });

  it('resubscribes from the next offset when the connection dies, exactly once', async () => {
    const { cluster, skein } = await seeded(60, { leaders: [1] });
    await using _ = skein;
    const { seen, subscription } = recording(skein, 1024, (value) => {
      if (value === 20 || value === 45) cluster.dropConnections();
    });
    await using _subscription = subscription;
    await until(() => seen.length >= 60, '60 records');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i));
  });

  it("replenishes credit at the handler's pace: the broker never has more than the window (plus one batch) outstanding", async () => {
    const { cluster, skein } = await seeded(300, { batchBytesMax: 400 });
    await using _ = skein;
    let handled = 0;
    let release: (() => void) | null = null;
    await using subscription = skein.subscribe({
      topic: numbers,
      partition: 0,
      from: 'earliest',
      creditBytes: 2048,
      creditRecords: 50,
      handler: async () => {
        handled++;
        // The handler stalls on the 30th record until the test lets it go on.
        if (handled === 30) await new Promise<void>((resolve) => (release = resolve));
      },
    });
    await until(() => release !== null, 'the handler to stall');
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Stalled: the broker ran out of credit. What it pushed beyond what the handler finished is at most
    // the window plus one batch (a whole batch may overshoot it).
    const log = cluster.partition('t', 0).log;
    const maxBatchBytes = Math.max(...log.map((b) => b.bytes.length));
    const maxBatchRecords = Math.max(...log.map((b) => b.header.recordCount));
    const pushed = (): number => [...cluster.pushedRecords.values()].reduce((a, b) => a + b, 0);
    expect(handled).toBe(30);
    expect(pushed()).toBeLessThan(300);
    expect(pushed() - 29).toBeLessThanOrEqual(50 + maxBatchRecords);
    for (const high of cluster.pushedBytesHighWater.values()) expect(high).toBeLessThanOrEqual(2048 + maxBatchBytes);
    release!();
    await until(() => handled === 300, 'all records');
    expect(pushed()).toBe(300);
    expect(cluster.credits.length).toBeGreaterThan(3);
    for (const high of cluster.pushedBytesHighWater.values()) expect(high).toBeLessThanOrEqual(2048 + maxBatchBytes);
    void subscription;
  });

  it('answers a trickle of small pushes with a few coalesced credit messages, and returns a small debt soon after going idle', async () => {
    const { cluster, skein, producer } = await seeded(0);
    await using _ = skein;
    let handled = 0;
    await using subscription = skein.subscribe({ topic: numbers, partition: 0, from: 'earliest', handler: () => void handled++ });
    for (let i = 0; i < 40; i++) {
      await producer.send({ topic: numbers, messages: [{ value: i }] });
      await until(() => handled === i + 1, `record ${i}`);
    }
    // Forty one-record pushes, each leaving the handler idle: fewer credit messages than pushes (one each
    // was the old way). Only if every round trip here took longer than the idle flush could they be equal.
    expect(cluster.credits.length).toBeLessThan(40);
    const owed = (): number => 40 - cluster.credits.reduce((sum, c) => sum + c.records, 0);
    // Nothing stays owed for long once the handler is idle.
    await until(() => owed() === 0, 'all credit returned');
    void subscription;
  });

  it('runs up to inFlightMax handler calls at once, started in offset order', async () => {
    const { skein } = await seeded(40);
    await using _ = skein;
    const started: number[] = [];
    let running = 0;
    let maxRunning = 0;
    await using subscription = skein.subscribe({
      topic: numbers,
      partition: 0,
      from: 'earliest',
      inFlightMax: 4,
      handler: async (record: ConsumedRecord<number>) => {
        started.push(record.value);
        maxRunning = Math.max(maxRunning, ++running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running--;
      },
    });
    await until(() => started.length === 40 && running === 0, 'all records');
    expect(started).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(maxRunning).toBe(4);
    void subscription;
  });

  it('close stops cleanly: no handler call after it resolves', async () => {
    const { skein, producer } = await seeded(10);
    await using _ = skein;
    let calls = 0;
    let closedAt = -1;
    const subscription = skein.subscribe({
      topic: numbers,
      from: 'earliest',
      handler: async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      },
    });
    await until(() => calls >= 3, 'some records');
    await subscription.close();
    closedAt = calls;
    await producer.send({ topic: numbers, messages: [{ value: 99 }] });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls).toBe(closedAt);
    await subscription.closed;
  });

  it('reports handler and deserialization errors as status events and moves on; the signal closes it', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    await using skein = fakeClient(cluster);
    const producer = skein.producer({ lingerMs: 0 });
    await producer.send({ topic: numbers, messages: [{ value: 1 }] });
    await producer.send({ topic: defineTopic('t', { value: serdes.string() }), messages: [{ value: 'not json{' }] });
    await producer.send({ topic: numbers, messages: [{ value: 3 }, { value: 4 }] });
    const controller = new AbortController();
    const seen: number[] = [];
    const subscription = skein.subscribe({
      topic: numbers,
      from: 'earliest',
      signal: controller.signal,
      handler: (record) => {
        seen.push(record.value);
        if (record.value === 3) throw new Error('handler bug');
      },
    });
    const statuses = collect(subscription.status());
    await until(() => seen.length === 3, 'three good records');
    expect(seen).toEqual([1, 3, 4]);
    await until(() => statuses.length >= 3, 'status events');
    expect(statuses.map((s) => s.type)).toEqual(['subscribed', 'deserializationError', 'handlerError']);
    expect(statuses[1]).toMatchObject({ offset: 1, error: { code: 'DESERIALIZATION_FAILED' } });
    controller.abort();
    await subscription.closed;
    await until(() => statuses.at(-1)?.type === 'closed', 'closed event');
  });

  it('a topic that does not exist fails the subscription with a status event', async () => {
    const cluster = new FakeCluster();
    await using skein = fakeClient(cluster);
    const subscription = skein.subscribe({ topic: 'missing', handler: () => {} });
    const statuses = collect(subscription.status());
    await subscription.closed;
    expect(statuses[0]).toMatchObject({ type: 'failed', error: { code: 'UNKNOWN_TOPIC' } });
  });

  it('refuses bad options with INVALID_CONFIG', async () => {
    const cluster = new FakeCluster();
    await using skein = fakeClient(cluster);
    expect(() => skein.subscribe({ topic: 't' } as never)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    expect(() => skein.subscribe({ topic: 't', handler: () => {}, inFlightMax: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    expect(() => skein.subscribe({ topic: 't', handler: () => {}, creditBytes: 1 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
  });
});
