import { describe, expect, it } from 'vitest';
import { SkeinError } from '../../transport/errors.js';
import { FakeCluster, fakeClient } from './support/harness.js';
import type { Producer } from '../../sdk/index.js';

describe('Skein client routing', () => {
  it('bootstraps from any live broker in the list, greets each connection first, one connection per broker', async () => {
    const cluster = new FakeCluster({ brokers: 3 });
    cluster.createTopic('t', { partitions: 3, leaders: [1, 2, 3] });
    cluster.kill(1);
    cluster.kill(2);
    await using skein = fakeClient(cluster);
    const admin = skein.admin();
    expect((await admin.describeTopic('t')).partitions).toHaveLength(3);
    cluster.revive(1);
    cluster.revive(2);
    await using producer = skein.producer({ lingerMs: 0 });
    // Many concurrent sends to partitions led by all three brokers share one connection per broker.
    await Promise.all(Array.from({ length: 30 }, (_, i) => producer.send({ topic: 't', messages: [{ value: i, partition: i % 3 }] })));
    expect(cluster.openServerConnections(1)).toBe(1);
    expect(cluster.openServerConnections(2)).toBe(1);
    expect(cluster.openServerConnections(3)).toBe(1);
    expect(cluster.ungreeted).toBe(0);
  });

  for (const hintMode of ['full', 'idOnly', 'none'] as const) {
    it(`follows leader changes without surfacing errors (NOT_LEADER hints: ${hintMode})`, async () => {
      const cluster = new FakeCluster({ brokers: 3 });
      cluster.hintMode = hintMode;
      cluster.createTopic('t', { partitions: 1, leaders: [1] });
      await using skein = fakeClient(cluster);
      await using producer = skein.producer({ lingerMs: 0 });
      const offsets: number[] = [];
      for (let i = 0; i < 12; i++) {
        if (i % 3 === 1) cluster.moveLeader('t', 0, ((i / 3) % 3) + 1 === 1 ? 2 : 1 + (Math.floor(i / 3) % 3));
        const [meta] = await producer.send({ topic: 't', messages: [{ value: i }] });
        offsets.push(meta!.offset);
      }
      expect(offsets).toEqual(Array.from({ length: 12 }, (_, i) => i));
      const redirected = cluster.produces.filter((p) => p.errorCode === 'NOT_LEADER').length;
      expect(redirected).toBeGreaterThan(0);
      // With a full hint the client goes straight to the new leader: no metadata request needed for it.
      if (hintMode === 'full') expect(cluster.requests.filter((r) => r.method === 'metadata').length).toBe(1);
    });
  }

  it('bounds retries by the delivery deadline: TIMEOUT carrying the last error', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    cluster.moveLeader('t', 0, null);
    await using skein = fakeClient(cluster);
    const error = await skein.admin().describeTopic('t').then(async () => {
      const producer = skein.producer({ lingerMs: 0, deliveryTimeoutMs: 300 });
      return producer.send({ topic: 't', messages: [{ value: 1 }] }).catch((e: unknown) => e);
    });
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect(String((error as SkeinError).message)).toMatch(/LEADER_NOT_AVAILABLE/);
  });

  it('aborts retries with the signal reason', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    cluster.moveLeader('t', 0, null);
    await using skein = fakeClient(cluster);
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    const fetching = skein.consumer({ topic: 't', partition: 0, from: 'earliest' }).fetch({ signal: controller.signal });
    setTimeout(() => controller.abort(reason), 50);
    await expect(fetching).rejects.toBe(reason);
  });

  it('redials after dropped connections', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1, leaders: [2] });
    await using skein = fakeClient(cluster);
    await using producer = skein.producer({ lingerMs: 0 });
    await producer.send({ topic: 't', messages: [{ value: 'a' }] });
    cluster.dropConnections();
    await producer.send({ topic: 't', messages: [{ value: 'b' }] });
    cluster.kill(2);
    cluster.moveLeader('t', 0, 3);
    await producer.send({ topic: 't', messages: [{ value: 'c' }] });
    expect(cluster.records('t', 0).map((r) => r.offset)).toEqual([0, 1, 2]);
  });

  it('surfaces non-retriable errors at once', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 2 });
    await using skein = fakeClient(cluster);
    const producer = skein.producer({ lingerMs: 0 });
    await expect(producer.send({ topic: 'missing', messages: [{ value: 1 }] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
    await expect(producer.send({ topic: 't', messages: [{ value: 1, partition: 5 }] })).rejects.toMatchObject({ code: 'UNKNOWN_PARTITION' });
    expect(cluster.produces).toHaveLength(0);
  });

  it('closes children and refuses new work once closed; await using closes', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    let producerRef: Producer<number> | undefined;
    let sent: Promise<unknown> | undefined;
    {
      await using skein = fakeClient(cluster);
      producerRef = skein.producer({ lingerMs: 50 });
      sent = producerRef.send({ topic: 't', messages: [{ value: 'lingering' }] });
    }
    // Closing the client closed the producer, which delivered what it buffered first.
    await expect(sent).resolves.toMatchObject([{ offset: 0 }]);
    await expect(producerRef!.send({ topic: 't', messages: [{ value: 1 }] })).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    const skein = fakeClient(cluster);
    await skein.close();
    expect(() => skein.producer()).toThrow(expect.objectContaining({ code: 'CLIENT_CLOSED' }));
    expect(cluster.openServerConnections()).toBe(0);
  });

  it('close with an aborted signal gives up on what is pending: CLIENT_CLOSED for it, the reason for close', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1 });
    cluster.moveLeader('t', 0, null);
    const skein = fakeClient(cluster);
    const producer = skein.producer({ lingerMs: 0 });
    const pending = producer.send({ topic: 't', messages: [{ value: 'stuck' }] }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const controller = new AbortController();
    const reason = new Error('shutting down now');
    const closing = skein.close({ signal: controller.signal });
    controller.abort(reason);
    await expect(closing).rejects.toBe(reason);
    expect(await pending).toMatchObject({ code: 'CLIENT_CLOSED' });
    await skein.close();
    expect(cluster.openServerConnections()).toBe(0);
  });

  it('asks the controller before believing a broker that has not heard of a topic yet', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('fresh', { partitions: 1, leaders: [1] });
    cluster.lagging.set(2, new Set(['fresh']));
    // Bootstrap from broker 2 only: it is the first to be asked.
    await using skein = fakeClient(cluster, { brokers: ['127.0.0.1:9092'] });
    const [meta] = await skein.producer({ lingerMs: 0 }).send({ topic: 'fresh', messages: [{ value: 1 }] });
    expect(meta!.offset).toBe(0);
    await expect(skein.admin().describeTopic('never-created')).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
  });

  it('asks a silent broker (connected, never answering: a SIGKILLed one) at most once per metadata refresh, and starts the next refresh elsewhere', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 2, leaders: [2, 3] });
    // Two open connections, broker 2's first: the old walk stepped by two and came back to it.
    await using skein = fakeClient(cluster, { brokers: ['127.0.0.1:9092', '127.0.0.1:9093'], requestTimeoutMs: 200 });
    await using producer = skein.producer({ lingerMs: 0 });
    await Promise.all([0, 1].map((partition) => producer.send({ topic: 't', messages: [{ value: partition, partition }] })));
    const silent = new Promise<never>(() => {});
    cluster.interceptor = ({ brokerId }) => (brokerId === 2 ? { until: silent } : undefined);
    const metadataAsked = (): number[] => cluster.requests.filter((r) => r.method === 'metadata').map((r) => r.brokerId);
    for (let refresh = 0; refresh < 6; refresh++) {
      const before = metadataAsked().length;
      await skein.admin().describeTopic('t');
      const asked = metadataAsked().slice(before);
      expect(asked.filter((id) => id === 2).length, `refresh ${refresh} asked ${asked.join(',')}`).toBeLessThanOrEqual(1);
      expect(asked.at(-1), `refresh ${refresh} asked ${asked.join(',')}`).not.toBe(2);
    }
    // Later refreshes begin where an earlier one found its answer, so broker 2 is seldom asked again.
    expect(metadataAsked().filter((id) => id === 2).length).toBeLessThan(6);
  });

  it('a produce to a leader gone silent (paused, killed) goes to its successor once another broker names it, not at the request timeout', async () => {
    const cluster = new FakeCluster();
    cluster.createTopic('t', { partitions: 1, leaders: [2] });
    await using skein = fakeClient(cluster, { requestTimeoutMs: 60_000 });
    await using producer = skein.producer({ lingerMs: 0 });
    await producer.send({ topic: 't', messages: [{ value: 'before' }] });
    const silent = new Promise<never>(() => {});
    cluster.interceptor = ({ brokerId }) => (brokerId === 2 ? { until: silent } : undefined);
    const sent = producer.send({ topic: 't', messages: [{ value: 'during' }] }, { signal: AbortSignal.timeout(10_000) });
    await new Promise((r) => setTimeout(r, 100));
    cluster.moveLeader('t', 0, 3);
    const [meta] = await sent;
    expect(meta!.offset).toBe(1);
    expect(cluster.produces.filter((p) => p.outcome === 'appended').map((p) => p.brokerId)).toEqual([2, 3]);
  });
});
