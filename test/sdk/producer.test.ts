import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { partitionForKey } from '../../transport/protocol/murmur2.js';
import { serdes } from '../../sdk/serde.js';
import { defineTopic } from '../../sdk/topic.js';
import { SkeinError, isSkeinError } from '../../transport/errors.js';
import { sdkLimits } from '../../transport/limits.js';
import { FakeCluster, fakeClient, until, utf8 } from './support/harness.js';

const json = serdes.json<number>();
const valuesIn = (cluster: FakeCluster, topic: string, partition = 0): number[] => cluster.records(topic, partition).map((r) => json.deserialize(r.value!));
const numbers = defineTopic<number>('t', { value: serdes.json<number>() });

/** A client of a 3-partition topic "t" whose produce requests each take `delayMs`. */
function slowProduceClient(cluster: FakeCluster, delayMs: number): ReturnType<typeof fakeClient> {
  cluster.createTopic('t', { partitions: 3 });
  cluster.interceptor = ({ method }) => (method === 'produce' ? { delayMs } : undefined);
  return fakeClient(cluster);
}

/** The MaxListenersExceededWarnings Node emits while `run` runs (and one turn after). */
async function listenerWarningsDuring(run: () => Promise<void>): Promise<Error[]> {
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning);
  process.on('warning', onWarning);
  try {
    await run();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  return warnings.filter((w) => w.name === 'MaxListenersExceededWarning');
}

