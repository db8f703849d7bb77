import { afterEach, describe, expect, it } from 'vitest';
import { Endpoint } from '../../transport/endpoint.js';
import { SkeinError } from '../../transport/errors.js';
import { methods, protocolVersion } from '../../transport/protocol/messages.js';
import { RpcChannel } from '../../transport/rpc/index.js';
import { defineTopic, serdes, Skein } from '../../sdk/index.js';
import { clusterForTest } from './support/cluster.js';

/**
 * Where 'latest' is: only the partition's leader knows, and only once it has
 * committed an entry of its own term. A follower's high watermark trails the
 * leader's by up to a heartbeat, and after a restart a replica's starts at
 * what it had fsynced as committed; a consumer that starts from 'latest'
 * answered by either would read records written before it started.
 */
const numbers = defineTopic<number>('lo', { value: serdes.cbor<number>() });
const endpoints: Endpoint[] = [];

afterEach(async () => {
  for (const endpoint of endpoints.splice(0)) await endpoint.close();
});

async function produce(client: Skein, from: number, count: number): Promise<void> {
  const producer = client.producer({ lingerMs: 0 });
  for (let i = from; i < from + count; i += 50) {
    await producer.send({ topic: numbers, messages: Array.from({ length: Math.min(50, from + count - i) }, (_, k) => ({ value: i + k, partition: 0 })) });
  }
  await producer.close();
}

async function channelTo(port: number): Promise<RpcChannel> {
  const endpoint = await Endpoint.open({ host: '127.0.0.1', loss: null });
  endpoints.push(endpoint);
  const rpc = new RpcChannel(await endpoint.connect({ host: '127.0.0.1', port }));
  await rpc.request(methods.hello, { version: protocolVersion, clientId: 'list-offsets-test' }, { timeoutMs: 10_000 });
  return rpc;
}

async function answer(rpc: RpcChannel): Promise<{ offset: number } | { code: string; leaderId: unknown }> {
  try {
    return await rpc.request<{ offset: number }>(methods.listOffsets, { topic: 'lo', partition: 0, spec: 'latest' }, { timeoutMs: 10_000 });
  } catch (error) {
    if (!(error instanceof SkeinError)) throw error;
    return { code: error.code, leaderId: error.details?.leaderId };
  }
}

describe('listOffsets', () => {
  it('is answered by the leader alone: a follower redirects to it instead of giving its own high watermark', async () => {
    const { cluster, client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'lo', partitions: 1, replicationFactor: 3 });
    await produce(client, 0, 100);
    const channels = await Promise.all(cluster.ports.map(channelTo));
    // An election may run meanwhile: ask until one broker leads and the others name it.
    let answers: Awaited<ReturnType<typeof answer>>[] = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      answers = await Promise.all(channels.map(answer));
      if (answers.some((a) => 'offset' in a) && answers.every((a) => 'offset' in a || a.code === 'NOT_LEADER')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const leaders = answers.flatMap((a, i) => ('offset' in a ? [i + 1] : []));
    expect(leaders).toHaveLength(1);
    expect(answers[leaders[0]! - 1]).toEqual({ offset: 100 });
    for (const a of answers) if (!('offset' in a)) expect(a).toEqual({ code: 'NOT_LEADER', leaderId: leaders[0] });
  });

  it("after the whole cluster restarts, a consumer from 'latest' reads only what is written after it started", async () => {
    const { cluster, client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'lo', partitions: 1, replicationFactor: 3 });
    await produce(client, 0, 500);
    await client.close();
    for (const id of [1, 2, 3]) await cluster.stopBroker(id);
    for (const id of [1, 2, 3]) await cluster.startBroker(id);
    // While the brokers elect and catch up, whoever answers gives the true end.
    const channels = await Promise.all(cluster.ports.map(channelTo));
    const offsets = new Set<number>();
    // 40 rounds from the first answer: on a loaded machine no broker may answer for a while (still electing).
    for (let round = 0, answered = 0; answered < 40 && round < 4_000; round++) {
      for (const a of await Promise.all(channels.map(answer))) if ('offset' in a) offsets.add(a.offset);
      if (offsets.size > 0) answered++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect([...offsets]).toEqual([500]);
    await using fresh = new Skein({ brokers: cluster.bootstrap, clientId: 'after-restart' });
    await using consumer = fresh.consumer({ topic: numbers, partition: 0, from: 'latest' });
    expect(await consumer.fetch({ waitMsMax: 0 })).toEqual([]);
    expect(consumer.position()).toBe(500);
    await produce(fresh, 500, 1);
    const records = await consumer.fetch({ waitMsMax: 5_000 });
    expect(records.map((r) => [r.offset, r.value])).toEqual([[500, 500]]);
  });
});
