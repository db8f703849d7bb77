import { PeerLinks } from '../../../broker/cluster/peers.js';
import { raftEnvelopeFromWire, raftEnvelopeToWire } from '../../../broker/raft/codec.js';
import type { RaftMessage } from '../../../broker/raft/core/types.js';
import { Endpoint } from '../../../transport/endpoint.js';
import { RpcChannel } from '../../../transport/rpc/index.js';
import type { SimProcess } from './clock.js';
import { SimCluster } from './sim-cluster.js';

export interface PeerLinkProbe {
  /** Simulated ms from each heartbeat's send to its arrival, in send order (Infinity: it never arrived). */
  heartbeatDelaysMs: number[];
  /** Simulated ms from the catch-up append's send to its arrival (Infinity: it never arrived). */
  appendDelayMs: number;
}

export interface PeerLinkProbeOptions {
  seed: number;
  loss: number;
  /** Bytes of entries the catch-up append carries. */
  appendBytes: number;
  /** Heartbeats of another group follow it, one per `heartbeatEveryMs`, this many. */
  heartbeats: number;
  heartbeatEveryMs: number;
}

const host = '127.0.0.1';
const receiverPort = 9093;

/**
 * Broker 1's peer links (broker/cluster/peers.ts) to a bare endpoint standing
 * for broker 2, on the simulated network: one group's catch-up append of
 * `appendBytes` goes out on a lossy link, then another group's heartbeats,
 * one per heartbeat interval. When does each arrive? A heartbeat held behind
 * the append for an election timeout costs its group its leader.
 */
export async function probePeerLink(options: PeerLinkProbeOptions): Promise<PeerLinkProbe> {
  const sim = new SimCluster({ seed: options.seed });
  const { clock, network } = sim;
  const sender: SimProcess = { name: SimCluster.processName(1), dead: false };
  const receiver: SimProcess = { name: SimCluster.processName(2), dead: false };
  const sentAtMs = new Map<string, number>();
  const arrivedAtMs = new Map<string, number>();
  const keyOf = (message: RaftMessage): string => (message.type === 'heartbeat' ? `heartbeat ${message.commit}` : message.type);
  let links: PeerLinks | undefined;
  try {
    const far = await clock.settle(clock.runAs(receiver, () => Endpoint.open({ host, port: receiverPort, acceptConnections: true })), 10_000, 'receiver open');
    far.onConnection((connection) => {
      new RpcChannel(connection, {
        handler: () => ({}),
        onNotify: (_method, body) => {
          for (const wire of (body as { messages: unknown[] }).messages) {
            const key = keyOf(raftEnvelopeFromWire(wire).message);
            if (!arrivedAtMs.has(key)) arrivedAtMs.set(key, clock.nowMs);
          }
        },
      });
    });
    const near = await clock.settle(clock.runAs(sender, () => Endpoint.open({ host, acceptConnections: true })), 10_000, 'sender open');
    links = clock.runAs(sender, () => new PeerLinks({
      selfId: 1,
      endpoint: near,
      addressOf: (id) => (id === 2 ? { id, host, port: receiverPort } : undefined),
      handler: () => ({}),
      onNotify: () => {},
      secret: null,
      incarnation: 1,
    }));
    const send = (group: string, message: RaftMessage): void => {
      sentAtMs.set(keyOf(message), clock.nowMs);
      clock.runAs(sender, () => links!.sendRaft(2, raftEnvelopeToWire({ group, message })));
    };
    const heartbeat = (k: number): RaftMessage => ({ type: 'heartbeat', from: 1, to: 2, term: 1, commit: k, readRound: 0 });
    // The links come up on a clean network (a heartbeat dials them), then the link turns lossy.
    send('y', heartbeat(0));
    await clock.advance(1_000);
    network.conditions = { loss: options.loss, duplicate: 0, minDelayMs: 0.05, maxDelayMs: 2 };
    const entryBytes = 16 * 1024;
    const entries = Array.from({ length: Math.ceil(options.appendBytes / entryBytes) }, (_, i) => ({ index: 101 + i, term: 1, type: 'normal' as const, data: new Uint8Array(entryBytes) }));
    send('x', { type: 'append', from: 1, to: 2, term: 1, prevIndex: 100, prevTerm: 1, commit: 100, entries });
    for (let k = 1; k <= options.heartbeats; k++) {
      send('y', heartbeat(k));
      await clock.advance(options.heartbeatEveryMs);
    }
    for (let waitedMs = 0; arrivedAtMs.size < sentAtMs.size && waitedMs < 30_000; waitedMs += 100) await clock.advance(100);
    const delayOf = (key: string): number => (arrivedAtMs.get(key) ?? Infinity) - sentAtMs.get(key)!;
    return {
      heartbeatDelaysMs: Array.from({ length: options.heartbeats }, (_, i) => Math.round(delayOf(`heartbeat ${i + 1}`))),
      appendDelayMs: Math.round(delayOf('append')),
    };
  } finally {
    if (links !== undefined) void links.close();
    sim.close();
  }
}
