/**
 * npm run bench:elastic — an elastic cluster's figures, with real broker
 * processes (broker default timing): three founding brokers, then a fourth
 * started with --join.
 *
 * - --join to served: the time from starting broker 4 to it active, and to a
 *   1 MiB partition moved onto it as soon as it is active being done.
 * - Each run moves one partition holding --mb MiB (one replica of three,
 *   replaced by broker 4) while a producer writes another topic with acks
 *   'all', and measures the move's time (reassignPartitions to done); the new
 *   replica's catch-up rate (its bytes on disk, sampled every few ms, from
 *   its first byte to the leader's size) as a ratio of --move-rate (the
 *   throttle every broker is started with), of the same partition's log read
 *   sequentially (a copy of its segment files, just after the move), and of
 *   one raw skein connection's goodput between two processes (`skein bench
 *   transport`); and the producer's records/s and p99 during the move as
 *   ratios of the seconds just before it. One more move of the same size,
 *   with no producer, gives catch-up alone against the same baselines.
 * - Decommission: broker 1, holding a replica of every topic (with
 *   --decommission-mb MiB of its own over 4 partitions), from
 *   decommissionBroker to gone; what it held is measured on disk.
 *
 * Catch-up is bounded by --move-rate unless it is raised past what the
 * machine moves (--move-rate 1GiB). Prints medians of --runs runs, and
 * progress on stderr.
 *
 *   npm run bench:elastic -- [--runs 5] [--mb 64] [--move-rate 16MiB] [--baseline-ms 3000]
 *                            [--decommission-mb 512 (0 skips it)] [--transport-seconds 3]
 */
import { parseArgs } from 'node:util';
import { serdes, Skein, defineTopic } from '../../sdk/index.js';
import { BrokerProcesses } from '../integration/support/processes.js';
import { bundleForChild } from '../support/bundle.js';
import { median } from './support/alternating-produce.js';
import {
  decommissionTimed,
  joinToFirstPartition,
  logReadBytesPerSecond,
  replicaBytes,
  replicaDir,
  sleep,
  transportGoodputBytesPerSecond,
  waitForMove,
  type DecommissionFigures,
} from './support/elastic-figures.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    mb: { type: 'string', default: '64' },
    'move-rate': { type: 'string', default: '16MiB' },
    'baseline-ms': { type: 'string', default: '3000' },
    'decommission-mb': { type: 'string', default: '512' },
    'transport-seconds': { type: 'string', default: '3' },
  },
});
const runs = Number(values.runs);
const partitionBytes = Number(values.mb) * 1024 * 1024;
const moveRate = values['move-rate'];
const baselineMs = Number(values['baseline-ms']);
const moveRateBytesPerSecond = parseRate(moveRate);
const decommissionBytes = Number(values['decommission-mb']) * 1024 * 1024;
const transportSeconds = Number(values['transport-seconds']);
const firstTopic = 'bench-first';
const idleTopic = 'bench-move-idle';
const firstBytes = 1024 * 1024;
const decommissionTopic = 'bench-decommission';
const decommissionPartitions = 4;
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

function p99(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? NaN;
}

/** Writes `bytes` of 64 KiB records to `topic`, spread over its first `partitions` partitions. */
async function fill(skein: Skein, topic: string, bytes: number, partitions = 1): Promise<void> {
  const producer = skein.producer({ acks: 'all', lingerMs: 0 });
  const value = new Uint8Array(64 * 1024).fill(7);
  for (let written = 0, i = 0; written < bytes; written += 16 * value.length, i++) {
    await producer.send({ topic, messages: Array.from({ length: 16 }, () => ({ value, partition: i % partitions })) });
  }
  await producer.close();
}

/** Writes 1 KiB records to every partition of the load topic until stopped: each acknowledgement's time and latency. */
function writeLoad(skein: Skein): { acks: Array<{ atMs: number; latencyMs: number; records: number }>; stop: () => Promise<void> } {
  const producer = skein.producer({ acks: 'all', lingerMs: 1 });
  const acks: Array<{ atMs: number; latencyMs: number; records: number }> = [];
  const value = new Uint8Array(recordBytes);
  let writing = true;
  let stopped: Promise<void> | undefined;
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
    // Idempotent: a run stops it before reading the log back, and again on its way out.
    stop: () =>
      (stopped ??= (async () => {
        writing = false;
        await Promise.all(loops);
        await producer.close();
      })()),
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
  /** The same partition's log read sequentially, measured just after the move. */
  logReadBytesPerSecond: number;
  before: Window;
  during: Window;
}

interface Moved {
  startMs: number;
  doneMs: number;
  catchUpBytesPerSecond: number;
  /** The leader's copy, whose log is read back for the baseline. */
  sourceDir: string;
}

