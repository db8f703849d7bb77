import { afterEach, describe, expect, it } from 'vitest';
import { Skein } from '../../sdk/index.js';
import { InProcessCluster } from './support/cluster.js';

let cluster: InProcessCluster | undefined;
let client: Skein | undefined;
afterEach(async () => {
  await client?.close();
  await cluster?.close();
  client = undefined;
  cluster = undefined;
});

describe('a three-broker cluster in one process', () => {
  it('creates a topic, produces with acks all, and consumes what was produced', async () => {
    cluster = new InProcessCluster(3);
    await cluster.start();
    client = new Skein({ brokers: cluster.bootstrap, clientId: 'test' });
    await client.admin().createTopic({ name: 'orders', partitions: 3, replicationFactor: 3 });
    const producer = client.producer({ lingerMs: 5 });
    const results = await producer.send({ topic: 'orders', messages: Array.from({ length: 100 }, (_, i) => ({ key: `k${i % 7}`, value: { i } })) });
    expect(results).toHaveLength(100);
    await producer.flush();
    const consumer = client.consumer({ topic: 'orders', from: 'earliest' });
    const seen: number[] = [];
    while (seen.length < 100) {
      for (const record of await consumer.fetch({ maxRecords: 1000, maxWaitMs: 500 })) seen.push((record.value as { i: number }).i);
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await consumer.close();
  }, 60_000);
});
