import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../broker/broker.js';
import { Skein } from '../../sdk/index.js';
import type { Endpoint } from '../../transport/endpoint.js';
import { brokerLimits, transportLimits } from '../../transport/limits.js';
import { InProcessCluster } from './support/cluster.js';
import { connectionFlood, halfOpenFlood, type ManualPeer, NormalProducer, partialMessages, unreadFetches, unreadPushes } from './support/hostile-clients.js';

/**
 * Issue 11, item 6, against a real broker: a connection flood from one
 * socket, half-open set-ups, unfinished messages, fetches and push
 * subscriptions whose data is never read. Each attack runs while a normal
 * client produces; memory stays within the broker's configured budget and
 * the normal client keeps being served. (npm run bench:hostile runs them at
 * full size against a broker process.)
 */
const MiB = 1024 * 1024;
const budgetBytes = brokerLimits.clientBufferBytesMin;
let cluster: InProcessCluster;
let broker: Broker;
let normal: NormalProducer;

const endpointOf = (b: Broker): Endpoint => (b as unknown as { endpoint: Endpoint }).endpoint;
/** Stream bytes an attacker's connections took in (and, not reading, still hold). */
const receivedBy = (peer: ManualPeer): number => {
  let bytes = 0;
  for (const connection of peer.core.connectionsList()) bytes += connection.stats(0).receiveBufferedBytes;
  return bytes;
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Every client's guarantee on top of the shared budget: the most the broker can hold for `connections` clients. */
const boundFor = (connections: number, guaranteed: number): number => budgetBytes + connections * guaranteed;

beforeAll(async () => {
  cluster = new InProcessCluster(1, { clientBufferBytes: budgetBytes });
  await cluster.start();
  broker = cluster.brokers.get(1)!;
  const client = new Skein({ brokers: cluster.bootstrap, clientId: 'setup' });
  await client.admin().createTopic({ name: 'normal', partitions: 1, replicationFactor: 1 });
  await client.admin().createTopic({ name: 'data', partitions: 1, replicationFactor: 1 });
  const producer = client.producer({ acks: 'all', batchBytesMax: 512 * 1024 });
  const value = Buffer.alloc(1000, 7);
  for (let i = 0; i < 4; i++) await producer.send({ topic: 'data', messages: Array.from({ length: 1000 }, () => ({ value })) });
  await client.close();
  normal = new NormalProducer(cluster.bootstrap, 'normal', 20);
  normal.start();
  await sleep(300);
}, 60_000);

afterAll(async () => {
  await normal?.stop();
  await cluster?.close();
});

/**
 * Runs `attack` and watches it every 50 ms for at least `watchMs`, and on until `done` says the attack has
 * reached the broker's limits (at most 30 s: a loaded machine sends slower); then checks the normal client
 * was served throughout.
 */
async function underAttack<T>(attack: () => Promise<T>, watchMs: number, watch: (result: T) => void, done: () => boolean = () => true): Promise<T> {
  normal.mark();
  const result = await attack();
  const startedMs = performance.now();
  while (performance.now() - startedMs < watchMs || (!done() && performance.now() - startedMs < 30_000)) {
    watch(result);
    await sleep(50);
  }
  watch(result);
  const figures = normal.figures();
  expect(figures.failed).toBe(0);
  expect(figures.sent).toBeGreaterThan(5);
  return result;
}

describe('a broker under attack keeps its memory within budget and serves a normal client', () => {
  it('a connection flood from one socket: it keeps a handful of connections, the rest replace each other', async () => {
    const { endpoint } = await underAttack(
      () => connectionFlood({ host: '127.0.0.1', port: cluster.ports[0]! }, { connections: 200, parallel: 16 }),
      300,
      () => undefined,
    );
    try {
      // The attacker's socket, the normal client and the setup client: never more than a socket's share each.
      expect(endpointOf(broker).stats().connectionsOpen).toBeLessThanOrEqual(transportLimits.connectionsPerSourceMax + 4);
      expect(endpointOf(broker).stats().drops.evicted).toBeGreaterThan(100);
    } finally {
      await endpoint.close();
    }
  }, 60_000);

  it('half-open set-ups: bounded, and a new client still connects', async () => {
    const flood = halfOpenFlood({ host: '127.0.0.1', port: cluster.ports[0]! }, { perSecond: 2000, seconds: 1.5 });
    await sleep(300);
    // A client that arrives in the middle of the flood is served.
    const late = new Skein({ brokers: cluster.bootstrap, clientId: 'late' });
    try {
      const producer = late.producer({ acks: 'all' });
      const [meta] = await producer.send({ topic: 'normal', messages: [{ value: Buffer.from('late') }] });
      expect(meta!.offset).toBeGreaterThanOrEqual(0);
      expect(endpointOf(broker).stats().drops.evicted).toBeGreaterThan(0);
    } finally {
      await late.close();
    }
    const { accepts } = await flood;
    expect(accepts).toBeGreaterThan(transportLimits.pendingConnectionsPerAddressMax);
  }, 60_000);

  it('unfinished messages: what they hold stays within the reassembly budget', async () => {
    // One socket keeps connectionsPerSourceMax connections: each holds twice the budget's share of them.
    const connections = transportLimits.connectionsPerSourceMax;
    const messageBytes = Math.ceil((2 * budgetBytes) / connections);
    let peakBytes = 0;
    const peer = await underAttack(
      () => partialMessages({ host: '127.0.0.1', port: cluster.ports[0]! }, { connections, messageBytes, sentBytes: messageBytes - 4096 }),
      1_000,
      () => (peakBytes = Math.max(peakBytes, endpointOf(broker).stats().memory.reassemblyBytes)),
      () => endpointOf(broker).stats().drops.receiveBudget > 0,
    );
    try {
      expect(peakBytes).toBeGreaterThan(budgetBytes / 2);
      expect(peakBytes).toBeLessThanOrEqual(boundFor(connections + 2, transportLimits.reassemblyBytesGuaranteed));
      expect(endpointOf(broker).stats().drops.receiveBudget).toBeGreaterThan(0);
    } finally {
      await peer.close();
    }
  }, 60_000);

  /** An unread-data attack: the broker holds at most the send budget for it, and what left it is bounded too. */
  async function unreadAttack(attack: () => Promise<ManualPeer>, receivedMaxBytes: number, watch: () => void = () => {}): Promise<void> {
    let peakBytes = 0;
    const peer = await underAttack(
      attack,
      1_000,
      () => {
        peakBytes = Math.max(peakBytes, endpointOf(broker).stats().memory.sendBytes);
        watch();
      },
      () => peakBytes > budgetBytes / 2,
    );
    try {
      expect(peakBytes).toBeGreaterThan(budgetBytes / 2);
      expect(peakBytes).toBeLessThanOrEqual(boundFor(3, transportLimits.sendBytesGuaranteed));
      expect(receivedBy(peer)).toBeLessThanOrEqual(receivedMaxBytes);
    } finally {
      await peer.close();
      // The attacker's CLOSE frees what the broker held for it: the next attack starts from an empty budget.
      for (let i = 0; i < 400 && endpointOf(broker).stats().memory.sendBytes > budgetBytes / 4; i++) await sleep(25);
    }
  }

  it('fetches never read: the broker reads no more for them than the send budget holds', async () => {
    // 64 fetches of 1 MiB: the attacker's receive window takes some (it acknowledges without reading), the budget the rest.
    await unreadAttack(() => unreadFetches({ host: '127.0.0.1', port: cluster.ports[0]! }, { topic: 'data', count: 64, maxBytes: MiB }), 64 * MiB - 1);
  }, 60_000);

  it('push subscriptions never read: credit is the client\'s word, the send budget is the broker\'s bound', async () => {
    // 128 subscriptions with 64 MiB of credit each: what left the broker is bounded by the attacker's window, not by credit.
    const before = { ...broker.counters };
    let peer: ManualPeer | null = null;
    const attack = async (): Promise<ManualPeer> => {
      peer = await unreadPushes({ host: '127.0.0.1', port: cluster.ports[0]! }, { topic: 'data', count: 128, creditBytes: 64 * MiB });
      return peer;
    };
    const reads = (): { pushedBytes: number; heldBytes: number } => ({
      pushedBytes: broker.counters.pushedBytes - before.pushedBytes,
      heldBytes: receivedBy(peer!) + endpointOf(broker).stats().memory.sendBytes,
    });
    let worst = { pushedBytes: 0, heldBytes: 0 };
    await unreadAttack(attack, transportLimits.receiveWindowBytesDefault + budgetBytes, () => {
      const now = reads();
      if (now.pushedBytes - now.heldBytes > worst.pushedBytes - worst.heldBytes) worst = now;
    });
    // Every push read from the log is one the attacker holds or the broker still holds for it: nothing read in
    // vain for lack of room (a push larger than its reservation was read, refused and its subscription ended).
    expect(worst.pushedBytes).toBeLessThanOrEqual(worst.heldBytes);
    expect(broker.counters.pushedBytes - before.pushedBytes).toBeGreaterThan(budgetBytes / 2);
    // The subscriptions wait for room; none was ended.
    expect(broker.counters.pushesEnded - before.pushesEnded).toBe(0);
  }, 60_000);
});
