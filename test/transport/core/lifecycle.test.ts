import { describe, expect, it } from 'vitest';
import type { EndpointCoreOptions } from '../../../transport/core/config.js';
import { peerAddress, type ConnectionCore } from '../../../transport/core/connection.js';
import { ConnectionId, dataHeaderBytes, writeDataHeader, writeReset } from '../../../transport/core/packet.js';
import { Prng } from '../../../transport/core/prng.js';
import { SkeinError } from '../../../transport/errors.js';
import { createLossModel, type LinkLossModel } from '../../../transport/loss/index.js';
import { SimNetwork, type SimNode } from '../support/sim.js';
import { MessagePump, randomMessage } from '../support/transfer.js';

/** Connection life on virtual time: handshake failures, dead peers, idle timeouts, keepalives, closes, backpressure. */

interface Pair {
  network: SimNetwork;
  server: SimNode;
  client: SimNode;
  clientLoss: LinkLossModel;
  serverLoss: LinkLossModel;
  clientConnection: ConnectionCore;
  serverConnection: () => ConnectionCore | null;
  closes: { side: 'client' | 'server'; atMs: number; error: SkeinError | undefined }[];
  received: { client: Uint8Array[]; server: Uint8Array[] };
}

function pair(options: { client?: EndpointCoreOptions; server?: EndpointCoreOptions; latencyMs?: number } = {}): Pair {
  const network = new SimNetwork({ seed: 42, latencyMs: options.latencyMs ?? 5 });
  const serverLoss = createLossModel({ seed: 1 });
  const clientLoss = createLossModel({ seed: 2 });
  const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true, ...options.server }, loss: serverLoss });
  const client = network.add({ host: '10.0.0.2', port: 5000, options: options.client, loss: clientLoss });
  const closes: Pair['closes'] = [];
  const received = { client: [] as Uint8Array[], server: [] as Uint8Array[] };
  let accepted: ConnectionCore | null = null;
  server.handlers = {
    onAccepted: (c) => (accepted = c),
    onMessage: (_c, m) => received.server.push(m),
    onClosed: (_c, error) => closes.push({ side: 'server', atMs: network.nowMs, error }),
  };
  client.handlers = {
    onMessage: (_c, m) => received.client.push(m),
    onClosed: (_c, error) => closes.push({ side: 'client', atMs: network.nowMs, error }),
  };
  const clientConnection = client.connect(server);
  network.runUntil(() => clientConnection.isOpen && accepted !== null, 10_000);
  return { network, server, client, clientLoss, serverLoss, clientConnection, serverConnection: () => accepted, closes, received };
}

function cut(p: Pair): void {
  p.clientLoss.blackhole(p.server.address.key);
  p.serverLoss.blackhole(p.client.address.key);
}

describe('handshake', () => {
  it('times out with TIMEOUT when the server never answers', () => {
    const network = new SimNetwork({ seed: 1 });
    const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true }, loss: createLossModel({ blackholes: [{ peer: '10.0.0.2:5000', direction: 'both' }] }) });
    const client = network.add({ host: '10.0.0.2', port: 5000, options: { handshakeTimeoutMs: 3000 } });
    const errors: { code: string | undefined; atMs: number }[] = [];
    client.handlers.onClosed = (_c, error) => errors.push({ code: error?.code, atMs: network.nowMs });
    client.connect(server);
    network.runFor(10_000);
    expect(errors).toEqual([{ code: 'TIMEOUT', atMs: 3000 }]);
    expect(server.core.connectionCount).toBe(0);
    expect(client.core.connectionCount).toBe(0);
    // INITs were resent with backoff while waiting: 0, 250, 750, 1750 ms.
    expect(client.datagramsSent).toBe(4);
  });

  it('completes through lost INIT, RETRY and ACCEPT packets', () => {
    const network = new SimNetwork({ seed: 2 });
    const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true }, loss: createLossModel({ loss: 0.5, side: 'send', seed: 3 }) });
    const client = network.add({ host: '10.0.0.2', port: 5000, options: { handshakeTimeoutMs: 60_000 }, loss: createLossModel({ loss: 0.5, side: 'send', seed: 4 }) });
    const connection = client.connect(server);
    network.runUntil(() => connection.isOpen, 60_000);
    expect(connection.isOpen).toBe(true);
  });
});

