import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PeerAddress, peerAddress } from '../../../transport/core/address.js';
import type { ConnectionCore } from '../../../transport/core/connection-core.js';
import { ConnectionId, packetType, protocolVersion } from '../../../transport/core/packet.js';
import { Prng } from '../../../transport/core/prng.js';
import { transportLimits } from '../../../transport/limits.js';
import { propertyParameters } from '../support/property.js';
import { SimNetwork, type SimNode } from '../support/sim.js';
import { MessagePump, randomMessage } from '../support/transfer.js';

/**
 * Hostile input against endpoint cores: whatever arrives, nothing throws,
 * no state is allocated before a valid cookie, no unvalidated address gets
 * more bytes back than it sent, and the counters say what was dropped.
 */

interface Ledger {
  received: Map<string, number>;
  sent: Map<string, number>;
}

/** A server node plus per-address byte accounting for the amplification bound. */
function hostileSetup(seed: number, options = {}): { network: SimNetwork; server: SimNode; ledger: Ledger; inject: (bytes: Uint8Array, from: PeerAddress) => void } {
  const ledger: Ledger = { received: new Map(), sent: new Map() };
  const network = new SimNetwork({
    seed,
    onTransmit: (from, to, bytes) => {
      if (from.address.host === '10.0.0.1') ledger.sent.set(to.key, (ledger.sent.get(to.key) ?? 0) + bytes.length);
    },
  });
  const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true, ...options } });
  const inject = (bytes: Uint8Array, from: PeerAddress): void => {
    ledger.received.set(from.key, (ledger.received.get(from.key) ?? 0) + bytes.length);
    network.inject(server, bytes, from);
  };
  return { network, server, ledger, inject };
}

function expectNoAmplification(ledger: Ledger): void {
  for (const [peer, sent] of ledger.sent) expect(sent, peer).toBeLessThanOrEqual(ledger.received.get(peer) ?? 0);
}

/** An INIT as a client would send it, optionally carrying a cookie, padded (or not) to `bytes`. */
function init(cid: ConnectionId, cookie: Uint8Array | null, bytes: number = transportLimits.datagramBytesMin, version = protocolVersion): Uint8Array {
  const out = new Uint8Array(Math.max(bytes, 64));
  out[0] = packetType.init;
  new DataView(out.buffer).setUint32(1, version);
  cid.write(out, 5);
  let pos = 13;
  out[pos++] = cookie?.length ?? 0;
  if (cookie) {
    out.set(cookie, pos);
    pos += cookie.length;
  }
  // Parameters: 16 MiB messages, 32 MiB window, 1200 B datagrams, 5 ms ack delay, 30 s idle.
  out.set([0x81, 0, 0, 0, 0x82, 0, 0, 0, 0x44, 0xb0, 0x05, 0x80, 0x00, 0x75, 0x30], pos);
  return out.subarray(0, bytes);
}

/** The cookie inside a RETRY the server sent. */
function cookieOf(retry: Uint8Array): Uint8Array {
  return retry.slice(14, 14 + retry[13]!);
}

/** Random bytes behind a real packet type and, half the time, the real protocol version: reaches past the first check. */
const typedPrefix = fc
  .tuple(fc.constantFrom(packetType.init, packetType.retry, packetType.accept, packetType.refuse, packetType.data), fc.boolean(), fc.uint8Array({ minLength: 5, maxLength: 1400, size: 'max' }))
  .map(([type, versioned, bytes]) => {
    const out = Uint8Array.from(bytes);
    out[0] = type;
    if (versioned) new DataView(out.buffer).setUint32(1, protocolVersion);
    return out;
  });

