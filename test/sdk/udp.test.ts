import { describe, expect, it } from 'vitest';
import { Skein } from '../../sdk/client.js';
import { serdes } from '../../sdk/serde.js';
import { defineTopic } from '../../sdk/topic.js';
import { FakeCluster, until } from './support/harness.js';

const numbers = defineTopic<number>('t', { value: serdes.json<number>() });

/**
 * The client on its real network path: the default dialer opens a UDP
 * endpoint and reaches fake brokers listening on loopback endpoints. The
 * brokers are fakes; the transport, RPC and SDK are the real ones.
 */
describe('over real UDP', () => {
  for (const loss of [undefined, 'loss=0.1,dup=0.02,reorder=0.05,seed=11']) {
    it(`produces, fetches and subscribes${loss === undefined ? '' : ` on a lossy link (${loss})`}`, async () => {
      const cluster = new FakeCluster({ brokers: 3 });
      cluster.createTopic('t', { partitions: 2, leaders: [1, 2] });
      const stop = await cluster.listen({ loss });
      try {
        await using skein = new Skein({ brokers: cluster.bootstrap(), clientId: 'udp-test', ...(loss === undefined ? {} : { loss }) });
        await using producer = skein.producer({ lingerMs: 2, inFlightMax: 5 });
        const results = await Promise.all(Array.from({ length: 200 }, (_, i) => producer.send({ topic: numbers, messages: [{ value: i, partition: i % 2 }] })));
        expect(results.flat().filter((r) => r.partition === 0).map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
        cluster.moveLeader('t', 0, 3);
        await producer.send({ topic: numbers, messages: [{ value: 200, partition: 0 }] });
        await using consumer = skein.consumer({ topic: numbers, partition: 0, from: 'earliest' });
        const pulled: number[] = [];
        while (pulled.length < 101) for (const r of await consumer.fetch({ waitMsMax: 200 })) pulled.push(r.value);
        expect(pulled).toEqual([...Array.from({ length: 100 }, (_, i) => i * 2), 200]);
        const pushed: number[] = [];
        await using subscription = skein.subscribe({ topic: numbers, partition: 1, from: 'earliest', handler: (r) => void pushed.push(r.value) });
        await until(() => pushed.length === 100, '100 pushed records');
        expect(pushed).toEqual(Array.from({ length: 100 }, (_, i) => i * 2 + 1));
        void subscription;
      } finally {
        await stop();
      }
    }, 60_000);
  }
});
