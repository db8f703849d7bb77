import { build, type Plugin } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { encodeRecordBatch, NO_PRODUCER } from '../../transport/protocol/record-batch.js';
import { projectRoot } from '../support/root.js';
import { alternatingProduce, median } from './support/alternating-produce.js';

/**
 * What checking a batch's record framing costs the produce path, as shipped
 * against a build with the check taken out, in alternating rounds of one
 * run; medians of records/s, and their ratio (checked / unchecked).
 *
 * - produce(): one single-replica partition in this process (real log, fsync
 *   on every persist as the default topic config has it) takes the same
 *   batches, for three record shapes: the check's cost against the
 *   cheapest produce path there is (no network, no followers).
 * - --cluster: two 3-broker clusters of real processes (one per build), and
 *   `skein bench produce` (replication 3, acks 'all', 100 B records) against
 *   each in turn: the cost a client sees.
 *
 *   npm run bench:produce-validation -- [--batches 3000] [--rounds 7] [--cluster] [--messages 200000]
 */

type Module = typeof import('./support/produce-partition.js');

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

const root = projectRoot();
const batchesPerRound = flag('batches', 3000);
const rounds = flag('rounds', 7);
const inFlight = 32;

const unchecked: Plugin = {
  name: 'unchecked',
  setup(b) {
    b.onResolve({ filter: /record-batch\.js$/ }, (args) =>
      args.importer.endsWith(join('partition', 'partition.ts')) ? { path: resolve(root, 'test/bench/support/record-batch-unchecked.ts') } : undefined,
    );
  },
};

async function bundle(entry: string, name: string, plugins: Plugin[]): Promise<string> {
  const outfile = join(root, '.test-build', `produce-validation-${name}-${process.pid}.mjs`);
  await build({ entryPoints: [resolve(root, entry)], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'error', plugins });
  return outfile;
}

async function partitionModule(name: string, plugins: Plugin[]): Promise<Module> {
  return (await import(pathToFileURL(await bundle('test/bench/support/produce-partition.ts', name, plugins)).href)) as Module;
}

async function open(m: Module, dir: string) {
  return m.Partition.open({
    topic: 'bench', topicId: 1, partition: 0, brokerId: 1, dir, voters: [1], preferredLeader: 1,
    config: { retentionMs: null, retentionBytes: null, segmentBytes: 256 * 1024 * 1024, flush: { mode: 'always' } },
    mux: new m.RaftMux(() => {}), prng: new m.Prng(1), timing: { tickMs: 10, electionTicks: 10, heartbeatTicks: 2 },
  });
}

async function round(partition: Awaited<ReturnType<typeof open>>, batches: Buffer[]): Promise<number> {
  const start = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < batches.length) await partition.produce(Buffer.from(batches[next++]!), { acks: 'all', timeoutMs: 30_000 });
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return performance.now() - start;
}

const shapes = [
  { name: '100 records x 100 B', records: 100, bytes: 100 },
  { name: '1000 records x 16 B', records: 1000, bytes: 16 },
  { name: '50 records x 4 KiB', records: 50, bytes: 4096 },
];

async function partitionBench(): Promise<void> {
  const checked = await partitionModule('checked', []);
  const baseline = await partitionModule('unchecked', [unchecked]);
  console.log(`produce() of one single-replica partition, ${batchesPerRound} batches a round, ${inFlight} in flight, ${rounds} rounds each, alternating`);
  for (const shape of shapes) {
    const value = new Uint8Array(shape.bytes).fill(120);
    const batches = Array.from({ length: batchesPerRound }, () =>
      encodeRecordBatch({ ...NO_PRODUCER, records: Array.from({ length: shape.records }, () => ({ key: null, value, headers: [{ key: 'h', value: new Uint8Array(4) }], timestamp: 1_700_000_000_000 })) }),
    );
    const dir = mkdtempSync(join(tmpdir(), 'skein-produce-bench-'));
    const withCheck = await open(checked, join(dir, 'checked'));
    const without = await open(baseline, join(dir, 'unchecked'));
    for (const p of [withCheck, without]) while (!p.isLeader()) await new Promise((r) => setTimeout(r, 10));
    const times = { checked: [] as number[], unchecked: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      times.unchecked.push(await round(without, batches));
      times.checked.push(await round(withCheck, batches));
    }
    await withCheck.close();
    await without.close();
    rmSync(dir, { recursive: true, force: true });
    const rate = (ms: number): number => (batchesPerRound * shape.records) / (ms / 1000);
    report(shape.name, rate(median(times.unchecked)), rate(median(times.checked)));
  }
}

function report(name: string, without: number, withCheck: number): void {
  console.log(`${name.padEnd(28)} without check ${Math.round(without).toLocaleString('en')} records/s, with check ${Math.round(withCheck).toLocaleString('en')} records/s, ratio ${(withCheck / without).toFixed(3)}x`);
}

async function clusterBench(): Promise<void> {
  const messages = flag('messages', 200_000);
  const clis = { unchecked: await bundle('broker/cli/main.ts', 'cli-unchecked', [unchecked]), checked: await bundle('broker/cli/main.ts', 'cli-checked', []) };
  const rates = await alternatingProduce(clis, { rounds, messages });
  report('cluster, 100 B records', median(rates.unchecked), median(rates.checked));
}

if (process.argv.includes('--cluster')) await clusterBench();
else await partitionBench();
