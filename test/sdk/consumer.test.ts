import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serdes } from '../../sdk/serde.js';
import { defineTopic } from '../../sdk/topic.js';
import { isSkeinError } from '../../transport/errors.js';
import { FakeCluster, fakeClient, until } from './support/harness.js';

const numbers = defineTopic<number>('t', { value: serdes.json<number>() });

async function seeded(partitions: number, count: number, options: { leaders?: number[] } = {}) {
  const cluster = new FakeCluster();
  cluster.createTopic('t', { partitions, ...options });
  const skein = fakeClient(cluster);
  const producer = skein.producer({ lingerMs: 0, batchBytesMax: 200 });
  for (let i = 0; i < count; i++) await producer.send({ topic: numbers, messages: [{ value: i, partition: i % partitions, timestamp: 1_000 + i }] });
  await producer.close();
  return { cluster, skein };
}

describe('pull consumer', () => {
  it('fetches typed records in order from earliest, then long-polls for new ones', async () => {
    const { cluster, skein } = await seeded(1, 30);
    await using _ = skein;
    await using consumer = skein.consumer({ topic: numbers, partition: 0, from: 'earliest' });
    const seen: number[] = [];
    while (seen.length < 30) for (const r of await consumer.fetch({ recordsMax: 7, waitMsMax: 0 })) seen.push(r.value);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(consumer.position()).toBe(30);
    const waiting = consumer.fetch({ waitMsMax: 10_000 });
    await until(() => cluster.requests.filter((r) => r.method === 'fetch').length > 0, 'a long poll');
    const producer = skein.producer({ lingerMs: 0 });
    await producer.send({ topic: numbers, messages: [{ value: 30 }] });
    const [record] = await waiting;
    expect(record).toMatchObject({ topic: 't', partition: 0, offset: 30, value: 30, key: null, headers: [] });
  });

  it('reads every partition of a topic when none is named', async () => {
    const { skein } = await seeded(3, 60);
    await using _ = skein;
    await using consumer = skein.consumer({ topic: numbers, from: 'earliest' });
    const byPartition = new Map<number, number[]>();
    let total = 0;
    while (total < 60) {
      for (const r of await consumer.fetch({ waitMsMax: 100 })) {
        byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r.value]);
        total++;
      }
    }
    for (const p of [0, 1, 2]) expect(byPartition.get(p)).toEqual(Array.from({ length: 20 }, (_, i) => i * 3 + p));
    expect(() => consumer.position()).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(consumer.position(1)).toBe(20);
  });

  it('seeks to offsets, timestamps, earliest and latest', async () => {
    const { skein } = await seeded(1, 10);
    await using _ = skein;
    await using consumer = skein.consumer({ topic: numbers, partition: 0, from: { offset: 4 } });
    expect(consumer.position()).toBe(4);
    expect((await consumer.fetch({ recordsMax: 1, waitMsMax: 0 }))[0]!.value).toBe(4);
    consumer.seek({ timestamp: 1_007 });
    expect((await consumer.fetch({ recordsMax: 1, waitMsMax: 0 }))[0]!.value).toBe(7);
    consumer.seek('earliest');
    expect((await consumer.fetch({ recordsMax: 1, waitMsMax: 0 }))[0]!.value).toBe(0);
    consumer.seek('latest');
    expect(await consumer.fetch({ waitMsMax: 0 })).toEqual([]);
    expect(consumer.position()).toBe(10);
    expect(() => consumer.seek({ offset: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => consumer.seek('now' as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('for await long-polls; break ends the loop, not the consumer, which goes on after the last record handed out', async () => {
    const { skein } = await seeded(1, 5);
    await using _ = skein;
    await using consumer = skein.consumer({ topic: numbers, partition: 0, from: 'earliest', waitMsMax: 50 });
    const seen: number[] = [];
    setTimeout(() => void skein.producer({ lingerMs: 0 }).send({ topic: numbers, messages: [{ value: 5 }, { value: 6 }, { value: 7 }] }), 20);
    for await (const record of consumer) {
      seen.push(record.value);
      if (record.value === 6) break;
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(consumer.position()).toBe(7);
    expect((await consumer.fetch({ waitMsMax: 1_000 })).map((r) => r.value)).toEqual([7]);
  });

  it('a loop left early puts back the records of its batch it did not hand out, on every partition, for the next loop or fetch', async () => {
    const { skein } = await seeded(3, 60);
    await using _ = skein;
    await using consumer = skein.consumer({ topic: numbers, from: 'earliest', recordsMax: 1000 });
    const read: number[] = [];
    for await (const record of consumer) {
      read.push(record.value);
      if (read.length === 7) break;
    }
    // A throw in the loop's body leaves it early too.
    await expect(
      (async () => {
        for await (const record of consumer) {
          read.push(record.value);
          if (read.length === 20) throw new Error('handler failed');
        }
      })(),
    ).rejects.toThrow('handler failed');
    while (read.length < 60) for (const r of await consumer.fetch({ waitMsMax: 100 })) read.push(r.value);
    expect([...read].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    for (const p of [0, 1, 2]) expect(read.filter((v) => v % 3 === p)).toEqual(Array.from({ length: 20 }, (_, i) => i * 3 + p));
    expect(await consumer.fetch({ waitMsMax: 0 })).toEqual([]);
  });

  it('a seek inside a loop wins over the records the loop still held', async () => {
    const { skein } = await seeded(1, 10);
    await using _ = skein;
    await using consumer = skein.consumer({ topic: numbers, partition: 0, from: 'earliest' });
    for await (const record of consumer) {
      if (record.value === 2) {
        consumer.seek({ offset: 8 });
        break;
      }
    }
    expect((await consumer.fetch({ waitMsMax: 0 })).map((r) => r.value)).toEqual([8, 9]);
  });

  it('closing the consumer ends a running loop without an error, and no fetch is sent after', async () => {
    const { cluster, skein } = await seeded(1, 3);
    await using _ = skein;
    const consumer = skein.consumer({ topic: numbers, partition: 0, from: 'earliest', waitMsMax: 10_000 });
    const seen: number[] = [];
    const loop = (async () => {
      for await (const record of consumer) {
        seen.push(record.value);
        if (seen.length === 3) setTimeout(() => void consumer.close(), 20);
      }
    })();
    await loop;
    expect(seen).toEqual([0, 1, 2]);
    await expect(consumer.fetch()).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    // A request already on its way when the consumer closed may still arrive; nothing new is sent after.
    await new Promise((resolve) => setTimeout(resolve, 10));
    const fetchesAfterClose = cluster.requests.filter((r) => r.method === 'fetch').length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cluster.requests.filter((r) => r.method === 'fetch').length).toBe(fetchesAfterClose);
  });

  it('reads ahead at most one response per partition beyond the one being handed out', async () => {
    const { cluster, skein } = await seeded(1, 100);
    await using _ = skein;
    await using consumer = skein.consumer({ topic: numbers, partition: 0, from: 'earliest', fetchBytesMax: 1024 });
    await consumer.fetch({ recordsMax: 1, waitMsMax: 0 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const fetches = cluster.requests.filter((r) => r.method === 'fetch').length;
    expect(fetches).toBeLessThanOrEqual(2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(cluster.requests.filter((r) => r.method === 'fetch').length).toBe(fetches);
  });

  it('follows the leader through a move while fetching, without an error', async () => {
    const { cluster, skein } = await seeded(1, 20, { leaders: [1] });
    await using _ = skein;
    await using consumer = skein.consumer({ topic: numbers, partition: 0, from: 'earliest', fetchBytesMax: 1024 });
    const seen: number[] = [];
    let moved = false;
    while (seen.length < 20) {
      for (const r of await consumer.fetch({ recordsMax: 3, waitMsMax: 50 })) seen.push(r.value);
      if (!moved && seen.length > 5) {
        cluster.moveLeader('t', 0, 2);
        cluster.kill(1);
        moved = true;
      }
    }
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('reads from a follower when asked', async () => {
    const { cluster, skein } = await seeded(1, 3, { leaders: [1] });
    await using _ = skein;
    await using consumer = skein.consumer({ topic: numbers, partition: 0, from: 'earliest', readFrom: 'follower' });
    expect((await consumer.fetch({ waitMsMax: 0 })).map((r) => r.value)).toEqual([0, 1, 2]);
    const fetchers = new Set(cluster.requests.filter((r) => r.method === 'fetch').map((r) => r.brokerId));
    expect(fetchers.has(1)).toBe(false);
  });

  it('a record that does not deserialize is a typed error naming its offset; seek past it to go on', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    await using skein = fakeClient(cluster);
    const producer = skein.producer({ lingerMs: 0 });
    await producer.send({ topic: 't', messages: [{ value: '1', partition: 0 }] });
    await producer.send({ topic: defineTopic('t', { value: serdes.string() }), messages: [{ value: 'not json{' }] });
    await producer.send({ topic: 't', messages: [{ value: '3' }] });
    const strings = defineTopic<string>('t', { value: serdes.string() });
    const jsonTopic = defineTopic<number>('t', { value: serdes.json<number>() });
    void strings;
    await using consumer = skein.consumer({ topic: jsonTopic, partition: 0, from: 'earliest' });
    // CBOR "1" is not JSON either: the very first record fails.
    const error = await consumer.fetch({ waitMsMax: 0 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'DESERIALIZATION_FAILED', details: { topic: 't', partition: 0, offset: 0, part: 'value' } });
    expect(consumer.position()).toBe(0);
    consumer.seek({ offset: 1 });
    await expect(consumer.fetch({ waitMsMax: 0 })).rejects.toMatchObject({ code: 'DESERIALIZATION_FAILED', details: { offset: 1 } });
  });

  it('returns the good records before a bad one, then the error', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    await using skein = fakeClient(cluster);
    const producer = skein.producer({ lingerMs: 50 });
    const json = defineTopic<number>('t', { value: serdes.json<number>() });
    await Promise.all([
      producer.send({ topic: json, messages: [{ value: 1 }, { value: 2 }] }),
      producer.send({ topic: defineTopic('t', { value: serdes.string() }), messages: [{ value: '{bad' }] }),
    ]);
    await using consumer = skein.consumer({ topic: json, partition: 0, from: 'earliest' });
    expect((await consumer.fetch({ waitMsMax: 0 })).map((r) => r.value)).toEqual([1, 2]);
    await expect(consumer.fetch({ waitMsMax: 0 })).rejects.toMatchObject({ code: 'DESERIALIZATION_FAILED', details: { offset: 2 } });
  });

  it('random bytes from a broker are a typed error, never a crash', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    await using skein = fakeClient(cluster);
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.anything()), async (junk) => {
        cluster.interceptor = ({ method }) => (method === 'fetch' ? { respond: { batches: junk, highWatermark: 0, logStartOffset: 0 } } : undefined);
        const consumer = skein.consumer({ topic: 't', partition: 0, from: { offset: 0 } });
        const outcome = await consumer.fetch({ waitMsMax: 0 }).catch((e: unknown) => e);
        await consumer.close();
        if (!Array.isArray(outcome)) expect(isSkeinError(outcome)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses bad options with typed errors', async () => {
    const cluster = new FakeCluster();
    await using skein = fakeClient(cluster);
    expect(() => skein.consumer({ topic: 't', from: 'yesterday' as never })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => skein.consumer({ topic: 't', readFrom: 'anyone' as never })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    expect(() => skein.consumer({ topic: 't', partition: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
    const consumer = skein.consumer({ topic: 't' });
    await expect(consumer.fetch({ recordsMax: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(consumer.fetch()).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
  });
});
