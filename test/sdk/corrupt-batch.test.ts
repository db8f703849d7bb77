import { describe, expect, it } from 'vitest';
import type { SubscriptionStatus } from '../../sdk/subscription/partition.js';
import { serdes } from '../../sdk/serde.js';
import { defineTopic } from '../../sdk/topic.js';
import { garbageBatch } from '../support/garbage-batch.js';
import { FakeCluster, fakeClient, until } from './support/harness.js';

/**
 * A batch that passes its checksums but cannot be decoded (written before
 * brokers checked record framing, or by a broker bug) never makes a
 * consumer skip a record silently, nor stalls a push subscription without
 * a word.
 */
const numbers = defineTopic<number>('t', { value: serdes.json<number>() });

async function withGarbage() {
  const cluster = new FakeCluster();
  cluster.createTopic('t', { partitions: 1, leaders: [1] });
  const skein = fakeClient(cluster);
  const producer = skein.producer({ lingerMs: 0 });
  await producer.send({ topic: numbers, messages: [{ value: 0 }, { value: 1 }, { value: 2 }] });
  cluster.append('t', 0, garbageBatch(2));
  await producer.send({ topic: numbers, messages: [{ value: 5 }] });
  await producer.close();
  return { cluster, skein };
}

describe('a batch that cannot be decoded', () => {
  it('a pull consumer returns the records before it, then fails at it and stays there until seeked past', async () => {
    const { skein } = await withGarbage();
    await using _ = skein;
    await using consumer = skein.consumer({ topic: numbers, partition: 0, from: 'earliest' });
    const first = await consumer.fetch({ waitMsMax: 1000 });
    expect(first.map((r) => r.value)).toEqual([0, 1, 2]);
    expect(consumer.position()).toBe(3);
    for (let i = 0; i < 2; i++) {
      await expect(consumer.fetch({ waitMsMax: 0 })).rejects.toMatchObject({ code: 'CORRUPT_BATCH', details: { topic: 't', partition: 0, offset: 3, nextOffset: 5 } });
      expect(consumer.position()).toBe(3);
    }
    consumer.seek({ offset: 5 });
    expect((await consumer.fetch({ waitMsMax: 1000 })).map((r) => r.value)).toEqual([5]);
  });

  it('a push subscription reports it, returns its credit and goes on with the next batch', async () => {
    const { cluster, skein } = await withGarbage();
    await using _ = skein;
    const seen: number[] = [];
    await using subscription = skein.subscribe({ topic: numbers, partition: 0, from: 'earliest', handler: (record) => void seen.push(record.value) });
    const statuses: SubscriptionStatus[] = [];
    void (async () => {
      for await (const status of subscription.status()) statuses.push(status);
    })();
    await until(() => seen.length === 4, 'the records around the bad batch');
    expect(seen).toEqual([0, 1, 2, 5]);
    await until(() => statuses.some((s) => s.type === 'corruptBatch'), 'a corruptBatch status');
    expect(statuses.find((s) => s.type === 'corruptBatch')).toMatchObject({ offset: 3, nextOffset: 5, error: { code: 'CORRUPT_BATCH' } });
    // Every pushed record was credited back: the window is whole again.
    await until(() => cluster.credits.reduce((n, c) => n + c.records, 0) === 6, 'the credit of all six records');
  });
});