describe('hostile input against the endpoint core', () => {
  it('random datagrams: no crash, no state, no amplification, every one counted', () => {
    fc.assert(
      fc.property(
        fc.nat(),
        // size 'max': fast-check's default size would keep every datagram under 11 bytes, short of any header.
        fc.array(fc.tuple(fc.oneof(fc.uint8Array({ maxLength: 1600, size: 'max' }), typedPrefix), fc.integer({ min: 1, max: 65_535 })), { maxLength: 60, size: 'max' }),
        (seed, datagrams) => {
        const { network, server, ledger, inject } = hostileSetup(seed);
        for (const [bytes, port] of datagrams) inject(bytes, peerAddress('192.0.2.7', port));
        network.runFor(100);
        expect(server.core.connectionCount).toBe(0);
        expectNoAmplification(ledger);
        const s = server.core.stats();
        const dropped = Object.values(s.drops).reduce((a, b) => a + b, 0);
        // Each datagram was dropped for a counted reason (a REFUSE counts as one), or answered with a RETRY.
        expect(dropped + s.retriesSent).toBeGreaterThanOrEqual(datagrams.length);
        expect(s.datagramsReceived).toBe(datagrams.length);
        },
      ),
      propertyParameters(300),
    );
  });

  it('datagrams that look like each packet type but are truncated or corrupted: dropped and counted', () => {
    const prng = new Prng(11);
    const { network, server, ledger, inject } = hostileSetup(11);
    const from = peerAddress('192.0.2.8', 9999);
    for (let i = 0; i < 3000; i++) {
      const type = [packetType.init, packetType.retry, packetType.accept, packetType.refuse, packetType.data][i % 5]!;
      const bytes = randomMessage(prng, prng.int(1, i % 2 === 0 ? 40 : 1300));
      bytes[0] = type;
      if (bytes.length > 5 && prng.chance(0.5)) new DataView(bytes.buffer).setUint32(1, protocolVersion);
      inject(bytes, from);
    }
    network.runFor(100);
    expect(server.core.connectionCount).toBe(0);
    expectNoAmplification(ledger);
    const drops = server.core.stats().drops;
    expect(drops.malformed + drops.unknownConnection + drops.initTooShort + drops.badCookie).toBeGreaterThan(2000);
  });

  it('a flood of INITs from many spoofed source ports allocates nothing and never amplifies', () => {
    const { network, server, ledger, inject } = hostileSetup(3);
    const prng = new Prng(3);
    for (let port = 1; port <= 5000; port++) {
      const cid = new ConnectionId(prng.nextUint32(), prng.nextUint32());
      // Mostly well-formed INITs without a cookie, some with forged cookies, some too short to answer.
      const kind = port % 5;
      const bytes =
        kind === 0
          ? init(cid, randomMessage(prng, 30))
          : kind === 1
            ? init(cid, null, 600)
            : init(cid, null);
      inject(bytes, peerAddress('203.0.113.9', port));
      if (port % 500 === 0) network.runFor(1);
    }
    network.runFor(100);
    expect(server.core.connectionCount).toBe(0);
    expect(server.core.pendingCount).toBe(0);
    expectNoAmplification(ledger);
    const s = server.core.stats();
    expect(s.drops.badCookie).toBe(1000);
    expect(s.drops.initTooShort).toBe(1000);
    // RETRYs are bounded by the reply queue per turn, and every one was smaller than its INIT.
    expect(s.retriesSent + s.drops.statelessRepliesDropped).toBe(3000);
    // Each burst of 500 holds 300 cookie-less INITs; the reply queue takes statelessRepliesQueuedMax of them.
    expect(s.drops.statelessRepliesDropped).toBe(10 * (300 - transportLimits.statelessRepliesQueuedMax));
  });

  it('replayed cookies (reused after success, and expired) open nothing new', () => {
    const { network, server, inject } = hostileSetup(5);
    const client = network.add({ host: '10.0.0.2', port: 5000 });
    const capturedInits: Uint8Array[] = [];
    const retries: Uint8Array[] = [];
    network.options.onTransmit = (from, _to, bytes) => {
      if (from === client && bytes[0] === packetType.init && bytes[13] !== 0) capturedInits.push(bytes);
      if (from === server && bytes[0] === packetType.retry) retries.push(bytes);
    };
    let accepted = 0;
    server.handlers.onAccepted = () => accepted++;
    client.connect(server);
    network.runFor(100);
    expect(accepted).toBe(1);
    expect(server.core.connectionCount).toBe(1);
    const replay = capturedInits[capturedInits.length - 1]!;
    // The same INIT (same address, same cookie) again: the connection is confirmed, so it is a replay.
    inject(replay, client.address);
    network.runFor(10);
    expect(server.core.connectionCount).toBe(1);
    expect(server.core.stats().drops.replayedCookie).toBe(1);
    // The cookie used from another address fails its MAC.
    inject(replay, peerAddress('10.0.0.3', 5000));
    network.runFor(10);
    expect(server.core.stats().drops.badCookie).toBe(1);
    // An expired cookie from a fresh client id: refused with a fresh RETRY (small), no state.
    const cid = new ConnectionId(77, 88);
    inject(init(cid, null), peerAddress('10.0.0.9', 7000));
    network.runFor(10);
    const cookie = cookieOf(retries[retries.length - 1]!);
    network.runFor(transportLimits.cookieLifetimeMs + 1000);
    const retriesBefore = server.core.stats().retriesSent;
    inject(init(cid, cookie), peerAddress('10.0.0.9', 7000));
    network.runFor(10);
    expect(server.core.stats().drops.expiredCookie).toBe(1);
    expect(server.core.stats().retriesSent).toBe(retriesBefore + 1);
    expect(server.core.connectionCount).toBe(1);
  });

  it('a used cookie re-encoded with a non-canonical varint is still a replay: no second connection', () => {
    const { network, server, inject } = hostileSetup(8);
    const client = network.add({ host: '10.0.0.2', port: 5000 });
    const capturedInits: Uint8Array[] = [];
    network.options.onTransmit = (from, _to, bytes) => {
      if (from === client && bytes[0] === packetType.init && bytes[13] !== 0) capturedInits.push(bytes);
    };
    client.connect(server);
    network.runFor(100);
    expect(server.core.connectionCount).toBe(1);
    const original = capturedInits[capturedInits.length - 1]!;
    const cid = new ConnectionId(new DataView(original.buffer, original.byteOffset).getUint32(5), new DataView(original.buffer, original.byteOffset).getUint32(9));
    const cookie = original.subarray(14, 14 + original[13]!);
    // The cookie starts with its key epoch as a varint: write the same value in the next longer form.
    const epochLength = 1 << (cookie[0]! >>> 6);
    const epochBytes = cookie.subarray(0, epochLength);
    const longer = new Uint8Array(2 * epochLength);
    longer.set(epochBytes, epochLength);
    longer[epochLength]! &= 0x3f;
    longer[0] = (Math.log2(2 * epochLength) << 6) & 0xff;
    const reencoded = new Uint8Array(longer.length + cookie.length - epochLength);
    reencoded.set(longer);
    reencoded.set(cookie.subarray(epochLength), longer.length);
    inject(init(cid, reencoded), client.address);
    network.runFor(10);
    expect(server.core.connectionCount).toBe(1);
    const drops = server.core.stats().drops;
    expect(drops.replayedCookie + drops.badCookie + drops.malformed).toBe(1);
  });

  it('forged DATA packets: unknown ids and wrong addresses are dropped; garbage frames do not break a live connection', () => {
    const network = new SimNetwork({ seed: 9 });
    const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true } });
    const client = network.add({ host: '10.0.0.2', port: 5000 });
    const got: Uint8Array[] = [];
    server.handlers.onMessage = (_c, m) => got.push(m);
    const messages = Array.from({ length: 200 }, (_, i) => randomMessage(new Prng(i), (i * 37) % 3000));
    const pump = new MessagePump(messages);
    client.handlers.onConnected = (c) => {
      pump.connection = c;
      pump.pump();
    };
    client.handlers.onWritable = () => pump.pump();
    const dataToServer: Uint8Array[] = [];
    network.options.onTransmit = (from, _to, bytes) => {
      if (from === client && bytes[0] === packetType.data) dataToServer.push(bytes);
    };
    client.connect(server);
    network.runUntil(() => got.length >= 50, 10_000);
    const prng = new Prng(9);
    for (let i = 0; i < 2000; i++) {
      const sample = dataToServer[prng.int(0, dataToServer.length - 1)]!;
      const forged = sample.slice(0, i % 4 === 3 ? sample.length : prng.int(1, sample.length));
      const mode = i % 4;
      // Mode 0: corrupt anything but the packet number (which stays a duplicate); 1: garbage frames; 2: another id.
      if (mode === 0 && forged.length > 14) forged[prng.chance(0.5) ? prng.int(0, 8) : prng.int(13, forged.length - 1)]! ^= 1 << prng.int(0, 7);
      if (mode === 1) for (let j = 13; j < forged.length; j++) forged[j] = prng.nextUint32() & 0xff;
      if (mode === 2 && forged.length > 9) forged[1]! ^= 0xff;
      const from = mode === 3 ? peerAddress('10.0.0.66', 5000) : client.address;
      network.inject(server, forged, from);
    }
    network.runUntil(() => got.length === messages.length, 60_000);
    expect(got.length).toBe(messages.length);
    for (let i = 0; i < messages.length; i++) expect(Buffer.from(got[i]!).equals(Buffer.from(messages[i]!))).toBe(true);
    const stats = server.core.stats();
    expect(stats.drops.unknownConnection).toBeGreaterThan(0);
    expect(stats.drops.addressMismatch).toBe(500);
    expect(stats.drops.malformed).toBeGreaterThan(0);
    expect(stats.packetsDuplicate).toBeGreaterThan(0);
    expect(server.core.connectionCount).toBe(1);
  });

  it('packets with a valid id, address and a fresh number but garbage frames: counted, never thrown', () => {
    const network = new SimNetwork({ seed: 10 });
    const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true } });
    const client = network.add({ host: '10.0.0.2', port: 5000 });
    let template: Uint8Array | null = null;
    network.options.onTransmit = (from, _to, bytes) => {
      if (from === client && bytes[0] === packetType.data) template ??= bytes;
    };
    client.connect(server);
    network.runFor(100);
    const prng = new Prng(10);
    for (let i = 0; i < 2000; i++) {
      const forged = randomMessage(prng, prng.int(14, 1200));
      forged.set(template!.subarray(0, 9));
      new DataView(forged.buffer).setUint32(9, 1000 + i); // a number the receiver has not seen
      expect(() => server.core.handleDatagram(network.nowMs, forged, client.address.host, client.address.port)).not.toThrow();
    }
    // Unauthenticated like TCP: an on-path forger can close the connection, but never crash the endpoint.
    const stats = server.core.stats();
    expect(stats.drops.malformed + stats.connectionsClosed).toBeGreaterThan(0);
  });

  it('a full connection table refuses new clients with CONNECTION_REFUSED', () => {
    const network = new SimNetwork({ seed: 4 });
    const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true, connectionsMax: 2 } });
    const errors: string[] = [];
    const clients = [1, 2, 3].map((i) => network.add({ host: `10.0.0.${i + 1}`, port: 5000 }));
    for (const client of clients) {
      client.handlers.onClosed = (_c, error) => errors.push(error?.code ?? 'clean');
      client.connect(server);
    }
    network.runFor(1000);
    expect(server.core.connectionCount).toBe(2);
    expect(errors).toEqual(['CONNECTION_REFUSED']);
    expect(server.core.stats().drops.refused).toBe(1);
  });

  it('one socket holds at most connectionsPerSourceMax connections: a newer one replaces its oldest', () => {
    const network = new SimNetwork({ seed: 12 });
    const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true } });
    const client = network.add({ host: '10.0.0.2', port: 5000 });
    const connected: ConnectionCore[] = [];
    client.handlers.onConnected = (c) => connected.push(c);
    const extra = 4;
    for (let i = 0; i < transportLimits.connectionsPerSourceMax + extra; i++) {
      client.connect(server);
      network.runFor(50);
    }
    expect(connected.length).toBe(transportLimits.connectionsPerSourceMax + extra);
    expect(server.core.connectionCount).toBe(transportLimits.connectionsPerSourceMax);
    expect(server.core.stats().drops.evicted).toBe(extra);
    // The newest connection is served; the evicted oldest one's packets are dropped as unknown.
    const got: number[] = [];
    server.handlers.onMessage = (_c, m) => got.push(m.length);
    connected[connected.length - 1]!.send(new Uint8Array(7));
    connected[0]!.send(new Uint8Array(3));
    network.runFor(500);
    expect(got).toEqual([7]);
    expect(server.core.stats().drops.unknownConnection).toBeGreaterThan(0);
  });

  it('one address holds at most connectionsPerAddressMax connections; another address still gets in', () => {
    const network = new SimNetwork({ seed: 13 });
    const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true, connectionsPerAddressMax: 3 } });
    const errors: string[] = [];
    for (const [host, port] of [['10.0.0.2', 1], ['10.0.0.2', 2], ['10.0.0.2', 3], ['10.0.0.2', 4], ['10.0.0.3', 1]] as const) {
      const client = network.add({ host, port });
      client.handlers.onClosed = (_c, error) => errors.push(`${host}:${port} ${error?.code}`);
      client.connect(server);
      network.runFor(100);
    }
    expect(errors).toEqual(['10.0.0.2:4 CONNECTION_REFUSED']);
    expect(server.core.connectionCount).toBe(4);
  });

  it('half-open set-ups are bounded per address and in total, the oldest replaced, and a real client still gets in', () => {
    const { network, server, inject } = hostileSetup(14);
    const retries = new Map<string, Uint8Array>();
    network.options.onTransmit = (_from, to, bytes) => {
      if (bytes[0] === packetType.retry) retries.set(to.key, cookieOf(bytes));
    };
    const prng = new Prng(14);
    const halfOpen = (from: PeerAddress): void => {
      const cid = new ConnectionId(prng.nextUint32(), prng.nextUint32());
      inject(init(cid, null), from);
      network.runFor(1);
      inject(init(cid, retries.get(from.key)!), from);
      network.runFor(1);
    };
    for (let port = 1; port <= 40; port++) halfOpen(peerAddress('198.51.100.1', port));
    expect(server.core.pendingCount).toBe(transportLimits.pendingConnectionsPerAddressMax);
    for (let i = 0; i < transportLimits.pendingConnectionsMax + 50; i++) halfOpen(peerAddress(`198.51.${101 + (i >> 8)}.${i & 0xff}`, 7));
    expect(server.core.pendingCount).toBe(transportLimits.pendingConnectionsMax);
    expect(server.core.connectionCount).toBe(transportLimits.pendingConnectionsMax);
    expect(server.core.stats().drops.evicted).toBe(40 - transportLimits.pendingConnectionsPerAddressMax + 50 + transportLimits.pendingConnectionsPerAddressMax);
    let accepted = 0;
    server.handlers.onAccepted = () => accepted++;
    const client = network.add({ host: '10.0.0.2', port: 5000 });
    const connection = client.connect(server);
    network.runFor(500);
    expect(connection.isOpen).toBe(true);
    expect(accepted).toBe(1);
  });

  it('a share of the table is kept for priority peers, who are exempt from the per-address limit', () => {
    const network = new SimNetwork({ seed: 15 });
    const isPriorityPeer = (host: string): boolean => host === '10.0.9.9';
    const server = network.add({ host: '10.0.0.1', port: 4000, options: { acceptConnections: true, connectionsMax: 8, connectionsPerAddressMax: 1, isPriorityPeer } });
    const outcome = (host: string, port: number): string => {
      const client = network.add({ host, port });
      let result = 'pending';
      client.handlers.onConnected = () => (result = 'open');
      client.handlers.onClosed = (_c, error) => (result = error?.code ?? 'closed');
      client.connect(server);
      network.runFor(100);
      return result;
    };
    // connectionsMax 8 keeps a quarter, 2 slots, for priority peers.
    for (let i = 0; i < 6; i++) expect(outcome(`10.0.1.${i}`, 1)).toBe('open');
    expect(outcome('10.0.1.100', 1)).toBe('CONNECTION_REFUSED');
    expect(outcome('10.0.9.9', 1)).toBe('open');
    expect(outcome('10.0.9.9', 2)).toBe('open');
    expect(outcome('10.0.9.9', 3)).toBe('CONNECTION_REFUSED');
    expect(server.core.connectionCount).toBe(8);
  });

  it('an endpoint that does not accept connections refuses, and a wrong version is refused statelessly', () => {
    const network = new SimNetwork({ seed: 6 });
    const quiet = network.add({ host: '10.0.0.1', port: 4000 });
    const client = network.add({ host: '10.0.0.2', port: 5000 });
    const errors: string[] = [];
    client.handlers.onClosed = (_c, error) => errors.push(error?.code ?? 'clean');
    client.connect(quiet);
    network.runFor(1000);
    expect(errors).toEqual(['CONNECTION_REFUSED']);
    expect(quiet.core.connectionCount).toBe(0);
    const { server, ledger, inject, network: n2 } = hostileSetup(6);
    inject(init(new ConnectionId(1, 1), null, 1200, 0x12345678), peerAddress('10.0.0.5', 1));
    n2.runFor(10);
    expect(server.core.connectionCount).toBe(0);
    expect(ledger.sent.get('10.0.0.5:1')).toBe(14);
  });
});
