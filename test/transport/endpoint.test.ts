import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../transport/connection.js';
import { Prng } from '../../transport/core/prng.js';
import { Endpoint, type EndpointOptions } from '../../transport/endpoint.js';
import { SkeinError } from '../../transport/errors.js';
import { createLossModel } from '../../transport/loss/index.js';
import { randomMessage } from './support/transfer.js';

/** The real UDP shell on loopback: two endpoints in this process. Nothing here depends on how fast it runs. */

const opened: Endpoint[] = [];
async function open(options: EndpointOptions = {}): Promise<Endpoint> {
  const endpoint = await Endpoint.open({ host: '127.0.0.1', loss: null, ...options });
  opened.push(endpoint);
  return endpoint;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((e) => e.close()));
});

async function connectedPair(serverOptions: EndpointOptions = {}, clientOptions: EndpointOptions = {}): Promise<{ server: Endpoint; client: Endpoint; clientConnection: Connection; serverConnection: Connection }> {
  const server = await open({ acceptConnections: true, ...serverOptions });
  const client = await open(clientOptions);
  const accepted = new Promise<Connection>((resolve) => server.onConnection(resolve));
  const clientConnection = await client.connect({ host: '127.0.0.1', port: server.address.port });
  return { server, client, clientConnection, serverConnection: await accepted };
}

/** Collects `count` messages from a connection. */
function collect(connection: Connection, count: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  return new Promise((resolve) => {
    connection.setMessageHandler((message) => {
      got.push(message);
      if (got.length === count) resolve(got);
    });
  });
}

function expectSame(got: readonly Uint8Array[], sent: readonly Uint8Array[]): void {
  expect(got.length).toBe(sent.length);
  for (let i = 0; i < sent.length; i++) {
    expect(got[i]!.length, `message ${i}`).toBe(sent[i]!.length);
    expect(Buffer.from(got[i]!).equals(Buffer.from(sent[i]!)), `message ${i}`).toBe(true);
  }
}

