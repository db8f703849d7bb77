import { describe, expect, it } from 'vitest';
import { Endpoint } from '../../transport/endpoint.js';
import { SkeinError } from '../../transport/errors.js';
import { createLossModel } from '../../transport/loss/index.js';
import { RpcChannel } from '../../transport/rpc/index.js';
import { expectedMessage } from './loopback-env.messages.js';

/** The RPC layer over real transport connections on loopback, through a lossy, duplicating, reordering link. */
describe('RpcChannel over UDP connections', () => {
  it('answers concurrent requests with large byte bodies, pushes notifies, and fails waiting requests on close', async () => {
    const server = await Endpoint.open({ host: '127.0.0.1', acceptConnections: true, lossModel: null });
    const client = await Endpoint.open({
      host: '127.0.0.1',
      lossModel: createLossModel({ loss: 0.05, duplicate: 0.02, reorder: 0.05, reorderDelayMs: 2, seed: 5 }),
    });
    const notified: unknown[] = [];
    let serverRpc: RpcChannel | undefined;
    server.onConnection((connection) => {
      serverRpc = new RpcChannel(connection, {
        handler: async (method, body, { rpc }) => {
          if (method === 'hang') return new Promise(() => undefined);
          if (method === 'fail') throw new SkeinError('NOT_LEADER', { details: { leaderId: 3 } });
          const { index, batch } = body as { index: number; batch: Uint8Array };
          await rpc.notify('progress', { index });
          // Answer with the reversed batch, so the reply is checked against the request byte for byte.
          return { index, reversed: batch.slice().reverse() };
        },
      });
    });
    try {
      const connection = await client.connect({ host: '127.0.0.1', port: server.address.port });
      const rpc = new RpcChannel(connection, { onNotify: (_method, body) => notified.push(body), timeoutMsDefault: 30_000 });
      const count = 60;
      const replies = await Promise.all(
        Array.from({ length: count }, (_, index) => rpc.request<{ index: number; reversed: Uint8Array }>('echo', { index, batch: expectedMessage(3, index) })),
      );
      replies.forEach((reply, index) => {
        expect(reply.index).toBe(index);
        expect(reply.reversed).toBeInstanceOf(Uint8Array);
        expect(Buffer.from(reply.reversed).equals(Buffer.from(expectedMessage(3, index).reverse()))).toBe(true);
      });
      await expect(rpc.request('fail', null)).rejects.toMatchObject({ code: 'NOT_LEADER', details: { leaderId: 3 } });
      expect(notified).toHaveLength(count);
      expect(serverRpc?.stats.malformedFrames).toBe(0);
      expect(client.stats().loss?.dropped).toBeGreaterThan(0);

      const hanging = rpc.request('hang', null);
      await new Promise((r) => setTimeout(r, 50));
      const closed = expect(hanging).rejects.toMatchObject({ code: 'CONNECTION_CLOSED', retriable: true });
      await rpc.close();
      await closed;
    } finally {
      await client.close();
      await server.close();
    }
  });
});
