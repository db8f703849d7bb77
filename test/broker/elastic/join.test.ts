import { join } from 'node:path';
import { until } from '../../support/until.js';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Broker } from '../../../broker/broker.js';
import { brokerConfig } from '../../../broker/config.js';
import { Skein } from '../../../sdk/index.js';
import { clusterForTest, freePorts, testPeerSecret } from '../support/cluster.js';

/**
 * A broker started with `join` instead of `peers`: it registers with the
 * controller, follows the metadata group as a learner, answers metadata from
 * its own copy, becomes active once caught up, and takes no partitions.
 */
function joinerConfig(dir: string, id: number, port: number, via: string, settings: Record<string, unknown> = {}) {
  return brokerConfig({ id, listen: `127.0.0.1:${port}`, data: join(dir, `broker-${id}`), join: via, tickMs: 20, electionTicks: 10, peerSecret: testPeerSecret, ...settings });
}

describe('joining a running cluster', () => {
  it('registers, follows the metadata as a learner, becomes active, serves metadata, and takes no partitions', async () => {
    const { cluster, client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'before', partitions: 3, replicationFactor: 3 });
    const [port] = await freePorts(1);
    const joiner = await Broker.start(joinerConfig(cluster.dir, 4, port!, cluster.bootstrap[1]!));
    cluster.brokers.set(4, joiner);
    const described = await until('broker 4 active', async () => {
      const d = await client.admin().describeCluster();
      return d.brokers.find((b) => b.id === 4)?.state === 'active' && d;
    });
    expect(described.controllerGroup?.learners).toContain(4);
    expect(described.controllerGroup?.voters).toEqual([1, 2, 3]);
    // Its own copy of the metadata: a client that only knows broker 4 sees the topic and every broker.
    const direct = new Skein({ brokers: [`127.0.0.1:${port}`], clientId: 'via-4' });
    try {
      const topic = await until('topic seen through broker 4', () => direct.admin().describeTopic('before').catch(() => undefined));
      expect(topic.partitions.every((p) => !p.replicas.includes(4))).toBe(true);
      const fromFour = await direct.admin().describeCluster();
      expect(fromFour.brokers.map((b) => [b.id, b.state])).toEqual([[1, 'active'], [2, 'active'], [3, 'active'], [4, 'active']]);
      // New topics may now be placed on it; admin requests through it reach the controller.
      await direct.admin().createTopic({ name: 'after', partitions: 4, replicationFactor: 1 });
      const after = await client.admin().describeTopic('after');
      expect(after.partitions.some((p) => p.replicas.includes(4))).toBe(true);
    } finally {
      await direct.close();
    }
  }, 60_000);

  it('a joiner with a wrong peer secret, an id in use by another directory, or another cluster id is refused and changes nothing', async () => {
    const { cluster, client } = await clusterForTest(3);
    const [port] = await freePorts(1);
    const via = cluster.bootstrap[0]!;
    await cluster.brokers.get(2)!.registered;
    await expect(Broker.start(joinerConfig(cluster.dir, 4, port!, via, { peerSecret: 'a-different-secret-entirely' }))).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    // Broker 2's id, from a fresh data directory: the metadata ties id 2 to broker 2's directory.
    await expect(Broker.start(brokerConfig({ id: 2, listen: `127.0.0.1:${port}`, data: join(cluster.dir, 'impostor'), join: via, tickMs: 20, electionTicks: 10, peerSecret: testPeerSecret }))).rejects.toMatchObject({ code: 'BROKER_ID_IN_USE' });
    await expect(Broker.start(joinerConfig(cluster.dir, 5, port!, via, { clusterId: 'another' }))).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    const described = await client.admin().describeCluster();
    expect(described.brokers.map((b) => b.id)).toEqual([1, 2, 3]);
    expect(described.brokers.find((b) => b.id === 2)).toMatchObject({ port: cluster.ports[1] });
  }, 60_000);

  it('a founding broker restarted with a copy of the metadata from before a broker joined answers that broker when it leads the metadata group, and catches up', async () => {
    // The elastic scenario under load: a founder SIGKILLed while a joined broker took over the metadata group
    // came back with the copy it had before the join (its commit index is saved only when its term changes),
    // so it had no address for the new leader, could not answer its appends, and never caught up.
    const { cluster, client } = await clusterForTest(3);
    await cluster.join(4);
    await until('broker 4 active', async () => (await client.admin().describeCluster()).brokers.find((b) => b.id === 4)?.state === 'active');
    const first = (await client.admin().describeCluster()).controllerId!;
    const victim = [1, 2, 3].find((id) => id !== first)!;
    // A client that never tries the broker that will be down.
    const others = new Skein({ brokers: [1, 2, 3, 4].filter((id) => id !== victim).map((id) => `127.0.0.1:${cluster.ports[id - 1]}`), clientId: 'others' });
    onTestFinished(() => others.close());
    const admin = others.admin();
    await admin.alterControllerVoters({ add: 4 });
    // Demoting a follower changes no term: the victim keeps the commit index it saved at the first election.
    await admin.alterControllerVoters({ remove: victim });
    await cluster.stopBroker(victim, { graceful: false });
    // Broker 4 alone votes, so it leads the metadata group (the controller last: it hands over to broker 4).
    for (const id of [1, 2, 3].filter((id) => id !== victim && id !== first)) await admin.alterControllerVoters({ remove: id });
    await admin.alterControllerVoters({ remove: first });
    await until('broker 4 leads the metadata group', async () => (await admin.describeCluster()).controllerId === 4);
    await admin.createTopic({ name: 'while-down', partitions: 1, replicationFactor: 1 });
    // With the --peers it was founded with: the founders only.
    const founders = [1, 2, 3].map((id) => `${id}@127.0.0.1:${cluster.ports[id - 1]}`).join(',');
    await cluster.restartBroker(victim, { peers: founders });
    const via = new Skein({ brokers: [cluster.bootstrap[victim - 1]!], clientId: 'via-restarted' });
    try {
      await until('the restarted broker\'s own copy has the topic', () => via.admin().describeTopic('while-down', { signal: AbortSignal.timeout(1_000) }).catch(() => undefined), 15_000);
      const own = await via.admin().describeCluster();
      expect(own.storage?.brokerId).toBe(victim);
      expect(own.brokers.map((b) => b.id)).toEqual([1, 2, 3, 4]);
    } finally {
      await via.close();
    }
  }, 60_000);

  it('join and peers exclude each other', () => {
    expect(() => brokerConfig({ id: 4, data: '/tmp/x', join: '127.0.0.1:1', peers: '4@127.0.0.1:9092' })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
  });
});
