import { describe, expect, it } from 'vitest';
import type { ConnectionCore } from '../../../transport/core/connection-core.js';
import type { SkeinError } from '../../../transport/errors.js';
import { transportLimits } from '../../../transport/limits.js';
import { SimNetwork, type SimNode } from '../support/sim.js';

/**
 * Issue 11, item 6, on virtual time: a slow reader stops getting data, it
 * does not make the server hold more. The send budget (data queued for
 * clients) takes room back like the reassembly budget: while a client waits
 * for room, the connection most over its fair share that has had nothing
 * acknowledged for sendStuckMsMin is closed with BACKPRESSURE.
 */
const KiB = 1024;
const budgetBytes = 512 * KiB;
const chunkBytes = 32 * KiB;

interface Scene {
  network: SimNetwork;
  server: SimNode;
  /** The server's side of each client's connection, by client. */
  accepted: Map<SimNode, ConnectionCore>;
  closes: Map<SimNode, SkeinError | undefined>;
  received: Map<SimNode, number>;
}

function scene(): Scene {
  const network = new SimNetwork({ seed: 31 });
  const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true, sendBytesMax: budgetBytes } });
  const accepted = new Map<SimNode, ConnectionCore>();
  server.handlers.onAccepted = (c) => {
    for (const node of network.nodes) if (node !== server && node.address.key === c.peer.key) accepted.set(node, c);
  };
  return { network, server, accepted, closes: new Map(), received: new Map() };
}

/** A client; one that does not read has a window of 128 KiB, so it soon grants no more credit. */
function client(s: Scene, host: string, reading: boolean): SimNode {
  const node = s.network.add({ host, port: 5000, options: reading ? {} : { messageBytesMax: 64 * KiB, receiveWindowBytes: 128 * KiB } });
  node.reading = reading;
  node.handlers.onMessage = (_c, m) => s.received.set(node, (s.received.get(node) ?? 0) + m.length);
  node.handlers.onClosed = (_c, error) => s.closes.set(node, error);
  node.connect(s.server);
  s.network.runFor(50);
  return node;
}

/** Queues `bytes` to the client in chunks, as far as the server's budget allows (what an RPC layer does). */
function fill(connection: ConnectionCore, bytes: number): number {
  let sent = 0;
  while (sent + chunkBytes <= bytes && connection.sendRoomBytes >= chunkBytes + 16 && connection.send(new Uint8Array(chunkBytes)) === 'queued') sent += chunkBytes;
  return sent;
}

/** The server wants to send `bytes` to the client at once: it waits for room as long as there is too little. */
function sendWhenRoom(s: Scene, connection: ConnectionCore, bytes: number): { sentAtMs: number } {
  const result = { sentAtMs: -1 };
  const attempt = (): void => {
    if (result.sentAtMs >= 0 || connection.isTerminated) return;
    if (connection.sendRoomBytes >= bytes + 16 && connection.send(new Uint8Array(bytes)) === 'queued') result.sentAtMs = s.network.nowMs;
    else connection.wantSendRoom();
  };
  s.server.handlers.onWritable = (c) => {
    if (c === connection) attempt();
  };
  attempt();
  return result;
}

