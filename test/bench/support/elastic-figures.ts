import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PartitionLog } from '../../../broker/log/partition-log.js';
import type { Skein } from '../../../sdk/index.js';
import type { BrokerProcesses } from '../../integration/support/processes.js';
import { readWhole } from './read-log.js';

/**
 * The figures of bench:elastic that compare a move with what bounds it, and
 * the operator's waits: the log's own sequential read rate and a raw skein
 * connection's goodput (the baselines of the catch-up rate), the time from
 * `--join` to a first partition served, and from `decommission` to gone.
 */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Bytes of every file under `dir` (a replica's log and Raft state). */
export function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? bytesUnder(path) : statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  }
  return total;
}

/** Broker `id`'s directory of partition 0 of `topic`, or null while it has none. */
export function replicaDir(cluster: BrokerProcesses, id: number, topic: string): string | null {
  const root = join(cluster.dir, `broker-${id}`, 'partitions');
  try {
    const dir = readdirSync(root).find((name) => name.startsWith(`${topic}-`) && /^\d+-0$/.test(name.slice(topic.length + 1)));
    return dir === undefined ? null : join(root, dir);
  } catch {
    return null;
  }
}

/** The size of broker `id`'s replica of `topic` on disk, or null while it has none. */
export function replicaBytes(cluster: BrokerProcesses, id: number, topic: string): number | null {
  const dir = replicaDir(cluster, id, topic);
  try {
    return dir === null ? null : bytesUnder(dir);
  } catch {
    return null;
  }
}

/** Where a replica keeps its log: the directory holding its segment files. */
function logDirUnder(dir: string): string {
  if (readdirSync(dir).some((name) => name.endsWith('.log'))) return dir;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const found = logDirUnder(join(dir, entry.name));
    if (found !== '') return found;
  }
  return '';
}

/**
 * The log's sequential read rate (bytes/s) over the same partition's segment
 * files: a copy of a live replica's log (its broker holds the directory's
 * lock), read whole in 1 MiB reads with bodies verified, as a leader reads
 * for a replica catching up. The median of `runs` passes.
 */
export async function logReadBytesPerSecond(replica: string, runs = 3): Promise<number> {
  const source = logDirUnder(replica);
  if (source === '') throw new Error(`no segment files under ${replica}`);
  const copy = mkdtempSync(join(tmpdir(), 'skein-bench-read-'));
  try {
    cpSync(source, copy, { recursive: true, filter: (path) => !path.endsWith('LOCK') });
    const log = await PartitionLog.open({ dir: copy, flush: 'manual', tailCacheBytes: 0 });
    try {
      const rates: number[] = [];
      for (let run = 0; run < runs; run++) {
        const { bytes, ms } = readWhole(log);
        rates.push(bytes / (ms / 1000));
      }
      return rates.sort((a, b) => a - b)[Math.floor(rates.length / 2)]!;
    } finally {
      await log.close();
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

/**
 * One skein connection's lossless goodput (bytes/s) between two processes,
 * from `skein bench transport` of the same build (default datagram size, as
 * the brokers' peer links use).
 */
export async function transportGoodputBytesPerSecond(cli: string, seconds: number): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'bench', 'transport', '--json', '--seconds', String(seconds)], { maxBuffer: 1024 * 1024 });
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { goodputMBps: number };
  return result.goodputMBps * 1e6;
}

/** Polls until move `moveId` finished; throws when it ended other than done. */
export async function waitForMove(skein: Skein, topic: string, moveId: number, onPoll: () => void = () => {}): Promise<number> {
  const admin = skein.admin();
  for (;;) {
    onPoll();
    const listed = await admin.listReassignments({ topics: [topic] });
    const finished = listed.finished.find((f) => f.moveId === moveId);
    if (finished?.outcome === 'done') return performance.now();
    if (finished !== undefined) throw new Error(`the move of ${topic} ended ${finished.outcome}: ${finished.cancelReason}`);
    await sleep(20);
  }
}

export interface JoinFigures {
  activeMs: number;
  firstServedMs: number;
}

/**
 * Starts broker `id` with --join and moves partition 0 of `topic` onto it as
 * soon as it is active (in the place of its last replica): the times from
 * the process's start to the broker active, and to that move done (the
 * broker in the partition's replicas, caught up, serving it).
 */
export async function joinToFirstPartition(cluster: BrokerProcesses, skein: Skein, id: number, topic: string): Promise<JoinFigures> {
  const admin = skein.admin();
  const startMs = performance.now();
  await cluster.join(id, [1]);
  while ((await admin.describeCluster()).brokers.find((b) => b.id === id)?.state !== 'active') await sleep(20);
  const activeMs = performance.now() - startMs;
  const replicas = (await admin.describeTopic(topic)).partitions[0]!.replicas;
  const [started] = await admin.reassignPartitions([{ topic, partition: 0, replicas: [...replicas.slice(0, -1), id] }]);
  if (started?.moveId === undefined) throw new Error(`the move of ${topic} onto broker ${id} was refused: ${JSON.stringify(started)}`);
  const doneMs = await waitForMove(skein, topic, started.moveId);
  return { activeMs, firstServedMs: doneMs - startMs };
}

export interface DecommissionFigures {
  bytesHeld: number;
  replicas: number;
  doneMs: number;
}

/** Decommissions broker `id` and waits for it gone: what it held on disk, its replicas, and the time. */
export async function decommissionTimed(cluster: BrokerProcesses, skein: Skein, id: number, progress: (line: string) => void): Promise<DecommissionFigures> {
  const admin = skein.admin();
  const bytesHeld = bytesUnder(join(cluster.dir, `broker-${id}`, 'partitions'));
  const startMs = performance.now();
  const { replicas } = await admin.decommissionBroker(id);
  let lastReportMs = startMs;
  while ((await admin.describeCluster()).brokers.find((b) => b.id === id)?.state !== 'gone') {
    if (performance.now() - lastReportMs >= 2_000) {
      lastReportMs = performance.now();
      const { moves } = await admin.listReassignments();
      progress(`decommission of broker ${id}: ${((lastReportMs - startMs) / 1000).toFixed(1)} s, ${moves.length} moves in progress`);
    }
    await sleep(50);
  }
  return { bytesHeld, replicas, doneMs: performance.now() - startMs };
}
