import { defineTopic, isSkeinError, serdes, type Acks, type GroupConsumer, type Skein } from '../../../sdk/index.js';
import { Progress } from '../progress.js';
import type { TopicConfig } from '../../../transport/protocol/messages.js';
import { percentile } from './latency.js';

/**
 * The cluster benchmarks of `skein bench produce|consume|e2e`, in the manner
 * of Kafka's producer and consumer perf tools: progress on stderr (one
 * redrawn line on a terminal), the result returned for the command to print.
 */

export interface BenchResult {
  messages: number;
  msgsPerSec: number;
  MBps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  [key: string]: unknown;
}

export interface BenchSettings {
  topic: string;
  messages: number;
  size: number;
  partitions: number;
  replication: number;
  flush: TopicConfig['flush'];
  acks: Acks;
  lingerMs: number;
  batchBytesMax: number | undefined;
  inFlightMax: number | undefined;
  rate: number;
  seconds: number;
  warmup: number;
  json: boolean;
  /** consume: read as the members of this consumer group (all in this process), `consumers` of them. */
  group: string | undefined;
  consumers: number;
}

export async function ensureTopic(skein: Skein, s: BenchSettings): Promise<void> {
  try {
    await skein.admin().createTopic({ name: s.topic, partitions: s.partitions, replicationFactor: s.replication, config: { flush: s.flush } });
    note(`created topic ${s.topic}: ${s.partitions} partitions, replication ${s.replication}`);
  } catch (error) {
    if (!isSkeinError(error, 'TOPIC_EXISTS')) throw error;
  }
}

function makeValue(size: number): Uint8Array {
  const value = new Uint8Array(size);
  for (let i = 0; i < size; i++) value[i] = 97 + (i % 26);
  return value;
}

export async function benchProduce(skein: Skein, s: BenchSettings): Promise<BenchResult> {
  const producer = skein.producer({ acks: s.acks, lingerMs: s.lingerMs, ...(s.batchBytesMax !== undefined ? { batchBytesMax: s.batchBytesMax } : {}), ...(s.inFlightMax !== undefined ? { inFlightMax: s.inFlightMax } : {}) });
  const value = makeValue(s.size);
  const latencies: number[] = [];
  let acked = 0;
  let errors = 0;
  const chunk = 100;
  const windowRecords = 20_000;
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  const progress = Progress.start({ label: 'produce', total: s.messages, unit: 'acknowledged', rateUnit: 'msgs', sample: () => ({ done: acked }) });
  try {
    for (let sent = 0; sent < s.messages; sent += chunk) {
      const n = Math.min(chunk, s.messages - sent);
      const at = performance.now();
      const p = producer
        .send({ topic: s.topic, messages: Array.from({ length: n }, () => ({ value })) })
        .then(
          () => {
            acked += n;
            latencies.push(performance.now() - at);
          },
          () => {
            errors += n;
          },
        );
      pending.add(p);
      void p.finally(() => pending.delete(p));
      while (pending.size * chunk >= windowRecords) await Promise.race(pending);
    }
    await Promise.all(pending);
    await producer.flush();
  } finally {
    progress.stop();
    await producer.close();
  }
  const seconds = (performance.now() - start) / 1000;
  return summarize(acked, errors, seconds, s.size, latencies, { acks: s.acks });
}

export async function benchConsume(skein: Skein, s: BenchSettings): Promise<BenchResult> {
  await fillTopic(skein, s);
  const joinedAt = performance.now();
  const readers = s.group === undefined ? [skein.consumer({ topic: s.topic, from: 'earliest' })] : await joinGroup(skein, s.group, s.topic, s.consumers);
  // Throughput counts from the first record to the last; joining a group (or finding the partitions) is the separate startMs.
  const latencies: number[] = [];
  let received = 0;
  let firstAt = 0;
  let lastProgressAt = performance.now();
  const progress = Progress.start({ label: 'consume', total: s.messages, unit: 'received', rateUnit: 'msgs', sample: () => ({ done: received }) });
  try {
    await Promise.all(
      readers.map(async (reader) => {
        while (received < s.messages) {
          const at = performance.now();
          const records = await reader.fetch({ recordsMax: 10_000, waitMsMax: 1000 });
          const now = performance.now();
          if (records.length === 0) {
            if (now - lastProgressAt > 10_000) throw new Error(`consume: no records for 10 s after ${received} of ${s.messages}`);
            continue;
          }
          latencies.push(now - at);
          if (firstAt === 0) firstAt = at;
          lastProgressAt = now;
          received += records.length;
        }
      }),
    );
  } finally {
    progress.stop();
    await Promise.all(readers.map((reader) => reader.close()));
  }
  const extra = s.group === undefined ? {} : { group: s.group, consumers: s.consumers };
  return summarize(received, 0, (performance.now() - firstAt) / 1000, s.size, latencies, { ...extra, startMs: firstAt - joinedAt });
}

