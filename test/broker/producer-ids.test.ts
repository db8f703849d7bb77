import { describe, expect, it } from 'vitest';
import { Endpoint } from '../../transport/endpoint.js';
import { isSkeinError } from '../../transport/errors.js';
import { brokerLimits } from '../../transport/limits.js';
import { methods, protocolVersion, type FetchResponse, type InitProducerResponse } from '../../transport/protocol/messages.js';
import { encodeRecordBatch, splitBatches } from '../../transport/protocol/record-batch.js';
import { RpcChannel } from '../../transport/rpc/index.js';
import { defineTopic, serdes } from '../../sdk/index.js';
import { clusterForTest } from './support/cluster.js';

/**
 * Idempotence holds against other clients: a producer id is issued by the
 * cluster to one client, and nobody else can write under it (issue 11 item 5a).
 */
describe('producer ids are the client\'s own', () => {
  it('a client that learns another producer\'s id, epoch and next sequence from the log cannot write under it', async () => {
    const { cluster, client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'owned', partitions: 1, replicationFactor: 3 });
    const producer = client.producer({ lingerMs: 0 });
    const topic = defineTopic('owned', { value: serdes.string() });
    await producer.send({ topic, messages: [{ value: 'first' }] });

    // The attacker reads the partition's tail: every batch carries its producer's id, epoch and sequence.
    const endpoint = await Endpoint.open({ host: '127.0.0.1', loss: null });
    const channels = await Promise.all(cluster.ports.map(async (port) => new RpcChannel(await endpoint.connect({ host: '127.0.0.1', port }))));
    try {
      for (const channel of channels) await channel.request(methods.hello, { version: protocolVersion, clientId: 'attacker' });
      const tail = await anyAnswer(channels, (c) => c.request<FetchResponse>(methods.fetch, { topic: 'owned', partition: 0, offset: 0 }));
      const last = [...splitBatches(Buffer.from(tail.batches))].at(-1)!.header;
      const forged = encodeRecordBatch({
        producerId: last.producerId,
        producerEpoch: last.producerEpoch,
        baseSequence: last.baseSequence + last.recordCount,
        records: [{ key: null, value: Buffer.from('forged'), headers: [], timestamp: Date.now() }],
      });
      // Every broker is asked: the leader judges the batch, the others redirect.
      const codes = await Promise.all(channels.map((c) => c.request(methods.produce, { topic: 'owned', partition: 0, acks: 'all', batch: forged }).then(() => 'OK', (e: unknown) => (isSkeinError(e) ? e.code : String(e)))));
      expect(codes.find((c) => c !== 'NOT_LEADER')).toBe('INVALID_PRODUCER_ID');
    } finally {
      for (const channel of channels) await channel.close();
      await endpoint.close();
    }

    // The real producer's next send is written, not answered as a duplicate of the forged batch.
    const [second] = await producer.send({ topic, messages: [{ value: 'second' }] });
    expect(second!.offset).toBe(1);
    const consumer = client.consumer({ topic, from: 'earliest' });
    const seen: string[] = [];
    while (seen.length < 2) for (const record of await consumer.fetch({ waitMsMax: 500 })) seen.push(record.value);
    await consumer.close();
    expect(seen).toEqual(['first', 'second']);
    expect(producer.stats().duplicates).toBe(0);
  }, 60_000);
});

describe('producer ids are issued by the cluster', () => {
  it('unique across brokers and restarts, within a budget per connection, and only to clients of this protocol version', async () => {
    const { cluster } = await clusterForTest(3);
    const endpoint = await Endpoint.open({ host: '127.0.0.1', loss: null });
    const open = async (id: number): Promise<RpcChannel> => {
      const channel = new RpcChannel(await endpoint.connect({ host: '127.0.0.1', port: cluster.ports[id - 1]! }));
      await channel.request(methods.hello, { version: protocolVersion, clientId: 'ids' });
      return channel;
    };
    const issue = async (channel: RpcChannel): Promise<InitProducerResponse> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await channel.request<InitProducerResponse>(methods.initProducer, {});
        } catch (error) {
          // The controller may still be being elected: the SDK retries these.
          if (!isSkeinError(error) || !error.retriable || error.code === 'THROTTLED' || attempt > 50) throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    try {
      const ids: number[] = [];
      const one = await open(1);
      for (let i = 0; i < brokerLimits.producerIdsPerConnectionBurst; i++) ids.push((await issue(one)).producerId);
      // One more on this connection is over its budget; another connection from the same address has its own.
      const refused = await one.request(methods.initProducer, {}).then(() => null, (e: unknown) => e);
      expect(isSkeinError(refused, 'THROTTLED') && refused.retriable && typeof refused.details?.retryAfterMs).toBe('number');
      for (const id of [2, 3]) ids.push((await issue(await open(id))).producerId);
      await one.close();
      // A restarted broker never issues an id again (the rest of its block is simply never used).
      await cluster.stopBroker(1);
      await cluster.startBroker(1);
      ids.push((await issue(await open(1))).producerId);
      expect(new Set(ids).size).toBe(ids.length);
      // A client of the protocol before issued ids is told to upgrade rather than served.
      const old = new RpcChannel(await endpoint.connect({ host: '127.0.0.1', port: cluster.ports[1]! }));
      const hello = await old.request(methods.hello, { version: 1, clientId: 'old' }).then(() => null, (e: unknown) => e);
      expect(isSkeinError(hello, 'UNSUPPORTED_VERSION') && hello.message).toMatch(/upgrade the client/);
    } finally {
      await endpoint.close();
    }
  }, 60_000);
});

/** The first answer of any channel (the partition's leader answers; followers may too, up to what they know). */
async function anyAnswer<T>(channels: RpcChannel[], ask: (channel: RpcChannel) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    for (const channel of channels) {
      try {
        const answer = await ask(channel);
        if ((answer as { highWatermark?: number }).highWatermark !== 0) return answer;
      } catch {
        // Not this one.
      }
    }
    if (attempt > 50) throw new Error('no broker answered');
    await new Promise((r) => setTimeout(r, 100));
  }
}
