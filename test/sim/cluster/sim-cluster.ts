import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Broker } from '../../../broker/broker.js';
import { brokerConfig } from '../../../broker/config.js';
import { Prng } from '../../../transport/core/prng.js';
import { SimClock, type SimProcess } from './clock.js';
import { reseedEntropy, seededRandom } from './entropy.js';
import { useNetwork, VirtualNetwork } from './network.js';

export interface SimClusterOptions {
  seed: number;
  brokers?: number;
  tickMs?: number;
  electionTicks?: number;
}

const firstPort = 9092;

/** What the simulation's probes read inside a broker (private fields: one cast, here). */
interface BrokerInternals {
  peers: { counters: { restartsSeen: number } };
  host: { byName: Map<string, Map<number, { isLeader(): boolean; raft: { status(): { leader: number } } }>> };
}

/**
 * Real brokers (broker/broker.ts, unchanged) in one process, on simulated
 * time and a simulated network. A broker is a SimProcess: `kill` stops it as
 * SIGKILL would (nothing more runs, nothing more is sent, its files stay as
 * they are), `restart` starts a new one on the same data directory.
 *
 * What this cannot model: a power loss. Writes reach the page cache and stay
 * there across a kill, exactly as across a real SIGKILL; fsync is a no-op.
 */
export class SimCluster {
  readonly clock: SimClock;
  readonly network: VirtualNetwork;
  readonly prng: Prng;
  readonly dir = mkdtempSync(join(tmpdir(), 'skein-sim-cluster-'));
  readonly size: number;
  private readonly processes = new Map<number, SimProcess>();
  private readonly running = new Map<number, Broker>();
  private readonly settings: { tickMs: number; electionTicks: number };

  constructor(options: SimClusterOptions) {
    this.prng = new Prng(options.seed);
    reseedEntropy(options.seed);
    this.clock = new SimClock(seededRandom);
    this.network = new VirtualNetwork(this.clock, this.prng.fork());
    this.size = options.brokers ?? 3;
    this.settings = { tickMs: options.tickMs ?? 50, electionTicks: options.electionTicks ?? 10 };
    useNetwork(this.network);
    this.clock.install();
  }

  get bootstrap(): string[] {
    return Array.from({ length: this.size }, (_, i) => `127.0.0.1:${firstPort + i}`);
  }

  static processName(id: number): string {
    return `broker-${id}`;
  }

  isRunning(id: number): boolean {
    return this.running.has(id);
  }

  /** A running broker's replicas of `topic`, by partition (empty when it is down or hosts none). */
  replicasOf(id: number, topic: string): Map<number, { isLeader(): boolean; raft: { status(): { leader: number } } }> {
    return this.internals(id)?.host.byName.get(topic) ?? new Map();
  }

  /** How many restarts of its peers a running broker has noticed (see PeerLinks.heardFrom). */
  restartsSeenBy(id: number): number {
    return this.internals(id)?.peers.counters.restartsSeen ?? 0;
  }

  private internals(id: number): BrokerInternals | undefined {
    return this.running.get(id) as unknown as BrokerInternals | undefined;
  }

  async start(): Promise<void> {
    const ids = Array.from({ length: this.size }, (_, i) => i + 1);
    await this.clock.settle(Promise.all(ids.map((id) => this.launch(id))), 30_000, 'cluster start');
  }

  async startBroker(id: number): Promise<void> {
    await this.clock.settle(this.launch(id), 30_000, `broker ${id} start`);
  }

  /** Starts broker `id` (past the founding ones) with --join through broker 1; a restart of it joins the same way. */
  async join(id: number): Promise<void> {
    this.joiners.add(id);
    await this.startBroker(id);
  }

  private readonly joiners = new Set<number>();

  /** Every broker started so far, founding or joined. */
  get ids(): number[] {
    return [...this.processes.keys()].sort((a, b) => a - b);
  }

  private async launch(id: number): Promise<void> {
    if (this.running.has(id)) throw new Error(`broker ${id} is running`);
    const process: SimProcess = { name: SimCluster.processName(id), dead: false };
    this.processes.set(id, process);
    const peers = this.bootstrap.map((address, i) => `${i + 1}@${address}`).join(',');
    const config = brokerConfig({
      id,
      listen: `127.0.0.1:${firstPort + id - 1}`,
      data: join(this.dir, `broker-${id}`),
      ...(this.joiners.has(id) ? { join: this.bootstrap[0] } : { peers }),
      peerSecret: 'simulated-cluster-peer-secret',
      ...this.settings,
    });
    this.running.set(id, await this.clock.runAs(process, () => Broker.start(config)));
  }

  /** SIGKILL: the broker stops between two events, mid-whatever it was doing. */
  kill(id: number): void {
    const process = this.processes.get(id);
    if (process === undefined || process.dead) return;
    process.dead = true;
    this.running.delete(id);
    this.network.releaseProcess(process);
    // The kernel would close the dead process's descriptors; its LOCK names a pid that is gone.
    const root = join(this.dir, `broker-${id}`);
    for (const path of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
      if (basename(path) === 'LOCK') rmSync(join(root, path), { force: true });
    }
  }

  /** SIGSTOP: the broker stops running, its socket buffering what arrives, until `resume`. */
  pause(id: number): void {
    const process = this.processes.get(id);
    if (process === undefined || process.dead || !this.running.has(id)) return;
    this.clock.pause(process);
  }

  /** SIGCONT: overdue timers fire, then the socket's queue is read. */
  resume(id: number): void {
    const process = this.processes.get(id);
    if (process === undefined || process.paused !== true) return;
    this.clock.resume(process);
    this.network.resume(process);
  }

  /** A graceful stop (leaderships handed over first), or one with no handover at all. */
  async stop(id: number, options: { handover: boolean }): Promise<void> {
    const broker = this.running.get(id);
    if (broker === undefined) return;
    this.running.delete(id);
    await this.clock.settle(broker.stop(options.handover ? {} : { transferTimeoutMs: 0 }), 60_000, `broker ${id} stop`);
  }

  /** Kills whatever runs and puts the real clock and globals back. */
  close(): void {
    for (const id of [...this.processes.keys()]) this.kill(id);
    this.clock.uninstall();
    useNetwork(null);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
