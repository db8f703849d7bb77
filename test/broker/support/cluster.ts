import { mkdtempSync, rmSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Broker } from '../../../broker/broker.js';
import { brokerConfig } from '../../../broker/config.js';
import { Skein } from '../../../sdk/index.js';
import { closeAfterTest } from '../../support/close-after-test.js';

/** Free UDP ports on loopback (bound and released: good enough for tests on one machine). */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    ports.push(socket.address().port);
    socket.close();
  }
  return ports;
}

/** What the test clusters' brokers prove their peer links with (override with `peerSecret` in the settings). */
export const testPeerSecret = 'test-cluster-peer-secret';

/** Brokers in this process on real UDP sockets: the fast way to test the cluster end to end. */
export class InProcessCluster {
  private dirMade: string | undefined;
  readonly brokers = new Map<number, Broker>();
  ports: number[] = [];

  constructor(readonly size = 3, readonly settings: Record<string, unknown> = {}) {}

  /** Made at first use: a cluster built for a file whose tests are all skipped leaves nothing behind. */
  get dir(): string {
    return (this.dirMade ??= mkdtempSync(join(tmpdir(), 'skein-cluster-')));
  }

  get bootstrap(): string[] {
    return this.ports.map((port) => `127.0.0.1:${port}`);
  }

  async start(): Promise<void> {
    this.ports = await freePorts(this.size);
    for (let id = 1; id <= this.size; id++) await this.startBroker(id);
  }

  /** Starts founding broker `id` with the cluster's settings, and `overrides` over them (a broker restarted with other flags). */
  async startBroker(id: number, overrides: Record<string, unknown> = {}): Promise<Broker> {
    const peers = this.ports.map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(',');
    const config = brokerConfig({ id, listen: `127.0.0.1:${this.ports[id - 1]}`, data: join(this.dir, `broker-${id}`), peers, tickMs: 20, electionTicks: 10, peerSecret: testPeerSecret, ...this.settings, ...overrides });
    const broker = await Broker.start(config);
    this.brokers.set(id, broker);
    return broker;
  }

  /** Starts a new broker `id` that joins the running cluster through broker 1 (see join.ts). */
  async join(id: number): Promise<Broker> {
    const [port] = await freePorts(1);
    while (this.ports.length < id - 1) this.ports.push(0);
    this.ports[id - 1] = port!;
    this.joiners.add(id);
    return this.startJoiner(id);
  }

  /** Starts a stopped broker again on its address and data directory, as it was first started. */
  restartBroker(id: number, overrides: Record<string, unknown> = {}): Promise<Broker> {
    return this.joiners.has(id) ? this.startJoiner(id, overrides) : this.startBroker(id, overrides);
  }

  private readonly joiners = new Set<number>();

  private async startJoiner(id: number, overrides: Record<string, unknown> = {}): Promise<Broker> {
    const config = brokerConfig({ id, listen: `127.0.0.1:${this.ports[id - 1]}`, data: join(this.dir, `broker-${id}`), join: this.bootstrap[0], tickMs: 20, electionTicks: 10, peerSecret: testPeerSecret, ...this.settings, ...overrides });
    const broker = await Broker.start(config);
    this.brokers.set(id, broker);
    return broker;
  }

  async stopBroker(id: number, options: { graceful: boolean } = { graceful: true }): Promise<void> {
    const broker = this.brokers.get(id);
    this.brokers.delete(id);
    if (broker !== undefined) await (options.graceful ? broker.stop() : broker.stop({ transferTimeoutMs: 0 }));
  }

  async close(): Promise<void> {
    // Leaderships handed over as in a graceful stop, but no wait for catch-up: the brokers stopped before would hold each stop for its grace.
    for (const id of [...this.brokers.keys()]) {
      const broker = this.brokers.get(id)!;
      this.brokers.delete(id);
      await broker.stop({ catchUpTimeoutMs: 0 });
    }
    if (this.dirMade !== undefined) rmSync(this.dirMade, { recursive: true, force: true });
  }
}

/** A started cluster and a client of it, both closed when the current test finishes. */
export async function clusterForTest(size = 3, settings: Record<string, unknown> = {}): Promise<{ cluster: InProcessCluster; client: Skein }> {
  const cluster = closeAfterTest(new InProcessCluster(size, settings));
  await cluster.start();
  const client = closeAfterTest(new Skein({ brokers: cluster.bootstrap, clientId: 'test' }));
  return { cluster, client };
}

/** A cluster every test of a file shares: started before the first test, closed after the last. */
export function clusterForFile(size = 3): InProcessCluster {
  const cluster = new InProcessCluster(size);
  beforeAll(() => cluster.start(), 60_000);
  afterAll(() => cluster.close());
  return cluster;
}
