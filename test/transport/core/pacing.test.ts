import { describe, expect, it } from 'vitest';
import type { ConnectionCore } from '../../../transport/core/connection-core.js';
import { transportLimits } from '../../../transport/limits.js';
import { createLossModel } from '../../../transport/loss/index.js';
import { streamEndOf } from '../support/packets.js';
import { SimNetwork, type SimNode } from '../support/sim.js';

/**
 * Issue 11: bulk senders kept a server's socket buffer full, and every other
 * client's datagrams waited behind theirs or were dropped with them (a
 * sender's congestion window only stops growing at a loss, and on a server
 * the loss is that buffer overflowing). A server paces its clients: credit
 * moves as their data arrives, at most receivePaceBytes ahead of it, or
 * what the path holds at the rate the data arrives when that is more (a
 * long path). On virtual time, what each sender has on its way is checked
 * after every millisecond.
 *
 * The server is the bottleneck, as on a LAN where its CPU takes data in more
 * slowly than clients can send it: a receive-side bandwidth cap with a deep
 * queue (its socket buffer), a short path (loopback-like latency).
 */
const KiB = 1024;
const MiB = 1024 * KiB;
const paceBytes = transportLimits.receivePaceBytesDefault;

interface Bulk {
  network: SimNetwork;
  server: SimNode;
  senders: SimNode[];
  /** Per sender: the furthest stream offset it has put on the wire. */
  sentEnd: Map<SimNode, number>;
  received: Map<string, number[]>;
}

const serverIntake = 'side=receive,rate=400mbit,queue=4MiB';

function bulkSenders(options: {
  count: number;
  messageBytes: number;
  serverOptions?: Record<string, unknown>;
  priority?: boolean;
  latencyMs?: number;
  serverLoss?: string | null;
}): Bulk {
  const sentEnd = new Map<SimNode, number>();
  const senders: SimNode[] = [];
  const network = new SimNetwork({
    seed: 31,
    latencyMs: options.latencyMs ?? 0.05,
    dropIf: (from, _to, bytes) => {
      if (senders.includes(from)) sentEnd.set(from, Math.max(sentEnd.get(from) ?? 0, streamEndOf(bytes)));
      return false;
    },
  });
  const server = network.add({
    host: '10.0.0.1',
    port: 4000,
    options: { acceptConnections: true, isPriorityPeer: () => options.priority === true, ...options.serverOptions },
    loss: options.serverLoss === null ? null : createLossModel(options.serverLoss ?? serverIntake),
  });
  const received = new Map<string, number[]>();
  server.handlers.onMessage = (c, m) => (received.get(c.peer.host) ?? received.set(c.peer.host, []).get(c.peer.host)!).push(m.length);
  for (let i = 0; i < options.count; i++) {
    const sender = network.add({ host: `10.0.1.${i}`, port: 5000 });
    sender.handlers.onConnected = (c) => c.send(new Uint8Array(options.messageBytes).fill(i));
    sender.connect(server);
    senders.push(sender);
  }
  return { network, server, senders, sentEnd, received };
}

/** Stream bytes the server's connection from `sender` took in (the partial message it holds, or what it delivered). */
function arrivedFrom(server: SimNode, sender: SimNode, delivered: number): number {
  let bytes = delivered;
  for (const connection of server.core.connectionsList()) {
    if (connection.peer.host === sender.address.host) bytes += (connection as ConnectionCore).stats(0).receiveBufferedBytes;
  }
  return bytes;
}

/** What each sender has on its way beyond what the server took in, sampled every millisecond for `ms`. */
function aheadSamples(bulk: Bulk, ms: number): number[][] {
  const samples: number[][] = [];
  for (let t = 0; t < ms; t++) {
    bulk.network.runFor(1);
    samples.push(
      bulk.senders.map((sender) => {
        const delivered = (bulk.received.get(sender.address.host) ?? []).reduce((n, m) => n + m + 4, 0);
        return (bulk.sentEnd.get(sender) ?? 0) - arrivedFrom(bulk.server, sender, delivered);
      }),
    );
  }
  return samples;
}

/** The most any one sender had on its way. */
function worstAhead(bulk: Bulk, ms: number): number {
  return Math.max(0, ...aheadSamples(bulk, ms).flat());
}

/** The most all senders together had on their way. */
function worstTotalAhead(bulk: Bulk, ms: number): number {
  return Math.max(0, ...aheadSamples(bulk, ms).map((sample) => sample.reduce((a, b) => a + b, 0)));
}

