import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { Endpoint } from '../../transport/endpoint.js';
import { bundleForChild } from '../support/bundle.js';
import { expectedMessage, MessageChecker } from './loopback-env.messages.js';

/**
 * The real UDP shell on loopback, with faults injected only through the
 * SKEIN_LOSS environment variable of a child process: the child's code never
 * mentions loss, yet its datagrams (both ways) are lost, duplicated, reordered
 * and delayed, and every message must still arrive exactly once, in order.
 */

let childPath: string;

beforeAll(async () => {
  childPath = await bundleForChild('test/transport/loopback-env.child.ts', 'loopback-env-child');
});

interface ChildResult {
  code: number | null;
  output: Record<string, unknown>;
  stderr: string;
}

function runChild(args: readonly string[], skeinLoss: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childPath, ...args], { env: { ...process.env, SKEIN_LOSS: skeinLoss }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      let output: Record<string, unknown> = {};
      try {
        output = JSON.parse(line) as Record<string, unknown>;
      } catch {
        output = { unparsed: stdout };
      }
      resolve({ code, output, stderr });
    });
  });
}

describe('real UDP loopback through SKEIN_LOSS', () => {
  it('delivers every message exactly once, in order, byte-identical, both ways', async () => {
    const count = 150;
    const seed = 11;
    // The parent is explicitly lossless, whatever the environment of the test runner says.
    const server = await Endpoint.open({ host: '127.0.0.1', acceptConnections: true, lossModel: null });
    const fromChild = new MessageChecker(seed, count);
    server.onConnection((connection) => {
      let replies = 0;
      connection.setMessageHandler((message) => {
        fromChild.check(message);
        connection.send(expectedMessage(seed + 1, replies++)).catch(() => undefined);
      });
    });
    try {
      const result = await runChild([String(server.address.port), String(count), String(seed)], 'loss=0.1,dup=0.05,reorder=0.1,reorder.delay=3ms,delay=1ms,jitter=1ms,seed=7');
      expect(result.code, result.stderr).toBe(0);
      expect(result.output).toMatchObject({ received: count, errors: [] });
      expect(fromChild.errors).toEqual([]);
      expect(fromChild.received).toBe(count);
      // The faults really happened, and were counted as injected, not as real losses.
      const loss = result.output.loss as Record<string, number>;
      expect(loss.dropped).toBeGreaterThan(0);
      expect(loss.duplicated).toBeGreaterThan(0);
      expect(loss.reordered).toBeGreaterThan(0);
      expect(loss.delayed).toBeGreaterThan(0);
      expect(result.output.injected as number).toBeGreaterThanOrEqual(loss.dropped);
      expect(result.output.bytesRetransmitted as number).toBeGreaterThan(0);
      expect(result.output.packetsDuplicate as number).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });

  it('refuses a bad SKEIN_LOSS at start, naming the variable and the key', async () => {
    const result = await runChild(['1', '1', '1'], 'loss=0.1,delay=5');
    expect(result.code).toBe(3);
    expect(result.output).toMatchObject({ openError: { code: 'INVALID_CONFIG' } });
    expect((result.output.openError as { message: string }).message).toMatch(/^SKEIN_LOSS: .*delay="5"/);
  });
});
