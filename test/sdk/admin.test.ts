import { describe, expect, it } from 'vitest';
import * as api from '../../sdk/index.js';
import { SkeinError } from '../../transport/errors.js';
import { methods } from '../../transport/protocol/messages.js';
import { FakeCluster, fakeClient } from './support/harness.js';

describe('admin', () => {
  it('creates, describes, lists and deletes topics; a new topic is usable at once', async () => {
    const cluster = new FakeCluster({ brokers: 3 });
    await using skein = fakeClient(cluster);
    const admin = skein.admin();
    const created = await admin.createTopic({ name: 'orders', partitions: 4, replicationFactor: 3, config: { retentionMs: 60_000 } });
    expect(created.partitions).toHaveLength(4);
    expect(created.partitions.every((p) => p.leader !== null && p.replicas.length === 3)).toBe(true);
    await admin.createTopic({ name: 'audit', partitions: 1, replicationFactor: 1 });
    expect(await admin.listTopics()).toEqual(['audit', 'orders']);
    expect((await admin.describeTopic('orders')).name).toBe('orders');
    const [meta] = await skein.producer({ lingerMs: 0 }).send({ topic: 'orders', messages: [{ value: 'first', partition: 3 }] });
    expect(meta).toMatchObject({ partition: 3, offset: 0 });
    await admin.deleteTopic('audit');
    expect(await admin.listTopics()).toEqual(['orders']);
    await expect(admin.describeTopic('audit')).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
    const description = await admin.describeCluster();
    expect(description.brokers.map((b) => b.id)).toEqual([1, 2, 3]);
  });

  it('says what was wrong, locally when it can', async () => {
    const cluster = new FakeCluster({ brokers: 3 });
    await using skein = fakeClient(cluster);
    const admin = skein.admin();
    await admin.createTopic({ name: 't', partitions: 1, replicationFactor: 1 });
    await expect(admin.createTopic({ name: 't', partitions: 1, replicationFactor: 1 })).rejects.toMatchObject({ code: 'TOPIC_EXISTS' });
    await expect(admin.createTopic({ name: 'u', partitions: 1, replicationFactor: 5 })).rejects.toMatchObject({ code: 'INVALID_REPLICATION_FACTOR' });
    const requestsBefore = cluster.requests.length;
    await expect(admin.createTopic({ name: 'bad name', partitions: 1, replicationFactor: 1 })).rejects.toMatchObject({ code: 'INVALID_TOPIC' });
    await expect(admin.createTopic({ name: 'v', partitions: 0, replicationFactor: 1 })).rejects.toMatchObject({ code: 'INVALID_TOPIC' });
    await expect(admin.createTopic({ name: 'v', partitions: 1, replicationFactor: 0 })).rejects.toMatchObject({ code: 'INVALID_REPLICATION_FACTOR' });
    await expect(admin.createTopic({ name: 'v', partitions: 1, replicationFactor: 1, config: { flush: { mode: 'sometimes' } } as never })).rejects.toMatchObject({ code: 'INVALID_TOPIC' });
    await expect(admin.deleteTopic('..')).rejects.toMatchObject({ code: 'INVALID_TOPIC' });
    expect(cluster.requests.length).toBe(requestsBefore);
    await expect(admin.deleteTopic('nope')).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
  });

  it('retries admin requests on other brokers when one is down', async () => {
    const cluster = new FakeCluster({ brokers: 3 });
    await using skein = fakeClient(cluster);
    cluster.kill(1);
    cluster.kill(2);
    expect((await skein.admin().describeCluster()).brokers.find((b) => b.id === 1)?.alive).toBe(false);
  });

  it('retries a request on another broker when the one it has a connection to keeps failing it (cut off from the controller, say), not on that one again and again', async () => {
    const cluster = new FakeCluster({ brokers: 3 });
    await using skein = fakeClient(cluster, { requestTimeoutMs: 5_000 });
    await skein.admin().listTopics();
    expect(cluster.openServerConnections()).toBe(1);
    const asked: number[] = [];
    cluster.interceptor = ({ brokerId, method }) => {
      if (method !== methods.describeCluster) return undefined;
      asked.push(brokerId);
      return brokerId === 1 ? { fail: new SkeinError('LEADER_NOT_AVAILABLE', { message: 'the cluster has no controller right now' }) } : undefined;
    };
    expect((await skein.admin().describeCluster()).brokers).toHaveLength(3);
    expect(asked.filter((id) => id === 1)).toHaveLength(1);
    expect(asked.at(-1)).not.toBe(1);
  });

  it('a retry does not wait on the dial of a broker that is down while it has connections to others (remove-voter of the controller took 10 s, a whole connectTimeoutMs, so), and closing the client ends that dial', async () => {
    const cluster = new FakeCluster({ brokers: 3 });
    const down = '127.0.0.1:9999';
    // A broker that is down: its dial is never answered (a SIGSTOPped or unplugged host), until given up.
    const dial = (address: { host: string; port: number }, options: { signal: AbortSignal }): ReturnType<typeof cluster.dial> =>
      address.port === 9999 ? new Promise((_, reject) => options.signal.addEventListener('abort', () => reject(options.signal.reason), { once: true })) : cluster.dial(address);
    await using skein = new api.Skein({ brokers: [...cluster.bootstrap(), down], clientId: 'test', connectTimeoutMs: 600_000 }, { dial });
    await skein.admin().listTopics();
    // The controller hands itself over: every broker asks the client to retry for a while (RECONFIGURATION_IN_PROGRESS, say).
    let refusals = 0;
    cluster.interceptor = ({ method }) => (method === methods.describeCluster && refusals++ < 8 ? { fail: new SkeinError('LEADER_NOT_AVAILABLE', { message: 'the controller is moving' }) } : undefined);
    await expect(skein.admin().describeCluster()).resolves.toMatchObject({ brokers: expect.any(Array) });
    expect(refusals).toBe(9);
    // Nor does closing the client wait on it.
    await skein.close();
  }, 30_000);
});

describe('public API', () => {
  it('exports a few classes and factories, not the internals', () => {
    expect(Object.keys(api).sort()).toEqual(['Admin', 'Consumer', 'GroupConsumer', 'GroupSubscription', 'Producer', 'Skein', 'SkeinError', 'Subscription', 'defineTopic', 'isSkeinError', 'serdes'].sort());
    expect(new SkeinError('TIMEOUT')).toBeInstanceOf(api.SkeinError);
  });
});
