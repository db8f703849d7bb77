import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Skein } from '../../../sdk/index.js';
import { until } from '../../support/until.js';
import { clusterForTest } from '../support/cluster.js';

/**
 * A broker whose disk was wiped comes back under its old id with an empty
 * data directory (a new storage id). Its Raft traffic must not count as the
 * replica it was: an empty voter grants its vote to any candidate, and a
 * candidate missing acknowledged records would win with it and overwrite
 * them on the replica that has them.
 */
describe('a broker back with a wiped disk', () => {
  it('takes no part in any group: a stale replica cannot win with its vote, and nothing acknowledged is lost', async () => {
    const { cluster, client } = await clusterForTest(3);
    // Every broker's storage id is in the metadata before anything happens.
    await Promise.all([...cluster.brokers.values()].map((b) => b.registered));
    const admin = client.admin();
    await admin.createTopic({ name: 'ledger', partitions: 1, replicationFactor: 3 });
    const producer = client.producer({ acks: 'all' });
    await producer.send({ topic: 'ledger', messages: [{ value: Buffer.from('first') }] });
    // Broker 2 misses the next records: brokers 1 and 3 acknowledge them.
    await cluster.stopBroker(2, { graceful: false });
    const values = Array.from({ length: 20 }, (_, i) => `acked-${i}`);
    await producer.send({ topic: 'ledger', messages: values.map((v) => ({ value: Buffer.from(v) })) });
    await client.close();
    // Broker 3 loses its disk; broker 1, the other holder of those records, is down for a while.
    await cluster.stopBroker(3, { graceful: false });
    rmSync(join(cluster.dir, 'broker-3'), { recursive: true, force: true });
    await cluster.stopBroker(1, { graceful: false });
    await cluster.startBroker(2);
    await cluster.startBroker(3);
    // Many election timeouts: time for broker 2 to win with broker 3's vote, if broker 3 were counted.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await cluster.startBroker(1);

    const after = new Skein({ brokers: cluster.bootstrap, clientId: 'after' });
    try {
      const consumer = after.consumer({ topic: 'ledger', from: 'earliest' });
      const read: string[] = [];
      await until(
        'every acknowledged record read back',
        async () => {
          read.push(...(await consumer.fetch({ maxRecords: 100, maxWaitMs: 100 })).map((r) => Buffer.from(r.value as Uint8Array).toString()));
          return read.length >= values.length + 1;
        },
        20_000,
      );
      expect(read).toEqual(['first', ...values]);
      await consumer.close();
    } finally {
      await after.close();
    }
    expect(cluster.brokers.get(1)!.counters.raftForeignStorage + cluster.brokers.get(2)!.counters.raftForeignStorage).toBeGreaterThan(0);
  }, 60_000);
});
