import { describe, expect, it, vi } from 'vitest';
import './cluster/hooks.js';
import { runGroupScenario } from './cluster/group-scenario.js';
import { seedList } from './cluster/seeds.js';

// The simulated world's I/O, as in cluster.test.ts (see cluster/world-mocks.ts).
vi.mock('node:dgram', async () => (await import('./cluster/world-mocks.js')).simulated('dgram'));
vi.mock('node:crypto', async (importOriginal) => (await import('./cluster/world-mocks.js')).simulated('crypto', await importOriginal()));
vi.mock('node:fs', async (importOriginal) => (await import('./cluster/world-mocks.js')).simulated('fs', await importOriginal()));
vi.mock('node:fs/promises', async (importOriginal) => (await import('./cluster/world-mocks.js')).simulated('fsPromises', await importOriginal()));

/**
 * A consumer group on the simulated cluster (see cluster/group-scenario.ts):
 * members crash, restart, leave, stall and are cut off while brokers are
 * killed, paused and partitioned. A sweep: SKEIN_GROUP_SIM_SEEDS=1-20 npm run sim:groups
 */
const seeds = seedList(process.env.SKEIN_GROUP_SIM_SEEDS ?? '2-3', 'SKEIN_GROUP_SIM_SEEDS');

describe('simulated cluster: a consumer group through member and broker faults', () => {
  for (const seed of seeds) {
    it(`seed ${seed}: one owner per partition at a time, nothing skipped, commits never lost or moved back`, async () => {
      const outcome = await runGroupScenario(seed);
      console.log(
        `seed ${seed}: ${outcome.acknowledged} records, ${outcome.processed} processed (${outcome.duplicates} again: ${JSON.stringify(outcome.duplicatesAfter)}) in ${outcome.stints} stints, ${outcome.commits} commits acknowledged, ${(outcome.simulatedMs / 1000).toFixed(1)} s simulated\n  ${outcome.faults.join('\n  ')}`,
      );
      expect(outcome.acknowledged).toBeGreaterThan(0);
      expect(outcome.violations, `seed ${seed}: ${outcome.faults.join('; ')}`).toEqual([]);
    }, 300_000);
  }
});
