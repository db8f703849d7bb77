import dgram from 'node:dgram';
import { randomFillSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packetType, protocolVersion } from '../../transport/core/packet.js';
import type { Endpoint } from '../../transport/endpoint.js';
import { transportLimits } from '../../transport/limits.js';
import { InProcessCluster } from './support/cluster.js';

/**
 * Issue 11, item 8, against a real broker: a cookie that already opened a
 * connection, replayed with its key epoch written as a longer varint, used to
 * pass for a fresh one (used cookies were remembered by their bytes, the MAC
 * covers the decoded values) and open a second connection.
 */
let cluster: InProcessCluster;
let socket: dgram.Socket;
const replies: Buffer[] = [];

beforeAll(async () => {
  cluster = new InProcessCluster(1);
  await cluster.start();
  socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  socket.on('message', (bytes) => replies.push(bytes));
}, 60_000);

afterAll(async () => {
  socket?.close();
  await cluster?.close();
});

function init(cid: Uint8Array, cookie: Uint8Array | null): Uint8Array {
  const out = new Uint8Array(transportLimits.datagramBytesMin);
  out[0] = packetType.init;
  new DataView(out.buffer).setUint32(1, protocolVersion);
  out.set(cid, 5);
  out[13] = cookie?.length ?? 0;
  if (cookie !== null) out.set(cookie, 14);
  // Parameters: 16 MiB messages, 32 MiB window, 1200 B datagrams, 5 ms ack delay, 30 s idle.
  out.set([0x81, 0, 0, 0, 0x82, 0, 0, 0, 0x44, 0xb0, 0x05, 0x80, 0x00, 0x75, 0x30], 14 + (cookie?.length ?? 0));
  return out;
}

async function reply(type: number): Promise<Buffer | undefined> {
  for (let i = 0; i < 50; i++) {
    const index = replies.findIndex((r) => r[0] === type);
    if (index >= 0) return replies.splice(index, 1)[0];
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return undefined;
}

describe('a replayed cookie', () => {
  it('opens no second connection, however its varints are written', async () => {
    const port = cluster.ports[0]!;
    const endpoint = (cluster.brokers.get(1) as unknown as { endpoint: Endpoint }).endpoint;
    const cid = new Uint8Array(8);
    randomFillSync(cid);
    socket.send(init(cid, null), port, '127.0.0.1');
    const retry = (await reply(packetType.retry))!;
    const cookie = retry.subarray(14, 14 + retry[13]!);
    socket.send(init(cid, cookie), port, '127.0.0.1');
    const accept = (await reply(packetType.accept))!;
    // Confirm it with a DATA packet (a PING) to the server's connection id: the set-up is done.
    const ping = new Uint8Array(14);
    ping[0] = packetType.data;
    ping.set(accept.subarray(13, 21), 1);
    ping[13] = 0x01;
    socket.send(ping, port, '127.0.0.1');
    const opened = endpoint.stats().connectionsAccepted;
    for (let i = 0; i < 50 && endpoint.stats().connectionsAccepted === opened; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const accepted = endpoint.stats().connectionsAccepted;
    // The same cookie with its epoch (the first varint) in the next longer form.
    const epochBytes = 1 << (cookie[0]! >>> 6);
    const longer = new Uint8Array(cookie.length + epochBytes);
    longer.set(cookie.subarray(0, epochBytes), epochBytes);
    longer[epochBytes]! &= 0x3f;
    longer[0] = (Math.log2(2 * epochBytes) << 6) & 0xff;
    longer.set(cookie.subarray(epochBytes), 2 * epochBytes);
    replies.length = 0;
    socket.send(init(cid, longer), port, '127.0.0.1');
    socket.send(init(cid, cookie), port, '127.0.0.1');
    expect(await reply(packetType.accept)).toBeUndefined();
    expect(endpoint.stats().connectionsAccepted).toBe(accepted);
    const drops = endpoint.stats().drops;
    expect(drops.badCookie + drops.replayedCookie).toBe(2);
  }, 30_000);
});
