import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '../../support/until.js';
import { describe, expect, it } from 'vitest';
import { partitionDir } from '../../../broker/partition/descriptor.js';
import { defineTopic, serdes, type Skein } from '../../../sdk/index.js';
import { Prng } from '../../../transport/core/prng.js';
import { Ledger } from '../../support/ledger.js';
import { clusterForTest, type InProcessCluster } from '../support/cluster.js';

/**
 * Moving a partition between brokers while a producer writes with acks:
 * 'all': the new replica catches up as a learner, joins, the leaving one
 * goes (leadership handed off it first), its data is deleted, and every
 * acknowledged record reads back once, in order, from the new replica set.
 */
const topic = defineTopic<number, string>('moving', { value: serdes.cbor<number>(), key: serdes.string() });

async function withFourth(): Promise<{ cluster: InProcessCluster; client: Skein }> {
  const { cluster, client } = await clusterForTest(3);
  await cluster.join(4);
  await until('broker 4 active', async () => (await client.admin().describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active');
  return { cluster, client };
}

async function waitDone(client: Skein, moveId: number): Promise<string> {
  const watch = client.admin().watchMoves([moveId], { everyMs: 50 });
  for (;;) {
    const next = await watch.next();
    if (next.done === true) return next.value[0]?.outcome ?? 'forgotten';
  }
}

describe('reassigning a partition', () => {
  it('moves a partition off its leader onto a joined broker under load; nothing acknowledged is lost and the old replica is deleted', async () => {
    const { cluster, client } = await withFourth();
    await client.admin().createTopic({ name: 'moving', partitions: 1, replicationFactor: 3 });
    const before = await client.admin().describeTopic('moving');
    const leaving = before.partitions[0]!.leader!;
    const staying = before.partitions[0]!.replicas.filter((id) => id !== leaving);
    const producer = client.producer({ acks: 'all', lingerMs: 2 });
    const ledger = new Ledger(topic);
    let writing = true;
    const load = ledger.writeWhile(producer, { prng: new Prng(3), keepWriting: () => writing, keys: 3, pauseMs: [1, 4] });
    await until('some records written', () => ledger.acked.size > 200);

    const target = [4, ...staying];
    const [result] = await client.admin().reassignPartitions([{ topic: 'moving', partition: 0, replicas: target }]);
    expect(result).toMatchObject({ topic: 'moving', partition: 0, moveId: expect.any(Number) });
    const listed = await client.admin().listReassignments();
    expect(listed.moves.map((m) => [m.moveId, m.target])).toEqual([[result!.moveId, target]]);
    expect(await waitDone(client, result!.moveId!)).toBe('done');
    writing = false;
    await load;

    const after = await client.admin().describeTopic('moving');
    expect(after.partitions[0]!.replicas).toEqual(target);
    const dir = partitionDir(join(cluster.dir, `broker-${leaving}`), { topic: 'moving', topicId: after.topicId, partition: 0 });
    await until('the leaving replica deleted', () => !existsSync(dir));
    expect(ledger.failures).toEqual([]);
    await ledger.expectReadBack(client);
    // The new replica holds the whole log, from offset 0.
    const fresh = new (client.constructor as typeof Skein)({ brokers: [cluster.bootstrap[3]!], clientId: 'reader-4' });
    try {
      const consumer = fresh.consumer({ topic, from: 'earliest', readFrom: 'follower' });
      let count = 0;
      while (count < ledger.acked.size) count += (await consumer.fetch({ recordsMax: 5000, waitMsMax: 200 })).length;
      expect(count).toBe(ledger.acked.size);
      await consumer.close();
    } finally {
      await fresh.close();
    }
  }, 60_000);

  it('refuses bad replica lists with a typed error and changes nothing; a second move of a moving partition, and cancelling', async () => {
    const { client } = await withFourth();
    await client.admin().createTopic({ name: 'moving', partitions: 1, replicationFactor: 3 });
    const admin = client.admin();
    const p = (replicas: number[]) => [{ topic: 'moving', partition: 0, replicas }];
    await expect(admin.reassignPartitions(p([1, 1, 2]))).rejects.toMatchObject({ code: 'INVALID_REPLICA_ASSIGNMENT' });
    expect((await admin.reassignPartitions(p([1, 2, 9])))[0]!.error).toMatchObject({ code: 'UNKNOWN_BROKER' });
    expect((await admin.reassignPartitions([{ topic: 'nope', partition: 0, replicas: [1] }]))[0]!.error).toMatchObject({ code: 'UNKNOWN_TOPIC' });
    expect((await admin.reassignPartitions([{ topic: 'moving', partition: 3, replicas: [1] }]))[0]!.error).toMatchObject({ code: 'UNKNOWN_PARTITION' });
    const current = (await admin.describeTopic('moving')).partitions[0]!.replicas;
    expect((await admin.reassignPartitions(p(current)))[0]!.error).toMatchObject({ code: 'INVALID_REPLICA_ASSIGNMENT', details: { reason: 'unchanged' } });
    expect((await admin.cancelReassignments([{ topic: 'moving', partition: 0 }]))[0]!.error).toMatchObject({ code: 'NO_REASSIGNMENT_IN_PROGRESS' });
    expect((await admin.describeTopic('moving')).partitions[0]!.replicas).toEqual(current);
    // A reorder moves no data: applied at once.
    const reordered = [current[1]!, current[0]!, current[2]!];
    expect((await admin.reassignPartitions(p(reordered)))[0]).toMatchObject({ reordered: true });
    await until('reordered', async () => (await admin.describeTopic('moving')).partitions[0]!.replicas.join() === reordered.join());

    const [first] = await admin.reassignPartitions(p([4, current[1]!, current[2]!]));
    expect(first!.moveId).toBeGreaterThan(0);
    const second = await admin.reassignPartitions(p([4, current[0]!, current[1]!]));
    if (second[0]!.error !== undefined) {
      expect(second[0]!.error).toMatchObject({ code: 'REASSIGNMENT_IN_PROGRESS', details: { moveId: first!.moveId } });
    }
    const [cancel] = await admin.cancelReassignments([{ topic: 'moving', partition: 0 }]);
    // Either rolled back, or too late (the joint configuration was already committed): both are told.
    if (cancel!.error !== undefined) expect(cancel!.error.code).toBe('REASSIGNMENT_NOT_CANCELLABLE');
    else expect(['cancelled', 'cancelling']).toContain(cancel!.outcome);
    const outcome = await waitDone(client, first!.moveId!);
    const finalReplicas = (await admin.describeTopic('moving')).partitions[0]!.replicas;
    if (outcome === 'cancelled') expect(finalReplicas).toEqual(reordered);
    else expect(finalReplicas).toEqual([4, current[1]!, current[2]!]);
  }, 60_000);
});
