import { describe, expect, it } from 'vitest';
import { Skein } from '../../../sdk/index.js';
import { until } from '../../support/until.js';
import { clusterForTest } from '../support/cluster.js';

/** The metadata group's voters: added from caught-up learners, demoted to learners, replaced when a voter is decommissioned. */
describe('controller voters', () => {
  it('add-voter and remove-voter change the metadata group through joint consensus; bad changes are refused', async () => {
    const { cluster, client } = await clusterForTest(3);
    const admin = client.admin();
    await cluster.join(4);
    await until('broker 4 active', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active');
    await expect(admin.alterControllerVoters({ add: 9 })).rejects.toMatchObject({ code: 'UNKNOWN_BROKER' });
    await expect(admin.alterControllerVoters({ add: 1 })).rejects.toMatchObject({ code: 'INVALID_VOTER_CHANGE' });
    await expect(admin.alterControllerVoters({ remove: 4 })).rejects.toMatchObject({ code: 'INVALID_VOTER_CHANGE' });
    expect(await admin.alterControllerVoters({ add: 4 })).toEqual({ voters: [1, 2, 3, 4], learners: [] });
    // The controller itself leaves: it hands the controller over first; the retry lands on the next one.
    const controller = (await admin.describeCluster()).controllerId!;
    const after = await admin.alterControllerVoters({ remove: controller });
    expect(after.voters).toEqual([1, 2, 3, 4].filter((id) => id !== controller));
    expect(after.learners).toEqual([controller]);
    // Still a broker of the cluster, serving and answering metadata.
    await admin.createTopic({ name: 'after', partitions: 3, replicationFactor: 3 });
  }, 60_000);

  it('with --controller-voters 3, five founding brokers make three voters (the lowest ids) and two learners that serve metadata from their copy', async () => {
    const { cluster, client } = await clusterForTest(5, { controllerVoters: 3 });
    const admin = client.admin();
    expect((await admin.describeCluster()).controllerGroup).toEqual({ voters: [1, 2, 3], learners: [4, 5] });
    await admin.createTopic({ name: 'five', partitions: 5, replicationFactor: 3 });
    const via5 = new Skein({ brokers: [cluster.bootstrap[4]!], clientId: 'via-5' });
    try {
      const topic = await until('the topic through broker 5', () => via5.admin().describeTopic('five').catch(() => undefined));
      // Learners take replicas like any broker.
      expect(new Set(topic.partitions.flatMap((p) => p.replicas))).toEqual(new Set([1, 2, 3, 4, 5]));
    } finally {
      await via5.close();
    }
    // A learner may be promoted, up to the limit of voters.
    expect(await admin.alterControllerVoters({ add: 4 })).toEqual({ voters: [1, 2, 3, 4], learners: [5] });
  }, 60_000);

  it('a restarted cluster keeps the voters in its metadata log: --controller-voters counts only when the cluster is founded', async () => {
    // Founded when every founder voted (before --controller-voters, five founders made five voters), then
    // every broker restarted on the new default: the quorum must not change under the operator.
    const { cluster, client } = await clusterForTest(5, { controllerVoters: 5 });
    const admin = client.admin();
    expect((await admin.describeCluster()).controllerGroup).toEqual({ voters: [1, 2, 3, 4, 5], learners: [] });
    await admin.createTopic({ name: 'kept', partitions: 1, replicationFactor: 3 });
    for (const id of [1, 2, 3, 4, 5]) await cluster.stopBroker(id);
    for (const id of [1, 2, 3, 4, 5]) await cluster.restartBroker(id, { controllerVoters: 3 });
    const described = await until('the restarted cluster with a controller', async () => {
      const d = await admin.describeCluster().catch(() => undefined);
      return d?.controllerId !== null ? d : undefined;
    });
    expect(described.controllerGroup).toEqual({ voters: [1, 2, 3, 4, 5], learners: [] });
    // And the other way: three voters of five stay three when restarted asking for five.
    for (const id of [1, 2, 3, 4, 5]) await cluster.stopBroker(id);
    const three = await clusterForTest(5, { controllerVoters: 3 });
    for (const id of [1, 2, 3, 4, 5]) await three.cluster.stopBroker(id);
    for (const id of [1, 2, 3, 4, 5]) await three.cluster.restartBroker(id, { controllerVoters: 5 });
    await until('the other restarted cluster answering', async () => (await three.client.admin().describeCluster().catch(() => undefined))?.controllerId ?? undefined);
    expect((await three.client.admin().describeCluster()).controllerGroup).toEqual({ voters: [1, 2, 3], learners: [4, 5] });
  }, 60_000);

  it('decommissioning a founding voter swaps it for a caught-up learner and it ends gone', async () => {
    const { cluster, client } = await clusterForTest(3);
    const admin = client.admin();
    await admin.createTopic({ name: 't', partitions: 3, replicationFactor: 3 });
    await cluster.join(4);
    await until('broker 4 active', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active');
    await admin.decommissionBroker(3);
    await until('broker 3 gone', async () => (await admin.describeCluster()).brokers.find((b) => b.id === 3)?.state === 'gone', 40_000);
    const described = await admin.describeCluster();
    expect(described.controllerGroup?.voters).toEqual([1, 2, 4]);
    expect((await admin.describeTopic('t')).partitions.every((p) => !p.replicas.includes(3) && p.replicas.length === 3)).toBe(true);
  }, 60_000);
});
