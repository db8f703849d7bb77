import { Skein } from '../../sdk/index.js';
import { brokerLimits, groupLimits, recordLimits, sdkLimits } from '../../transport/limits.js';
import { acksValues } from '../../transport/protocol/messages.js';
import { boolFlag, choiceFlag, helpText, intFlag, parseFlags, stringFlag, UsageError, unknownWord, type FlagSpecs, type ParsedFlags } from './args.js';
import { benchConsume, benchEndToEnd, benchProduce, ensureTopic, type BenchResult, type BenchSettings } from './bench/cluster.js';
import { runTransportBenchCommand } from './bench/transport-command.js';
import { brokerList, clientFlags, topicFlag } from './client-flags.js';
import { parseFlush } from './topic-command.js';
import { skeinInvocation } from './invocation.js';

/**
 * `skein bench transport|produce|consume|e2e`. The cluster benchmarks run
 * against --brokers and print one JSON object on stdout (with --json) or a
 * short summary; progress goes to stderr.
 */
const common: FlagSpecs = {
  ...clientFlags,
  topic: { type: 'string', short: 't', value: 'NAME', help: 'topic, created when missing', default: 'bench' },
  messages: { type: 'string', short: 'n', value: 'N', help: 'records to produce / consume', default: '200000' },
  size: { type: 'string', short: 's', value: 'BYTES', help: 'bytes of each record value', default: '100' },
  partitions: { type: 'string', value: 'N', help: 'partitions of a created topic', default: '3' },
  replication: { type: 'string', value: 'N', help: 'replication factor of a created topic', default: '3' },
  flush: { type: 'string', value: 'always|records:N|interval:MS', help: 'fsync policy of a created topic', default: 'always' },
  acks: { type: 'string', value: acksValues.join('|'), help: 'acknowledgement the producer waits for', default: 'all' },
};

const producer: FlagSpecs = {
  'linger-ms': { type: 'string', value: 'MS', help: 'producer linger', default: '5' },
  'batch-bytes-max': { type: 'string', value: 'BYTES', help: 'producer batch size', default: String(sdkLimits.producerBatchBytesDefault) },
  'in-flight-max': { type: 'string', value: 'N', help: 'batches in flight per partition', default: String(sdkLimits.producerInFlightDefault) },
  // The names before 0.2, read until the next release: limits are named as the SDK's are (batchBytesMax, inFlightMax).
  'batch-bytes': { type: 'string', renamedTo: 'batch-bytes-max', help: 'the old name of --batch-bytes-max' },
  'max-in-flight': { type: 'string', renamedTo: 'in-flight-max', help: 'the old name of --in-flight-max' },
};

const json: FlagSpecs = { json: { type: 'boolean', help: 'print one JSON object' } };

/** Each benchmark takes only the flags it uses: a flag that would be ignored is refused instead. */
const flagsOf = {
  produce: { ...common, ...producer, ...json },
  // The producer's flags shape the records written first when the topic holds too few.
  consume: {
    ...common,
    ...producer,
    group: { type: 'string', short: 'g', value: 'G', help: 'read as members of this consumer group (its offsets reset to the start first)' },
    consumers: { type: 'string', value: 'N', help: 'with --group: members, in this process, sharing the partitions', default: '1' },
    ...json,
  },
  // One record per send, sent at once (lingerMs 0), so the producer's batching flags do not apply.
  e2e: {
    ...common,
    messages: { ...common.messages!, help: 'at most this many records' },
    rate: { type: 'string', value: 'N', help: 'records per second', default: '5000' },
    seconds: { type: 'string', value: 'N', help: 'how long to send', default: '10' },
    warmup: { type: 'string', value: 'N', help: 'seconds at the start not measured, for JIT and first elections', default: '2' },
    ...json,
  },
} satisfies Record<string, FlagSpecs>;

const kinds = {
  transport: 'skein connections against raw UDP on this machine (no cluster needed)',
  produce: 'producer throughput and latency against the cluster at --brokers',
  consume: 'fetch throughput from the cluster (produces the records first if the topic has too few)',
  e2e: 'latency from send() to a push subscription, at a fixed rate',
};

function benchList(): string {
  const rows = Object.entries(kinds).map(([name, summary]) => `  ${name.padEnd(9)}  ${summary}`);
  return `usage: skein bench transport|produce|consume|e2e [flags]\n\nBenchmarks. Run "${skeinInvocation()} bench <name> --help" for one's flags.\n\nbenchmarks:\n${rows.join('\n')}\n`;
}

