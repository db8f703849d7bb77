import { Prng } from '../../../transport/core/prng.js';
import { bootstrapState } from '../../../broker/raft/core/membership.js';
import { RaftCore, type RaftCoreOptions } from '../../../broker/raft/core/raft.js';
import { emptyHardState, type ConfigState, type Entry, type HardState, type NodeId, type RaftMessage, type ReadState } from '../../../broker/raft/core/types.js';
import { MemoryStorage } from '../../../broker/raft/memory-storage.js';

/**
 * A tiny synchronous network of RaftCores for interaction tests, in the
 * style of etcd's raft tests: every replica persists into a MemoryStorage,
 * messages go through one FIFO queue, and the test decides what is dropped,
 * when time passes and when messages move.
 */

export interface TestNode {
  readonly id: NodeId;
  core: RaftCore;
  storage: MemoryStorage;
  hardState: HardState;
  /** Entries applied, in order (restarts keep the list; a snapshot restore is recorded as a marker). */
  applied: Entry[];
  readStates: ReadState[];
  down: boolean;
}

export type CoreTuning = Partial<Omit<RaftCoreOptions, 'id' | 'storage' | 'hardState' | 'prng'>>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function text(entry: Entry): string {
  return entry.type === 'normal' ? decoder.decode(entry.data) : `<${entry.type}>`;
}

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  queue: RaftMessage[] = [];
  /** Directed links that drop everything: "from>to". */
  private readonly cut = new Set<string>();
  /** Extra drop rule, e.g. by message type. */
  dropIf: ((m: RaftMessage) => boolean) | null = null;
  private readonly prng: Prng;

  constructor(
    private readonly options: { voters: NodeId[]; learners?: NodeId[]; others?: NodeId[]; seed?: number; tuning?: CoreTuning },
  ) {
    this.prng = new Prng(options.seed ?? 1);
    const config: ConfigState = { voters: options.voters, votersOutgoing: [], learners: options.learners ?? [], learnersNext: [] };
    const boot = bootstrapState(config);
    for (const id of [...options.voters, ...(options.learners ?? [])]) {
      const storage = new MemoryStorage();
      storage.append([boot.entry]);
      this.nodes.set(id, this.makeNode(id, storage, boot.hardState));
    }
    for (const id of options.others ?? []) this.nodes.set(id, this.makeNode(id, new MemoryStorage(), emptyHardState));
    for (const id of this.nodes.keys()) this.process(id);
  }

  private makeNode(id: NodeId, storage: MemoryStorage, hardState: HardState, applied: Entry[] = []): TestNode {
    const core = new RaftCore({ id, storage, hardState, prng: this.prng.fork(), electionTicks: 10, heartbeatTicks: 1, ...this.options.tuning });
    return { id, core, storage, hardState, applied, readStates: [], down: false };
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  core(id: NodeId): RaftCore {
    return this.node(id).core;
  }

  /** Adds a replica with an empty log (to be added to the group by a membership change). */
  addEmpty(id: NodeId): void {
    this.nodes.set(id, this.makeNode(id, new MemoryStorage(), emptyHardState));
  }

  /** Rebuilds a replica from what it persisted, as after a crash (MemoryStorage keeps everything written). */
  restart(id: NodeId): void {
    const old = this.node(id);
    const fresh = this.makeNode(id, old.storage, old.hardState, old.applied);
    const snap = old.storage.snapshot();
    // The state machine restarts from the snapshot: drop applied entries it covers and beyond.
    fresh.applied = old.applied.filter((e) => e.index <= snap.meta.index);
    this.nodes.set(id, fresh);
    this.process(id);
  }

  stop(id: NodeId): void {
    this.node(id).down = true;
  }

  /** Drains every Ready of one replica, as a driver would (persist, send, apply, advance). */
  process(id: NodeId): void {
    const n = this.node(id);
    if (n.down) return;
    while (n.core.hasReady()) {
      const rd = n.core.ready();
      this.queue.push(...rd.messages);
      if (rd.snapshot !== null) n.storage.installSnapshot(rd.snapshot);
      if (rd.entries.length > 0) {
        const first = rd.entries[0]!.index;
        if (first <= n.storage.lastIndex()) n.storage.truncateSuffix(first);
        n.storage.append(rd.entries);
      }
      if (rd.hardState !== null) n.hardState = rd.hardState;
      this.queue.push(...rd.messagesAfterPersist);
      if (rd.snapshot !== null) n.applied = n.applied.filter((e) => e.index <= rd.snapshot!.meta.index);
      n.applied.push(...rd.committedEntries);
      n.readStates.push(...rd.readStates);
      n.core.advance(rd);
    }
  }

  processAll(): void {
    for (const id of this.nodes.keys()) this.process(id);
  }

  /** Delivers queued messages (and whatever they cause) until the network is quiet. */
  stabilize(roundsMax = 10_000): void {
    this.processAll();
    for (let round = 0; round < roundsMax; round++) {
      if (this.queue.length === 0) return;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) this.deliver(m);
      this.processAll();
    }
    throw new Error('network did not stabilize');
  }

  private deliver(m: RaftMessage): void {
    if (this.cut.has(`${m.from}>${m.to}`)) return;
    if (this.dropIf?.(m)) return;
    const target = this.nodes.get(m.to);
    if (target === undefined || target.down) return;
    target.core.step(m);
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.node(id).core.tick();
      this.process(id);
    }
  }

  /** Ticks every live replica `times` times, stabilizing after each tick. */
  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) if (!n.down) n.core.tick();
      this.stabilize();
    }
  }

  campaign(id: NodeId): void {
    this.core(id).campaign();
    this.stabilize();
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
    this.dropIf = null;
  }

  propose(id: NodeId, value: string): { index: number; term: number } {
    const r = this.core(id).propose(encoder.encode(value));
    if (!r.ok) throw r.error;
    this.stabilize();
    return r.value;
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => !n.down && n.core.status().role === 'leader').map((n) => n.id);
  }

  /** The applied normal entries of a replica, as text. */
  appliedText(id: NodeId): string[] {
    return this.node(id).applied.filter((e) => e.type === 'normal').map(text);
  }

  /** The replica's whole stable log as "index:term". */
  logOf(id: NodeId): string[] {
    const s = this.node(id).storage;
    const out: string[] = [];
    for (let i = s.firstIndex(); i <= s.lastIndex(); i++) out.push(`${i}:${s.termAt(i)}`);
    return out;
  }
}
