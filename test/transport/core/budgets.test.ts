import { describe, expect, it } from 'vitest';
import type { ConnectionCore } from '../../../transport/core/connection-core.js';
import { SkeinError } from '../../../transport/errors.js';
import { transportLimits } from '../../../transport/limits.js';
import { carriesStreamBeyond } from '../support/packets.js';
import { SimNetwork, type SimNode } from '../support/sim.js';

/**
 * Issue 11, item 6: the memory clients can make a server hold, on virtual
 * time. Reassembly (partly received messages) shares one budget; each
 * connection may always hold a small guarantee, and a connection that sits on
 * an unfinished message while others wait for room is closed.
 */
const KiB = 1024;

interface Attack {
  network: SimNetwork;
  server: SimNode;
  attackers: SimNode[];
  closes: Map<SimNode, SkeinError | undefined>;
}

/** `count` attackers, each sending all but the last `withheldBytes` of a `messageBytes` message. */
function partialMessages(options: { count: number; messageBytes: number; withheldBytes: number; budgetBytes: number }): Attack {
  const attackers: SimNode[] = [];
  const network = new SimNetwork({
    seed: 21,
    // The stream carries a 3-byte length prefix, then the body.
    dropIf: (from, _to, bytes) => attackers.includes(from) && carriesStreamBeyond(bytes, 3 + options.messageBytes - options.withheldBytes),
  });
  const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true, reassemblyBytesMax: options.budgetBytes } });
  const closes = new Map<SimNode, SkeinError | undefined>();
  for (let i = 0; i < options.count; i++) {
    const attacker = network.add({ host: `10.0.1.${i}`, port: 5000 });
    attacker.handlers.onConnected = (c) => c.send(new Uint8Array(options.messageBytes));
    attacker.handlers.onClosed = (_c, error) => closes.set(attacker, error);
    attacker.connect(server);
    attackers.push(attacker);
  }
  return { network, server, attackers, closes };
}

describe('the reassembly budget', () => {
  it('bounds what unfinished messages hold, keeps serving a normal client, and closes the stuck holders', () => {
    // Six guarantees of 64 KiB take 384 KiB of it; the rest goes to whoever asks first.
    const budgetBytes = 512 * KiB;
    const { network, server, attackers, closes } = partialMessages({ count: 6, messageBytes: 200 * KiB, withheldBytes: 4 * KiB, budgetBytes });
    const normal = network.add({ host: '10.0.2.1', port: 5000 });
    const received: number[] = [];
    server.handlers.onMessage = (_c, m) => received.push(m.length);
    const normalSide: { connection: ConnectionCore | null } = { connection: null };
    normal.handlers.onConnected = (c) => (normalSide.connection = c);
    normal.connect(server);
    let peakBytes = 0;
    for (let ms = 0; ms < 2_000; ms += 10) {
      network.runFor(10);
      peakBytes = Math.max(peakBytes, server.core.receiveHeldBytes);
      if (ms % 100 === 0) normalSide.connection?.send(new Uint8Array(1000));
    }
    // Each connection may exceed the shared budget by at most its guarantee.
    expect(peakBytes).toBeLessThanOrEqual(budgetBytes + attackers.length * transportLimits.reassemblyBytesGuaranteed);
    expect(peakBytes).toBeGreaterThan(budgetBytes - 64 * KiB);
    expect(server.core.stats().drops.receiveBudget).toBeGreaterThan(0);
    // The normal client's small messages got through all along.
    expect(received.filter((n) => n === 1000).length).toBeGreaterThanOrEqual(19);
    expect(closes.size).toBe(0);
    // After reassemblyStuckMsMin without completing anything, the stuck holders are closed one after another.
    network.runFor(transportLimits.reassemblyStuckMsMin + 2_000);
    expect(server.core.stats().drops.budgetClosed).toBeGreaterThan(0);
    const codes = [...closes.values()].map((e) => e?.details?.peerCode);
    expect(codes.length).toBeGreaterThan(0);
    expect(new Set(codes)).toEqual(new Set(['BACKPRESSURE']));
    expect(server.core.receiveHeldBytes).toBeLessThanOrEqual(budgetBytes + attackers.length * transportLimits.reassemblyBytesGuaranteed);
  });

  it('lets a large honest message through once a stuck holder is gone', () => {
    const budgetBytes = 256 * KiB;
    const { network, server } = partialMessages({ count: 3, messageBytes: 200 * KiB, withheldBytes: 4 * KiB, budgetBytes });
    network.runFor(1_000);
    const honest = network.add({ host: '10.0.3.1', port: 5000 });
    honest.handlers.onConnected = (c) => c.send(new Uint8Array(200 * KiB).fill(7));
    const received: Uint8Array[] = [];
    server.handlers.onMessage = (_c, m) => received.push(m);
    honest.connect(server);
    network.runFor(transportLimits.reassemblyStuckMsMin + 5_000);
    expect(received.map((m) => m.length)).toEqual([200 * KiB]);
    expect(received[0]!.every((b) => b === 7)).toBe(true);
  });

  it('holds a closing connection\'s unfinished message no longer: its bytes leave the budget at once', () => {
    const { network, server, attackers } = partialMessages({ count: 1, messageBytes: 200 * KiB, withheldBytes: 4 * KiB, budgetBytes: 1024 * KiB });
    network.runFor(1_000);
    expect(server.core.receiveHeldBytes).toBeGreaterThan(150 * KiB);
    for (const connection of attackers[0]!.core.connectionsList()) connection.close(network.nowMs, new SkeinError('CONNECTION_CLOSED'));
    network.runFor(100);
    expect(server.core.receiveHeldBytes).toBe(0);
  });

  it('a connection promoted to priority peer leaves the budget and takes what it needs', () => {
    const network = new SimNetwork({ seed: 22 });
    const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true, reassemblyBytesMax: 128 * KiB } });
    const peer = network.add({ host: '10.0.0.2', port: 5000 });
    const received: number[] = [];
    let accepted: ConnectionCore | null = null;
    server.handlers.onAccepted = (c) => (accepted = c);
    server.handlers.onMessage = (_c, m) => received.push(m.length);
    peer.handlers.onConnected = (c) => c.send(new Uint8Array(300 * KiB));
    peer.connect(server);
    network.runFor(1_000);
    // A client's connection: held at the budget, its message unfinished.
    expect(received).toEqual([]);
    expect(server.core.receiveHeldBytes).toBeLessThanOrEqual(128 * KiB + transportLimits.reassemblyBytesGuaranteed);
    accepted!.markPriority();
    expect(server.core.receiveHeldBytes).toBe(0);
    network.runFor(2_000);
    expect(received).toEqual([300 * KiB]);
    expect(server.core.receiveHeldBytes).toBe(0);
  });
});