describe('unconfirmed server connections', () => {
  it('a client that goes quiet before confirming is dropped after the handshake timeout, even with no idle timeout', () => {
    const network = new SimNetwork({ seed: 3 });
    const serverLoss = createLossModel({ seed: 1 });
    const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true, idleTimeoutMs: 0, keepaliveMs: 0, handshakeTimeoutMs: 2000 }, loss: serverLoss });
    const client = network.add({ host: '10.0.0.2', port: 5000, options: { handshakeTimeoutMs: 3000 } });
    client.connect(server);
    // The cookie round trip completes (the client's second INIT carries the cookie); from then on everything
    // the server sends is lost, so it allocates the connection but the client never hears ACCEPT and retries
    // INIT until it gives up at 3 s.
    network.runUntil(() => client.datagramsSent >= 2, 1_000);
    serverLoss.blackhole(client.address.key, 'send');
    network.runFor(2_500);
    expect(server.core.connectionCount).toBe(1); // each retried INIT restarted the wait
    // The client's last INIT left before 3 s: within the handshake timeout after it, the state is gone.
    network.runFor(5_100 - network.nowMs);
    expect(server.core.connectionCount).toBe(0);
    expect(server.core.pendingCount).toBe(0);
  });
});

describe('dead peers and idle connections', () => {
  it('declares the peer dead by time when it vanishes, on both sides, with PEER_DEAD', () => {
    const p = pair({ client: { idleTimeoutMs: 4000, keepaliveMs: 1000 }, server: { idleTimeoutMs: 4000, keepaliveMs: 1000 } });
    const cutAt = p.network.nowMs;
    cut(p);
    p.network.runFor(10_000);
    expect(p.closes.map((c) => [c.side, c.error?.code])).toEqual(
      expect.arrayContaining([
        ['client', 'PEER_DEAD'],
        ['server', 'PEER_DEAD'],
      ]),
    );
    for (const close of p.closes) {
      expect(close.atMs - cutAt).toBeGreaterThan(3000);
      expect(close.atMs - cutAt).toBeLessThanOrEqual(4000);
    }
    expect(p.client.core.connectionCount).toBe(0);
    expect(p.server.core.connectionCount).toBe(0);
  });

  it('declares the peer dead while data is in flight', () => {
    const p = pair({ client: { idleTimeoutMs: 5000 } });
    cut(p);
    p.clientConnection.send(new Uint8Array(100_000));
    p.network.runFor(20_000);
    const client = p.closes.find((c) => c.side === 'client');
    expect(client?.error?.code).toBe('PEER_DEAD');
  });

  it('with a dead-peer timeout, declares the peer dead that long after an unanswered send, long before the idle timeout', () => {
    const p = pair({ client: { idleTimeoutMs: 30_000, keepaliveMs: 0, deadPeerTimeoutMs: 2000 } });
    p.network.runFor(100);
    cut(p);
    const sentAt = p.network.nowMs;
    p.clientConnection.send(new Uint8Array(500));
    p.network.runFor(10_000);
    const client = p.closes.find((c) => c.side === 'client');
    expect(client?.error?.code).toBe('PEER_DEAD');
    expect(client!.atMs - sentAt).toBeGreaterThanOrEqual(2000);
    expect(client!.atMs - sentAt).toBeLessThanOrEqual(2000 + 5);
  });

  it('counts silence on the listening clock: time the endpoint could not read its socket does not count against the peer', () => {
    const p = pair({ client: { idleTimeoutMs: 30_000, keepaliveMs: 0, deadPeerTimeoutMs: 2000 } });
    p.network.runFor(100);
    cut(p);
    const sentAt = p.network.nowMs;
    p.clientConnection.send(new Uint8Array(500));
    p.network.runFor(1000);
    // The client's loop is blocked from here for 5 s (the shell notices afterwards, and says since when).
    p.client.core.stopListening(p.network.nowMs);
    expect(p.client.core.listenMs(p.network.nowMs + 5000)).toBe(p.client.core.listenMs(p.network.nowMs));
    p.network.runFor(5000);
    expect(p.closes).toEqual([]);
    p.client.core.resumeListening(p.network.nowMs);
    expect(p.client.core.stats().stalls).toBe(1);
    p.network.runFor(10_000);
    const client = p.closes.find((c) => c.side === 'client');
    expect(client?.error?.code).toBe('PEER_DEAD');
    // 1 s of silence before the stall, 5 s not counted, then the remaining second.
    expect(client!.atMs - sentAt).toBeGreaterThanOrEqual(7000);
    expect(client!.atMs - sentAt).toBeLessThanOrEqual(7000 + 5);
  });

  it('a dead-peer timeout never fires while the peer answers, nor on a quiet connection with nothing waiting', () => {
    const p = pair({ client: { idleTimeoutMs: 60_000, keepaliveMs: 0, deadPeerTimeoutMs: 500 }, server: { idleTimeoutMs: 60_000, keepaliveMs: 0 } });
    const messages = Array.from({ length: 40 }, (_, i) => randomMessage(new Prng(i), 20_000));
    const pump = new MessagePump(messages, p.clientConnection);
    p.client.handlers.onWritable = () => pump.pump();
    pump.pump();
    p.network.runUntil(() => p.received.server.length === messages.length, 30_000);
    expect(p.received.server.length).toBe(messages.length);
    // Everything answered; ten quiet seconds later the connection still stands.
    p.network.runFor(10_000);
    expect(p.closes).toEqual([]);
  });

  it('closes an idle connection without keepalives after the idle timeout (CONNECTION_CLOSED, not PEER_DEAD)', () => {
    const p = pair({ client: { idleTimeoutMs: 2000, keepaliveMs: 0 }, server: { idleTimeoutMs: 2000, keepaliveMs: 0 } });
    const startMs = p.network.nowMs;
    p.network.runFor(5000);
    expect(p.closes.map((c) => c.error?.code).sort()).toEqual(['CONNECTION_CLOSED', 'CONNECTION_CLOSED']);
    // Counted from the last packet heard, which came a round trip after the handshake.
    for (const close of p.closes) expect(close.atMs - startMs).toBeGreaterThanOrEqual(2000);
    for (const close of p.closes) expect(close.atMs - startMs).toBeLessThanOrEqual(2000 + 4 * 5);
  });

  it('keeps an idle connection alive with keepalives, far beyond the idle timeout', () => {
    const p = pair({ client: { idleTimeoutMs: 2000, keepaliveMs: 500 }, server: { idleTimeoutMs: 2000, keepaliveMs: 500 } });
    const sentBefore = p.client.datagramsSent;
    p.network.runFor(120_000);
    expect(p.closes).toEqual([]);
    expect(p.clientConnection.isOpen).toBe(true);
    // About one PING a keepalive interval from one side or the other, and their ACKs: bounded chatter.
    expect(p.client.datagramsSent - sentBefore).toBeGreaterThan(50);
    expect(p.client.datagramsSent - sentBefore).toBeLessThan(500);
    p.clientConnection.send(Uint8Array.of(1, 2, 3));
    p.network.runFor(1000);
    expect(p.received.server.map((m) => [...m])).toEqual([[1, 2, 3]]);
  });

  it('survives a partition shorter than the idle timeout and delivers everything after it heals', () => {
    const p = pair({ client: { idleTimeoutMs: 30_000 } });
    const messages = Array.from({ length: 50 }, (_, i) => randomMessage(new Prng(i), 10_000));
    const pump = new MessagePump(messages, p.clientConnection);
    p.client.handlers.onWritable = () => pump.pump();
    pump.pump();
    p.network.runFor(20);
    cut(p);
    p.network.runFor(15_000);
    p.clientLoss.healAll();
    p.serverLoss.healAll();
    p.network.runUntil(() => p.received.server.length === messages.length, 60_000);
    expect(p.received.server.length).toBe(messages.length);
    expect(p.closes).toEqual([]);
  });
});

