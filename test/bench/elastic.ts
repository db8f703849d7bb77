/**
 * npm run bench:elastic — moving a partition onto a broker that joined, with
 * real broker processes (broker default timing): three founding brokers, then
 * a fourth started with --join. Each run moves one partition holding --mb MiB
 * (one replica of three, replaced by broker 4) while a producer writes
 * another topic with acks 'all', and measures:
 *
 * - the move's time, from reassignPartitions to the move reported done;
 * - catch-up: the new replica's bytes on disk, sampled every few ms, from its
 *   first byte to the leader's size; its rate as a ratio of --move-rate (the
 *   throttle every broker is started with);
 * - the producer: acknowledged records/s and the p99 of a send's latency
 *   during the move, as a ratio of the same in the seconds just before it,
 *   in the same run.
 *
 * Prints the medians of --runs runs, and progress on stderr.
 *
 *   npm run bench:elastic -- [--runs 5] [--mb 64] [--move-rate 16MiB] [--baseline-ms 3000]
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { serdes, Skein, defineTopic } from '../../sdk/index.js';
import { BrokerProcesses } from '../integration/support/processes.js';
import { bundleForChild } from '../support/bundle.js';
import { median } from './support/alternating-produce.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    mb: { type: 'string', default: '64' },
    'move-rate': { type: 'string', default: '16MiB' },
    'baseline-ms': { type: 'string', default: '3000' },
  },
});
const runs = Number(values.runs);
const partitionBytes = Number(values.mb) * 1024 * 1024;
const moveRate = values['move-rate'];
const baselineMs = Number(values['baseline-ms']);
const moveRateBytesPerSecond = parseRate(moveRate);
const load = defineTopic('bench-load', { value: serdes.bytes() });
const loadPartitions = 3;
const recordBytes = 1024;

function progress(line: string): void {
  process.stderr.write(`[bench:elastic] ${line}\n`);
}

function parseRate(text: string): number {
  const match = /^(\d+)(KiB|MiB|GiB)?$/.exec(text);
  if (match === null) throw new Error(`--move-rate ${text}: a number of bytes per second, with KiB, MiB or GiB`);
  return Number(match[1]) * { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, '': 1 }[match[2] ?? '']!;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function p99(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? NaN;
}

/** Bytes of every file under `dir` (a replica's log and Raft state). */
function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? bytesUnder(path) : statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  }
  return total;
}

/** The size of broker `id`'s replica of `topic` on disk, or null while it has none. */
function replicaBytes(cluster: BrokerProcesses, id: number, topic: string): number | null {
  const root = join(cluster.dir, `broker-${id}`, 'partitions');
  try {
    const dir = readdirSync(root).find((name) => name.startsWith(`${topic}-`) && /^\d+-0$/.test(name.slice(topic.length + 1)));
    return dir === undefined ? null : bytesUnder(join(root, dir));
  } catch {
    return null;
  }
}

/** Fills partition 0 of `topic` with --mb MiB of 64 KiB records. */
async function fill(skein: Skein, topic: string): Promise<void> {
  const producer = skein.producer({ acks: 'all', lingerMs: 0 });
  const value = new Uint8Array(64 * 1024).fill(7);
  for (let written = 0; written < partitionBytes; written += 16 * value.length) {
    await producer.send({ topic, messages: Array.from({ length: 16 }, () => ({ value, partition: 0 })) });
  }
  await producer.close();
}

/** Writes 1 KiB records to every partition of the load topic until stopped: each acknowledgement's time and latency. */
function writeLoad(skein: Skein): { acks: Array<{ atMs: number; latencyMs: number; records: number }>; stop: () => Promise<void> } {
  const producer = skein.producer({ acks: 'all', lingerMs: 1 });
  const acks: Array<{ atMs: number; latencyMs: number; records: number }> = [];
  const value = new Uint8Array(recordBytes);
  let writing = true;
  const loops = Array.from({ length: 2 * loadPartitions }, async (_, i) => {
    while (writing) {
      const startMs = performance.now();
      await producer.send({ topic: load, messages: Array.from({ length: 8 }, () => ({ value, partition: i % loadPartitions })) });
      const atMs = performance.now();
      acks.push({ atMs, latencyMs: atMs - startMs, records: 8 });
    }
  });
  return {
    acks,
    stop: async () => {
      writing = false;
      await Promise.all(loops);
      await producer.close();
    },
  };
}

interface Window {
  recordsPerSecond: number;
  p99Ms: number;
}

function window(acks: Array<{ atMs: number; latencyMs: number; records: number }>, fromMs: number, toMs: number): Window {
  const within = acks.filter((a) => a.atMs >= fromMs && a.atMs < toMs);
  const records = within.reduce((n, a) => n + a.records, 0);
  return { recordsPerSecond: records / ((toMs - fromMs) / 1000), p99Ms: p99(within.map((a) => a.latencyMs)) };
}

interface Run {
  moveMs: number;
  catchUpBytesPerSecond: number;
  before: Window;
  during: Window;
}