describe('Endpoint on loopback', () => {
  it('flushNow sends what is queued at once, not on the next turn of the event loop', async () => {
    const { client, clientConnection, serverConnection } = await connectedPair();
    const got = collect(serverConnection, 1);
    await new Promise((resolve) => setImmediate(resolve));
    const before = client.stats().socket.datagramsSent;
    void clientConnection.send(new Uint8Array([1, 2, 3]));
    expect(client.stats().socket.datagramsSent).toBe(before);
    client.flushNow();
    expect(client.stats().socket.datagramsSent).toBe(before + 1);
    expect(Array.from((await got)[0]!)).toEqual([1, 2, 3]);
  });

  it('delivers many messages of mixed sizes, up to 16 MiB, exactly once and in order, both ways', async () => {
    const { clientConnection, serverConnection } = await connectedPair();
    const prng = new Prng(1);
    const sizes = [0, 1, 1199, 1200, 5000, 16 * 1024 * 1024, 3, 70_000, 0, 1_000_000];
    for (let i = 0; i < 300; i++) sizes.push(prng.int(0, 3000));
    const forward = sizes.map((n) => randomMessage(prng, n));
    const backward = sizes.slice(0, 40).map((n) => randomMessage(prng, Math.min(n, 100_000)));
    const gotForward = collect(serverConnection, forward.length);
    const gotBackward = collect(clientConnection, backward.length);
    await Promise.all([Promise.all(forward.map((m) => clientConnection.send(m))), Promise.all(backward.map((m) => serverConnection.send(m)))]);
    expectSame(await gotForward, forward);
    expectSame(await gotBackward, backward);
    const stats = clientConnection.stats();
    expect(stats.messagesSent).toBe(forward.length);
    expect(stats.messagesReceived).toBe(backward.length);
    expect(stats.rttSmoothedMs).toBeGreaterThan(0);
  }, 120_000);

  it('runs through the SKEIN_LOSS loss model from the environment (loss, duplication, reordering, delay)', async () => {
    const saved = process.env.SKEIN_LOSS;
    process.env.SKEIN_LOSS = 'loss=0.1,dup=0.02,reorder=0.05,delay=1ms,jitter=1ms,seed=7';
    let pair: Awaited<ReturnType<typeof connectedPair>>;
    try {
      pair = await connectedPair({ loss: undefined, datagramBytes: 4000 }, { loss: undefined, datagramBytes: 4000, handshakeTimeoutMs: 30_000 });
    } finally {
      if (saved === undefined) delete process.env.SKEIN_LOSS;
      else process.env.SKEIN_LOSS = saved;
    }
    const { client, server, clientConnection, serverConnection } = pair;
    const prng = new Prng(2);
    const messages = Array.from({ length: 200 }, () => randomMessage(prng, prng.int(0, 20_000)));
    const got = collect(serverConnection, messages.length);
    await Promise.all(messages.map((m) => clientConnection.send(m)));
    expectSame(await got, messages);
    const sender = client.stats();
    expect(sender.loss).not.toBeNull();
    expect(sender.drops.injected).toBeGreaterThan(0);
    expect(sender.packetsLost).toBeGreaterThan(0);
    expect(sender.packetsRetransmitted).toBeGreaterThan(0);
    expect(server.stats().loss!.duplicated).toBeGreaterThan(0);
  }, 120_000);

  it('closes gracefully with data in flight: everything arrives, then both sides close cleanly', async () => {
    const { clientConnection, serverConnection } = await connectedPair();
    const prng = new Prng(3);
    const messages = Array.from({ length: 100 }, () => randomMessage(prng, 50_000));
    const got = collect(serverConnection, messages.length);
    const serverClosed = new Promise<SkeinError | undefined>((resolve) => serverConnection.onClose(resolve));
    const clientClosed = new Promise<SkeinError | undefined>((resolve) => clientConnection.onClose(resolve));
    for (const m of messages) void clientConnection.send(m);
    await clientConnection.close();
    expectSame(await got, messages);
    expect(await clientClosed).toBeUndefined();
    expect(await serverClosed).toBeUndefined();
    expect(clientConnection.isOpen).toBe(false);
    await expect(clientConnection.send(Uint8Array.of(1))).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
  }, 60_000);

  it('detects a dead peer by time (PEER_DEAD) when the path goes dark', async () => {
    const loss = createLossModel({ seed: 1 });
    const { client, server, clientConnection } = await connectedPair({}, { loss, idleTimeoutMs: 1000, keepaliveMs: 200 });
    const closed = new Promise<SkeinError | undefined>((resolve) => clientConnection.onClose(resolve));
    loss.blackhole(`127.0.0.1:${server.address.port}`);
    const error = await closed;
    expect(error?.code).toBe('PEER_DEAD');
    expect(client.stats().drops.injected).toBeGreaterThan(0);
  }, 30_000);

  it('keeps an idle connection alive with keepalives past its idle timeout', async () => {
    const { clientConnection, serverConnection } = await connectedPair({ idleTimeoutMs: 600, keepaliveMs: 100 }, { idleTimeoutMs: 600, keepaliveMs: 100 });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(clientConnection.isOpen).toBe(true);
    expect(serverConnection.isOpen).toBe(true);
    const got = collect(serverConnection, 1);
    await clientConnection.send(Uint8Array.of(42));
    expect([...(await got)[0]!]).toEqual([42]);
  }, 30_000);

  it('reports connect failures with typed errors: refused, timeout, aborted, endpoint closed', async () => {
    const quiet = await open({ acceptConnections: false });
    const client = await open({});
    await expect(client.connect({ host: '127.0.0.1', port: quiet.address.port })).rejects.toMatchObject({ code: 'CONNECTION_REFUSED' });
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      await expect(client.connect({ host: '127.0.0.1', port }, { timeoutMs: 400 })).rejects.toMatchObject({ code: 'TIMEOUT' });
      const controller = new AbortController();
      const pending = client.connect({ host: '127.0.0.1', port }, { signal: controller.signal });
      controller.abort(new Error('changed my mind'));
      await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    } finally {
      silent.close();
    }
    await expect(client.connect({ host: '127.0.0.1', port: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await client.close();
    await expect(client.connect({ host: '127.0.0.1', port: quiet.address.port })).rejects.toMatchObject({ code: 'ENDPOINT_CLOSED' });
  }, 30_000);

  it('closing an endpoint closes its connections; the peer learns CONNECTION_CLOSED', async () => {
    const { client, clientConnection, serverConnection } = await connectedPair();
    const serverSide = new Promise<SkeinError | undefined>((resolve) => serverConnection.onClose(resolve));
    const clientSide = new Promise<SkeinError | undefined>((resolve) => clientConnection.onClose(resolve));
    await client.close();
    expect((await clientSide)?.code).toBe('ENDPOINT_CLOSED');
    expect((await serverSide)?.code).toBe('CONNECTION_CLOSED');
  }, 30_000);

  it('applies backpressure: send() waits for room, and too many waiting sends fail with BACKPRESSURE', async () => {
    const { clientConnection, serverConnection } = await connectedPair({ receiveWindowBytes: 100_000, messageBytesMax: 50_000 }, { sendBufferBytes: 100_000, messageBytesMax: 50_000 });
    // The server never reads (no handler), so credit is not returned after its window fills.
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 1100; i++) sends.push(clientConnection.send(new Uint8Array(40_000)).then(() => 'sent', (error: SkeinError) => error.code));
    const early = await Promise.race([Promise.all(sends), new Promise((resolve) => setTimeout(() => resolve('waiting'), 1000))]);
    expect(early).toBe('waiting');
    // Two messages fit the 100 kB send buffer, 1024 more may wait for room, the rest are refused at once.
    const got: Uint8Array[] = [];
    serverConnection.setMessageHandler((message) => got.push(message));
    const outcomes = await Promise.all(sends);
    expect(outcomes.filter((o) => o === 'BACKPRESSURE').length).toBe(1100 - 2 - 1024);
    expect(outcomes.slice(0, 1026).every((o) => o === 'sent')).toBe(true);
    while (got.length < 1026) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(got.length).toBe(1026);
    await expect(clientConnection.send(new Uint8Array(50_001))).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
  }, 60_000);

  it('tells a sender where its message ends on the stream, waiting ones included, and when the peer has acknowledged that far', async () => {
    const { clientConnection, serverConnection } = await connectedPair({ receiveWindowBytes: 100_000, messageBytesMax: 50_000 }, { sendBufferBytes: 100_000, messageBytesMax: 50_000 });
    expect(clientConnection.streamAcceptedBytes).toBe(0);
    // Two fit the send buffer, the third waits for room; each takes its body and a 4-byte length.
    const sends = [1, 2, 3].map(() => clientConnection.send(new Uint8Array(40_000)));
    const endBytes = clientConnection.streamAcceptedBytes;
    expect(endBytes).toBe(3 * 40_004);
    expect(clientConnection.streamAckedBytes).toBeLessThan(endBytes);
    serverConnection.setMessageHandler(() => {});
    await Promise.all(sends);
    while (clientConnection.streamAckedBytes < endBytes) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(clientConnection.streamAckedBytes).toBe(endBytes);
    expect(clientConnection.streamAcceptedBytes).toBe(endBytes);
  }, 30_000);
});

describe('closing with sends still waiting for room', () => {
  it('rejects the waiting sends with CONNECTION_CLOSED and does not wait for a peer that stopped reading', async () => {
    const { clientConnection } = await connectedPair({ receiveWindowBytes: 100_000, messageBytesMax: 50_000 }, { sendBufferBytes: 100_000, messageBytesMax: 50_000, closeTimeoutMs: 500 });
    const sends = Array.from({ length: 10 }, () => clientConnection.send(new Uint8Array(40_000)).then(() => 'sent', (error: SkeinError) => error.code));
    const closed = new Promise<SkeinError | undefined>((resolve) => clientConnection.onClose(resolve));
    await clientConnection.close();
    expect(await Promise.all(sends)).toEqual(['sent', 'sent', ...Array<string>(8).fill('CONNECTION_CLOSED')]);
    // The two accepted messages went out; the peer never read them, so the flush may end by its timeout.
    expect([undefined, 'TIMEOUT']).toContain((await closed)?.code);
  }, 30_000);
});

describe('hostile input against a real endpoint', () => {
  it('random bytes, truncated packets and an INIT flood from many source ports: no crash, no state, no amplification', async () => {
    const server = await open({ acceptConnections: true });
    // Counted by source: a client of a parallel test file still retrying a port this server now holds
    // may complete a real handshake, and that is not a connection made of hostile bytes.
    const hostileConnections: Connection[] = [];
    const sockets: dgram.Socket[] = [];
    const sentBytes = new Map<number, number>();
    server.onConnection((connection) => {
      if (sentBytes.has(connection.remote.port)) hostileConnections.push(connection);
    });
    const repliedBytes = new Map<number, number>();
    try {
      for (let i = 0; i < 64; i++) {
        const socket = dgram.createSocket('udp4');
        await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
        const port = (socket.address() as { port: number }).port;
        socket.on('message', (message) => repliedBytes.set(port, (repliedBytes.get(port) ?? 0) + message.length));
        sockets.push(socket);
      }
      const prng = new Prng(9);
      const send = (socket: dgram.Socket, bytes: Uint8Array): void => {
        const port = (socket.address() as { port: number }).port;
        sentBytes.set(port, (sentBytes.get(port) ?? 0) + bytes.length);
        socket.send(bytes, server.address.port, '127.0.0.1');
      };
      for (let round = 0; round < 20; round++) {
        for (const socket of sockets) {
          const kind = prng.int(0, 3);
          const bytes = randomMessage(prng, kind === 0 ? prng.int(0, 1500) : kind === 1 ? 1200 : prng.int(1, 60));
          if (kind === 1) {
            // A well-formed, padded INIT without a cookie: answered by a RETRY no larger than it.
            bytes.fill(0);
            bytes.set([0x01, 0x53, 0x4b, 0x4e, 0x01]);
            bytes.set([0x81, 0, 0, 0, 0x82, 0, 0, 0, 0x44, 0xb0, 0x05, 0x80, 0x00, 0x75, 0x30], 14);
          } else if (kind === 2) {
            bytes[0] = [0x01, 0x02, 0x03, 0x04, 0x10][prng.int(0, 4)]!;
          }
          send(socket, bytes);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      const stats = server.stats();
      expect(hostileConnections).toEqual([]);
      expect(stats.datagramsReceived).toBeGreaterThan(1000);
      expect(stats.retriesSent).toBeGreaterThan(100);
      expect(stats.drops.malformed + stats.drops.unknownConnection + stats.drops.initTooShort).toBeGreaterThan(100);
      for (const [port, replied] of repliedBytes) expect(replied).toBeLessThanOrEqual(sentBytes.get(port) ?? 0);
      // The endpoint still works for a real client afterwards.
      const client = await open({});
      const accepted = new Promise<Connection>((resolve) =>
        server.onConnection((connection) => {
          if (connection.remote.port === client.address.port) resolve(connection);
        }),
      );
      const connection = await client.connect({ host: '127.0.0.1', port: server.address.port });
      const got = collect(await accepted, 1);
      await connection.send(Uint8Array.of(7));
      expect([...(await got)[0]!]).toEqual([7]);
    } finally {
      for (const socket of sockets) socket.close();
    }
  }, 30_000);
});