describe('a peer that no longer knows the connection (RESET)', () => {
  it('a restarted server answers the old connection with RESET: the client closes within a round trip, not at the dead-peer timeout', () => {
    const p = pair({ client: { deadPeerTimeoutMs: 5000, keepaliveMs: 0 } });
    p.network.runFor(100);
    const restarted = p.network.restart(p.server);
    const sentAt = p.network.nowMs;
    p.clientConnection.send(new Uint8Array(500));
    p.network.runFor(1000);
    const client = p.closes.find((c) => c.side === 'client');
    expect(client?.error?.code).toBe('CONNECTION_CLOSED');
    expect(client?.error?.message).toMatch(/no longer knows this connection/);
    // 5 ms each way.
    expect(client!.atMs - sentAt).toBeLessThanOrEqual(11);
    expect(restarted.core.stats().resetsSent).toBeGreaterThan(0);
    expect(p.client.core.stats().resetsReceived).toBe(1);
    expect(p.client.core.connectionCount).toBe(0);
  });

  it('answers a DATA packet for no connection with a RESET smaller than it, echoing the id it named', () => {
    const transmits: { to: string; bytes: Uint8Array }[] = [];
    const network = new SimNetwork({ seed: 3, onTransmit: (_from, to, bytes) => transmits.push({ to: to.key, bytes }) });
    const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true } });
    const stray = new Uint8Array(dataHeaderBytes + 1);
    writeDataHeader(stray, new ConnectionId(0x0102_0304, 0x0506_0708), 1);
    network.inject(server, stray, peerAddress('10.0.0.3', 6000));
    network.runFor(10);
    expect(transmits).toHaveLength(1);
    expect(transmits[0]!.to).toBe(peerAddress('10.0.0.3', 6000).key);
    expect(transmits[0]!.bytes.length).toBeLessThan(stray.length);
    const expected = new Uint8Array(64);
    expect(transmits[0]!.bytes).toEqual(expected.subarray(0, writeReset(expected, new ConnectionId(0x0102_0304, 0x0506_0708))));
    expect(server.core.stats().resetsSent).toBe(1);
    expect(server.core.stats().drops.unknownConnection).toBe(1);
  });

  it('a RESET from another address, or naming no connection, closes nothing and is never answered', () => {
    const p = pair();
    p.network.runFor(100);
    const connection = p.clientConnection;
    const reset = (cid: ConnectionId): Uint8Array => {
      const out = new Uint8Array(64);
      return out.slice(0, writeReset(out, cid));
    };
    const sentBefore = p.client.datagramsSent;
    p.network.inject(p.client, reset(connection.remoteCid!), peerAddress('10.0.0.9', 4000));
    p.network.inject(p.client, reset(connection.remoteCid!), peerAddress('10.0.0.1', 4001));
    p.network.inject(p.client, reset(new ConnectionId(1, 2)), p.server.address);
    p.network.runFor(3);
    expect(connection.isOpen).toBe(true);
    expect(p.client.datagramsSent).toBe(sentBefore);
    const stats = p.client.core.stats();
    expect(stats.drops.addressMismatch).toBe(2);
    expect(stats.drops.unknownConnection).toBe(1);
    expect(stats.resetsReceived).toBe(0);
    // The real peer's RESET still works afterwards.
    p.network.inject(p.client, reset(connection.remoteCid!), p.server.address);
    p.network.runFor(3);
    expect(connection.isOpen).toBe(false);
  });
});

