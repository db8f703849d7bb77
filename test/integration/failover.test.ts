import { afterEach, describe, expect, inject, it } from 'vitest';
import { defineTopic, serdes, Skein } from '../../sdk/index.js';
import { Endpoint } from '../../transport/endpoint.js';
import { isSkeinError } from '../../transport/errors.js';
import { methods, protocolVersion } from '../../transport/protocol/messages.js';
import { encodeRecordBatch, NO_PRODUCER } from '../../transport/protocol/record-batch.js';
import { RpcChannel } from '../../transport/rpc/index.js';
import { BrokerProcesses } from './support/processes.js';

/**
 * Failover with real broker processes, for the two causes of long stalls
 * that were traced in the source: a deposed leader kept its waiting
 * acks-'all' requests until their 30 s deadline, and a broker that no longer
 * led kept telling clients it did (and they kept believing it).
 */
let cluster: BrokerProcesses | undefined;
let client: Skein | undefined;
let endpoint: Endpoint | undefined;
afterEach(async () => {
  await client?.close().catch(() => {});
  await endpoint?.close().catch(() => {});
  await cluster?.close();
  client = undefined;
  endpoint = undefined;
  cluster = undefined;
});

const topic = defineTopic<number>('failover', { value: serdes.cbor<number>() });

async function startCluster(): Promise<{ cluster: BrokerProcesses; client: Skein; leader: number }> {
  const cli = inject('cliPath');
  if (cli === null) throw new Error('the skein command was not bundled');
  cluster = new BrokerProcesses(cli, { size: 3 });
  await cluster.startAll();
  client = new Skein({ brokers: cluster.bootstrap, clientId: 'failover-test' });
  await client.admin().createTopic({ name: 'failover', partitions: 1, replicationFactor: 3 });
  const producer = client.producer({ acks: 'all' });
  await producer.send({ topic, messages: [{ value: 0 }] });
  await producer.close();
  const leader = (await client.admin().describeTopic('failover')).partitions[0]!.leader!;
  return { cluster, client, leader };
}

/** A raw connection to one broker: what the SDK would send, without its retries. */
async function rawConnection(address: string): Promise<RpcChannel> {
  endpoint = await Endpoint.open({ host: '127.0.0.1', loss: null });
  const [host, port] = address.split(':');
  const rpc = new RpcChannel(await endpoint.connect({ host: host!, port: Number(port) }));
  await rpc.request(methods.hello, { version: protocolVersion, clientId: 'raw' });
  return rpc;
}

describe('failover (real processes)', () => {
  it('a deposed leader answers its waiting acks-all produces at once with NOT_LEADER (outcome unknown), not at the request deadline', async () => {
    const { cluster, leader } = await startCluster();
    const followers = [1, 2, 3].filter((id) => id !== leader);
    const rpc = await rawConnection(cluster.address(leader));
    // No follower runs, so the leader appends the batch but cannot commit it, and no follower gets it.
    for (const id of followers) await cluster.kill(id);
    // Three batches, three entries: the new leader's no-op overwrites the first one's index only.
    const batch = encodeRecordBatch({ ...NO_PRODUCER, records: [{ key: null, value: Buffer.from('v'), headers: [], timestamp: 1 }] });
    const answers = [1, 2, 3].map(() =>
      rpc.request(methods.produce, { topic: 'failover', partition: 0, acks: 'all', batch, timeoutMs: 25_000 }, { timeoutMs: 25_000 }).then(
        () => null,
        (error: unknown) => error,
      ),
    );
    // SIGSTOP the leader, bring the followers back to elect a new one, then let the old leader run again:
    // it stepped down (by check-quorum before its pause) or does on hearing the new term after it.
    await new Promise((r) => setTimeout(r, 200));
    cluster.pause(leader);
    await Promise.all(followers.map((id) => cluster.start(id)));
    await new Promise((r) => setTimeout(r, 3_000));
    cluster.resume(leader);
    for (const error of await Promise.all(answers)) {
      expect(isSkeinError(error) ? error.code : error).toBe('NOT_LEADER');
      expect(isSkeinError(error) && error.details).toMatchObject({ outcome: 'unknown' });
    }
    await rpc.close();
  }, 90_000);

  it('a client finds the new leader while the old one is cut off from its peers but not from the client', async () => {
    const { cluster, client, leader } = await startCluster();
    const followers = [1, 2, 3].filter((id) => id !== leader);
    // The followers come back unable to hear the leader, or to be heard by it; the client reaches all three.
    for (const id of followers) await cluster.kill(id);
    const spec = `blackhole=${cluster.address(leader)}`;
    await Promise.all(followers.map((id) => cluster.start(id, { SKEIN_LOSS: spec })));
    const producer = client.producer({ acks: 'all' });
    // Acknowledged with acks 'all', so by the two followers: the cut-off broker commits nothing.
    // Without the fixes the client asks the cut-off broker for ever, which names itself leader.
    const [meta] = await producer.send({ topic, messages: [{ value: 1 }] }, { signal: AbortSignal.timeout(30_000) });
    expect(meta!.offset).toBe(1);
    await producer.close();
  }, 90_000);
});