/** Produces records first when the topic holds fewer than the benchmark reads (not timed). */
async function fillTopic(skein: Skein, s: BenchSettings): Promise<void> {
  let available = 0;
  for (const p of (await skein.admin().describeTopic(s.topic)).partitions) available += await highWatermark(skein, s.topic, p.partition);
  if (available >= s.messages) return;
  note(`consume: topic holds ${available} records; producing ${s.messages - available} more first (not timed)`);
  const fill = await benchProduce(skein, { ...s, messages: s.messages - available });
  if (fill.errors > 0) throw new Error(`consume: ${fill.errors} of the records produced to fill the topic failed; nothing to measure`);
}

/**
 * `consumers` members of `group` in this process, reading the topic from
 * its start (the group's committed offsets are reset first, so every run
 * reads the same records), returned once they share its partitions.
 */
async function joinGroup(skein: Skein, group: string, topic: string, consumers: number): Promise<GroupConsumer[]> {
  try {
    await skein.admin().resetOffsets(group, { topic, to: 'earliest' });
  } catch (error) {
    if (!isSkeinError(error, 'UNKNOWN_GROUP')) throw error;
  }
  const members = Array.from({ length: consumers }, () => skein.consumer({ group, topic, from: 'earliest' }));
  const partitions = (await skein.admin().describeTopic(topic)).partitions.length;
  const share = Math.floor(partitions / consumers);
  const deadline = performance.now() + 60_000;
  while (!(members.reduce((n, m) => n + m.assignment().length, 0) === partitions && members.every((m) => m.assignment().length >= share))) {
    if (performance.now() > deadline) throw new Error(`consume: the ${consumers} members of ${group} did not share the ${partitions} partitions within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return members;
}

async function highWatermark(skein: Skein, topic: string, partition: number): Promise<number> {
  const consumer = skein.consumer({ topic, partition, from: 'latest' });
  try {
    await consumer.fetch({ recordsMax: 1, waitMsMax: 0 });
    return consumer.position(partition) ?? 0;
  } finally {
    await consumer.close();
  }
}

/**
 * Records are produced at a fixed rate while a push subscription receives
 * them, in this process. Each value carries the performance.now() of its
 * send() call, so latency is measured in microseconds from the call to the
 * handler, not in whole milliseconds of record timestamps. As in the peer
 * harness, records sent during the first --warmup seconds are not measured.
 */
export async function benchEndToEnd(skein: Skein, s: BenchSettings): Promise<BenchResult> {
  const topic = defineTopic<Uint8Array>(s.topic, { value: serdes.bytes() });
  const latencies: number[] = [];
  let received = 0;
  let measureFrom = Infinity;
  const subscription = skein.subscribe({
    topic,
    from: 'latest',
    handler: (record) => {
      const now = performance.now();
      const value = record.value;
      const sentAt = new DataView(value.buffer, value.byteOffset, value.byteLength).getFloat64(0, true);
      if (sentAt >= measureFrom) latencies.push(now - sentAt);
      received++;
    },
  });
  // Let the subscription reach every partition's leader before the clock starts.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const producer = skein.producer({ acks: s.acks, lingerMs: 0 });
  const template = makeValue(s.size);
  const total = Math.min(s.messages, s.rate * s.seconds);
  let sent = 0;
  let errors = 0;
  const start = performance.now();
  measureFrom = start + s.warmup * 1000;
  const progress = Progress.start({ label: 'e2e', total, unit: 'sent', rateUnit: 'msgs', sample: () => ({ done: sent, detail: `received ${received}` }) });
  try {
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * s.rate)) - sent;
      for (let i = 0; i < due; i++) {
        const value = template.slice();
        new DataView(value.buffer).setFloat64(0, performance.now(), true);
        producer.send({ topic, messages: [{ value }] }).catch(() => errors++);
        sent++;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await producer.flush();
    const until = performance.now() + 10_000;
    while (received < sent - errors && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    progress.stop();
    await producer.close();
    await subscription.close();
  }
  const seconds = (performance.now() - start) / 1000;
  const missing = sent - errors - received;
  return summarize(received, errors + Math.max(0, missing), seconds, s.size, latencies, { rate: s.rate, sent, measured: latencies.length, warmupSeconds: s.warmup });
}

function summarize(messages: number, errors: number, seconds: number, size: number, latencies: number[], extra: Record<string, unknown>): BenchResult {
  latencies.sort((a, b) => a - b);
  const at = (p: number): number => (latencies.length === 0 ? 0 : percentile(latencies, p));
  return {
    messages,
    msgsPerSec: messages / seconds,
    MBps: (messages * size) / seconds / 1e6,
    p50Ms: at(50),
    p99Ms: at(99),
    errors,
    seconds,
    ...extra,
  };
}

function note(line: string): void {
  process.stderr.write(`${line}\n`);
}
