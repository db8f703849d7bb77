import { describe, expect, it } from 'vitest';
import { runSimulation } from './run.js';

/**
 * The fixed seed set CI runs: each seed is a whole simulated cluster run
 * (fault phase, then healing and convergence) with every checker on. Sized
 * to about a minute on a 2-core machine. A failure names the seed; reproduce
 * it with `SEED=<n> npm run sim`, sweep more with `npm run sim -- --seeds N --from S`.
 */

const firstSeed = 1;
const seedCount = Number(process.env.SIM_SEEDS ?? 720);
const chunk = 40;

describe('deterministic simulation', () => {
  for (let from = firstSeed; from < firstSeed + seedCount; from += chunk) {
    const to = Math.min(from + chunk, firstSeed + seedCount) - 1;
    it(`seeds ${from}..${to} keep every safety property and converge after healing`, { timeout: 600_000 }, async () => {
      const failures: string[] = [];
      for (let seed = from; seed <= to; seed++) {
        const result = await runSimulation(seed, { traceLinesKept: 30 });
        if (result.violation !== null) failures.push(`seed ${seed}: ${result.violation}\n  reproduce: SEED=${seed} npm run sim\n  ${result.trace.slice(-10).join('\n  ')}`);
      }
      expect(failures).toEqual([]);
    });
  }

  it('replays a seed exactly', async () => {
    const a = await runSimulation(4242, { traceLinesKept: 100_000 });
    const b = await runSimulation(4242, { traceLinesKept: 100_000 });
    expect(b.stats).toEqual(a.stats);
    expect(b.trace).toEqual(a.trace);
    expect(a.stats.proposalsCommitted).toBeGreaterThan(0);
  });
});
