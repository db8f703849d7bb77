import { createSocket } from 'node:dgram';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Endpoint } from '../../transport/endpoint.js';
import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { recordLimits } from '../../transport/limits.js';
import { methods, protocolVersion } from '../../transport/protocol/messages.js';
import { groupMethods } from '../../transport/protocol/groups.js';
import { encodeRecordBatch, NO_PRODUCER } from '../../transport/protocol/record-batch.js';
import { RpcChannel } from '../../transport/rpc/index.js';
import { peerMethods } from '../../broker/cluster/peers.js';
import { InProcessCluster } from './support/cluster.js';
import { metadataGroup } from '../../broker/cluster/controller.js';
import { raftEnvelopeToWire } from '../../broker/raft/codec.js';
import { encodePartitionSnapshot } from '../../broker/raft/log-storage.js';
import { encodeMetadata } from '../../broker/cluster/commands.js';

/**
 * Hostile and clumsy clients: every bad request gets a typed error naming
 * the problem, changes nothing, and the broker keeps serving.
 */
let cluster: InProcessCluster;
let endpoint: Endpoint;
let rpc: RpcChannel;

async function codeOf(method: string, body: unknown): Promise<string> {
  try {
    await rpc.request(method, body, { timeoutMs: 10_000 });
    return 'OK';
  } catch (error) {
    if (error instanceof SkeinError) return error.code;
    throw error;
  }
}

/** The code once the cluster's controller is reachable: a metadata request may meet an election, which the SDK would retry. */
async function controllerCodeOf(method: string, body: unknown): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const code = await codeOf(method, body);
    if (!['LEADER_NOT_AVAILABLE', 'NOT_CONTROLLER', 'TIMEOUT'].includes(code) || attempt >= 50) return code;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const batch = encodeRecordBatch({ ...NO_PRODUCER, records: [{ key: null, value: Buffer.from('v'), headers: [], timestamp: 1 }] });