describe('the send budget takes room back', () => {
  it('closes a client that never reads with BACKPRESSURE once another waits, and serves the waiting one', () => {
    const s = scene();
    const stalled = client(s, '10.0.1.1', false);
    expect(fill(s.accepted.get(stalled)!, 480 * KiB)).toBe(480 * KiB);
    s.network.runFor(1_000);
    const healthy = client(s, '10.0.2.1', true);
    const waiting = sendWhenRoom(s, s.accepted.get(healthy)!, 200 * KiB);
    expect(waiting.sentAtMs).toBe(-1);
    const waitFromMs = s.network.nowMs;
    s.network.runFor(transportLimits.sendStuckMsMin + 500);
    expect(s.server.core.stats().drops.sendBudgetClosed).toBe(1);
    expect(s.closes.get(stalled)?.details?.peerCode).toBe('BACKPRESSURE');
    expect(waiting.sentAtMs).toBeGreaterThan(waitFromMs);
    expect(waiting.sentAtMs - waitFromMs).toBeLessThanOrEqual(transportLimits.sendStuckMsMin);
    expect(s.received.get(healthy)).toBe(200 * KiB);
    expect(s.closes.has(healthy)).toBe(false);
    expect(s.server.core.sendHeldBytes).toBeLessThanOrEqual(budgetBytes);
  });

  it('closes at sendStuckMsMin without progress, not a millisecond before', () => {
    const s = scene();
    const stalled = client(s, '10.0.1.1', false);
    const toStalled = s.accepted.get(stalled)!;
    fill(toStalled, 480 * KiB);
    s.network.runFor(200);
    const stuckSinceMs = toStalled.sendStuckSinceMs;
    expect(stuckSinceMs).toBeLessThanOrEqual(s.network.nowMs);
    const healthy = client(s, '10.0.2.1', true);
    sendWhenRoom(s, s.accepted.get(healthy)!, 200 * KiB);
    s.network.runFor(stuckSinceMs + transportLimits.sendStuckMsMin - 1 - s.network.nowMs);
    expect(toStalled.isTerminated).toBe(false);
    expect(s.server.core.stats().drops.sendBudgetClosed).toBe(0);
    s.network.runFor(1);
    expect(toStalled.isTerminated).toBe(true);
    expect(s.server.core.stats().drops.sendBudgetClosed).toBe(1);
  });

  it('does not close a client that holds much but never made anyone wait', () => {
    const s = scene();
    const stalled = client(s, '10.0.1.1', false);
    fill(s.accepted.get(stalled)!, 480 * KiB);
    s.network.runFor(transportLimits.sendStuckMsMin * 3);
    expect(s.accepted.get(stalled)!.isTerminated).toBe(false);
    expect(s.server.core.stats().drops.sendBudgetClosed).toBe(0);
  });

  it('never closes a priority peer (a broker of the cluster), which is outside the budget', () => {
    const s = scene();
    const peer = client(s, '10.0.1.1', false);
    const toPeer = s.accepted.get(peer)!;
    toPeer.markPriority();
    fill(toPeer, budgetBytes);
    const stalled = client(s, '10.0.1.2', false);
    fill(s.accepted.get(stalled)!, 480 * KiB);
    s.network.runFor(200);
    const healthy = client(s, '10.0.2.1', true);
    sendWhenRoom(s, s.accepted.get(healthy)!, 200 * KiB);
    s.network.runFor(transportLimits.sendStuckMsMin * 2);
    expect(toPeer.isTerminated).toBe(false);
    expect(s.accepted.get(stalled)!.isTerminated).toBe(true);
    expect(s.server.core.stats().drops.sendBudgetClosed).toBe(1);
  });

  it('does not close a slow reader that keeps making progress, however long others wait', () => {
    const s = scene();
    const slow = client(s, '10.0.1.1', false);
    const toSlow = s.accepted.get(slow)!;
    // The server keeps the slow reader's share full, so the waiting client never finds room.
    const refill = (): void => void fill(toSlow, budgetBytes);
    refill();
    const healthy = client(s, '10.0.2.1', true);
    const waiting = sendWhenRoom(s, s.accepted.get(healthy)!, 200 * KiB);
    const readEveryMs = transportLimits.sendStuckMsMin - 1_000;
    for (let round = 0; round < 4; round++) {
      s.network.runFor(readEveryMs);
      slow.drain(slow.core.connectionsList().next().value!);
      refill();
    }
    expect(s.received.get(slow)).toBeGreaterThan(0);
    expect(toSlow.isTerminated).toBe(false);
    expect(s.server.core.stats().drops.sendBudgetClosed).toBe(0);
    expect(waiting.sentAtMs).toBe(-1);
  });
});
