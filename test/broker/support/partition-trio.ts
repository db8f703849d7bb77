import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Prng } from '../../../transport/core/prng.js';
import type { TopicConfig } from '../../../transport/protocol/messages.js';
import { Partition } from '../../../broker/partition/partition.js';
import { decodeWire, encodeWire } from '../../../broker/raft/codec.js';
import { RaftMux } from '../../../broker/raft/mux.js';

export const fastTiming = { tickMs: 10, electionTicks: 10, heartbeatTicks: 2 };
export const alwaysFlush: TopicConfig = { retentionMs: null, retentionBytes: null, segmentBytes: 1 << 20, flush: { mode: 'always' } };

/**
 * Three replicas of one partition in this process, linked by in-memory muxes
 * that copy every message through its wire encoding (as the network would)
 * and can cut a replica off.
 */
export class PartitionTrio {
  readonly dir = mkdtempSync(join(tmpdir(), 'skein-trio-'));
  readonly replicas = new Map<number, Partition>();
  readonly muxes = new Map<number, RaftMux>();
  readonly isolated = new Set<number>();

  constructor(
    readonly config: TopicConfig = alwaysFlush,
    readonly timing: typeof fastTiming = fastTiming,
  ) {}

  async start(id: number): Promise<Partition> {
    const mux = new RaftMux((to, wire) => {
      if (this.isolated.has(id) || this.isolated.has(to)) return;
      const bytes = encodeWire(wire);
      setImmediate(() => this.muxes.get(to)?.receiveWire(decodeWire(bytes), id));
    });
    this.muxes.set(id, mux);
    const partition = await Partition.open({
      topic: 't',
      topicId: 1,
      partition: 0,
      brokerId: id,
      dir: join(this.dir, `broker-${id}`),
      voters: [1, 2, 3],
      preferredLeader: 1,
      config: this.config,
      mux,
      prng: new Prng(id * 7919),
      timing: this.timing,
    });
    this.replicas.set(id, partition);
    return partition;
  }

  async startAll(): Promise<void> {
    for (const id of [1, 2, 3]) await this.start(id);
  }

  async stop(id: number): Promise<void> {
    const partition = this.replicas.get(id);
    this.replicas.delete(id);
    this.muxes.delete(id);
    await partition?.close();
  }

  async leader(timeoutMs = 10_000): Promise<Partition> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      for (const p of this.replicas.values()) if (p.isLeader() && !this.isolated.has(p.raft.status().id)) return p;
      if (Date.now() > until) throw new Error('no writable leader');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    for (const id of [...this.replicas.keys()]) await this.stop(id);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
