import { describe, expect, it } from 'vitest';
import { Skein } from '../../sdk/index.js';
import { clusterForTest } from './support/cluster.js';

/** Snapshots and retention: what a long-running cluster does every few seconds. */
type Hosted = { partition(topic: string, p: number): { logStartOffset: number; highWatermark: number } | undefined };

describe('maintenance', () => {
  it('retention deletes old segments, and a follower that missed them catches up from a snapshot', async () => {
    const { cluster, client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'rolling', partitions: 1, replicationFactor: 3, config: { segmentBytes: 64 * 1024, retentionBytes: 128 * 1024 } });
    const leader = (await client.admin().describeTopic('rolling')).partitions[0]!.leader!;
    const absent = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.stopBroker(absent);
    const producer = client.producer({ lingerMs: 1, batchBytesMax: 16 * 1024 });
    const value = 'x'.repeat(1000);
    for (let i = 0; i < 20; i++) await producer.send({ topic: 'rolling', messages: Array.from({ length: 50 }, () => ({ value })) });
    for (const broker of cluster.brokers.values()) await broker.maintain();
    const start = (cluster.brokers.get(leader)! as unknown as Hosted).partition('rolling', 0)!.logStartOffset;
    expect(start).toBeGreaterThan(0);

    // The absent follower's log ends before the leader's now starts: only a snapshot can bring it back.
    const back = await cluster.startBroker(absent);
    const replica = (): { logStartOffset: number; highWatermark: number } => (back as unknown as Hosted).partition('rolling', 0)!;
    const until = Date.now() + 20_000;
    while (replica().highWatermark < 1000 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(replica().highWatermark).toBe(1000);
    expect(replica().logStartOffset).toBeGreaterThanOrEqual(start);

    const consumer = client.consumer({ topic: 'rolling', from: 'earliest', readFrom: 'leader' });
    const first = await consumer.fetch({ recordsMax: 10, waitMsMax: 1000 });
    expect(first[0]!.offset).toBeGreaterThanOrEqual(start);
    await consumer.close();
  }, 60_000);

  it('the metadata survives a restart from its own snapshot', async () => {
    const { cluster, client } = await clusterForTest(3);
    for (const name of ['a', 'b', 'c']) await client.admin().createTopic({ name, partitions: 1, replicationFactor: 3 });
    for (const broker of cluster.brokers.values()) await broker.maintain({ force: true });
    await cluster.stopBroker(2);
    await cluster.startBroker(2);
    const restarted = new Skein({ brokers: [cluster.bootstrap[1]!], clientId: 'only-broker-2' });
    try {
      const until = Date.now() + 20_000;
      let topics: string[] = [];
      while (Date.now() < until) {
        topics = await restarted.admin().listTopics().catch(() => []);
        if (topics.length === 3) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(topics.sort()).toEqual(['a', 'b', 'c']);
    } finally {
      await restarted.close();
    }
  }, 60_000);
});
