import { describe, expect, it } from 'vitest';
import type { PeerLinks } from '../../broker/cluster/peers.js';
import type { Endpoint } from '../../transport/endpoint.js';
import { brokerLimits } from '../../transport/limits.js';
import { clusterForTest } from './support/cluster.js';

/**
 * Issue 11, item 2, against real brokers: a stall longer than the dead-peer
 * timeout (a handler computing, a long GC pause, item 1's frame before it was
 * refused) used to make every broker declare its healthy peers dead once the
 * loop ran again, drop the links and redial: the Raft traffic waiting in the
 * sockets had simply not been read yet. Here the whole process stalls, so the
 * three brokers and the client all stall together, as one broker's process
 * would.
 */
const internals = (broker: unknown): { peers: PeerLinks; endpoint: Endpoint } => broker as { peers: PeerLinks; endpoint: Endpoint };

describe('a broker process that stalls longer than the dead-peer timeout', () => {
  it('keeps its peer links and its clients, and serves on', async () => {
    const { cluster, client } = await clusterForTest(3);
    await client.admin().createTopic({ name: 'stall', partitions: 1, replicationFactor: 3 });
    const producer = client.producer({ acks: 'all' });
    await producer.send({ topic: 'stall', messages: [{ value: Buffer.from('before') }] });
    // Let every link settle, then count the dials so far.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const brokers = [...cluster.brokers.values()].map(internals);
    const dialsBefore = brokers.map((b) => b.peers.counters.dials);
    // Each broker sends its peers something that waits for their acknowledgement, and it leaves now...
    for (const broker of brokers) for (const to of [1, 2, 3]) if (to !== broker.peers.selfId) void broker.peers.request(to, 'noSuchMethod', {}).catch(() => {});
    await null;
    await null;
    for (const broker of brokers) broker.endpoint.flushNow();
    // ...and the event loop blocks before any answer is read: nothing is read, nothing is sent.
    const until = performance.now() + brokerLimits.deadPeerTimeoutMs + 1_000;
    while (performance.now() < until) {
      // A handler computing.
    }
    const [meta] = await producer.send({ topic: 'stall', messages: [{ value: Buffer.from('after') }] }, { signal: AbortSignal.timeout(10_000) });
    expect(meta!.offset).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(brokers.map((b) => b.peers.counters.dials)).toEqual(dialsBefore);
    for (const broker of brokers) expect(broker.endpoint.stats().stalls).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