export async function benchCommand(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  if (kind === 'transport') return runTransportBenchCommand(rest);
  if (kind === undefined || kind === '--help' || kind === '-h') {
    process.stdout.write(benchList());
    return kind === undefined ? 2 : 0;
  }
  if (kind !== 'produce' && kind !== 'consume' && kind !== 'e2e') throw unknownWord('benchmark', kind, Object.keys(kinds));
  const parsed = parseFlags(rest, flagsOf[kind]);
  if (boolFlag(parsed, 'help')) {
    process.stdout.write(helpText(`skein bench ${kind} [flags]`, `Measures ${kinds[kind]}.`, flagsOf[kind]));
    return 0;
  }
  const settings = benchSettings(parsed);
  if (kind === 'e2e') checkEndToEnd(settings);
  if (settings.group === undefined && settings.consumers !== 1) throw new UsageError('--consumers needs --group');
  const skein = new Skein({ brokers: brokerList(parsed), clientId: `skein-bench-${kind}` });
  try {
    await ensureTopic(skein, settings);
    const result = kind === 'produce' ? await benchProduce(skein, settings) : kind === 'consume' ? await benchConsume(skein, settings) : await benchEndToEnd(skein, settings);
    if (settings.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else
      process.stdout.write(
        `${kind}: ${result.messages} records of ${settings.size} B, ${Math.round(result.msgsPerSec)} msgs/s, ${result.MBps.toFixed(1)} MB/s, latency p50 ${result.p50Ms.toFixed(2)} ms p99 ${result.p99Ms.toFixed(2)} ms, ${result.errors} errors${startNote(result)}\n`,
      );
    return result.errors === 0 ? 0 : 1;
  } finally {
    await skein.close();
  }
}

/** consume: the time to the first record (a group's join), apart from the throughput. */
function startNote(result: BenchResult): string {
  if (typeof result.startMs !== 'number') return '';
  const who = typeof result.group === 'string' ? `group ${result.group} of ${String(result.consumers)}, joined and first record after` : 'first record after';
  return ` (${who} ${result.startMs.toFixed(0)} ms)`;
}

function benchSettings(parsed: ParsedFlags): BenchSettings {
  return {
    topic: topicFlag(parsed) ?? 'bench',
    messages: intFlag(parsed, 'messages', { min: 1, max: 1e9 }) ?? 200_000,
    size: intFlag(parsed, 'size', { min: 0, max: recordLimits.recordBytesMax }) ?? 100,
    partitions: intFlag(parsed, 'partitions', { min: 1, max: brokerLimits.partitionsPerTopicMax }) ?? 3,
    replication: intFlag(parsed, 'replication', { min: 1, max: brokerLimits.replicationFactorMax }) ?? 3,
    flush: parseFlush(parsed),
    acks: choiceFlag(parsed, 'acks', acksValues, 'all'),
    lingerMs: intFlag(parsed, 'linger-ms', { min: 0, max: 60_000 }) ?? 5,
    batchBytesMax: intFlag(parsed, 'batch-bytes-max', { min: 1024, max: recordLimits.batchBytesMax }),
    inFlightMax: intFlag(parsed, 'in-flight-max', { min: 1, max: sdkLimits.producerInFlightMax }),
    rate: intFlag(parsed, 'rate', { min: 1, max: 10_000_000 }) ?? 5000,
    seconds: intFlag(parsed, 'seconds', { min: 1, max: 3600 }) ?? 10,
    warmup: intFlag(parsed, 'warmup', { min: 0, max: 3600 }) ?? 2,
    json: boolFlag(parsed, 'json'),
    group: stringFlag(parsed, 'group'),
    consumers: intFlag(parsed, 'consumers', { min: 1, max: groupLimits.membersPerGroupMax }) ?? 1,
  };
}

/** Settings e2e cannot measure with, refused before anything connects. */
function checkEndToEnd(s: BenchSettings): void {
  if (s.size < 8) throw new UsageError('--size must be at least 8 for e2e (each value carries its send time)');
  if (s.warmup >= s.seconds) throw new UsageError(`--warmup (${s.warmup} s) must be shorter than --seconds (${s.seconds} s)`);
  if (s.messages <= s.rate * s.warmup) throw new UsageError(`--messages ${s.messages} are all sent within the ${s.warmup} s warm-up at ${s.rate}/s; nothing would be measured`);
}
