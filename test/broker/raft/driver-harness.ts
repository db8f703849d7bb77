import { bootstrapState } from '../../../broker/raft/core/membership.js';
import type { RaftStorage } from '../../../broker/raft/core/storage.js';
import { emptyHardState, type Entry, type HardState, type NodeId, type Snapshot } from '../../../broker/raft/core/types.js';
import { RaftDriver, type RaftDriverOptions, type RaftStateMachine } from '../../../broker/raft/driver.js';
import type { HardStateStore } from '../../../broker/raft/hard-state.js';
import { MemoryStorage } from '../../../broker/raft/memory-storage.js';
import { RaftMux } from '../../../broker/raft/mux.js';
import { Prng } from '../../../transport/core/prng.js';
import { ManualClock } from '../../support/manual-clock.js';

/**
 * Real RaftDrivers on a manual clock and an in-memory network, with storage
 * whose syncs a test can hold back: enough to watch the driver's ordering
 * (what it sends before and after a write is durable) deterministically.
 */

export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** MemoryStorage whose sync() waits until the test opens the gate. */
export class GatedStorage extends MemoryStorage implements RaftStorage {
  gated = false;
  private waiting: Array<() => void> = [];
  failNext: Error | null = null;

  override append(entries: readonly Entry[]): void {
    if (this.failNext !== null) {
      const error = this.failNext;
      this.failNext = null;
      throw error;
    }
    super.append(entries);
  }

  override sync(): Promise<void> {
    if (!this.gated) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  open(): void {
    this.gated = false;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

export class MemoryHardState implements HardStateStore {
  state: HardState = emptyHardState;
  saves = 0;
  load(): Promise<HardState> {
    return Promise.resolve(this.state);
  }
  save(state: HardState): Promise<void> {
    this.saves++;
    this.state = state;
    return Promise.resolve();
  }
}

export class ListStateMachine implements RaftStateMachine {
  applied: string[] = [];
  restores = 0;
  apply(entry: Entry): void {
    if (entry.type === 'normal') this.applied.push(new TextDecoder().decode(entry.data));
  }
  restore(snapshot: Snapshot): void {
    this.restores++;
    this.applied = JSON.parse(new TextDecoder().decode(snapshot.data)) as string[];
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.applied));
  }
}

export interface DriverNode {
  id: NodeId;
  storage: GatedStorage;
  hardState: MemoryHardState;
  sm: ListStateMachine;
  mux: RaftMux;
  driver: RaftDriver;
}

export class DriverCluster {
  readonly clock = new ManualClock();
  readonly nodes = new Map<NodeId, DriverNode>();
  /** Every message sent, for ordering checks: [from, to, type]. */
  readonly sent: Array<{ from: NodeId; to: NodeId; type: string }> = [];
  private queue: Array<{ from: NodeId; to: NodeId; wire: unknown }> = [];
  readonly cut = new Set<NodeId>();
  private readonly prng = new Prng(11);

  private constructor(private readonly tuning: Partial<RaftDriverOptions>) {}

  static async start(voters: NodeId[], tuning: Partial<RaftDriverOptions> = {}): Promise<DriverCluster> {
    const c = new DriverCluster(tuning);
    const boot = bootstrapState({ voters, votersOutgoing: [], learners: [], learnersNext: [] });
    for (const id of voters) {
      const storage = new GatedStorage();
      storage.append([boot.entry]);
      const hardState = new MemoryHardState();
      hardState.state = boot.hardState;
      await c.open(id, storage, hardState, new ListStateMachine());
    }
    return c;
  }

  async open(id: NodeId, storage: GatedStorage, hardState: MemoryHardState, sm: ListStateMachine): Promise<DriverNode> {
    const mux = new RaftMux((to, wire) => {
      const w = wire as { t: number };
      this.sent.push({ from: id, to, type: String(w.t) });
      this.queue.push({ from: id, to, wire });
    });
    const driver = await RaftDriver.open({
      group: 'test',
      id,
      storage,
      hardStateStore: hardState,
      transport: mux.transport('test'),
      stateMachine: sm,
      prng: this.prng.fork(),
      clock: this.clock,
      tickMs: 10,
      electionTicks: 10,
      heartbeatTicks: 1,
      proposalTimeoutMs: 5000,
      ...this.tuning,
    });
    const node = { id, storage, hardState, sm, mux, driver };
    this.nodes.set(id, node);
    return node;
  }

  node(id: NodeId): DriverNode {
    return this.nodes.get(id)!;
  }

  /** Delivers queued messages until the network is quiet (or `rounds` pass). */
  async deliver(rounds = 1000): Promise<void> {
    for (let i = 0; i < rounds && this.queue.length > 0; i++) {
      const batch = this.queue.splice(0);
      for (const { from, to, wire } of batch) {
        if (this.cut.has(from) || this.cut.has(to)) continue;
        const target = this.nodes.get(to);
        if (target === undefined || target.driver.isStopped) continue;
        target.mux.receiveWire(wire, from);
      }
      await settle();
    }
  }

  /** Lets `ms` of time pass, delivering messages as they go. */
  async run(ms: number): Promise<void> {
    await this.clock.advanceSettling(ms, () => this.deliver());
    await this.deliver();
  }

  leader(): DriverNode | null {
    for (const n of this.nodes.values()) if (!n.driver.isStopped && n.driver.status().role === 'leader') return n;
    return null;
  }

  async electLeader(): Promise<DriverNode> {
    for (let i = 0; i < 50; i++) {
      const l = this.leader();
      if (l !== null) return l;
      await this.run(50);
    }
    throw new Error('no leader elected');
  }
}
