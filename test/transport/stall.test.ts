import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '../../transport/connection.js';
import { Endpoint } from '../../transport/endpoint.js';
import type { SkeinError } from '../../transport/errors.js';
import { bundleForChild } from '../support/bundle.js';

/**
 * Issue 11, item 2: after a long synchronous turn Node runs its timers before
 * it reads the socket, so a dead-peer check judged by wall time fired while
 * the peer's datagrams sat unread in the socket buffer, and a server whose
 * handler blocked longer than the timeout closed a healthy client. The peer
 * here is another process, so it really does keep sending while this one is
 * blocked.
 */
let childPath: string;
let child: ChildProcess | null = null;

beforeAll(async () => {
  childPath = await bundleForChild('test/transport/stall.child.ts', 'stall-child');
});

afterEach(() => {
  child?.kill('SIGKILL');
  child = null;
});

function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // A handler that computes instead of yielding.
  }
}

async function serverWithChild(deadPeerTimeoutMs: number): Promise<{ server: Endpoint; connection: Connection; childLines: string[] }> {
  const server = await Endpoint.open({ host: '127.0.0.1', acceptConnections: true, loss: null, deadPeerTimeoutMs });
  const accepted = new Promise<Connection>((resolve) => server.onConnection(resolve));
  child = spawn(process.execPath, [childPath, String(server.address.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const childLines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => childLines.push(line));
  const connection = await accepted;
  return { server, connection, childLines };
}

describe('a blocked event loop', () => {
  it('does not make the server declare a peer dead whose datagrams arrived while it was blocked', async () => {
    const { server, connection, childLines } = await serverWithChild(500);
    const closes: (SkeinError | undefined)[] = [];
    connection.onClose((error) => closes.push(error));
    let received = 0;
    let blocked = false;
    connection.setMessageHandler((message) => {
      received++;
      // Every message is answered, so the server always has something waiting for the peer's acknowledgement.
      void connection.send(message).catch(() => {});
      if (received === 10 && !blocked) {
        blocked = true;
        // Right after the answer left (the endpoint sends on its turn, queued before this one): it waits for its ACK.
        setImmediate(() => blockFor(1_500));
      }
    });
    try {
      while (received < 40 && closes.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(blocked).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(closes.map((e) => e?.code)).toEqual([]);
      expect(connection.isOpen).toBe(true);
      expect(childLines.filter((line) => line.startsWith('closed'))).toEqual([]);
    } finally {
      await server.close();
    }
  }, 30_000);

  it('still declares a peer dead that really went silent, once the loop listens again', async () => {
    const { server, connection } = await serverWithChild(500);
    const closes: (SkeinError | undefined)[] = [];
    connection.onClose((error) => closes.push(error));
    connection.setMessageHandler(() => {});
    // The server talks too, so something always waits for the peer's answer.
    const talk = setInterval(() => void connection.send(new Uint8Array(64)).catch(() => {}), 50);
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      child!.kill('SIGKILL');
      // A stall while the peer is already gone: silence before and after it still adds up to a verdict.
      setTimeout(() => blockFor(800), 100);
      const startedMs = performance.now();
      while (closes.length === 0 && performance.now() - startedMs < 10_000) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(closes.map((e) => e?.code)).toEqual(['PEER_DEAD']);
      expect(server.stats().stalls).toBeGreaterThanOrEqual(1);
    } finally {
      clearInterval(talk);
      await server.close();
    }
  }, 30_000);
});
