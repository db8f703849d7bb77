import { runTransportBenchCommand } from './bench/transport-command.js';
import { percentile } from './bench/latency.js';
import { defineTopic, isSkeinError, serdes, Skein, type Acks } from '../../sdk/index.js';
import { boolFlag, choiceFlag, helpText, intFlag, parseFlags, stringFlag, UsageError, type FlagSpecs, type ParsedFlags } from './args.js';
import { acksValues } from '../../transport/protocol/messages.js';
import { clientFlags, brokerList } from './client-flags.js';
import { parseFlush } from './topic-command.js';

/**
 * `skein bench produce|consume|e2e`: perf tests in the manner of Kafka's
 * producer/consumer perf tools, against a running cluster. Progress goes to
 * stderr once a second; the result is one JSON object on stdout (with
 * --json) or a short summary.
 */
const flags: FlagSpecs = {
  ...clientFlags,
  topic: { type: 'string', short: 't', help: 'topic (created when missing)', default: 'bench' },
  messages: { type: 'string', short: 'n', help: 'records to produce / consume', default: '200000' },
  size: { type: 'string', short: 's', help: 'bytes of each record value', default: '100' },
  partitions: { type: 'string', help: 'partitions of a created topic', default: '3' },
  replication: { type: 'string', help: 'replication factor of a created topic', default: '3' },
  flush: { type: 'string', help: 'fsync policy of a created topic: always | records:N | interval:MS', default: 'always' },
  acks: { type: 'string', help: 'all | leader | none', default: 'all' },
  'linger-ms': { type: 'string', help: 'producer linger', default: '5' },
  'batch-bytes': { type: 'string', help: 'producer batch size', default: 'the SDK default' },
  'max-in-flight': { type: 'string', help: 'batches in flight per partition', default: 'the SDK default' },
  rate: { type: 'string', help: 'e2e: records per second', default: '5000' },
  seconds: { type: 'string', help: 'e2e: how long to run', default: '10' },
  warmup: { type: 'string', help: 'e2e: leading seconds not measured (JIT, first elections)', default: '2' },
  json: { type: 'boolean', help: 'print one JSON object' },
};

export interface BenchResult {
  messages: number;
  msgsPerSec: number;
  MBps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  [key: string]: unknown;
}

const usage = 'skein bench transport|produce|consume|e2e [flags]';

export async function benchCommand(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  if (kind === 'transport') return runTransportBenchCommand(rest);
  if (kind === undefined || kind === '--help' || kind === '-h') {
    process.stdout.write(helpText(usage, 'Benchmarks. `skein bench transport --help` for the transport experiment.', flags));
    return kind === undefined ? 2 : 0;
  }
  if (kind !== 'produce' && kind !== 'consume' && kind !== 'e2e') throw new UsageError(`unknown benchmark "${kind}" (transport, produce, consume, e2e)`);
  const parsed = parseFlags(rest, flags);
  if (parsed.values.help === true) {
    process.stdout.write(helpText(`skein bench ${kind} [flags]`, 'Runs against the cluster at --brokers.', flags));
    return 0;
  }
  const settings = benchSettings(parsed);
  const skein = new Skein({ brokers: brokerList(parsed), clientId: `skein-bench-${kind}` });
  try {
    await ensureTopic(skein, settings);
    const result = kind === 'produce' ? await benchProduce(skein, settings) : kind === 'consume' ? await benchConsume(skein, settings) : await benchEndToEnd(skein, settings);
    if (settings.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else
      process.stdout.write(
        `${kind}: ${result.messages} records of ${settings.size} B, ${Math.round(result.msgsPerSec)} msgs/s, ${result.MBps.toFixed(1)} MB/s, latency p50 ${result.p50Ms.toFixed(2)} ms p99 ${result.p99Ms.toFixed(2)} ms, ${result.errors} errors\n`,
      );
    return result.errors === 0 ? 0 : 1;
  } finally {
    await skein.close();
  }
}

interface BenchSettings {
  topic: string;
  messages: number;
  size: number;
  partitions: number;
  replication: number;
  flush: ReturnType<typeof parseFlush>;
  acks: Acks;
  lingerMs: number;
  batchBytesMax: number | undefined;
  maxInFlight: number | undefined;
  rate: number;
  seconds: number;
  warmup: number;
  json: boolean;
}

function benchSettings(parsed: ParsedFlags): BenchSettings {
  const acks = choiceFlag(parsed, 'acks', acksValues, 'all');
  return {
    topic: stringFlag(parsed, 'topic') ?? 'bench',
    messages: intFlag(parsed, 'messages', { min: 1, max: 1e9 }) ?? 200_000,
    size: intFlag(parsed, 'size', { min: 0, max: 4 * 1024 * 1024 }) ?? 100,
    partitions: intFlag(parsed, 'partitions', { min: 1, max: 1024 }) ?? 3,
    replication: intFlag(parsed, 'replication', { min: 1, max: 7 }) ?? 3,
    flush: parseFlush(stringFlag(parsed, 'flush') ?? 'always'),
    acks,
    lingerMs: intFlag(parsed, 'linger-ms', { min: 0, max: 60_000 }) ?? 5,
    batchBytesMax: intFlag(parsed, 'batch-bytes', { min: 1024, max: 8 * 1024 * 1024 }),
    maxInFlight: intFlag(parsed, 'max-in-flight', { min: 1, max: 16 }),
    rate: intFlag(parsed, 'rate', { min: 1, max: 10_000_000 }) ?? 5000,
    seconds: intFlag(parsed, 'seconds', { min: 1, max: 3600 }) ?? 10,
    warmup: intFlag(parsed, 'warmup', { min: 0, max: 3600 }) ?? 2,
    json: boolFlag(parsed, 'json'),
  };
}

async function ensureTopic(skein: Skein, s: BenchSettings): Promise<void> {
  try {
    await skein.admin().createTopic({ name: s.topic, partitions: s.partitions, replicationFactor: s.replication, config: { flush: s.flush } });
    progress(`created topic ${s.topic}: ${s.partitions} partitions, replication ${s.replication}`);
  } catch (error) {
    if (!isSkeinError(error, 'TOPIC_EXISTS')) throw error;
  }
}

function makeValue(size: number): Uint8Array {
  const value = new Uint8Array(size);
  for (let i = 0; i < size; i++) value[i] = 97 + (i % 26);
  return value;
}

async function benchProduce(skein: Skein, s: BenchSettings): Promise<BenchResult> {
  const producer = skein.producer({ acks: s.acks, lingerMs: s.lingerMs, ...(s.batchBytesMax !== undefined ? { batchBytesMax: s.batchBytesMax } : {}), ...(s.maxInFlight !== undefined ? { maxInFlight: s.maxInFlight } : {}) });
  const value = makeValue(s.size);
  const latencies: number[] = [];
  let acked = 0;
  let errors = 0;
  const chunk = 100;
  const windowRecords = 20_000;
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  const ticker = setInterval(() => progress(`produce: ${acked}/${s.messages} acknowledged, ${Math.round(acked / ((performance.now() - start) / 1000))} msgs/s`), 1000);
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
    clearInterval(ticker);
    await producer.close();
  }
  const seconds = (performance.now() - start) / 1000;
  return summarize(acked, errors, seconds, s.size, latencies, { acks: s.acks });
}

