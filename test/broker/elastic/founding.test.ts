import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { foundingText } from '../../../broker/cluster/founding.js';
import { Skein } from '../../../sdk/index.js';
import { brokerLimits, clusterLimits } from '../../../transport/limits.js';
import { closeAfterTest } from '../../support/close-after-test.js';
import { until } from '../../support/until.js';
import { freePorts, InProcessCluster } from '../support/cluster.js';

/**
 * Founding brokers write the metadata group's first entry each from its own flags: two that were given
 * different --peers or --controller-voters would hold different first entries that Raft takes for the
 * same one. A founder that disagrees with the cluster refuses to start, naming both foundings; the
 * brokers that formed the cluster refuse its Raft traffic and go on.
 */
describe('founders that disagree', () => {
  it('a founding is canonical (ids sorted, however --peers lists them) and the largest fits what a broker reads of it', () => {
    const peers = (ids: number[]) => ids.map((id) => ({ id, host: 'h', port: id }));
    expect(foundingText(peers([5, 3, 1, 4, 2]), 3)).toBe('voters 1,2,3; learners 4,5');
    expect(foundingText(peers([2, 1]), 3)).toBe('voters 1,2; learners none');
    const largest = foundingText(peers(Array.from({ length: clusterLimits.brokersMax }, (_, i) => brokerLimits.brokerIdMax - i)), 5);
    expect(Buffer.byteLength(largest)).toBeLessThanOrEqual(clusterLimits.foundingTextBytesMax);
  });

  it('a founder started with another --controller-voters or other --peers ids refuses to start, saying both; the cluster goes on', async () => {
    const cluster = closeAfterTest(new InProcessCluster(3));
    cluster.ports = await freePorts(3);
    await cluster.startBroker(1);
    await cluster.startBroker(2);
    const client = closeAfterTest(new Skein({ brokers: cluster.bootstrap.slice(0, 2), clientId: 'founding' }));
    const admin = client.admin();
    await until('brokers 1 and 2 registered under a controller', async () => {
      const described = await admin.describeCluster();
      return described.controllerId !== null && [1, 2].every((id) => described.brokers.some((b) => b.id === id && b.state === 'active'));
    });

    const [extra] = await freePorts(1);
    const odd: Array<[string, Record<string, unknown>, RegExp]> = [
      ['--controller-voters 1', { controllerVoters: 1 }, /founded as "voters 1; learners 2,3"/],
      ['a fourth founder in --peers', { peers: [...cluster.ports, extra].map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(',') }, /founded as "voters 1,2,3; learners 4"/],
    ];
    for (const [what, overrides, own] of odd) {
      const broker = await cluster.startBroker(3, { ...overrides, data: join(cluster.dir, `broker-3-${what.length}`) });
      const refusal = await Promise.race([broker.refused, new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000))]);
      expect(refusal, what).toMatchObject({ code: 'INVALID_CONFIG' });
      expect(refusal!.message, what).toMatch(own);
      expect(refusal!.message, what).toMatch(/"voters 1,2,3; learners none"/);
      expect(refusal!.message, what).toMatch(/--peers \(its broker ids\) and --controller-voters/);
      await cluster.stopBroker(3, { graceful: false });
    }

    // Brokers 1 and 2 still make a quorum of the founding they agree on.
    await admin.createTopic({ name: 'after', partitions: 2, replicationFactor: 2 });
    expect((await admin.describeTopic('after')).partitions).toHaveLength(2);
  }, 60_000);
});
