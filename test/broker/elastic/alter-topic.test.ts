import { describe, expect, it } from 'vitest';
import { groupLimits } from '../../../transport/limits.js';
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

  it("refuses more partitions for the groups' internal topic (each group lives at its name's hash mod their count: a new count would strand every group's commits) and changes nothing; its replication factor may change", async () => {
    const { client } = await clusterForTest(3);
    const admin = client.admin();
    await admin.createTopic({ name: 'work', partitions: 1, replicationFactor: 3 });
    await client.producer().send({ topic: 'work', messages: [{ value: Buffer.from('a') }] });
    const member = client.consumer({ group: 'kept', topic: 'work', from: 'earliest', autoCommit: false });
    const records = await until('a record', async () => {
      const got = await member.fetch({ waitMsMax: 100 });
      return got.length > 0 && got;
    });
    await member.commit({ topic: 'work', partition: 0, offset: records[0]!.offset + 1 });
    await expect(admin.alterTopic({ name: '__skein_groups', partitions: 32 })).rejects.toMatchObject({ code: 'NOT_AUTHORIZED', message: expect.stringMatching(/__skein_groups/) });
    expect((await admin.describeGroup('kept')).partitions[0]).toMatchObject({ committed: 1 });
    // Its replication factor does change, through moves like any topic's; the groups' commits move with it.
    const lowered = await admin.alterTopic({ name: '__skein_groups', replicationFactor: 2 });
    expect(lowered.moveIds).toHaveLength(groupLimits.coordinatorPartitionsDefault);
    const watch = admin.watchMoves(lowered.moveIds, { everyMs: 50 });
    let next = await watch.next();
    while (next.done !== true) next = await watch.next();
    expect(new Set(next.value.map((f) => f.outcome))).toEqual(new Set(['done']));
    expect((await admin.describeGroup('kept')).partitions[0]).toMatchObject({ committed: 1 });
    await member.close();
  }, 60_000);
});

