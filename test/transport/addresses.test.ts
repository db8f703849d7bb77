import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../transport/connection.js';
import { packetType } from '../../transport/core/packet.js';
import { Endpoint } from '../../transport/endpoint.js';

/**
 * Issue 10, addresses on real hosts: a server bound to 0.0.0.0 on a host
 * with two addresses answers from the address the kernel routes by, not
 * from the one its client dialled. Loopback has a whole /8, so 127.0.0.2
 * reproduces it on one machine: a client dials 127.0.0.2 and the replies
 * leave from 127.0.0.1.
 */
const opened: Endpoint[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((e) => e.close()));
});

describe('a server that answers from another of its addresses', () => {
  it('is reachable: its replies are taken from the same port of another address, and counted', async () => {
    const server = await Endpoint.open({ host: '0.0.0.0', acceptConnections: true, loss: null });
    const client = await Endpoint.open({ host: '127.0.0.1', loss: null });
    opened.push(server, client);
    const accepted = new Promise<Connection>((resolve) => server.onConnection(resolve));
    const connection = await client.connect({ host: '127.0.0.2', port: server.address.port }, { timeoutMs: 3_000 });
    const serverSide = await accepted;
    const echoed = new Promise<Uint8Array>((resolve) => connection.setMessageHandler(resolve));
    serverSide.setMessageHandler((message) => void serverSide.send(message));
    await connection.send(new Uint8Array([1, 2, 3]));
    expect([...(await echoed)]).toEqual([1, 2, 3]);
    // Still sent to the address dialled; what arrives from the other one is counted, and named on the connection.
    expect(connection.remote).toEqual({ host: '127.0.0.2', port: server.address.port });
    expect(connection.answeredFrom).toBe('127.0.0.1');
    expect(client.stats().repliesFromOtherAddress).toBeGreaterThan(0);
    expect(client.stats().drops.addressMismatch).toBe(0);
  });

  it('still drops packets for a connection from another port, and counts them', async () => {
    const server = await Endpoint.open({ host: '127.0.0.1', acceptConnections: true, loss: null });
    const client = await Endpoint.open({ host: '127.0.0.1', loss: null });
    opened.push(server, client);
    const connection = await client.connect({ host: '127.0.0.1', port: server.address.port }, { timeoutMs: 2_000 });
    // A DATA packet (a PING) with the client's connection id, sent from a socket at another port.
    const packet = new Uint8Array(1 + 8 + 4 + 1);
    packet[0] = packetType.data;
    packet.set(Buffer.from(connection.id, 'hex'), 1);
    new DataView(packet.buffer).setUint32(9, 1_000_000);
    packet[13] = 0x01;
    const stranger = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => stranger.bind(0, '127.0.0.1', resolve));
    stranger.send(packet, client.address.port, '127.0.0.1');
    for (let i = 0; i < 100 && client.stats().drops.addressMismatch === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    stranger.close();
    expect(client.stats().drops.addressMismatch).toBe(1);
    expect(client.stats().repliesFromOtherAddress).toBe(0);
    expect(connection.isOpen).toBe(true);
  });
});