async function moveOnce(cluster: BrokerProcesses, skein: Skein, topic: string): Promise<Run> {
  const admin = skein.admin();
  const original = (await admin.describeTopic(topic)).partitions[0]!.replicas;
  const target = [original[0]!, original[1]!, 4];
  const source = replicaBytes(cluster, original[0]!, topic)!;
  const writer = writeLoad(skein);
  try {
    // Warm up, then the baseline: the same producer in the seconds just before the move.
    await sleep(1_000);
    const baselineFromMs = performance.now();
    await sleep(baselineMs);
    const startMs = performance.now();
    const [started] = await admin.reassignPartitions([{ topic, partition: 0, replicas: target }]);
    if (started?.moveId === undefined) throw new Error(`the move of ${topic} was refused: ${JSON.stringify(started)}`);
    let firstByteMs: number | null = null;
    let caughtUpMs: number | null = null;
    let doneMs: number | null = null;
    let lastPollMs = 0;
    while (doneMs === null) {
      const nowMs = performance.now();
      const bytes = replicaBytes(cluster, 4, topic);
      if (bytes !== null && bytes > 0 && firstByteMs === null) firstByteMs = nowMs;
      if (bytes !== null && bytes >= source * 0.99 && caughtUpMs === null) caughtUpMs = nowMs;
      if (nowMs - lastPollMs >= 100) {
        lastPollMs = nowMs;
        const listed = await admin.listReassignments({ topics: [topic] });
        if (listed.finished.some((f) => f.moveId === started.moveId && f.outcome === 'done')) doneMs = performance.now();
        const failed = listed.finished.find((f) => f.moveId === started.moveId && f.outcome !== 'done');
        if (failed !== undefined) throw new Error(`the move of ${topic} ended ${failed.outcome}: ${failed.cancelReason}`);
      }
      await sleep(5);
    }
    const before = window(writer.acks, baselineFromMs, startMs);
    const during = window(writer.acks, startMs, doneMs);
    const catchUpMs = (caughtUpMs ?? doneMs) - (firstByteMs ?? startMs);
    return { moveMs: doneMs - startMs, catchUpBytesPerSecond: source / (catchUpMs / 1000), before, during };
  } finally {
    await writer.stop();
  }
}

const cli = await bundleForChild('broker/cli/main.ts', 'cli-bench-elastic');
const cluster = new BrokerProcesses(cli, { size: 3, tickMs: 100, electionTicks: 5, args: ['--move-rate', moveRate] });
let skein: Skein | undefined;
try {
  await cluster.startAll();
  skein = new Skein({ brokers: cluster.bootstrap, clientId: 'bench-elastic' });
  const admin = skein.admin();
  // Everything is placed on the founding brokers before broker 4 joins: each run moves a replica onto it.
  await admin.createTopic({ name: load.name, partitions: loadPartitions, replicationFactor: 3 });
  const topics = Array.from({ length: runs }, (_, i) => `bench-move-${i + 1}`);
  for (const topic of topics) {
    await admin.createTopic({ name: topic, partitions: 1, replicationFactor: 3 });
    progress(`writing ${values.mb} MiB to ${topic}`);
    await fill(skein, topic);
  }
  await cluster.join(4, [1]);
  const joinedAt = performance.now();
  while ((await admin.describeCluster()).brokers.find((b) => b.id === 4)?.state !== 'active') await sleep(50);
  progress(`broker 4 joined, active after ${(performance.now() - joinedAt).toFixed(0)} ms`);

  const results: Run[] = [];
  for (const topic of topics) {
    const run = await moveOnce(cluster, skein, topic);
    results.push(run);
    progress(
      `${topic}: moved in ${(run.moveMs / 1000).toFixed(2)} s, catch-up ${(run.catchUpBytesPerSecond / 1024 ** 2).toFixed(1)} MiB/s; ` +
        `producer ${Math.round(run.before.recordsPerSecond)} -> ${Math.round(run.during.recordsPerSecond)} records/s, p99 ${run.before.p99Ms.toFixed(1)} -> ${run.during.p99Ms.toFixed(1)} ms`,
    );
  }

  const m = (pick: (r: Run) => number): number => median(results.map(pick));
  console.log(`moving a partition of ${values.mb} MiB onto a joined broker, --move-rate ${moveRate} (medians of ${runs} runs):`);
  console.log(`  move, reassign to done          ${(m((r) => r.moveMs) / 1000).toFixed(2)} s`);
  console.log(`  catch-up rate                   ${(m((r) => r.catchUpBytesPerSecond) / 1024 ** 2).toFixed(1)} MiB/s  ratio to --move-rate ${m((r) => r.catchUpBytesPerSecond / moveRateBytesPerSecond).toFixed(2)}`);
  console.log(`  producer (acks all, 1 KiB) before ${Math.round(m((r) => r.before.recordsPerSecond))} records/s, during ${Math.round(m((r) => r.during.recordsPerSecond))} records/s  ratio ${m((r) => r.during.recordsPerSecond / r.before.recordsPerSecond).toFixed(2)}`);
  console.log(`  producer p99 latency            before ${m((r) => r.before.p99Ms).toFixed(1)} ms, during ${m((r) => r.during.p99Ms).toFixed(1)} ms  ratio ${m((r) => r.during.p99Ms / r.before.p99Ms).toFixed(2)}`);
} finally {
  await skein?.close().catch(() => {});
  await cluster.close();
}
