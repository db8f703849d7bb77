import { runSimulation, type SimResult } from './run.js';

/**
 * The simulator's command line.
 *   SEED=n npm run sim                      one run, full readable trace
 *   npm run sim -- --seeds N --from S       sweep seeds S..S+N-1, progress on stderr,
 *                                           one JSON summary line on stdout, exit 1 on any violation
 */

function argValue(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

function parseCount(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`${what} must be a non-negative integer, got ${text}`);
    process.exit(2);
  }
  return n;
}

async function single(seed: number): Promise<void> {
  const result = await runSimulation(seed, { traceSink: (line) => console.log(line) });
  console.log(JSON.stringify({ seed, violation: result.violation, ...result.stats }));
  process.exitCode = result.violation === null ? 0 : 1;
}

async function sweep(from: number, count: number): Promise<void> {
  const started = performance.now();
  let failures = 0;
  let firstFailingSeed: number | null = null;
  const totals = { proposalsCommitted: 0, crashes: 0, partitions: 0, membershipChanges: 0, transfers: 0, readsChecked: 0, snapshotsInstalled: 0, elections: 0, events: 0 };
  let lastReport = started;
  for (let seed = from; seed < from + count; seed++) {
    let result: SimResult;
    try {
      result = await runSimulation(seed);
    } catch (error) {
      failures++;
      firstFailingSeed ??= seed;
      console.error(`seed ${seed}: CRASHED ${error instanceof Error ? error.stack : String(error)}`);
      continue;
    }
    for (const key of Object.keys(totals) as Array<keyof typeof totals>) totals[key] += result.stats[key];
    if (result.violation !== null) {
      failures++;
      firstFailingSeed ??= seed;
      console.error(`seed ${seed}: VIOLATION ${result.violation}`);
      console.error(result.trace.slice(-40).join('\n'));
      console.error(`reproduce: SEED=${seed} npm run sim`);
    }
    const now = performance.now();
    if (now - lastReport > 2000 || seed === from + count - 1) {
      lastReport = now;
      console.error(`${seed - from + 1}/${count} seeds, ${failures} failing, ${((now - started) / 1000).toFixed(1)} s`);
    }
  }
  console.log(JSON.stringify({ seeds: count, from, failures, firstFailingSeed, ...totals, wallSeconds: Number(((performance.now() - started) / 1000).toFixed(1)) }));
  process.exitCode = failures === 0 ? 0 : 1;
}

const seedEnv = process.env.SEED;
if (seedEnv !== undefined && argValue('--seeds') === undefined) {
  await single(parseCount(seedEnv, 0, 'SEED'));
} else {
  const count = parseCount(argValue('--seeds'), 100, '--seeds');
  const from = parseCount(argValue('--from') ?? seedEnv, 1, '--from');
  await sweep(from, count);
}
