import { afterEach, describe, expect, it } from 'vitest';
import { createDialer } from '../../sdk/dial.js';
import { Endpoint } from '../../transport/endpoint.js';
import type { SkeinError } from '../../transport/errors.js';
import { createLossModel } from '../../transport/loss/index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('the dialer under a client', () => {
  it('declares a broker that falls silent while a request waits dead in seconds (not after the 30 s idle timeout)', async () => {
    const server = await Endpoint.open({ host: '127.0.0.1', port: 0, acceptConnections: true, loss: null });
    cleanups.push(() => server.close());
    server.onConnection((connection) => connection.setMessageHandler(() => {}));
    const loss = createLossModel({});
    const dialer = createDialer({ loss, transport: {}, bootstrap: [{ host: '127.0.0.1', port: server.address.port }] });
    cleanups.push(() => dialer.close());
    const connection = await dialer.dial({ host: '127.0.0.1', port: server.address.port }, { signal: new AbortController().signal, timeoutMs: 5_000 });
    const closed = new Promise<SkeinError | undefined>((resolve) => connection.onClose(resolve));
    await connection.send(Uint8Array.of(1));
    // As a SIGKILLed broker: no close, no reset, nothing at all from now on.
    loss.blackhole(`127.0.0.1:${server.address.port}`);
    const startedAt = performance.now();
    void connection.send(Uint8Array.of(2)).catch(() => {});
    const reason = await closed;
    expect(reason?.code).toBe('PEER_DEAD');
    expect(performance.now() - startedAt).toBeLessThan(20_000);
  }, 25_000);

  it('leaves the dead-peer timeout to the caller when the transport options name one', async () => {
    const server = await Endpoint.open({ host: '127.0.0.1', port: 0, acceptConnections: true, loss: null });
    cleanups.push(() => server.close());
    server.onConnection((connection) => connection.setMessageHandler(() => {}));
    const loss = createLossModel({});
    // Idle timeout 4 s: if the 300 ms given here were ignored for the 5 s default, the idle timeout would close it first.
    const transport = { deadPeerTimeoutMs: 300, idleTimeoutMs: 4_000, keepaliveMs: 0 };
    const dialer = createDialer({ loss, transport, bootstrap: [{ host: '127.0.0.1', port: server.address.port }] });
    cleanups.push(() => dialer.close());
    const connection = await dialer.dial({ host: '127.0.0.1', port: server.address.port }, { signal: new AbortController().signal, timeoutMs: 5_000 });
    const closed = new Promise<SkeinError | undefined>((resolve) => connection.onClose(resolve));
    loss.blackhole(`127.0.0.1:${server.address.port}`);
    void connection.send(Uint8Array.of(2)).catch(() => {});
    const reason = await closed;
    expect(reason?.code).toBe('PEER_DEAD');
    expect(reason?.message).toMatch(/while waiting for an answer/);
  }, 10_000);
});
