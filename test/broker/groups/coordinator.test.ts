import { describe, expect, it } from 'vitest';
import { SkeinError } from '../../../transport/errors.js';
import { groupMethods, groupsTopic, type DescribeGroupResponse, type OffsetFetchResponse } from '../../../transport/protocol/groups.js';
import { clusterForTest } from '../support/cluster.js';
import { GroupWire, owned } from './support/wire.js';

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return error instanceof SkeinError ? error.code : String(error);
  }
}

describe('the group coordinator on a real cluster', () => {
  it('creates the internal topic on first use, and keeps clients off it', async () => {
    const { client } = await clusterForTest(3);
    const wire = new GroupWire(client, 'billing');
    const found = await wire.find();
    expect(found).toMatchObject({ topic: groupsTopic, partitions: 16 });
    const meta = await client.admin().describeTopic(groupsTopic);
    expect(meta.partitions).toHaveLength(16);
    expect(meta.partitions.every((p) => p.replicas.length === 3)).toBe(true);
    expect(meta.config.flush).toEqual({ mode: 'always' });
    expect(await code(client.admin().createTopic({ name: '__skein_mine', partitions: 1, replicationFactor: 1 }))).toBe('INVALID_TOPIC');
    expect(await code(client.admin().deleteTopic(groupsTopic))).toBe('NOT_AUTHORIZED');
    const producer = client.producer({ lingerMs: 0 });
    expect(await code(producer.send({ topic: groupsTopic, messages: [{ value: 'forged', partition: 0 }] }))).toBe('NOT_AUTHORIZED');
    await producer.close();
  }, 60_000);

  it('splits partitions by the revoke-then-assign handshake, checks every commit, and refuses resets of a live group', async () => {
    const { client } = await clusterForTest(3);
    const admin = client.admin();
    const topic = await admin.createTopic({ name: 'orders', partitions: 4, replicationFactor: 3 });
    const producer = client.producer({ lingerMs: 1 });
    await producer.send({ topic: 'orders', messages: Array.from({ length: 40 }, (_, i) => ({ value: i, partition: i % 4 })) });
    const wire = new GroupWire(client, 'billing');

    const a = await wire.join('member-a', ['orders']);
    expect(a.assignment.map((p) => p.partition)).toEqual([0, 1, 2, 3]);
    expect(a.assignment.every((p) => p.committed === null && p.topicId === topic.topicId)).toBe(true);
    const b = await wire.join('member-b', ['orders']);
    expect(b.assignment).toEqual([]);
    expect(b.pending).toBe(2);

    // A asks again: two of its partitions are being taken back; it commits them, then releases them.
    const a2 = await wire.heartbeat('member-a', a.memberEpoch, owned(a));
    expect(a2.assignment).toHaveLength(2);
    const moving = a.assignment.filter((p) => !a2.assignment.some((q) => q.partition === p.partition));
    // Commits of partitions it still drains are accepted at its old epoch.
    await wire.commit('member-a', a.memberEpoch, moving.map((p) => ({ topic: 'orders', topicId: topic.topicId, partition: p.partition, offset: 5 })));
    // B cannot have them yet, and cannot commit them.
    expect(await code(wire.commit('member-b', b.memberEpoch, [{ topic: 'orders', topicId: topic.topicId, partition: moving[0]!.partition, offset: 6 }]))).toBe('STALE_MEMBER_EPOCH');
    expect((await wire.heartbeat('member-b', b.memberEpoch)).assignment).toEqual([]);
    await wire.heartbeat('member-a', a2.memberEpoch, owned(a2));
    const b2 = await wire.heartbeat('member-b', b.memberEpoch);
    expect(b2.assignment.map((p) => p.partition).sort()).toEqual(moving.map((p) => p.partition).sort());
    expect(b2.assignment.every((p) => p.committed === 5)).toBe(true);

    // Commits: past the end, an epoch never given, a topic id of another incarnation, a wrong type.
    const mine = b2.assignment[0]!.partition;
    expect(await code(wire.commit('member-b', b2.memberEpoch, [{ topic: 'orders', topicId: topic.topicId, partition: mine, offset: 11 }]))).toBe('OFFSET_OUT_OF_RANGE');
    expect(await code(wire.commit('member-b', b2.memberEpoch + 100, [{ topic: 'orders', topicId: topic.topicId, partition: mine, offset: 7 }]))).toBe('FENCED_MEMBER_EPOCH');
    expect(await code(wire.commit('member-b', b2.memberEpoch, [{ topic: 'orders', topicId: topic.topicId + 1, partition: mine, offset: 7 }]))).toBe('UNKNOWN_TOPIC');
    expect(await code(wire.call(groupMethods.offsetCommit, { memberId: 'member-b', memberEpoch: 'one', offsets: [] }))).toBe('MALFORMED_REQUEST');
    expect(await code(wire.commit('ghost', 1, [{ topic: 'orders', topicId: topic.topicId, partition: mine, offset: 1 }]))).toBe('UNKNOWN_MEMBER');
    const stored = await wire.commit('member-b', b2.memberEpoch, [{ topic: 'orders', topicId: topic.topicId, partition: mine, offset: 10 }]);
    expect(stored.offsets).toEqual([{ topic: 'orders', partition: mine, offset: 10 }]);
    // Never backwards: an older commit leaves the newer one.
    expect((await wire.commit('member-b', b2.memberEpoch, [{ topic: 'orders', topicId: topic.topicId, partition: mine, offset: 3 }])).offsets[0]!.offset).toBe(10);

    const described = await wire.call<DescribeGroupResponse>(groupMethods.describeGroup, {});
    expect(described.members.map((m) => m.memberId)).toEqual(['member-a', 'member-b']);
    expect(described.members[0]).toMatchObject({ clientId: 'wire', clientHost: '127.0.0.1' });
    expect(described.members.every((m) => typeof m.lastHeardAgoMs === 'number')).toBe(true);

    const reset = { offsets: [{ topic: 'orders', topicId: topic.topicId, partition: 0, offset: 0 }] };
    expect(await code(wire.call(groupMethods.resetOffsets, reset))).toBe('GROUP_NOT_EMPTY');
    expect(await code(wire.call(groupMethods.deleteGroup, {}))).toBe('GROUP_NOT_EMPTY');
    await wire.call(groupMethods.groupLeave, { memberId: 'member-a', memberEpoch: a2.memberEpoch });
    await wire.call(groupMethods.groupLeave, { memberId: 'member-b', memberEpoch: b2.memberEpoch });
    await wire.call(groupMethods.resetOffsets, { offsets: [{ topic: 'orders', topicId: topic.topicId, partition: mine, offset: 2 }] });
    const fetched = await wire.call<OffsetFetchResponse>(groupMethods.offsetFetch, {});
    expect(fetched.offsets.find((o) => o.partition === mine)!.offset).toBe(2);
    await wire.call(groupMethods.deleteGroup, {});
    expect(await code(wire.call(groupMethods.describeGroup, {}))).toBe('UNKNOWN_GROUP');
    expect(await code(wire.call(groupMethods.deleteGroup, {}))).toBe('UNKNOWN_GROUP');
    await producer.close();
  }, 60_000);

  it('keeps acknowledged commits through a SIGKILL of the coordinator, and rebuilds from a snapshot after a full restart', async () => {
    const { cluster, client } = await clusterForTest(3);
    const topic = await client.admin().createTopic({ name: 'events', partitions: 2, replicationFactor: 3 });
    const producer = client.producer({ lingerMs: 1 });
    await producer.send({ topic: 'events', messages: Array.from({ length: 20 }, (_, i) => ({ value: i, partition: i % 2 })) });
    await producer.close();
    const wire = new GroupWire(client, 'durable');
    const joined = await wire.join('member-1', ['events'], { instanceId: 'worker-1' });
    await wire.commit('member-1', joined.memberEpoch, [0, 1].map((partition) => ({ topic: 'events', topicId: topic.topicId, partition, offset: 7 })));

    const { partition } = await wire.find();
    const leader = (await client.admin().describeTopic(groupsTopic)).partitions[partition]!.leader!;
    await cluster.stopBroker(leader, { graceful: false });
    // The new coordinator already holds the group: the member goes on at its epoch, and sees its commits.
    const after = await wire.heartbeat('member-1', joined.memberEpoch, owned(joined));
    expect(after.memberEpoch).toBe(joined.memberEpoch);
    await wire.commit('member-1', joined.memberEpoch, [{ topic: 'events', topicId: topic.topicId, partition: 0, offset: 9 }]);
    await cluster.startBroker(leader);

    // Snapshot every replica (the restart then restores it and replays only what follows), commit once more, restart all.
    await Promise.all([...cluster.brokers.values()].map((b) => b.maintain({ force: true })));
    await wire.commit('member-1', joined.memberEpoch, [{ topic: 'events', topicId: topic.topicId, partition: 1, offset: 8 }]);
    for (const id of [1, 2, 3]) await cluster.stopBroker(id, { graceful: false });
    for (const id of [1, 2, 3]) await cluster.startBroker(id);
    const fetched = await wire.call<OffsetFetchResponse>(groupMethods.offsetFetch, {});
    expect(fetched.offsets.map((o) => [o.partition, o.offset])).toEqual([
      [0, 9],
      [1, 8],
    ]);
    // The member is still known (its session started afresh with the new coordinator).
    const described = await wire.call<DescribeGroupResponse>(groupMethods.describeGroup, {});
    expect(described.members.map((m) => m.instanceId)).toEqual(['worker-1']);
  }, 90_000);
});