describe('a server paces what its clients send', () => {
  it('no client has more than receivePaceBytes on its way, and each 4 MiB message still arrives whole', () => {
    const bulk = bulkSenders({ count: 4, messageBytes: 4 * MiB });
    const ahead = worstAhead(bulk, 400);
    expect(ahead).toBeGreaterThan(paceBytes / 2);
    expect(ahead).toBeLessThanOrEqual(paceBytes);
    bulk.network.runFor(2_000);
    for (const sender of bulk.senders) expect(bulk.received.get(sender.address.host)).toEqual([4 * MiB]);
  });

  it('more clients than receivePaceSendersFull sending at once share that many paces: a small request waits behind no more', () => {
    const full = transportLimits.receivePaceSendersFull;
    const count = 3 * full;
    const bulk = bulkSenders({ count, messageBytes: 4 * MiB });
    const shareBytes = Math.floor((full * paceBytes) / count);
    // Credit told is never taken back: the first clients to connect were told the whole pace, which they use up first.
    bulk.network.runFor(150);
    const ahead = worstAhead(bulk, 300);
    expect(ahead).toBeLessThanOrEqual(shareBytes);
    expect(ahead).toBeGreaterThan(shareBytes / 2);
    const total = worstTotalAhead(bulk, 300);
    expect(total).toBeLessThanOrEqual(full * paceBytes);
    bulk.network.runFor(3_000);
    for (const sender of bulk.senders) expect(bulk.received.get(sender.address.host)).toEqual([4 * MiB]);
  });

  it('without pacing (receivePaceBytes 0) the congestion window alone bounds it: several times as much on its way', () => {
    const bulk = bulkSenders({ count: 4, messageBytes: 4 * MiB, serverOptions: { receivePaceBytes: 0 } });
    expect(worstAhead(bulk, 400)).toBeGreaterThan(2 * paceBytes);
  });

  it('a priority peer (a broker of the cluster) is not paced', () => {
    const bulk = bulkSenders({ count: 1, messageBytes: 4 * MiB, priority: true });
    expect(worstAhead(bulk, 400)).toBeGreaterThan(2 * paceBytes);
  });

  it('a connection promoted to priority peer gets its whole window', () => {
    const bulk = bulkSenders({ count: 1, messageBytes: 8 * MiB });
    bulk.network.runFor(5);
    for (const connection of bulk.server.core.connectionsList()) connection.markPriority();
    expect(worstAhead(bulk, 400)).toBeGreaterThan(2 * paceBytes);
  });
});

describe('on a long path the pace follows what the path holds', () => {
  const rttMs = 50;
  const messageBytes = 16 * MiB;

  /** Runs until the sender's message arrived whole; returns when, and the most it had on its way meanwhile. */
  function untilDelivered(serverLoss: string | null): { doneMs: number; ahead: number } {
    const bulk = bulkSenders({ count: 1, messageBytes, latencyMs: rttMs / 2, serverLoss });
    let ahead = 0;
    while (bulk.network.nowMs < 20_000 && (bulk.received.get(bulk.senders[0]!.address.host) ?? []).length === 0) ahead = Math.max(ahead, worstAhead(bulk, 50));
    expect(bulk.received.get(bulk.senders[0]!.address.host)).toEqual([messageBytes]);
    return { doneMs: bulk.network.nowMs, ahead };
  }

  it('one client is not capped at the pace per round trip: 16 MiB over a 50 ms round trip in well under half the time that cap allows', () => {
    const cappedMs = (messageBytes / paceBytes) * rttMs;
    const { doneMs, ahead } = untilDelivered(null);
    expect(ahead).toBeGreaterThan(4 * paceBytes);
    expect(doneMs).toBeLessThan(cappedMs / 2);
  });

  it('behind a bottleneck at the server, what is on its way stays within the gain times what the path holds', () => {
    const rateBytesPerMs = 100e6 / 8 / 1000;
    const pathBytes = rateBytesPerMs * rttMs;
    const { doneMs, ahead } = untilDelivered('side=receive,rate=100mbit,queue=4MiB');
    expect(ahead).toBeGreaterThan(pathBytes);
    expect(ahead).toBeLessThanOrEqual(transportLimits.receivePacePathGain * pathBytes);
    // The bottleneck sets the time: within a few round trips of the message at its rate.
    expect(doneMs).toBeLessThan(messageBytes / rateBytesPerMs + 20 * rttMs);
  });
});
