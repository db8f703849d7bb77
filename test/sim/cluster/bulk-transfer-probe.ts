import { Endpoint } from '../../../transport/endpoint.js';
import type { ConnectionStats } from '../../../transport/core/stats.js';
import type { LinkConditions } from './network.js';
import type { SimProcess } from './clock.js';
import { SimCluster } from './sim-cluster.js';

export interface BulkTransferProbe {
  /** Simulated ms from the message's send to its arrival (Infinity: it never arrived). */
  deliveryMs: number;
  sender: ConnectionStats;
}

const host = '127.0.0.1';
const receiverPort = 9093;

/**
 * One message of `bytes` over one connection on the simulated network, as a
 * Raft catch-up travels a peer link's bulk lane: how long until it arrives?
 * The link comes up clean, then takes `conditions`.
 */
export async function probeBulkTransfer(options: { seed: number; bytes: number; conditions: LinkConditions }): Promise<BulkTransferProbe> {
  const sim = new SimCluster({ seed: options.seed });
  const { clock, network } = sim;
  const sender: SimProcess = { name: SimCluster.processName(1), dead: false };
  const receiver: SimProcess = { name: SimCluster.processName(2), dead: false };
  try {
    const far = await clock.settle(clock.runAs(receiver, () => Endpoint.open({ host, port: receiverPort, acceptConnections: true })), 10_000, 'receiver open');
    let arrivedAtMs = Infinity;
    far.onConnection((connection) => connection.setMessageHandler(() => void (arrivedAtMs = clock.nowMs)));
    const near = await clock.settle(clock.runAs(sender, () => Endpoint.open({ host, acceptConnections: true })), 10_000, 'sender open');
    const connection = await clock.settle(clock.runAs(sender, () => near.connect({ host, port: receiverPort })), 10_000, 'connect');
    network.conditions = options.conditions;
    const sentAtMs = clock.nowMs;
    clock.runAs(sender, () => void connection.send(new Uint8Array(options.bytes)).catch(() => {}));
    for (let waitedMs = 0; arrivedAtMs === Infinity && waitedMs < 30_000; waitedMs += 10) await clock.advance(10);
    return { deliveryMs: Math.round(arrivedAtMs - sentAtMs), sender: connection.stats() };
  } finally {
    sim.close();
  }
}
