import { describe, expect, it } from 'vitest';
import { SkeinError, isSkeinError } from '../../transport/errors.js';
import { RpcChannel, decodeFrame, encodeFrame, type RpcChannelOptions, type RpcHandler } from '../../transport/rpc/index.js';
import { ManualClock } from '../support/manual-clock.js';
import { createMemoryChannelPair, type MemoryChannel } from './support/memory-channel.js';

/** Lets delivered messages and settled promises run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

function pair(server: RpcChannelOptions = {}, client: RpcChannelOptions = {}): { client: RpcChannel; server: RpcChannel; a: MemoryChannel; b: MemoryChannel } {
  const [a, b] = createMemoryChannelPair({ messageBytesMax: 1024 * 1024 });
  return { client: new RpcChannel(a, client), server: new RpcChannel(b, server), a, b };
}

/** A client whose peer is a bare channel the test drives frame by frame. */
function rawPeer(options: RpcChannelOptions = {}): { rpc: RpcChannel; peer: MemoryChannel; received: Uint8Array[] } {
  const [a, b] = createMemoryChannelPair({ messageBytesMax: 1024 * 1024 });
  const received: Uint8Array[] = [];
  b.setMessageHandler((m) => received.push(m));
  return { rpc: new RpcChannel(a, options), peer: b, received };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('RpcChannel round trips', () => {
  it('answers requests in both directions and matches concurrent responses by id', async () => {
    const handler: RpcHandler = async (method, body) => {
      const { n } = body as { n: number };
      // Later requests finish first, so responses come back out of order.
      await new Promise((r) => setTimeout(r, (10 - n) * 2));
      return { method, doubled: n * 2 };
    };
    const { client, server } = pair({ handler }, { handler });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, n) => client.request<{ doubled: number }>('double', { n })));
    expect(answers.map((a) => a.doubled)).toEqual(Array.from({ length: 10 }, (_, n) => n * 2));
    expect(await server.request('back', { n: 4 })).toEqual({ method: 'back', doubled: 8 });
    expect(client.stats).toMatchObject({ requestsSent: 10, responsesReceived: 10, requestsHandled: 1, pending: 0 });
    await client.close();
  });

  it('keeps byte strings as plain Uint8Array views, byte-identical', async () => {
    const batch = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    let seen: unknown;
    const { client } = pair({
      handler: (_method, body) => {
        seen = (body as { batch: unknown }).batch;
        return { echo: seen, empty: new Uint8Array(0) };
      },
    });
    const reply = await client.request<{ echo: Uint8Array; empty: Uint8Array }>('produce', { batch, acks: 'all', n: -1.5, nothing: null, list: [true, false, undefined] });
    expect(seen).toBeInstanceOf(Uint8Array);
    expect((seen as Uint8Array).constructor).toBe(Uint8Array);
    expect(reply.echo.constructor).toBe(Uint8Array);
    expect(Buffer.from(reply.echo).equals(Buffer.from(batch))).toBe(true);
    expect(reply.empty).toEqual(new Uint8Array(0));
    await client.close();
  });

  it('delivers notifies in order, counting those without a handler or whose handler throws', async () => {
    const got: [string, unknown][] = [];
    const { client, server } = pair({
      onNotify: (method, body) => {
        if (method === 'bad') throw new Error('push handler bug');
        got.push([method, body]);
      },
    });
    for (let i = 0; i < 20; i++) await client.notify('push', { i });
    await client.notify('bad', null);
    await server.notify('ignored', 1);
    await settle();
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => ['push', { i }]));
    expect(server.stats).toMatchObject({ notifiesReceived: 21, notifiesDropped: 1 });
    expect(client.stats).toMatchObject({ notifiesSent: 21, notifiesReceived: 1, notifiesDropped: 1 });
    await client.close();
  });
});

