import { afterEach, describe, expect, it } from 'vitest';
import type { Connection } from '../../transport/connection.js';
import { Endpoint } from '../../transport/endpoint.js';
import { isSkeinError } from '../../transport/errors.js';
import { transportLimits } from '../../transport/limits.js';

/**
 * Issue 11, item 6: the send budget on real sockets. A client that
 * acknowledges but does not read fills its receive window; after that, what
 * the server sends it stays in the server's buffers, and the server may hold
 * no more for it than its share of the budget.
 */
const KiB = 1024;
const opened: Endpoint[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((e) => e.close()));
});

async function slowReader(budgetBytes: number): Promise<{ server: Endpoint; toClient: Connection; client: Connection }> {
  const server = await Endpoint.open({ host: '127.0.0.1', acceptConnections: true, loss: null, sendBytesMax: budgetBytes });
  // A small window: the client stops granting credit after 128 KiB it has not read.
  const clientEndpoint = await Endpoint.open({ host: '127.0.0.1', loss: null, messageBytesMax: 64 * KiB, receiveWindowBytes: 128 * KiB });
  opened.push(server, clientEndpoint);
  const accepted = new Promise<Connection>((resolve) => server.onConnection(resolve));
  const client = await clientEndpoint.connect({ host: '127.0.0.1', port: server.address.port });
  return { server, toClient: await accepted, client };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('the send budget', () => {
  it('refuses what a client that does not read would make the server hold beyond its share, and grants room again once it reads', async () => {
    const budgetBytes = 256 * KiB;
    const { server, toClient, client } = await slowReader(budgetBytes);
    const message = new Uint8Array(60 * KiB);
    let refusedAt = -1;
    for (let i = 0; i < 40 && refusedAt < 0; i++) {
      try {
        await toClient.send(message);
        await sleep(5);
      } catch (error) {
        expect(isSkeinError(error, 'BACKPRESSURE')).toBe(true);
        refusedAt = i;
      }
    }
    expect(refusedAt).toBeGreaterThan(0);
    const held = server.stats().memory.sendBytes;
    expect(held).toBeLessThanOrEqual(budgetBytes);
    expect(held + message.length + 1).toBeGreaterThan(budgetBytes);
    // Room for less than a message can be reserved, no more, until the client reads.
    const partial = toClient.reserveSendBytes(message.length);
    expect(partial).toBeLessThan(message.length);
    expect(partial).toBe(budgetBytes - held);
    toClient.releaseSendBytes(partial);
    const room = new Promise<void>((resolve) => toClient.whenSendRoom(resolve));
    client.setMessageHandler(() => {});
    await room;
    for (let i = 0; i < 200 && server.stats().memory.sendBytes > budgetBytes - message.length; i++) await sleep(10);
    const granted = toClient.reserveSendBytes(message.length);
    expect(granted).toBe(message.length);
    await toClient.send(new Uint8Array(Math.min(granted, message.length)), { reservedBytes: granted });
  });

  it('always lets a client hold its guaranteed share, whatever others hold', async () => {
    const { toClient } = await slowReader(transportLimits.sendBytesGuaranteed);
    await toClient.send(new Uint8Array(transportLimits.sendBytesGuaranteed - 16));
    await expect(toClient.send(new Uint8Array(64))).rejects.toMatchObject({ code: 'BACKPRESSURE' });
  });
});