describe('closing', () => {
  it('graceful close delivers data still in flight, then both sides close cleanly', () => {
    const p = pair();
    // A perfect link for the handshake, then 30 % loss from now on.
    const lossy = createLossModel({ loss: 0.3, side: 'send', seed: 8 });
    p.client.loss = lossy;
    const messages = Array.from({ length: 20 }, (_, i) => randomMessage(new Prng(i), 50_000));
    for (const m of messages) expect(p.clientConnection.send(m)).toBe('queued');
    p.clientConnection.close(p.network.nowMs);
    expect(p.clientConnection.state).toBe('flushing');
    expect(() => p.clientConnection.send(Uint8Array.of(1))).toThrow(/flushing/);
    p.network.runUntil(() => p.closes.length === 2, 60_000);
    expect(p.received.server.length).toBe(messages.length);
    expect(p.closes.map((c) => c.error)).toEqual([undefined, undefined]);
    p.network.runFor(10_000);
    expect(p.client.core.connectionCount).toBe(0);
    expect(p.server.core.connectionCount).toBe(0);
  });

  it('a close with an error reaches the peer as CONNECTION_CLOSED naming the code', () => {
    const p = pair();
    p.clientConnection.close(p.network.nowMs, new SkeinError('INTERNAL', { message: 'shutting down' }));
    p.network.runFor(100);
    const server = p.closes.find((c) => c.side === 'server');
    expect(server?.error?.code).toBe('CONNECTION_CLOSED');
    expect(server?.error?.message).toContain('INTERNAL: shutting down');
  });

  it('a closing connection whose peer went silent is declared dead at the dead-peer timeout, not left with an overdue deadline until the close timeout', () => {
    const p = pair({ client: { closeTimeoutMs: 10_000, idleTimeoutMs: 60_000, keepaliveMs: 0, deadPeerTimeoutMs: 2000 } });
    p.network.runFor(100);
    cut(p);
    const sentAt = p.network.nowMs;
    p.clientConnection.send(new Uint8Array(500));
    p.clientConnection.close(p.network.nowMs);
    p.network.runFor(5000);
    const client = p.closes.find((c) => c.side === 'client');
    expect(client?.error?.code).toBe('PEER_DEAD');
    expect(client!.atMs - sentAt).toBeLessThanOrEqual(2000 + 5);
  });

  it('gives up flushing after the close timeout when the peer stops acknowledging', () => {
    const p = pair({ client: { closeTimeoutMs: 2000, idleTimeoutMs: 60_000 } });
    cut(p);
    p.clientConnection.send(new Uint8Array(10_000));
    p.clientConnection.close(p.network.nowMs);
    p.network.runFor(5000);
    expect(p.closes.find((c) => c.side === 'client')?.error?.code).toBe('TIMEOUT');
  });
});