describe('producer', () => {
  it('batches records per partition and resolves each with its offset', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 20 });
    const sends = Array.from({ length: 10 }, (_, i) => producer.send({ topic: numbers, messages: Array.from({ length: 10 }, (_, j) => ({ value: i * 10 + j })) }));
    const results = (await Promise.all(sends)).flat();
    expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(results.every((r) => r.topic === 't' && r.partition === 0)).toBe(true);
    expect(cluster.produces.length).toBeLessThan(10);
    expect(valuesIn(cluster, 't')).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('with lingerMs 0, sends at once without waiting on a timer, and one tick of sends shares a batch', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 0 });
    await producer.send({ topic: numbers, messages: [{ value: -1 }] });
    // Timers frozen: a 0 ms setTimeout (a whole millisecond in Node) would never fire.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const before = cluster.produces.length;
      const results = await Promise.all([0, 1, 2].map((value) => producer.send({ topic: numbers, messages: [{ value }] })));
      expect(results.flat().map((r) => r.offset)).toEqual([1, 2, 3]);
      expect(cluster.produces.length - before).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps many requests in flight without a MaxListenersExceededWarning', async () => {
    const cluster = new FakeCluster();
    const warnings = await listenerWarningsDuring(async () => {
      await using skein = slowProduceClient(cluster, 20);
      await using producer = skein.producer({ lingerMs: 0, inFlightMax: 5, batchBytesMax: 256 });
      // One record per batch: 3 partitions x 5 in flight = 15 requests listening to the producer's close signal.
      const sends = [0, 1, 2].flatMap((partition) => Array.from({ length: 20 }, () => producer.send({ topic: 't', messages: [{ value: 'x'.repeat(200), partition }] })));
      await Promise.all(sends);
    });
    expect(cluster.produces.length).toBeGreaterThanOrEqual(60);
    expect(warnings).toEqual([]);
  });

  it('lets one caller signal serve many sends in flight: one listener on it, no warning, and aborting still rejects them', async () => {
    const cluster = new FakeCluster();
    const warnings = await listenerWarningsDuring(async () => {
      await using skein = slowProduceClient(cluster, 50);
      await using producer = skein.producer({ lingerMs: 0, inFlightMax: 5, batchBytesMax: 256 });
      const controller = new AbortController();
      const signal = controller.signal;
      const send = (value: string, i: number) => producer.send({ topic: 't', messages: [{ value, partition: i % 3 }] }, { signal });
      const sends = Array.from({ length: 40 }, (_, i) => send('x'.repeat(200), i));
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(getEventListeners(signal, 'abort').length).toBe(1);
      await Promise.all(sends);
      const waiting = Array.from({ length: 40 }, (_, i) => send('y'.repeat(200), i));
      const reason = new Error('stop');
      controller.abort(reason);
      const outcomes = await Promise.allSettled(waiting);
      expect(outcomes.every((o) => o.status === 'rejected' && o.reason === reason)).toBe(true);
    });
    expect(warnings).toEqual([]);
  });

  it('closes a batch at batchBytesMax', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 60_000, batchBytesMax: 2_000 });
    // 20 records of ~500 B: a long linger, so only the size bound can close batches before flush.
    const sent = producer.send({ topic: 't', messages: Array.from({ length: 20 }, () => ({ value: 'x'.repeat(500) })) });
    await until(() => cluster.produces.length >= 4, 'full batches to go without waiting for the linger');
    await producer.flush();
    await sent;
    for (const p of cluster.produces) expect(p.recordCount).toBeLessThanOrEqual(3);
  });

  it('resends in order with the same sequence numbers and bytes after a failure in the middle of the pipeline', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1, leaders: [1] });
    let produced = 0;
    cluster.interceptor = ({ brokerId, method }) => {
      if (method !== 'produce' || brokerId !== 1) return undefined;
      produced++;
      // The third batch in flight hits a leader change: it and the ones behind it are refused by broker 1.
      if (produced === 3) {
        cluster.moveLeader('t', 0, 2);
        return { fail: new SkeinError('NOT_LEADER', { details: { leaderId: 2, leaderEpoch: 2, host: '127.0.0.1', port: 9092 } }) };
      }
      return undefined;
    };
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 0, inFlightMax: 5, batchBytesMax: 300 });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => producer.send({ topic: numbers, messages: [{ value: i }] })));
    // No gaps, no reordering, no duplicates: the log is exactly the send order.
    expect(valuesIn(cluster, 't')).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(results.map((r) => r[0]!.offset)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // Every batch refused by broker 1 reached broker 2 with the same producer id, sequence and bytes.
    const refused = cluster.produces.filter((p) => p.brokerId === 1 && p.outcome === 'error');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(cluster.produces.some((p) => p.brokerId === 2 && p.outcome === 'appended' && p.producerId === r.producerId && p.baseSequence === r.baseSequence && Buffer.compare(p.body, r.body) === 0)).toBe(true);
    }
    const sequences = cluster.produces.filter((p) => p.outcome === 'appended').map((p) => p.baseSequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(producer.stats().resends).toBeGreaterThan(0);
  });

  it('treats OUT_OF_ORDER_SEQUENCE behind a failed batch as part of the recovery', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1, leaders: [1] });
    let produced = 0;
    cluster.interceptor = ({ method }) => {
      if (method !== 'produce') return undefined;
      // One transient refusal without a leader change: the batches behind it reach the same broker, which
      // answers OUT_OF_ORDER_SEQUENCE because their predecessor is missing.
      if (++produced === 2) return { fail: new SkeinError('LEADER_NOT_AVAILABLE') };
      return undefined;
    };
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 0, inFlightMax: 5, batchBytesMax: 300 });
    await Promise.all(Array.from({ length: 30 }, (_, i) => producer.send({ topic: numbers, messages: [{ value: i }] })));
    expect(valuesIn(cluster, 't')).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(cluster.produces.some((p) => p.errorCode === 'OUT_OF_ORDER_SEQUENCE')).toBe(true);
    expect(producer.stats().rotations).toBe(0);
  });

  it('answers a batch written but never acknowledged with its original offset (duplicate), not a second copy', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1, leaders: [1] });
    let produced = 0;
    cluster.interceptor = ({ method }) => {
      if (method !== 'produce') return undefined;
      // Written by broker 1, which then goes silent and loses leadership.
      if (++produced === 3) {
        setTimeout(() => {
          cluster.moveLeader('t', 0, 3);
          cluster.kill(1);
        }, 5);
        return { handleThenDrop: true };
      }
      return undefined;
    };
    await using skein = fakeClient(cluster, { requestTimeoutMs: 200 });
    await using producer = skein.producer({ lingerMs: 0, inFlightMax: 3, batchBytesMax: 300 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => producer.send({ topic: numbers, messages: [{ value: i }] })));
    expect(valuesIn(cluster, 't')).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(results.map((r) => r[0]!.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(cluster.produces.some((p) => p.outcome === 'duplicate')).toBe(true);
    expect(producer.stats().duplicates).toBeGreaterThan(0);
  });

  it('starts under a fresh producer id, issued by the cluster, when a partition forgot its producer', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 0 });
    await producer.send({ topic: numbers, messages: [{ value: 0 }, { value: 1 }] });
    cluster.partition('t', 0).producers.clear();
    await producer.send({ topic: numbers, messages: [{ value: 2 }] });
    expect(valuesIn(cluster, 't')).toEqual([0, 1, 2]);
    expect(producer.stats().rotations).toBe(1);
    expect(cluster.produces.some((p) => p.errorCode === 'UNKNOWN_PRODUCER')).toBe(true);
    const ids = new Set(cluster.produces.filter((p) => p.outcome === 'appended').map((p) => p.producerId));
    expect(ids.size).toBe(2);
    // Both ids were issued by the cluster, one request each.
    expect([...ids].every((id) => cluster.producerIds.has(id))).toBe(true);
    expect(cluster.requests.filter((r) => r.method === 'initProducer')).toHaveLength(2);
  });

  it('asks for a producer id again only after the retryAfterMs of a THROTTLED answer, and no later than its delivery deadline', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    const asked: number[] = [];
    cluster.interceptor = ({ method }) => {
      if (method !== 'initProducer') return undefined;
      asked.push(performance.now());
      return asked.length === 1 ? { fail: new SkeinError('THROTTLED', { details: { retryAfterMs: 120 } }) } : undefined;
    };
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 0 });
    await producer.send({ topic: numbers, messages: [{ value: 1 }] });
    expect(asked.length).toBe(2);
    expect(asked[1]! - asked[0]!).toBeGreaterThanOrEqual(119);
    // A wait longer than the delivery deadline: the records fail at their deadline, not after the wait.
    asked.length = 0;
    cluster.interceptor = ({ method }) => (method === 'initProducer' && asked.push(0) > 0 ? { fail: new SkeinError('THROTTLED', { details: { retryAfterMs: 25_000 } }) } : undefined);
    await using late = skein.producer({ lingerMs: 0, deliveryTimeoutMs: 200 });
    await expect(late.send({ topic: numbers, messages: [{ value: 2 }] })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(asked.length).toBeLessThanOrEqual(2);
  });

  it('asks the cluster for its producer id once, retries a refusal it may retry, and sends an idempotent batch only with the proof', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 3 });
    let asked = 0;
    cluster.interceptor = ({ method }) => (method === 'initProducer' && ++asked === 1 ? { fail: new SkeinError('THROTTLED', { details: { retryAfterMs: 10 } }) } : undefined);
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 0 });
    await Promise.all([0, 1, 2].map((partition) => producer.send({ topic: numbers, messages: [{ value: partition, partition }] })));
    expect(asked).toBe(2);
    // One id for all three partitions.
    const ids = new Set(cluster.produces.filter((p) => p.outcome === 'appended').map((p) => p.producerId));
    expect(ids.size).toBe(1);
    // A refusal it may not retry fails the records, and the next send asks again.
    await using second = skein.producer({ lingerMs: 0 });
    cluster.interceptor = ({ method }) => (method === 'initProducer' ? { fail: new SkeinError('NOT_AUTHORIZED') } : undefined);
    await expect(second.send({ topic: numbers, messages: [{ value: 9 }] })).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    cluster.interceptor = null;
    await second.send({ topic: numbers, messages: [{ value: 9, partition: 0 }] });
    expect(valuesIn(cluster, 't')).toContain(9);
  });

  it('fails a refused batch for good and renumbers the ones behind it', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    let produced = 0;
    cluster.interceptor = ({ method }) => (method === 'produce' && ++produced === 2 ? { fail: new SkeinError('CORRUPT_BATCH') } : undefined);
    await using skein = fakeClient(cluster);
    // Two records a batch, so several batches travel behind the refused one.
    await using producer = skein.producer({ lingerMs: 0, inFlightMax: 4, batchBytesMax: 130 });
    const outcomes = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => producer.send({ topic: numbers, messages: [{ value: i }] })));
    const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i] : []));
    // Exactly the refused batch's records fail, all with the broker's reason.
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThanOrEqual(2);
    for (const i of failed) expect((outcomes[i] as PromiseRejectedResult).reason).toMatchObject({ code: 'CORRUPT_BATCH' });
    // The batches behind it were refused as out of order, renumbered, and written in order.
    expect(valuesIn(cluster, 't')).toEqual(Array.from({ length: 12 }, (_, i) => i).filter((i) => !failed.includes(i)));
    expect(producer.stats().resequenced).toBeGreaterThan(0);
    const sequences = cluster.produces.filter((p) => p.outcome === 'appended').map((p) => p.baseSequence);
    expect(sequences).toEqual(sequences.map((_, i) => sequences.slice(0, i).reduce((n, __, j) => n + cluster.produces.filter((p) => p.outcome === 'appended')[j]!.recordCount, 0)));
  });

  it('sends enter the buffers in call order, even when an earlier one waits longer for metadata', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    // Every lookup in the first 40 ms fails (retriably): the first send backs off, and a later send finds the topic at once.
    const failUntil = Date.now() + 40;
    cluster.interceptor = ({ method }) => (method === 'metadata' && Date.now() < failUntil ? { fail: new SkeinError('LEADER_NOT_AVAILABLE') } : undefined);
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 1 });
    const first = producer.send({ topic: numbers, messages: [{ value: 1 }] });
    await new Promise((resolve) => setTimeout(resolve, 45));
    const second = producer.send({ topic: numbers, messages: [{ value: 2 }] });
    await Promise.all([first, second]);
    expect(valuesIn(cluster, 't')).toEqual([1, 2]);
  });

  it('a send aborted while queued behind another rejects at once, and keeps its place for the sends after it', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    let release!: () => void;
    const metadataHeld = new Promise<void>((resolve) => (release = resolve));
    cluster.interceptor = ({ method }) => (method === 'metadata' ? { until: metadataHeld } : undefined);
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 1 });
    const first = producer.send({ topic: numbers, messages: [{ value: 1 }] });
    const controller = new AbortController();
    const second = producer.send({ topic: numbers, messages: [{ value: 2 }] }, { signal: controller.signal });
    const third = producer.send({ topic: numbers, messages: [{ value: 3 }] });
    const reason = new Error('changed my mind');
    controller.abort(reason);
    // The first send is still waiting for metadata, and will until released: the second must not wait for it.
    await expect(second).rejects.toBe(reason);
    release();
    await Promise.all([first, third]);
    expect(valuesIn(cluster, 't')).toEqual([1, 3]);
  });

  it('backpressure: send waits for buffer space, and buffered bytes never exceed bufferBytesMax', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 2 });
    cluster.interceptor = ({ method }) => (method === 'produce' ? { delayMs: 10 } : undefined);
    await using skein = fakeClient(cluster);
    const bufferBytesMax = 16 * 1024;
    await using producer = skein.producer({ lingerMs: 1, bufferBytesMax, batchBytesMax: 4096 });
    const value = 'v'.repeat(1000);
    let maxWaiting = 0;
    const sends = Array.from({ length: 100 }, (_, i) => producer.send({ topic: 't', messages: [{ value, partition: i % 2 }] }));
    await until(() => {
      maxWaiting = Math.max(maxWaiting, producer.stats().sendsWaiting);
      return cluster.produces.length > 5;
    }, 'produces to start');
    await Promise.all(sends);
    expect(maxWaiting).toBeGreaterThan(50);
    expect(producer.stats().bufferedBytesHighWater).toBeLessThanOrEqual(bufferBytesMax);
    expect(producer.stats().bufferedBytes).toBe(0);
    expect(cluster.records('t', 0).length + cluster.records('t', 1).length).toBe(100);
  });

  it('aborting a send that waits for buffer space rejects with the reason and writes nothing', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    cluster.moveLeader('t', 0, null);
    await using skein = fakeClient(cluster);
    const producer = skein.producer({ lingerMs: 0, bufferBytesMax: 2048 });
    const first = producer.send({ topic: 't', messages: [{ value: 'a'.repeat(1500) }] }).catch((e: unknown) => e);
    await until(() => producer.stats().bufferedBytes > 0, 'the first send to be buffered');
    const controller = new AbortController();
    const reason = new Error('no room, no wait');
    const second = producer.send({ topic: 't', messages: [{ value: 'b'.repeat(1500) }] }, { signal: controller.signal });
    await until(() => producer.stats().sendsWaiting === 1, 'the second send to wait');
    controller.abort(reason);
    await expect(second).rejects.toBe(reason);
    cluster.moveLeader('t', 0, 1);
    await expect(first).resolves.toMatchObject([{ offset: 0 }]);
    await producer.close();
    expect(cluster.records('t', 0)).toHaveLength(1);
  });

  it('keyed records land on murmur2(key) partitions; explicit partitions win', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 5 });
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 0 });
    const keyed = defineTopic<string, string>('t', { key: serdes.string(), value: serdes.string() });
    const keys = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
    const results = await producer.send({ topic: keyed, messages: keys.map((key) => ({ key, value: key })) });
    results.forEach((r, i) => expect(r.partition).toBe(partitionForKey(utf8(keys[i]!), 5)));
    const [explicit] = await producer.send({ topic: keyed, messages: [{ key: 'alpha', value: 'x', partition: 4 }] });
    expect(explicit!.partition).toBe(4);
  });

  it("acks 'none' sends one-way and resolves without offsets", async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ acks: 'none', lingerMs: 0 });
    const [meta] = await producer.send({ topic: 't', messages: [{ value: 'fire' }] });
    expect(meta!.offset).toBeNull();
    await until(() => cluster.records('t', 0).length === 1, 'the one-way produce to land');
    expect(cluster.produces[0]!.producerId).toBe(-1);
  });

  it('refuses bad input with typed errors and changes nothing (random input)', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 0 });
    await fc.assert(
      fc.asyncProperty(fc.anything(), async (junk) => {
        const outcome = await producer.send(junk as never).then(
          () => 'sent',
          (e: unknown) => e,
        );
        expect(isSkeinError(outcome)).toBe(true);
      }),
      { numRuns: 200 },
    );
    const bad: unknown[] = [
      { topic: 't', messages: [] },
      { topic: 't', messages: [{ value: undefined }] },
      { topic: 't', messages: [{ value: 1, timestamp: -1 }] },
      { topic: 't', messages: [{ value: 1, partition: 1.5 }] },
      { topic: 't', messages: [{ value: 1, headers: { h: 42 } }] },
      { topic: 't', messages: [{ value: 1, headers: 'h' }] },
      { topic: 'bad name', messages: [{ value: 1 }] },
      { topic: numbers, messages: [{ value: 1n }] },
    ];
    for (const input of bad) await expect(producer.send(input as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(producer.send({ topic: 't', messages: [{ value: new Uint8Array(5 * 1024 * 1024) }] })).rejects.toMatchObject({ code: 'RECORD_TOO_LARGE' });
    expect(cluster.produces).toHaveLength(0);
    expect(producer.stats().bufferedBytes).toBe(0);
  });

  it('a batch the leader never takes fails with TIMEOUT at the delivery deadline', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    cluster.interceptor = ({ method }) => (method === 'produce' ? { fail: new SkeinError('NOT_ENOUGH_REPLICAS') } : undefined);
    await using skein = fakeClient(cluster);
    // The abandoned batch keeps its retry schedule, and the next record rides its next round: that round
    // comes within one backoff at most, so the deadline must outlast one (with 250 ms, a round drawn late
    // by the jitter, or by a loaded machine, timed the second record out too).
    const producer = skein.producer({ lingerMs: 0, deliveryTimeoutMs: sdkLimits.retryBackoffMsMax * 2 });
    const error = await producer.send({ topic: 't', messages: [{ value: 1 }] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect((error as SkeinError).cause).toMatchObject({ code: 'NOT_ENOUGH_REPLICAS' });
    cluster.interceptor = null;
    // The batch may have been written (NOT_ENOUGH_REPLICAS leaves it open): it keeps travelling
    // unseen until the broker settles it, so the next record lands after it, exactly once.
    await producer.send({ topic: 't', messages: [{ value: 2 }] });
    await producer.close();
    expect(cluster.records('t', 0).length).toBe(2);
  });
});
