import { describe, expect, it } from 'vitest';
import { clusterForTest } from './support/cluster.js';

describe('a three-broker cluster in one process', () => {
  it('creates a topic, produces with acks all, and consumes what was produced', async () => {
    const { cluster, client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'orders', partitions: 3, replicationFactor: 3 });
    const producer = client.producer({ lingerMs: 5 });
    const results = await producer.send({ topic: 'orders', messages: Array.from({ length: 100 }, (_, i) => ({ key: `k${i % 7}`, value: { i } })) });
    expect(results).toHaveLength(100);
    await producer.flush();
    const consumer = client.consumer({ topic: 'orders', from: 'earliest' });
    const seen: number[] = [];
    while (seen.length < 100) {
      for (const record of await consumer.fetch({ recordsMax: 1000, waitMsMax: 500 })) seen.push((record.value as { i: number }).i);
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await consumer.close();
  }, 60_000);
});

describe('leadership, deletion and push across leader changes', () => {
  it('a graceful stop hands leadership over before the broker exits', async () => {
    const { cluster, client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'handover', partitions: 3, replicationFactor: 3 });
    const producer = client.producer({ lingerMs: 1 });
    await producer.send({ topic: 'handover', messages: [{ value: 'warm', partition: 0 }, { value: 'warm', partition: 1 }, { value: 'warm', partition: 2 }] });
    const leaders = (await client.admin().describeTopic('handover')).partitions.map((p) => p.leader);
    const victim = leaders[0]!;
    await cluster.stopBroker(victim);
    // No election timeout has passed: every partition the victim led already has a new, writable leader.
    for (const [partition, leader] of leaders.entries()) {
      if (leader !== victim) continue;
      const writable = [...cluster.brokers.values()].some((b) => (b as unknown as { partition(t: string, p: number): { isLeader(): boolean } | undefined }).partition('handover', partition)?.isLeader());
      expect(writable).toBe(true);
    }
    await producer.send({ topic: 'handover', messages: [{ value: 'after', partition: 0 }] });
  }, 60_000);

  it('a graceful stop of the controller hands the metadata group over: its successor has committed in its term when stop resolves', async () => {
    const { cluster, client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'warm', partitions: 1, replicationFactor: 3 });
    type Internals = { controller: { raft: { status(): { role: string; term: number; commit: number }; termAt(index: number): number } } };
    const controllerOf = (id: number): Internals['controller'] => (cluster.brokers.get(id) as unknown as Internals).controller;
    const victim = [...cluster.brokers.keys()].find((id) => controllerOf(id).raft.status().role === 'leader')!;
    await cluster.stopBroker(victim);
    // No election timeout has passed: the successor was chosen by the handover, and has already committed its term's first entry.
    const successors = [...cluster.brokers.keys()].filter((id) => controllerOf(id).raft.status().role === 'leader');
    expect(successors).toHaveLength(1);
    const status = controllerOf(successors[0]!).raft.status();
    expect(controllerOf(successors[0]!).raft.termAt(status.commit)).toBe(status.term);
    await client.admin().createTopic({ name: 'after', partitions: 1, replicationFactor: 2 });
  }, 60_000);

  it('push subscribers get every record once, in order, across a leader change', async () => {
    const { cluster, client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'pushed', partitions: 1, replicationFactor: 3 });
    const got: number[] = [];
    const subscription = client.subscribe<number>({ topic: 'pushed', from: 'earliest', handler: (r) => void got.push(r.value) });
    const producer = client.producer({ lingerMs: 1 });
    await producer.send({ topic: 'pushed', messages: Array.from({ length: 200 }, (_, i) => ({ value: i })) });
    const leader = (await client.admin().describeTopic('pushed')).partitions[0]!.leader!;
    await cluster.stopBroker(leader);
    await producer.send({ topic: 'pushed', messages: Array.from({ length: 200 }, (_, i) => ({ value: 200 + i })) });
    const until = Date.now() + 30_000;
    while (got.length < 400 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await subscription.close();
    expect(got).toEqual(Array.from({ length: 400 }, (_, i) => i));
  }, 60_000);

  it('deletes a topic everywhere, and a topic created again under its name starts empty', async () => {
    const { cluster, client } = await clusterForTest(3);
    const admin = client.admin();
    await admin.createTopic({ name: 'ephemeral', partitions: 1, replicationFactor: 3 });
    const producer = client.producer({ lingerMs: 1 });
    await producer.send({ topic: 'ephemeral', messages: [{ value: 'old' }, { value: 'old' }] });
    await admin.deleteTopic('ephemeral');
    expect(await admin.listTopics()).not.toContain('ephemeral');
    await expect(admin.describeTopic('ephemeral')).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
    await admin.createTopic({ name: 'ephemeral', partitions: 1, replicationFactor: 3 });
    const [meta] = await producer.send({ topic: 'ephemeral', messages: [{ value: 'new' }] });
    expect(meta!.offset).toBe(0);
  }, 60_000);
});