describe('backpressure and flow control', () => {
  it('a reader that stops reading stops the sender at the receive window; memory stays bounded; nothing is lost', () => {
    const window = 256 * 1024;
    const p = pair({ server: { receiveWindowBytes: window, messageBytesMax: 100_000 }, client: { sendBufferBytes: 512 * 1024, messageBytesMax: 100_000 } });
    p.server.reading = false;
    const messages = Array.from({ length: 200 }, (_, i) => randomMessage(new Prng(i), 7000));
    const pump = new MessagePump(messages, p.clientConnection);
    p.client.handlers.onWritable = () => pump.pump();
    pump.pump();
    p.network.runFor(5000);
    const server = p.serverConnection()!;
    // The sender filled the window, then its own buffer, and waits.
    expect(server.stats(p.network.nowMs).receiveBufferedBytes).toBeLessThanOrEqual(window);
    expect(p.clientConnection.stats(p.network.nowMs).sendBufferedBytes).toBeLessThanOrEqual(512 * 1024);
    expect(pump.next).toBeLessThan(messages.length);
    p.server.reading = true;
    p.server.drain(server);
    p.network.runUntil(() => p.received.server.length === messages.length, 60_000);
    expect(p.received.server.length).toBe(messages.length);
    for (let i = 0; i < messages.length; i++) expect(Buffer.from(p.received.server[i]!).equals(Buffer.from(messages[i]!))).toBe(true);
  });

  it('refuses messages above the smaller of both sides limits with MESSAGE_TOO_LARGE', () => {
    const p = pair({ server: { messageBytesMax: 1000 } });
    expect(p.clientConnection.messageBytesMax).toBe(1000);
    expect(() => p.clientConnection.send(new Uint8Array(1001))).toThrow(expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }));
    expect(p.clientConnection.send(new Uint8Array(1000))).toBe('queued');
  });

  it('sends zero-byte messages and many tiny ones', () => {
    const p = pair();
    for (let i = 0; i < 10_000; i++) p.clientConnection.send(i % 2 === 0 ? new Uint8Array(0) : Uint8Array.of(i & 0xff));
    p.network.runUntil(() => p.received.server.length === 10_000, 60_000);
    expect(p.received.server.length).toBe(10_000);
    expect(p.received.server.every((m, i) => (i % 2 === 0 ? m.length === 0 : m.length === 1 && m[0] === (i & 0xff)))).toBe(true);
  });
});
