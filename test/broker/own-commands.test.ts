import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Broker } from '../../broker/broker.js';
import { brokerConfig } from '../../broker/config.js';
import { freePorts, testPeerSecret } from './support/cluster.js';

/** The broker's own metadata commands (registering itself, reporting leaderships) retry through transport/retry.ts. */
describe("a broker's own commands", () => {
  it('count each failed attempt, and stop retrying when the broker stops', async () => {
    // One broker of three, the other two never started: its first registration finds no controller. (A retry
    // then finds it in the metadata its peers list seeded, and is done.)
    const dir = mkdtempSync(join(tmpdir(), 'skein-own-commands-'));
    const ports = await freePorts(3);
    const peers = ports.map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(',');
    const broker = await Broker.start(brokerConfig({ id: 1, listen: `127.0.0.1:${ports[0]}`, data: dir, peers, tickMs: 20, electionTicks: 10, peerSecret: testPeerSecret }));
    try {
      await vi.waitFor(() => expect(broker.counters.controllerCommandFailures).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 10 });
      expect(broker.counters.controllerCommandsAbandoned).toBe(0);
    } finally {
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    const failures = broker.counters.controllerCommandFailures;
    await new Promise((resolve) => setTimeout(resolve, 3 * 200));
    expect(broker.counters.controllerCommandFailures).toBe(failures);
    // A command cut short by the broker's stop is not one it gave up.
    expect(broker.counters.controllerCommandsAbandoned).toBe(0);
  });
});
