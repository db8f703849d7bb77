import { describe, expect, it } from 'vitest';
import { Prng } from '../../transport/core/prng.js';
import { defineTopic, serdes, Skein } from '../../sdk/index.js';
import { closeAfterTest } from '../support/close-after-test.js';
import { Ledger } from '../support/ledger.js';
import { InProcessCluster } from './support/cluster.js';

/**
 * Whole brokers and a client under a seeded schedule of faults: brokers
 * stopped abruptly (no handover) and restarted at random moments while an
 * idempotent producer writes, every process on a lossy link. Timing is real,
 * so a run is not bit-for-bit replayable like test/sim, but every choice
 * comes from the seed, which a failure prints.
 *
 * Checks the user-facing promises: every acknowledged record is read back
 * exactly once, in the order it was produced per partition.
 */
const seeds = (process.env.SKEIN_CHAOS_SEEDS ?? '1,2').split(',').map(Number);
const topic = defineTopic<number, string>('chaos', { value: serdes.cbor<number>(), key: serdes.string() });

describe('chaos: abrupt broker stops and restarts under load on lossy links', () => {
  for (const seed of seeds) {
    it(`seed ${seed}: nothing acknowledged is lost or duplicated`, async () => {
      const prng = new Prng(seed);
      const loss = `loss=${(prng.int(0, 5) / 100).toFixed(2)},dup=0.01,reorder=0.02,seed=${seed}`;
      const cluster = closeAfterTest(new InProcessCluster(3, { loss }));
      await cluster.start();
      const client = closeAfterTest(new Skein({ brokers: cluster.bootstrap, clientId: `chaos-${seed}`, loss, requestTimeoutMs: 1_000, deliveryTimeoutMs: 60_000 }));
      await client.admin().createTopic({ name: 'chaos', partitions: 3, replicationFactor: 3 });
      const producer = client.producer({ acks: 'all', lingerMs: prng.int(0, 5), inFlightMax: prng.int(1, 5) });
      const ledger = new Ledger(topic);
      let writing = true;
      const writer = ledger.writeWhile(producer, { prng, keepWriting: () => writing, keys: 3, pauseMs: [0, 3] });
      try {
        // Four faults: one broker down at a time, so a majority is always there to make progress.
        for (let fault = 0; fault < 4; fault++) {
          await new Promise((r) => setTimeout(r, prng.int(200, 800)));
          const victim = prng.int(1, 3);
          await cluster.stopBroker(victim, { graceful: prng.chance(0.3) });
          await new Promise((r) => setTimeout(r, prng.int(100, 1000)));
          await cluster.startBroker(victim);
        }
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        writing = false;
        await writer;
      }
      await producer.flush();
      expect(ledger.failures, `seed ${seed}`).toEqual([]);
      await ledger.expectReadBack(client, `seed ${seed}: `);
    }, 180_000);
  }
});