/** Moves partition 0 of `topic` onto broker 4 (in the place of its third replica) and times it, sampling broker 4's copy on disk. */
async function timeMove(cluster: BrokerProcesses, skein: Skein, topic: string): Promise<Moved> {
  const admin = skein.admin();
  const original = (await admin.describeTopic(topic)).partitions[0]!.replicas;
  const source = replicaBytes(cluster, original[0]!, topic)!;
  const startMs = performance.now();
  const [started] = await admin.reassignPartitions([{ topic, partition: 0, replicas: [original[0]!, original[1]!, 4] }]);
  if (started?.moveId === undefined) throw new Error(`the move of ${topic} was refused: ${JSON.stringify(started)}`);
  let firstByteMs: number | null = null;
  let caughtUpMs: number | null = null;
  // The new replica's bytes on disk, sampled between polls of the move.
  const sampling = setInterval(() => {
    const nowMs = performance.now();
    const bytes = replicaBytes(cluster, 4, topic);
    if (bytes !== null && bytes > 0 && firstByteMs === null) firstByteMs = nowMs;
    if (bytes !== null && bytes >= source * 0.99 && caughtUpMs === null) caughtUpMs = nowMs;
  }, 5);
  let doneMs: number;
  try {
    doneMs = await waitForMove(skein, topic, started.moveId);
  } finally {
    clearInterval(sampling);
  }
  const catchUpMs = (caughtUpMs ?? doneMs) - (firstByteMs ?? startMs);
  return { startMs, doneMs, catchUpBytesPerSecond: source / (catchUpMs / 1000), sourceDir: replicaDir(cluster, original[0]!, topic)! };
}

/** One run: the move under the producer's load, the producer's windows before and during it, then the log read back. */
async function moveOnce(cluster: BrokerProcesses, skein: Skein, topic: string): Promise<Run> {
  const writer = writeLoad(skein);
  try {
    // Warm up, then the baseline: the same producer in the seconds just before the move.
    await sleep(1_000);
    const baselineFromMs = performance.now();
    await sleep(baselineMs);
    const moved = await timeMove(cluster, skein, topic);
    const before = window(writer.acks, baselineFromMs, moved.startMs);
    const during = window(writer.acks, moved.startMs, moved.doneMs);
    await writer.stop();
    const logRead = await logReadBytesPerSecond(moved.sourceDir);
    return { moveMs: moved.doneMs - moved.startMs, catchUpBytesPerSecond: moved.catchUpBytesPerSecond, logReadBytesPerSecond: logRead, before, during };
  } finally {
    await writer.stop();
  }
}

