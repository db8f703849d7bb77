import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Broker } from '../../broker/broker.js';
import { PeerLinks } from '../../broker/cluster/peers.js';
import { brokerConfig } from '../../broker/config.js';
import { Skein } from '../../sdk/index.js';
import { Endpoint } from '../../transport/endpoint.js';
import { freePorts, testPeerSecret } from './support/cluster.js';

/**
 * Issue 10, addresses on real hosts. A broker bound to 0.0.0.0 on a host
 * with two addresses, advertising the second, answered from the first: its
 * peers dropped every reply, could not reach it, and still counted it alive
 * because it kept sending to them over the links it dialled. Loopback's /8
 * gives one machine two addresses: 127.0.0.1 and 127.0.0.2.
 */
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('peer liveness', () => {
  it('a broker heard from but not reachable is not alive; one our link reaches is', async () => {
    const [deadPort] = await freePorts(1);
    const endpoint = await Endpoint.open({ host: '127.0.0.1', acceptConnections: true, loss: null });
    const reachable = await Endpoint.open({ host: '127.0.0.1', acceptConnections: true, loss: null });
    const addresses = new Map([
      [8, { id: 8, host: '127.0.0.1', port: reachable.address.port }],
      [9, { id: 9, host: '127.0.0.1', port: deadPort! }],
    ]);
    const notices: string[] = [];
    const links = new PeerLinks({
      selfId: 1,
      endpoint,
      addressOf: (id) => addresses.get(id),
      handler: () => ({}),
      onNotify: () => {},
      secret: null,
      incarnation: 1,
      onNotice: (message) => notices.push(message),
    });
    try {
      // Both speak to us (over links they dialled): only the one we can dial back counts.
      links.heardFrom(8, performance.now());
      links.heardFrom(9, performance.now());
      for (let i = 0; i < 100 && !links.alive(performance.now(), 10_000).has(8); i++) await sleep(20);
      expect([...links.alive(performance.now(), 10_000)].sort()).toEqual([1, 8]);
      await sleep(300);
      links.heardFrom(9, performance.now());
      expect([...links.alive(performance.now(), 10_000)].sort()).toEqual([1, 8]);
      expect(notices).toEqual([]);
    } finally {
      await links.close();
      await endpoint.close();
      await reachable.close();
    }
  }, 30_000);
});

describe('a peer no one has an address for', () => {
  it('is dialled at the address its own link to us comes from, and only then', async () => {
    const endpoint = await Endpoint.open({ host: '127.0.0.1', acceptConnections: true, loss: null });
    const joined = await Endpoint.open({ host: '127.0.0.1', acceptConnections: true, loss: null });
    // Neither the metadata nor the configured peers know broker 7 (a restarted broker's copy from before it joined).
    const links = new PeerLinks({ selfId: 1, endpoint, addressOf: () => undefined, handler: () => ({}), onNotify: () => {}, secret: null, incarnation: 1 });
    try {
      links.heardFrom(7, performance.now());
      await sleep(200);
      expect(links.linked(7)).toBe(false);
      links.heardFrom(7, performance.now(), undefined, joined.address);
      for (let i = 0; i < 100 && !links.linked(7); i++) await sleep(20);
      expect(links.linked(7)).toBe(true);
      expect([...links.alive(performance.now(), 10_000)].sort()).toEqual([1, 7]);
    } finally {
      await links.close();
      await endpoint.close();
      await joined.close();
    }
  }, 30_000);
});

describe('a broker bound to 0.0.0.0 that advertises its second address', () => {
  it('is reachable by its peers and clients, alive in describeCluster, and the other address is said', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skein-addresses-'));
    const [port1, port2] = await freePorts(2);
    const peers = `1@127.0.0.1:${port1},2@127.0.0.2:${port2}`;
    const common = { peers, tickMs: 20, electionTicks: 10, peerSecret: testPeerSecret };
    const brokers: Broker[] = [];
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      stderr.push(String(chunk));
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
    const client = new Skein({ brokers: [`127.0.0.2:${port2}`], clientId: 'addresses' });
    try {
      brokers.push(await Broker.start(brokerConfig({ id: 1, listen: `127.0.0.1:${port1}`, data: join(dir, 'b1'), ...common })));
      brokers.push(await Broker.start(brokerConfig({ id: 2, listen: `0.0.0.0:${port2}`, advertise: `127.0.0.2:${port2}`, data: join(dir, 'b2'), ...common })));
      const admin = client.admin();
      await admin.createTopic({ name: 'both', partitions: 2, replicationFactor: 2 });
      const producer = client.producer({ acks: 'all' });
      const sent = await producer.send({ topic: 'both', messages: [{ key: 'a', value: Buffer.from('1') }, { key: 'b', value: Buffer.from('2') }] });
      expect(sent.every((m) => m.offset !== null && m.offset >= 0)).toBe(true);
      let alive: number[] = [];
      for (let i = 0; i < 100; i++) {
        alive = (await admin.describeCluster()).brokers.filter((b) => b.alive).map((b) => b.id);
        if (alive.length === 2) break;
        await sleep(50);
      }
      expect(alive.sort()).toEqual([1, 2]);
      expect(stderr.join('')).toMatch(/broker 2, dialled at 127\.0\.0\.2:\d+, answers from 127\.0\.0\.1:\d+/);
    } finally {
      process.stderr.write = write;
      await client.close();
      for (const broker of brokers.reverse()) await broker.stop({ transferTimeoutMs: 0 });
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