async function benchConsume(skein: Skein, s: BenchSettings): Promise<BenchResult> {
  const consumer = skein.consumer({ topic: s.topic, from: 'earliest' });
  let available = 0;
  for (const p of (await skein.admin().describeTopic(s.topic)).partitions) available += await highWatermark(skein, s.topic, p.partition);
  if (available < s.messages) {
    progress(`consume: topic holds ${available} records; producing ${s.messages - available} more first (not timed)`);
    const fill = await benchProduce(skein, { ...s, messages: s.messages - available });
    if (fill.errors > 0) throw new Error(`consume: ${fill.errors} of the records produced to fill the topic failed; nothing to measure`);
  }
  const latencies: number[] = [];
  let received = 0;
  const start = performance.now();
  const ticker = setInterval(() => progress(`consume: ${received}/${s.messages}, ${Math.round(received / ((performance.now() - start) / 1000))} msgs/s`), 1000);
  try {
    let emptyFetches = 0;
    while (received < s.messages) {
      const at = performance.now();
      const records = await consumer.fetch({ maxRecords: 10_000, maxWaitMs: 1000 });
      latencies.push(performance.now() - at);
      received += records.length;
      emptyFetches = records.length === 0 ? emptyFetches + 1 : 0;
      if (emptyFetches >= 10) throw new Error(`consume: no records for 10 long polls after ${received} of ${s.messages}`);
    }
  } finally {
    clearInterval(ticker);
    await consumer.close();
  }
  return summarize(received, 0, (performance.now() - start) / 1000, s.size, latencies, {});
}

async function highWatermark(skein: Skein, topic: string, partition: number): Promise<number> {
  const consumer = skein.consumer({ topic, partition, from: 'latest' });
  try {
    await consumer.fetch({ maxRecords: 1, maxWaitMs: 0 });
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
async function benchEndToEnd(skein: Skein, s: BenchSettings): Promise<BenchResult> {
  if (s.size < 8) throw new UsageError('e2e: --size must be at least 8 (each value carries its send time)');
  if (s.warmup >= s.seconds) throw new UsageError(`e2e: --warmup (${s.warmup} s) must be shorter than --seconds (${s.seconds} s)`);
  if (s.messages <= s.rate * s.warmup) throw new UsageError(`e2e: --messages ${s.messages} are all sent within the ${s.warmup} s warm-up at ${s.rate}/s; nothing would be measured`);
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
  const ticker = setInterval(() => progress(`e2e: sent ${sent}/${total} at ${s.rate}/s, received ${received}`), 1000);
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
    clearInterval(ticker);
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

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}
