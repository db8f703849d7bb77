import { closeSync, fdatasync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import hdr from 'hdr-histogram-js';
import { Prng } from '../../transport/core/prng.js';
import { NO_PRODUCER, encodeRecordBatch, stampBatch } from '../../transport/protocol/record-batch.js';
import { Progress } from '../../broker/cli/progress.js';
import { PartitionLog } from '../../broker/log/index.js';
import type { FlushPolicy } from '../../broker/log/index.js';
import { readWhole } from './support/read-log.js';

/**
 * bench:log — the partition log against plain fs writes of the same bytes
 * under the same flush policy, measured in the same run:
 *   npm run bench:log -- [--mb 64] [--runs 3] [--policy all|every-append|records|none] [--seeks 20000]
 * Run it under `flock /tmp/skein-heavy.lock` on a shared machine.
 *
 * Appends 100-byte records in 16 KiB, 64 KiB, 256 KiB and 1 MiB batches,
 * encoded and stamped beforehand (the producer's and the leader's work, not
 * the log's). The log and the raw file are written side by side in
 * alternating chunks, so both see the same background load and disk state;
 * each side's time is summed over its own chunks. Flush policies, identical
 * on both sides:
 *   every-append  fsync after every batch and wait for it (a Raft replica before it acks)
 *   records       fsync after every 10,000 records (~1 MiB) and wait (group commit)
 *   none          page cache only, one fsync at the end
 * Two log configurations: the broker's (verifyOnAppend off: the broker
 * checks each batch's CRC on receipt, before Raft, so the log does not redo
 * it) and the log's safe default (verifyOnAppend on: every byte checksummed
 * again inside append). The headline is the broker's, under `records`.
 *
 * Then reads of a 16 KiB-batch log: sequential 1 MiB reads (bodies verified,
 * the default, and headers only), and seeks to random offsets reading the one
 * batch holding each: on default segments, and on 4 MiB segments (twice
 * openSegmentsMax of them) so the index LRU misses about half the time.
 * Medians of --runs runs; ends with one JSON line.
 */

const { values: args } = parseArgs({
  options: {
    mb: { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    policy: { type: 'string', default: 'all' },
    seeks: { type: 'string', default: '20000' },
  },
});
const volumeBytes = Number(args.mb) * 1024 * 1024;
const runs = Number(args.runs);
const seekCount = Number(args.seeks);
const batchSizes = [16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024];
const RECORD_BYTES = 100;
const RECORDS_PER_FLUSH = 10_000;
const NONE_CHUNK_BYTES = 4 * 1024 * 1024;
type Policy = 'every-append' | 'records' | 'none';
const policies: Policy[] = args.policy === 'all' ? ['records', 'every-append', 'none'] : [args.policy as Policy];
const headlinePolicy: Policy = policies.includes('records') ? 'records' : policies[0]!;

let trials = 0;
// On a terminal, one redrawn line with the trials done and the time left; elsewhere only the result lines below.
const bar = Progress.start({ label: 'bench:log', total: batchSizes.length * policies.length * 2 * runs, unit: 'trials', sample: () => ({ done: trials }), plain: 'quiet' });
const progress = (line: string): void => bar.log(line);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mbps = (bytes: number, ms: number): number => bytes / 1024 / 1024 / (ms / 1000);

/** Stamped batches totalling about `volumeBytes`, each about `batchBytes`, continuing from entry 1 / offset 0. */
function makeBatches(batchBytes: number): { batches: Buffer[]; recordsPerBatch: number } {
  const prng = new Prng(batchBytes);
  const recordsPerBatch = Math.max(1, Math.floor((batchBytes - 76) / (RECORD_BYTES + 8)));
  const value = Buffer.alloc(RECORD_BYTES);
  for (let i = 0; i < RECORD_BYTES; i++) value[i] = prng.nextUint32() & 0xff;
  const template = encodeRecordBatch({
    ...NO_PRODUCER,
    records: Array.from({ length: recordsPerBatch }, (_, r) => ({ value, timestamp: 1_700_000_000_000 + r })),
  });
  const count = Math.max(1, Math.round(volumeBytes / template.length));
  const batches: Buffer[] = [];
  for (let i = 0; i < count; i++) batches.push(stampBatch(template, { baseOffset: i * recordsPerBatch, entryIndex: i + 1, term: 1 }, { copy: true }));
  return { batches, recordsPerBatch };
}

/** Batches per chunk: one fsync (and one turn of the alternation) per chunk. */
function chunkBatches(policy: Policy, batchBytes: number, recordsPerBatch: number): number {
  if (policy === 'every-append') return 1;
  if (policy === 'records') return Math.max(1, Math.ceil(RECORDS_PER_FLUSH / recordsPerBatch));
  return Math.max(1, Math.floor(NONE_CHUNK_BYTES / batchBytes));
}

const logPolicy = (policy: Policy): FlushPolicy => (policy === 'records' ? { everyRecords: RECORDS_PER_FLUSH } : 'manual');

interface Side {
  run(batches: Buffer[], sync: boolean): Promise<void>;
  close(): Promise<void>;
}

async function logSide(dir: string, policy: Policy, verifyOnAppend: boolean): Promise<Side> {
  const log = await PartitionLog.open({ dir, flush: logPolicy(policy), verifyOnAppend });
  return {
    async run(batches, sync) {
      for (const batch of batches) log.append([batch]);
      if (sync) await log.flush();
    },
    close: () => log.close(),
  };
}

function rawSide(dir: string): Side {
  const fd = openSync(join(dir, 'raw.bin'), 'w');
  let position = 0;
  return {
    async run(batches, sync) {
      for (const batch of batches) {
        writeSync(fd, batch, 0, batch.length, position);
        position += batch.length;
      }
      if (sync) await new Promise<void>((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));
    },
    close: async () => closeSync(fd),
  };
}

/** One trial: log and raw written chunk by chunk in alternation; returns each side's total milliseconds. */
async function trial(root: string, policy: Policy, verifyOnAppend: boolean, batches: Buffer[], chunk: number): Promise<{ logMs: number; rawMs: number }> {
  const logDir = mkdtempSync(join(root, 'log-'));
  const rawDir = mkdtempSync(join(root, 'raw-'));
  const log = await logSide(logDir, policy, verifyOnAppend);
  const raw = rawSide(rawDir);
  let logMs = 0;
  let rawMs = 0;
  let turn = 0;
  for (let i = 0; i < batches.length; i += chunk) {
    const slice = batches.slice(i, i + chunk);
    const sync = policy !== 'none' || i + chunk >= batches.length;
    for (const side of turn++ % 2 === 0 ? [log, raw] : [raw, log]) {
      const start = performance.now();
      await side.run(slice, sync);
      const ms = performance.now() - start;
      if (side === log) logMs += ms;
      else rawMs += ms;
    }
  }
  await log.close();
  await raw.close();
  rmSync(logDir, { recursive: true, force: true });
  rmSync(rawDir, { recursive: true, force: true });
  return { logMs, rawMs };
}

interface Case {
  appendMBps: number;
  rawMBps: number;
  ratio: number;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'skein-bench-log-'));
  const cases: Record<string, Case> = {};
  const headline = { broker: { logMs: 0, rawMs: 0 }, verified: { logMs: 0, rawMs: 0 }, bytes: 0 };
  try {
    progress(`bench:log  ${args.mb} MiB per trial, median of ${runs}, 100-byte records; log vs raw fs writes, same flush policy`);
    progress('  case                          verifyOnAppend=off (broker)     verifyOnAppend=on (default)');
    for (const batchBytes of batchSizes) {
      const { batches, recordsPerBatch } = makeBatches(batchBytes);
      const bytes = batches.reduce((n, b) => n + b.length, 0);
      for (const policy of policies) {
        const chunk = chunkBatches(policy, batchBytes, recordsPerBatch);
        const line: string[] = [];
        for (const verifyOnAppend of [false, true]) {
          const logMs: number[] = [];
          const rawMs: number[] = [];
          for (let run = 0; run < runs; run++) {
            const result = await trial(root, policy, verifyOnAppend, batches, chunk);
            trials++;
            logMs.push(result.logMs);
            rawMs.push(result.rawMs);
          }
          const key = `${policy}/${batchBytes / 1024}KiB${verifyOnAppend ? '/verified' : ''}`;
          const appendMBps = mbps(bytes, median(logMs));
          const rawMBps = mbps(bytes, median(rawMs));
          cases[key] = { appendMBps: round(appendMBps), rawMBps: round(rawMBps), ratio: round(appendMBps / rawMBps, 3) };
          line.push(`log ${appendMBps.toFixed(0).padStart(5)} raw ${rawMBps.toFixed(0).padStart(5)} = ${(appendMBps / rawMBps).toFixed(2)}`);
          if (policy === headlinePolicy) {
            const into = verifyOnAppend ? headline.verified : headline.broker;
            into.logMs += median(logMs);
            into.rawMs += median(rawMs);
          }
        }
        if (policy === headlinePolicy) headline.bytes += bytes;
        progress(`  ${`${policy}/${batchBytes / 1024}KiB`.padEnd(22)} MB/s  ${line.join('     ')}`);
      }
    }

    progress('  reads: 16 KiB batches, tail cache off (every read from the file)');
    bar.phase('reads and seeks');
    const { batches } = makeBatches(16 * 1024);
    const readMBps: number[] = [];
    const readHeadersOnlyMBps: number[] = [];
    const seeks: Record<string, { p50: number; p99: number }> = {};
    // Default segments (one segment here: every seek is index search + one read), then 4 MiB segments
    // (16 of them, twice openSegmentsMax: about half the seeks load a segment's index first).
    for (const [name, segmentBytes] of [['default', undefined], ['lru', 4 * 1024 * 1024]] as const) {
      const dir = mkdtempSync(join(root, 'read-'));
      const writer = await PartitionLog.open({ dir, flush: 'manual', ...(segmentBytes === undefined ? {} : { segmentBytes }) });
      for (const batch of batches) writer.append([batch]);
      await writer.close();
      for (const verifyOnRead of name === 'default' ? [true, false] : [true]) {
        const log = await PartitionLog.open({ dir, flush: 'manual', tailCacheBytes: 0, verifyOnRead, ...(segmentBytes === undefined ? {} : { segmentBytes }) });
        if (name === 'default') {
          for (let run = 0; run < runs; run++) {
            const { bytes, ms } = readWhole(log);
            (verifyOnRead ? readMBps : readHeadersOnlyMBps).push(mbps(bytes, ms));
          }
        }
        if (verifyOnRead) seeks[name] = seekLatency(log);
        await log.close();
      }
      rmSync(dir, { recursive: true, force: true });
    }
    progress(`  sequential read ${median(readMBps).toFixed(0)} MB/s (bodies verified, the default), ${median(readHeadersOnlyMBps).toFixed(0)} MB/s (headers only)`);
    progress(`  seek by offset p50 ${seeks.default!.p50} us, p99 ${seeks.default!.p99} us (${seekCount} random offsets, one 16 KiB batch each, bodies verified)`);
    progress(`  same on 4 MiB segments (index LRU misses): p50 ${seeks.lru!.p50} us, p99 ${seeks.lru!.p99} us`);

    bar.stop();
    const appendMBps = mbps(headline.bytes, headline.broker.logMs);
    const rawMBps = mbps(headline.bytes, headline.broker.rawMs);
    const verifiedMBps = mbps(headline.bytes, headline.verified.logMs);
    const verifiedRawMBps = mbps(headline.bytes, headline.verified.rawMs);
    progress(
      `  headline (${headlinePolicy}, all batch sizes): log ${appendMBps.toFixed(0)} MB/s vs raw ${rawMBps.toFixed(0)} MB/s, ratio ${(appendMBps / rawMBps).toFixed(2)} (target >= 0.8); ` +
        `with verifyOnAppend ${(verifiedMBps / verifiedRawMBps).toFixed(2)}`,
    );
    console.log(
      JSON.stringify({
        bench: 'log',
        policy: headlinePolicy,
        appendMBps: round(appendMBps),
        rawMBps: round(rawMBps),
        ratio: round(appendMBps / rawMBps, 3),
        ratioVerifyOnAppend: round(verifiedMBps / verifiedRawMBps, 3),
        readMBps: round(median(readMBps)),
        readHeadersOnlyMBps: round(median(readHeadersOnlyMBps)),
        seekP50Us: seeks.default!.p50,
        seekP99Us: seeks.default!.p99,
        seekLruP50Us: seeks.lru!.p50,
        seekLruP99Us: seeks.lru!.p99,
        runs,
        mbPerTrial: Number(args.mb),
        cases,
      }),
    );
  } finally {
    bar.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

/** Latency of reading the one batch that holds a random offset, in microseconds. */
function seekLatency(log: PartitionLog): { p50: number; p99: number } {
  const prng = new Prng(7);
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  const end = log.endOffset;
  for (let i = 0; i < seekCount; i++) {
    const offset = Math.floor(prng.next() * end);
    const start = process.hrtime.bigint();
    const result = log.read({ offset, maxBytes: 1 });
    histogram.recordValue(Number(process.hrtime.bigint() - start) / 1000);
    if (result.batches.length !== 1) throw new Error(`seek to ${offset} returned ${result.batches.length} batches`);
  }
  return { p50: histogram.getValueAtPercentile(50), p99: histogram.getValueAtPercentile(99) };
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

await main();