beforeAll(async () => {
  // No peer secret: what a hostile connection can send as a peer must still be checked on a trusted network.
  cluster = new InProcessCluster(3, { peerSecret: null });
  await cluster.start();
  endpoint = await Endpoint.open({ host: '127.0.0.1', loss: null });
  rpc = new RpcChannel(await endpoint.connect({ host: '127.0.0.1', port: cluster.ports[0]! }));
  expect(await codeOf(methods.hello, { version: protocolVersion, clientId: 't' })).toBe('OK');
  for (let attempt = 0; ; attempt++) {
    const code = await codeOf(methods.createTopic, { name: 'good', partitions: 1, replicationFactor: 3 });
    if (code === 'OK') break;
    if (attempt > 100) throw new Error(`could not create the topic: ${code}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 60_000);

afterAll(async () => {
  await rpc?.close();
  await endpoint?.close();
  await cluster?.close();
});

describe('bad requests get typed errors and change nothing', () => {
  it('names what is wrong', async () => {
    expect(await codeOf(methods.hello, { version: 99, clientId: 't' })).toBe('UNSUPPORTED_VERSION');
    expect(await codeOf('noSuchMethod', {})).toBe('UNKNOWN_METHOD');
    expect(await codeOf(methods.produce, 'not a map')).toBe('MALFORMED_REQUEST');
    expect(await codeOf(methods.produce, { topic: 'nope', partition: 0, acks: 'all', batch })).toBe('UNKNOWN_TOPIC');
    expect(await codeOf(methods.produce, { topic: 'good', partition: 7, acks: 'all', batch })).toBe('UNKNOWN_PARTITION');
    expect(await codeOf(methods.produce, { topic: 'good', partition: 0, acks: 'sometimes', batch })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(methods.produce, { topic: '../etc', partition: 0, acks: 'all', batch })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(methods.fetch, { topic: 'good', partition: 0, offset: -1 })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(methods.fetch, { topic: 'good', partition: 0, offset: 10_000 })).toMatch(/OFFSET_OUT_OF_RANGE|NOT_LEADER/);
    expect(await controllerCodeOf(methods.createTopic, { name: 'bad name!', partitions: 1, replicationFactor: 1 })).toBe('INVALID_TOPIC');
    expect(await controllerCodeOf(methods.createTopic, { name: 'big', partitions: 1, replicationFactor: 5 })).toBe('INVALID_REPLICATION_FACTOR');
    expect(await controllerCodeOf(methods.createTopic, { name: 'good', partitions: 1, replicationFactor: 3 })).toBe('TOPIC_EXISTS');
    expect(await controllerCodeOf(methods.createTopic, { name: 'x', partitions: 0, replicationFactor: 1 })).toBe('INVALID_TOPIC');
    expect(await controllerCodeOf(methods.deleteTopic, { name: 'nope' })).toBe('UNKNOWN_TOPIC');
    expect(await codeOf(methods.subscribe, { subscriptionId: 1, topic: 'nope', partition: 0, offset: 0, creditBytes: 1, creditRecords: 1 })).toBe('UNKNOWN_TOPIC');
    // The peer method for forwarded metadata work takes only what brokers forward, and checks it.
    const config = { retentionMs: null, retentionBytes: null, segmentBytes: 1 << 20, flush: { mode: 'always' } };
    expect(await codeOf(peerMethods.controller, { op: 'command', command: { type: 'createTopic', name: 'raw', assignment: [[1, 1, 1]], config } })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(peerMethods.controller, { op: 'command', command: { type: 'deleteTopic', name: 'good' } })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(peerMethods.controller, { op: 'deleteTopic', name: '../etc' })).toBe('INVALID_TOPIC');
    expect(await codeOf(peerMethods.controller, { op: 'command', command: { type: 'partitionLeader', topicId: 0, partition: 0, leader: 1, leaderEpoch: 1 } })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(methods.metadata, { topics: ['good'] })).toBe('OK');
  });

  it('refuses corrupt and oversized batches without writing anything', async () => {
    const leaderCode = async (body: Record<string, unknown>): Promise<string> => {
      // Ask every broker: one of them leads the partition and must judge the batch itself.
      const codes: string[] = [];
      for (const port of cluster.ports) {
        const channel = new RpcChannel(await endpoint.connect({ host: '127.0.0.1', port }));
        try {
          await channel.request(methods.produce, { topic: 'good', partition: 0, acks: 'all', ...body }, { timeoutMs: 10_000 });
          codes.push('OK');
        } catch (error) {
          codes.push(isSkeinError(error) ? error.code : String(error));
        } finally {
          await channel.close();
        }
      }
      return codes.find((c) => c !== 'NOT_LEADER') ?? 'NOT_LEADER';
    };
    const corrupt = Buffer.from(batch);
    corrupt[corrupt.length - 1]! ^= 0x55;
    expect(await leaderCode({ batch: corrupt })).toBe('CORRUPT_BATCH');
    expect(await leaderCode({ batch: Buffer.from('garbage that is not a batch at all') })).toBe('CORRUPT_BATCH');
    expect(await leaderCode({ batch: new Uint8Array(recordLimits.batchBytesMax + 1) })).toBe('RECORD_TOO_LARGE');
    for (const broker of cluster.brokers.values()) {
      const p = (broker as unknown as { partition(t: string, p: number): { logEndOffset: number } | undefined }).partition('good', 0);
      if (p !== undefined) expect(p.logEndOffset).toBe(0);
    }
  });

  it('answers group requests that are almost right with typed errors naming the problem', async () => {
    expect(await codeOf(groupMethods.findCoordinator, { group: '' })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(groupMethods.findCoordinator, { group: 'x'.repeat(256) })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(groupMethods.findCoordinator, { group: 'tab\there' })).toBe('MALFORMED_REQUEST');
    const join = { group: 'g', memberId: 'm1', memberEpoch: 0, topics: ['good'], sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 60_000 };
    expect(await codeOf(groupMethods.groupHeartbeat, { ...join, memberId: 'not/allowed' })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(groupMethods.groupHeartbeat, { ...join, topics: [] })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(groupMethods.groupHeartbeat, { ...join, sessionTimeoutMs: 10 })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(groupMethods.groupHeartbeat, { ...join, owned: [['good', -1]] })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(groupMethods.groupHeartbeat, { ...join, memberEpoch: -1 })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(groupMethods.offsetCommit, { group: 'g', memberId: 'm1', memberEpoch: 1, offsets: [] })).toBe('MALFORMED_REQUEST');
    expect(await codeOf(groupMethods.listGroups, { partition: 9999 })).toBe('MALFORMED_REQUEST');
  });

  it('answers random bodies for every method with typed errors, never INTERNAL', async () => {
    const all = [...Object.values(methods).filter((m) => m !== methods.createTopic && m !== methods.deleteTopic), ...Object.values(groupMethods)];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...all), fc.anything({ withTypedArray: true, maxDepth: 3 }), async (method, body) => {
        const code = await codeOf(method, body);
        expect(code).not.toBe('INTERNAL');
      }),
      { numRuns: 300 },
    );
    expect(await codeOf(methods.metadata, {})).toBe('OK');
  });

  it('drops a forged metadata snapshot (well framed, nonsense inside) instead of stopping the controller replica', async () => {
    type Internals = { controller: { raft: { status(): { term: number; leader: number; commit: number; config: unknown }; isStopped: boolean }; state: { topic(name: string): unknown } }; mux: { counters: { malformed: number } } };
    const internals = (id: number): Internals => cluster.brokers.get(id) as unknown as Internals;
    let status = internals(1).controller.raft.status();
    for (let i = 0; status.leader === 0 && i < 100; i++, status = internals(1).controller.raft.status()) await new Promise((r) => setTimeout(r, 50));
    const target = [1, 2, 3].find((id) => id !== status.leader)!;
    const before = internals(target).mux.counters.malformed;
    const forged = encodeMetadata({ clusterId: 'skein', nextTopicId: 'many', brokers: [{ id: 1 }], topics: [{ name: 42 }] });
    const message = {
      type: 'snapshot' as const,
      from: status.leader,
      to: target,
      term: status.term,
      snapshot: { meta: { index: status.commit + 1000, term: status.term, config: status.config as never }, data: encodePartitionSnapshot({ nextOffset: 1, state: forged }) },
    };
    const peer = new RpcChannel(await endpoint.connect({ host: '127.0.0.1', port: cluster.ports[target - 1]! }));
    await peer.notify(peerMethods.raft, { from: status.leader, messages: [raftEnvelopeToWire({ group: metadataGroup, message })] });
    for (let i = 0; internals(target).mux.counters.malformed === before && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
    await peer.close();
    expect(internals(target).mux.counters.malformed).toBe(before + 1);
    expect(internals(target).controller.raft.isStopped).toBe(false);
    expect(internals(target).controller.state.topic('good')).toBeDefined();
  });

  it('survives random datagrams thrown at its port', async ({ onTestFailed }) => {
    const socket = createSocket('udp4');
    // fc.sample draws from a fresh seed each run and, unlike fc.assert, never prints it: a failure must name it.
    const seed = Number(process.env.SKEIN_DATAGRAM_SEED ?? (Date.now() ^ (Math.random() * 0x1_0000_0000)));
    onTestFailed(() => console.error(`random datagrams from seed ${seed}; SKEIN_DATAGRAM_SEED=${seed} replays them`));
    // fast-check caps arrays at ~10 elements unless given a size; a datagram may be up to 1500 bytes.
    const junk = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 1500, size: 'max' }), { numRuns: 2000, seed });
    for (const bytes of junk) socket.send(bytes, cluster.ports[0]!, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 300));
    socket.close();
    expect(await codeOf(methods.metadata, {})).toBe('OK');
  });
});
