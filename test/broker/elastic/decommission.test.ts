import { describe, expect, it } from 'vitest';
import type { Skein } from '../../../sdk/index.js';
import { until } from '../../support/until.js';
import { clusterForTest } from '../support/cluster.js';

/** Rebalancing onto a joined broker, decommissioning it again, and the refusals that change nothing. */
async function replicasOn(client: Skein, brokerId: number): Promise<number> {
  const topic = await client.admin().describeTopic('spread');
  return topic.partitions.filter((p) => p.replicas.includes(brokerId)).length;
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
    // Gone for good: no recommission, and its id is not taken again.
    expect((await admin.recommissionBroker(4).catch((e: unknown) => e)) as object).toMatchObject({ code: 'INVALID_BROKER_STATE' });
    await until('broker 4 out of the metadata group', async () => !((await admin.describeCluster()).controllerGroup?.learners.includes(4) ?? true));
  }, 90_000);

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
});