describe('RpcChannel errors', () => {
  it('carries a handler SkeinError as code, message, details and retriable', async () => {
    const { client } = pair({
      handler: () => {
        throw new SkeinError('NOT_LEADER', { message: 'ask broker 2', details: { leaderId: 2, leaderEpoch: 7 } });
      },
    });
    const error = await rejection(client.request('produce', {}));
    expect(isSkeinError(error, 'NOT_LEADER')).toBe(true);
    expect(error).toMatchObject({ message: 'ask broker 2', retriable: true, details: { leaderId: 2, leaderEpoch: 7 } });
    await client.close();
  });

  it('turns any other throw into INTERNAL without leaking its message or stack', async () => {
    const handlers: RpcHandler[] = [
      () => {
        throw new Error('secret /etc/skein/key at handler.ts:12');
      },
      () => {
        throw 'a secret string';
      },
      () => {
        throw undefined;
      },
      () => Promise.reject(new TypeError('secret')),
    ];
    for (const handler of handlers) {
      const { client, server } = pair({ handler });
      const error = (await rejection(client.request('m', null))) as SkeinError;
      expect(error.code).toBe('INTERNAL');
      expect(error.retriable).toBe(false);
      expect(JSON.stringify({ m: error.message, d: error.details })).not.toContain('secret');
      expect(JSON.stringify({ m: error.message, d: error.details })).not.toContain('handler.ts');
      expect(server.stats.errorsSent).toBe(1);
      await client.close();
    }
  });

  it('answers UNKNOWN_METHOD when this end serves no requests, INTERNAL when the result is not plain data', async () => {
    const { client } = pair({ handler: (method) => (method === 'date' ? new Date(0) : new Set([1])) });
    expect(await rejection(client.request('date', null))).toMatchObject({ code: 'INTERNAL' });
    expect(await rejection(client.request('set', null))).toMatchObject({ code: 'INTERNAL' });
    const unserved = pair();
    expect(await rejection(unserved.client.request('anything', null))).toMatchObject({ code: 'UNKNOWN_METHOD', details: { method: 'anything' } });
    await client.close();
    await unserved.client.close();
  });

  it('refuses bad arguments locally and sends nothing', async () => {
    const { rpc, received } = rawPeer();
    expect(await rejection(rpc.request('m', { when: new Date() }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await rejection(rpc.request('m', { f: () => 1 }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await rejection(rpc.request('', null))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await rejection(rpc.request('x'.repeat(300), null))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await rejection(rpc.request('m', null, { timeoutMs: 0 }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await rejection(rpc.request('m', null, { timeoutMs: Number.NaN }))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await rejection(rpc.notify('m', new Map()))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(() => new RpcChannel(createMemoryChannelPair()[0], { pendingMax: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new RpcChannel(createMemoryChannelPair()[0], { timeoutMsDefault: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    await settle();
    expect(received).toEqual([]);
    expect(rpc.stats.pending).toBe(0);
    await rpc.close();
  });

  it('reports MESSAGE_TOO_LARGE for a request or a response the channel cannot carry', async () => {
    const { client } = pair({ handler: () => new Uint8Array(2 * 1024 * 1024) });
    expect(await rejection(client.request('m', new Uint8Array(2 * 1024 * 1024)))).toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
    expect(client.stats.pending).toBe(0);
    expect(await rejection(client.request('big-answer', null))).toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
    await client.close();
  });
});

describe('RpcChannel deadlines, aborts and bounds', () => {
  it('rejects with TIMEOUT at the deadline, cancels the peer, and counts a late response', async () => {
    const clock = new ManualClock();
    const { rpc, peer, received } = rawPeer({ clock, timeoutMsDefault: 50 });
    const pending = rpc.request('slow', { x: 1 });
    await settle();
    const request = decodeFrame(received[0]!);
    expect(request).toMatchObject({ kind: 'request', method: 'slow', body: { x: 1 }, timeoutMs: 50 });
    clock.advance(49);
    expect(rpc.stats.pending).toBe(1);
    clock.advance(1);
    const error = await rejection(pending);
    expect(error).toMatchObject({ code: 'TIMEOUT', retriable: true, details: { method: 'slow', timeoutMs: 50 } });
    await settle();
    const id = (request as { id: number }).id;
    expect(decodeFrame(received[1]!)).toEqual({ kind: 'cancel', id });
    await peer.send(encodeFrame({ kind: 'response', id, body: 'too late' }));
    await settle();
    expect(rpc.stats).toMatchObject({ timeouts: 1, lateResponses: 1, pending: 0 });
    expect(clock.pending).toBe(0);
    await rpc.close();
  });

  it('aborts the handler at the request deadline and drops its answer', async () => {
    const clock = new ManualClock();
    let signal: AbortSignal | undefined;
    let finish: (value: unknown) => void = () => undefined;
    const [a, b] = createMemoryChannelPair();
    const server = new RpcChannel(b, {
      clock,
      handler: (_m, _b, context) => {
        signal = context.signal;
        return new Promise((resolve) => (finish = resolve));
      },
    });
    const replies: Uint8Array[] = [];
    a.setMessageHandler((m) => replies.push(m));
    await a.send(encodeFrame({ kind: 'request', id: 9, method: 'work', body: null, timeoutMs: 100 }));
    await settle();
    expect(signal?.aborted).toBe(false);
    clock.advance(100);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toMatchObject({ code: 'TIMEOUT' });
    finish('done');
    await settle();
    expect(replies).toEqual([]);
    expect(server.stats).toMatchObject({ responsesDropped: 1, handling: 0 });
    await server.close();
  });

  it('rejects with the signal reason on abort and tells the handler to stop', async () => {
    let handlerSignal: AbortSignal | undefined;
    const { client, server } = pair({
      handler: (_m, _b, { signal }) => {
        handlerSignal = signal;
        return new Promise(() => undefined);
      },
    });
    const controller = new AbortController();
    const pending = client.request('forever', null, { signal: controller.signal });
    await settle();
    const reason = new Error('user gave up');
    controller.abort(reason);
    expect(await rejection(pending)).toBe(reason);
    await settle();
    expect(handlerSignal?.aborted).toBe(true);
    expect(server.stats).toMatchObject({ cancelsReceived: 1, handling: 1 });
    // Aborted without a reason: the platform's AbortError, as fetch and undici do.
    const second = new AbortController();
    const again = client.request('forever', null, { signal: second.signal });
    second.abort();
    expect(await rejection(again)).toMatchObject({ name: 'AbortError' });
    // Already aborted: nothing is sent.
    const sentBefore = client.stats.requestsSent;
    expect(await rejection(client.request('forever', null, { signal: second.signal }))).toMatchObject({ name: 'AbortError' });
    expect(client.stats.requestsSent).toBe(sentBefore);
    expect(client.stats.aborted).toBe(3);
    await client.close();
  });

  it('bounds pending requests with BACKPRESSURE and frees a slot when one settles', async () => {
    const resolvers: (() => void)[] = [];
    const { client } = pair({ handler: () => new Promise<void>((resolve) => resolvers.push(resolve)) }, { pendingMax: 3 });
    const first = [client.request('m', 1), client.request('m', 2), client.request('m', 3)];
    const refused = await rejection(client.request('m', 4));
    expect(refused).toMatchObject({ code: 'BACKPRESSURE', retriable: true });
    expect(client.stats.backpressureRejected).toBe(1);
    await settle();
    resolvers[0]!();
    await first[0];
    const fourth = client.request('m', 5);
    await settle();
    for (const resolve of resolvers.slice(1)) resolve();
    await Promise.all([...first, fourth]);
    expect(client.stats.pending).toBe(0);
    await client.close();
  });

  it('bounds the requests it handles at once', async () => {
    const { client, server } = pair({ handlingMax: 2, handler: () => new Promise(() => undefined) }, { timeoutMsDefault: 60_000 });
    const running = [client.request('m', 1), client.request('m', 2)];
    running.forEach((p) => p.catch(() => undefined));
    expect(await rejection(client.request('m', 3))).toMatchObject({ code: 'BACKPRESSURE' });
    expect(server.stats.handling).toBe(2);
    await client.close();
  });

  it('wraps correlation ids and skips ids still waiting', async () => {
    const { client } = pair({ handler: (_m, body) => body });
    (client as unknown as { nextId: number }).nextId = 0xffff_fffe;
    expect(await Promise.all([client.request('m', 'a'), client.request('m', 'b'), client.request('m', 'c')])).toEqual(['a', 'b', 'c']);
    expect((client as unknown as { nextId: number }).nextId).toBe(2);
    await client.close();
  });
});

describe('RpcChannel close', () => {
  it('rejects waiting requests with CONNECTION_CLOSED (retriable) and refuses new ones', async () => {
    let handlerSignal: AbortSignal | undefined;
    const { client, server } = pair({
      handler: (_m, _b, { signal }) => {
        handlerSignal = signal;
        return new Promise(() => undefined);
      },
    });
    const waiting = [client.request('m', 1), client.request('m', 2)];
    await settle();
    await client.close();
    for (const p of waiting) expect(await rejection(p)).toMatchObject({ code: 'CONNECTION_CLOSED', retriable: true });
    expect(await rejection(client.request('m', 3))).toMatchObject({ code: 'CONNECTION_CLOSED' });
    expect(await rejection(client.notify('m', 3))).toMatchObject({ code: 'CONNECTION_CLOSED' });
    expect(client.isOpen).toBe(false);
    // The other end learns of the close through its channel and stops its handlers.
    expect(server.isOpen).toBe(false);
    expect(handlerSignal?.aborted).toBe(true);
    await client.close();
  });

  it('names the reason when the channel dies under it', async () => {
    const { client, a } = pair({ handler: () => new Promise(() => undefined) });
    const waiting = client.request('m', 1);
    await settle();
    a.fail(new SkeinError('PEER_DEAD'));
    expect(await rejection(waiting)).toMatchObject({ code: 'CONNECTION_CLOSED', retriable: true, details: { reason: 'PEER_DEAD' } });
  });

  it('is closed from the start over a channel that is already closed', async () => {
    const [a] = createMemoryChannelPair();
    await a.close();
    const rpc = new RpcChannel(a);
    expect(rpc.isOpen).toBe(false);
    expect(await rejection(rpc.request('m', 1))).toMatchObject({ code: 'CONNECTION_CLOSED' });
  });

  it('supports await using', async () => {
    const [a, b] = createMemoryChannelPair();
    {
      await using rpc = new RpcChannel(a);
      expect(rpc.isOpen).toBe(true);
    }
    expect(b.isOpen).toBe(false);
  });
});

describe('RpcChannel idle watch', () => {
  it('closes a channel after a whole period with no frame and nothing outstanding, never while it is busy', async () => {
    const clock = new ManualClock();
    let busy = false;
    const { client, server } = pair({ clock, idleTimeoutMs: 1000, isBusy: () => busy, handler: () => 'ok' });
    // A frame in every period keeps it open (checks every 1000 ms compare frame counts).
    for (let i = 0; i < 5; i++) {
      expect(await client.request('ping', {})).toBe('ok');
      clock.advance(1000);
      await settle();
    }
    expect(server.isOpen).toBe(true);
    // Quiet, but something the channel cannot see keeps it busy (a push subscription).
    busy = true;
    clock.advance(1000);
    clock.advance(1000);
    await settle();
    expect(server.isOpen).toBe(true);
    busy = false;
    // The first quiet check notes the count, the next one finds it unchanged: closed within two periods.
    clock.advance(999);
    await settle();
    expect(server.isOpen).toBe(true);
    clock.advance(1);
    await settle();
    expect(server.isOpen).toBe(false);
    expect(server.stats.idleClosed).toBe(true);
    await settle();
    expect(client.isOpen).toBe(false);
  });

  it('never closes while a request waits for its answer or is being handled', async () => {
    const clock = new ManualClock();
    let finish: (() => void) | null = null;
    const { client, server } = pair({ clock, idleTimeoutMs: 1000, handler: () => new Promise<string>((resolve) => (finish = () => resolve('late'))) });
    const answer = client.request('slow', {});
    await settle();
    for (let i = 0; i < 5; i++) clock.advance(1000);
    await settle();
    expect(server.isOpen).toBe(true);
    finish!();
    expect(await answer).toBe('late');
  });
});


describe('RpcChannel response room', () => {
  /** The server end of a pair, given `roomBytes` of room to send that reservations take and `free` gives back. */
  function withRoom(roomBytes: number, handler: RpcHandler): { client: RpcChannel; room: { bytes: number; free(bytes: number): void } } {
    const [a, b] = createMemoryChannelPair({ messageBytesMax: 1024 * 1024 });
    let waiters: Array<() => void> = [];
    const room = {
      bytes: roomBytes,
      free(bytes: number) {
        room.bytes += bytes;
        const woken = waiters;
        waiters = [];
        for (const wake of woken) wake();
      },
    };
    const counted = Object.assign(b, {
      reserveSendBytes: (wantedBytes: number) => {
        const granted = Math.min(wantedBytes, room.bytes);
        room.bytes -= granted;
        return granted;
      },
      releaseSendBytes: (bytes: number) => {
        room.bytes += bytes;
      },
      whenSendRoom: (callback: () => void) => waiters.push(callback),
    });
    new RpcChannel(counted, { handler });
    return { client: new RpcChannel(a), room };
  }

  it('reserveResponseBytes with minBytes waits until that much is free at once, holding nothing meanwhile', async () => {
    const grants: number[] = [];
    const { client, room } = withRoom(1000, async (_method, _body, { reserveResponseBytes }) => {
      grants.push(await reserveResponseBytes(10_000, 4000));
      return 'read';
    });
    const answer = client.request('fetch', {});
    await settle();
    expect(grants).toEqual([]);
    expect(room.bytes).toBe(1000);
    room.free(2000);
    await settle();
    expect(grants).toEqual([]);
    expect(room.bytes).toBe(3000);
    room.free(1500);
    expect(await answer).toBe('read');
    expect(grants).toEqual([4500]);
  });

  it('refuses a minBytes outside 1..wantedBytes (a handler bug), as INVALID_ARGUMENT', async () => {
    const { client } = withRoom(1000, async (_method, _body, { reserveResponseBytes }) => reserveResponseBytes(10, 11));
    expect(await rejection(client.request('fetch', {}))).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
