import { describe, expect, it } from 'vitest';
import { runDemo } from '../../../broker/cli/demo.js';
import { defineTopic } from '../../../sdk/index.js';
import { clusterForTest } from '../support/cluster.js';

/** Resolves once `condition` holds, checking every 20 ms; a safety net bounds it. */
async function until(condition: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('skein dev --demo', () => {
  it("counts only its own run's records: one of an earlier run, ten minutes old, or someone else's never reaches its figures", async () => {
    const { cluster, client } = await clusterForTest(3);
    const written: string[] = [];
    const stream = { isTTY: false, write: (text: string) => written.push(text) > 0 };
    const lines = (): string[] => written.join('').split('\n').filter((line) => line.startsWith('demo '));
    const stop = new AbortController();
    const demo = runDemo({ brokers: cluster.bootstrap, replicationFactor: 3, signal: stop.signal, stream });
    try {
      await until(() => lines().some((line) => / total [1-9]/.test(line)), 'the demo consuming its own records');
      const tenMinutesAgo = Date.now() - 600_000;
      const producer = client.producer({ lingerMs: 0 });
      await producer.send({ topic: defineTopic<unknown>('demo'), messages: [{ value: { run: 'earlier', n: 0, at: tenMinutesAgo } }, { value: { n: 0, at: tenMinutesAgo } }, { value: 'hello' }] });
      const seen = lines().length;
      await until(() => lines().length >= seen + 2, 'two more lines of figures');
    } finally {
      stop.abort();
      await demo;
    }
    for (const line of lines()) expect(line).toMatch(/^demo +produced \d+\/s consumed \d+\/s e2e p50 (-|\d+ ms) p99 (-|\d+ ms) total \d+$/);
    const summary = written.join('').match(/^demo: produced (\d+), consumed (\d+) in [\d.]+ s, e2e max (\d+) ms$/m);
    expect(summary, written.join('')).not.toBeNull();
    const [, produced, consumed, maxMs] = summary!.map(Number);
    // On stop its sends in flight finish and their records arrive: it consumed what it wrote, nothing else.
    expect(consumed).toBeGreaterThan(0);
    expect(consumed).toBe(produced);
    // Ten minutes is longer than this test can run: a latency that long is a record the demo did not write.
    expect(maxMs).toBeLessThan(600_000);
  }, 60_000);
});
