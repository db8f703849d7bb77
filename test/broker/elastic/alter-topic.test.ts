import { describe, expect, it } from 'vitest';
import { until } from '../../support/until.js';
import { clusterForTest } from '../support/cluster.js';

/** Growing a topic: more partitions, another replication factor (through moves); and what is refused. */
describe('alterTopic', () => {
  it('adds partitions that take writes at once, changes the replication factor through moves, and refuses what it cannot do', async () => {
    const { client } = await clusterForTest(3);
    const admin = client.admin();
    await admin.createTopic({ name: 'growing', partitions: 2, replicationFactor: 1 });
    const grown = await admin.alterTopic({ name: 'growing', partitions: 4 });
    expect(grown.topic.partitions).toHaveLength(4);
    const producer = client.producer({ acks: 'all' });
    await until('partition 3 takes writes', async () => (await producer.send({ topic: 'growing', messages: [{ partition: 3, value: Buffer.from('x') }] }))[0]!.offset === 0);
    await expect(admin.alterTopic({ name: 'growing', partitions: 3 })).rejects.toMatchObject({ code: 'INVALID_TOPIC' });
    await expect(admin.alterTopic({ name: 'growing', replicationFactor: 4 })).rejects.toMatchObject({ code: 'INVALID_REPLICATION_FACTOR' });
    await expect(admin.alterTopic({ name: 'nope', partitions: 5 })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
    await expect(admin.alterTopic({ name: 'growing', partitions: 5, replicationFactor: 2 })).rejects.toMatchObject({ code: 'MALFORMED_REQUEST' });
    expect((await admin.describeTopic('growing')).partitions.map((p) => p.replicas.length)).toEqual([1, 1, 1, 1]);

    const raised = await admin.alterTopic({ name: 'growing', replicationFactor: 2 });
    expect(raised.moveIds).toHaveLength(4);
    const watch = admin.watchMoves(raised.moveIds, { everyMs: 50 });
    let next = await watch.next();
    while (next.done !== true) next = await watch.next();
    expect(next.value.map((f) => f.outcome)).toEqual(['done', 'done', 'done', 'done']);
    const after = await admin.describeTopic('growing');
    expect(after.partitions.map((p) => new Set(p.replicas).size)).toEqual([2, 2, 2, 2]);
    // The record written before the move is on both replicas of partition 3: read it from the earliest offset.
    const consumer = client.consumer({ topic: 'growing', from: 'earliest' });
    const records = await until('the record read back', async () => {
      const got = await consumer.fetch({ recordsMax: 10, waitMsMax: 100 });
      return got.length > 0 && got;
    });
    expect(records.map((r) => [r.partition, r.offset])).toEqual([[3, 0]]);
    await consumer.close();
  }, 60_000);
});