const cli = await bundleForChild('broker/cli/main.ts', 'cli-bench-elastic');
const cluster = new BrokerProcesses(cli, { size: 3, tickMs: 100, electionTicks: 5, args: ['--move-rate', moveRate] });
const mib = (bytesPerSecond: number): string => `${(bytesPerSecond / 1024 ** 2).toFixed(1)} MiB/s`;
let skein: Skein | undefined;
try {
  await cluster.startAll();
  skein = new Skein({ brokers: cluster.bootstrap, clientId: 'bench-elastic' });
  const admin = skein.admin();
  // Everything is placed on the founding brokers before broker 4 joins: each run moves a replica onto it.
  await admin.createTopic({ name: load.name, partitions: loadPartitions, replicationFactor: 3 });
  await admin.createTopic({ name: firstTopic, partitions: 1, replicationFactor: 3 });
  await fill(skein, firstTopic, firstBytes);
  const topics = Array.from({ length: runs }, (_, i) => `bench-move-${i + 1}`);
  for (const topic of topics) {
    await admin.createTopic({ name: topic, partitions: 1, replicationFactor: 3 });
    progress(`writing ${values.mb} MiB to ${topic}`);
    await fill(skein, topic, partitionBytes);
  }
  await admin.createTopic({ name: idleTopic, partitions: 1, replicationFactor: 3 });
  progress(`writing ${values.mb} MiB to ${idleTopic}`);
  await fill(skein, idleTopic, partitionBytes);
  if (decommissionBytes > 0) {
    await admin.createTopic({ name: decommissionTopic, partitions: decommissionPartitions, replicationFactor: 3 });
    progress(`writing ${values['decommission-mb']} MiB to ${decommissionTopic} (${decommissionPartitions} partitions)`);
    await fill(skein, decommissionTopic, decommissionBytes, decommissionPartitions);
  }

  const joined = await joinToFirstPartition(cluster, skein, 4, firstTopic);
  progress(`broker 4 started with --join: active after ${joined.activeMs.toFixed(0)} ms, serving ${firstTopic} (moved onto it) after ${joined.firstServedMs.toFixed(0)} ms`);

  const results: Run[] = [];
  for (const topic of topics) {
    const run = await moveOnce(cluster, skein, topic);
    results.push(run);
    progress(
      `${topic}: moved in ${(run.moveMs / 1000).toFixed(2)} s, catch-up ${mib(run.catchUpBytesPerSecond)} (log read ${mib(run.logReadBytesPerSecond)}); ` +
        `producer ${Math.round(run.before.recordsPerSecond)} -> ${Math.round(run.during.recordsPerSecond)} records/s, p99 ${run.before.p99Ms.toFixed(1)} -> ${run.during.p99Ms.toFixed(1)} ms`,
    );
  }

  // The same move with no producer: what catch-up alone achieves, for the ratios to the log and the transport.
  const idle = await timeMove(cluster, skein, idleTopic);
  const idleLogRead = await logReadBytesPerSecond(idle.sourceDir);
  progress(`${idleTopic} (no producer): moved in ${((idle.doneMs - idle.startMs) / 1000).toFixed(2)} s, catch-up ${mib(idle.catchUpBytesPerSecond)} (log read ${mib(idleLogRead)})`);

  progress(`skein bench transport: one connection between two processes, ${transportSeconds} s`);
  const goodput = await transportGoodputBytesPerSecond(cli, transportSeconds);
  progress(`transport goodput ${mib(goodput)}`);

  let decommissioned: DecommissionFigures | undefined;
  if (decommissionBytes > 0) {
    progress('decommissioning broker 1 (every founding topic has a replica on it)');
    decommissioned = await decommissionTimed(cluster, skein, 1, progress);
  }

  const m = (pick: (r: Run) => number): number => median(results.map(pick));
  const catchUp = m((r) => r.catchUpBytesPerSecond);
  console.log(`moving a partition of ${values.mb} MiB onto a joined broker, --move-rate ${moveRate} (medians of ${runs} runs):`);
  console.log(`  move, reassign to done          ${(m((r) => r.moveMs) / 1000).toFixed(2)} s`);
  console.log(`  catch-up rate                   ${mib(catchUp)}  ratio to --move-rate ${m((r) => r.catchUpBytesPerSecond / moveRateBytesPerSecond).toFixed(2)}`);
  console.log(`    to the log's sequential read  ${mib(m((r) => r.logReadBytesPerSecond))}  ratio ${m((r) => r.catchUpBytesPerSecond / r.logReadBytesPerSecond).toFixed(3)}`);
  console.log(`    to transport goodput          ${mib(goodput)}  ratio ${(catchUp / goodput).toFixed(3)}`);
  console.log(`  catch-up with no producer       ${mib(idle.catchUpBytesPerSecond)}  ratio to --move-rate ${(idle.catchUpBytesPerSecond / moveRateBytesPerSecond).toFixed(2)}`);
  console.log(`    to the log's sequential read  ${mib(idleLogRead)}  ratio ${(idle.catchUpBytesPerSecond / idleLogRead).toFixed(3)}`);
  console.log(`    to transport goodput          ${mib(goodput)}  ratio ${(idle.catchUpBytesPerSecond / goodput).toFixed(3)}`);
  console.log(`  producer (acks all, 1 KiB) before ${Math.round(m((r) => r.before.recordsPerSecond))} records/s, during ${Math.round(m((r) => r.during.recordsPerSecond))} records/s  ratio ${m((r) => r.during.recordsPerSecond / r.before.recordsPerSecond).toFixed(2)}`);
  console.log(`  producer p99 latency            before ${m((r) => r.before.p99Ms).toFixed(1)} ms, during ${m((r) => r.during.p99Ms).toFixed(1)} ms  ratio ${m((r) => r.during.p99Ms / r.before.p99Ms).toFixed(2)}`);
  console.log(`  --join to active                ${(joined.activeMs / 1000).toFixed(2)} s`);
  console.log(`  --join to first partition served ${(joined.firstServedMs / 1000).toFixed(2)} s (a ${firstBytes / 1024 ** 2} MiB partition moved onto it as soon as it was active)`);
  if (decommissioned !== undefined) {
    console.log(
      `  decommission to gone            ${(decommissioned.doneMs / 1000).toFixed(2)} s for broker 1 holding ${(decommissioned.bytesHeld / 1024 ** 2).toFixed(0)} MiB on disk ` +
        `in ${decommissioned.replicas} replicas (${mib(decommissioned.bytesHeld / (decommissioned.doneMs / 1000))})`,
    );
  }
} finally {
  await skein?.close().catch(() => {});
  await cluster.close();
}
