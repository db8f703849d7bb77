import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Skein } from '../../../sdk/index.js';
import { until } from '../../support/until.js';
import { clusterForTest, type InProcessCluster } from '../support/cluster.js';

/** Rebalancing onto a joined broker, decommissioning it again, and the refusals that change nothing. */
async function replicasOn(client: Skein, brokerId: number): Promise<number> {
  const topic = await client.admin().describeTopic('spread');
  return topic.partitions.filter((p) => p.replicas.includes(brokerId)).length;
}

function partitionDirs(cluster: InProcessCluster, id: number): string[] {
  const dir = join(cluster.dir, `broker-${id}`, 'partitions');
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe('rebalance and decommission', () => {
  it('a rebalance spreads replicas onto a joined broker; decommissioning it moves them off and it is gone for good', async () => {
    const { cluster, client } = await clusterForTest(3);
    const admin = client.admin();
    await admin.createTopic({ name: 'spread', partitions: 4, replicationFactor: 3 });
    expect((await admin.decommissionBroker(9).catch((e: unknown) => e)) as object).toMatchObject({ code: 'UNKNOWN_BROKER' });
    // Three brokers, three replicas each: none can leave.
    expect((await admin.decommissionBroker(1).catch((e: unknown) => e)) as object).toMatchObject({ code: 'INVALID_REPLICATION_FACTOR' });
    expect((await admin.recommissionBroker(1).catch((e: unknown) => e)) as object).toMatchObject({ code: 'INVALID_BROKER_STATE' });
    expect((await admin.describeCluster()).brokers.every((b) => b.state === 'active')).toBe(true);

    await cluster.join(4);
    await until('broker 4 active', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active');
    const dry = await admin.rebalance({ dryRun: true });
    // 12 replicas over 4 brokers: 3 each, so 3 replicas move to broker 4.
    expect(dry).toMatchObject({ replicaMoves: 3, moveIds: [] });
    expect(await replicasOn(client, 4)).toBe(0);
    const plan = await admin.rebalance();
    expect(plan.moveIds).toHaveLength(3);
    const watch = admin.watchMoves(plan.moveIds, { everyMs: 50 });
    let next = await watch.next();
    while (next.done !== true) next = await watch.next();
    expect(next.value.map((f) => f.outcome)).toEqual(['done', 'done', 'done']);
    expect(await replicasOn(client, 4)).toBe(3);

    expect(await admin.decommissionBroker(4)).toEqual({ replicas: 3 });
    await until('broker 4 gone', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state === 'gone', 30_000);
    expect(await replicasOn(client, 4)).toBe(0);
    // Every replica moved off it is deleted, the last one too, though the metadata group drops it at once.
    await until('broker 4 holds no partition', () => partitionDirs(cluster, 4).length === 0, 10_000);
    const only4 = new Skein({ brokers: [cluster.bootstrap[3]!], clientId: 'only-4' });
    try {
      const refused = await only4.admin().describeCluster().catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'NO_BROKERS_REACHABLE' });
      expect((refused as Error).message).toContain('BROKER_REMOVED');
    } finally {
      await only4.close();
    }
    // Gone for good: no recommission, and its id is not taken again.
    expect((await admin.recommissionBroker(4).catch((e: unknown) => e)) as object).toMatchObject({ code: 'INVALID_BROKER_STATE' });
    await until('broker 4 out of the metadata group', async () => !((await admin.describeCluster()).controllerGroup?.learners.includes(4) ?? true));
  }, 90_000);

  it('a broker decommissioned while it was down deletes every replica it held when it comes back, and sends clients elsewhere', async () => {
    const { cluster, client } = await clusterForTest(3);
    const admin = client.admin();
    await cluster.join(4);
    await until('broker 4 active', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active');
    await admin.createTopic({ name: 'spread', partitions: 4, replicationFactor: 3 });
    expect(await replicasOn(client, 4)).toBe(3);
    const producer = client.producer({ acks: 'all' });
    const acked = await producer.send({ topic: 'spread', messages: Array.from({ length: 40 }, (_, i) => ({ partition: i % 4, value: Buffer.from(`r${i}`) })) });
    await until('broker 4 holds its replicas', () => partitionDirs(cluster, 4).length === 3);
    await cluster.stopBroker(4, { graceful: false });
    // Down, it cannot take part: the other replicas of each partition form the quorum that moves it off.
    await admin.decommissionBroker(4);
    await until('broker 4 gone', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state === 'gone', 30_000);
    await until('broker 4 out of the metadata group', async () => !((await admin.describeCluster()).controllerGroup?.learners.includes(4) ?? true));
    expect(partitionDirs(cluster, 4)).toHaveLength(3);

    // Back, its copy of the metadata still names it a replica and its groups no longer send to it: it asks a peer.
    await cluster.restartBroker(4);
    await until('broker 4 deleted every replica it held', () => partitionDirs(cluster, 4).length === 0, 10_000);
    const address4 = cluster.bootstrap[3]!;
    const only4 = new Skein({ brokers: [address4], clientId: 'only-4', deliveryTimeoutMs: 1_000 });
    try {
      const refused = await only4.admin().describeTopic('spread').catch((e: unknown) => e);
      // Its only bootstrap broker refused: the first contact names why.
      expect(refused).toMatchObject({ code: 'NO_BROKERS_REACHABLE' });
      expect((refused as Error).message).toContain('BROKER_REMOVED');
    } finally {
      await only4.close();
    }
    // A client told of broker 4 first goes to the others, and the metadata no longer names broker 4.
    const via4 = new Skein({ brokers: [address4, cluster.bootstrap[0]!], clientId: 'via-4-first' });
    try {
      const topic = await via4.admin().describeTopic('spread');
      expect(topic.partitions.every((p) => !p.replicas.includes(4))).toBe(true);
      await via4.producer({ acks: 'all' }).send({ topic: 'spread', messages: [{ partition: 0, value: Buffer.from('after') }] });
      const consumer = via4.consumer({ topic: 'spread', from: 'earliest' });
      const read: string[] = [];
      while (read.length < acked.length + 1) read.push(...(await consumer.fetch({ maxRecords: 100, maxWaitMs: 100 })).map((r) => Buffer.from(r.value as Uint8Array).toString()));
      expect(read.sort()).toEqual([...Array.from({ length: 40 }, (_, i) => `r${i}`), 'after'].sort());
      await consumer.close();
    } finally {
      await via4.close();
    }
  }, 90_000);

  it('with --auto-rebalance on-join, a broker that joins is given its share of replicas through ordinary moves', async () => {
    const { cluster, client } = await clusterForTest(3, { autoRebalance: 'on-join' });
    const admin = client.admin();
    await admin.createTopic({ name: 'spread', partitions: 4, replicationFactor: 3 });
    await cluster.join(4);
    // 12 replicas over 4 brokers: 3 each, moved by the controller with no operator command.
    await until('broker 4 holds its share', async () => (await replicasOn(client, 4)) === 3, 30_000);
    const finished = (await admin.listReassignments()).finished;
    expect(finished.filter((f) => f.outcome === 'done')).toHaveLength(3);
    expect((await admin.rebalance({ dryRun: true })).replicaMoves).toBe(0);
  }, 60_000);

  it('recommission cancels a decommission in progress', async () => {
    const { cluster, client } = await clusterForTest(3);
    const admin = client.admin();
    await cluster.join(4);
    await until('broker 4 active', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active');
    await admin.createTopic({ name: 'spread', partitions: 2, replicationFactor: 3 });
    await admin.decommissionBroker(4);
    expect((await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state).toBe('decommissioning');
    await admin.recommissionBroker(4);
    expect((await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state).toBe('active');
    await until('no moves left', async () => (await admin.listReassignments()).moves.length === 0);
  }, 60_000);
  it('a decommission while a broker that could take the replicas is down is retried until it is back, not refused (the cluster simulation\'s seeds 10, 11, 12 and 19)', async () => {
    const { cluster, client } = await clusterForTest(3);
    const admin = client.admin();
    await cluster.join(4);
    await until('broker 4 active', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active');
    // Four partitions over four brokers: one holds 2 and not 3, and only broker 3 can take its place there.
    await admin.createTopic({ name: 'spread', partitions: 4, replicationFactor: 3 });
    const partitions = (await admin.describeTopic('spread')).partitions;
    expect(partitions.some((p) => p.replicas.includes(2) && !p.replicas.includes(3))).toBe(true);
    const on2 = partitions.filter((p) => p.replicas.includes(2)).length;
    await cluster.stopBroker(3, { graceful: false });
    await until('broker 3 seen down', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 3)?.alive === false);
    // Brokers 1, 3 and 4 can hold broker 2's replicas once broker 3 answers again: worth a retry, not a refusal.
    const decommission = admin.decommissionBroker(2).then((r) => r, (e: unknown) => e);
    const early = await Promise.race([decommission, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 500))]);
    expect(early).toBe('pending');
    await cluster.restartBroker(3);
    expect(await decommission).toEqual({ replicas: on2 });
    await until('broker 2 gone', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 2)?.state === 'gone', 30_000);
  }, 60_000);
});
