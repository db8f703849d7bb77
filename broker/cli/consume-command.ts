import { defineTopic, serdes, type From } from '../../sdk/index.js';
import { brokerLimits } from '../../transport/limits.js';
import { boolFlag, helpText, intFlag, parseFlags, quote, stringFlag, UsageError, type FlagSpecs } from './args.js';
import { clientFlags, interrupted, openClient, topicFlag } from './client-flags.js';

const flags: FlagSpecs = {
  ...clientFlags,
  topic: { type: 'string', short: 't', value: 'NAME', help: 'topic to read' },
  partition: { type: 'string', short: 'p', value: 'N', help: 'one partition', default: 'all' },
  from: { type: 'string', value: 'earliest|latest|OFFSET|@TIMESTAMP_MS', help: 'where to start', default: 'earliest' },
  follow: { type: 'boolean', short: 'f', help: 'keep waiting for new records' },
  max: { type: 'string', short: 'n', value: 'N', help: 'stop after this many records' },
  json: { type: 'boolean', help: 'one JSON object per record (partition, offset, key, value, timestamp)' },
};

const usage = 'skein consume --topic T [--partition P] [--from earliest|latest|OFFSET|@TS] [--follow] [--max N]';

export async function consumeCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags);
  if (boolFlag(parsed, 'help')) {
    process.stdout.write(helpText(usage, 'Prints records: values decoded from CBOR when they are CBOR, else as UTF-8.', flags));
    return 0;
  }
  const topicName = topicFlag(parsed);
  if (topicName === undefined) throw new UsageError('--topic is required');
  const partition = intFlag(parsed, 'partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 });
  const from = parseFrom(stringFlag(parsed, 'from') ?? 'earliest');
  const follow = boolFlag(parsed, 'follow');
  const max = intFlag(parsed, 'max', { min: 1, max: Number.MAX_SAFE_INTEGER }) ?? Number.POSITIVE_INFINITY;
  const json = boolFlag(parsed, 'json');
  const topic = defineTopic(topicName, { value: serdes.bytes(), key: serdes.bytes() });
  const stop = interrupted();
  await using skein = openClient(parsed, 'skein-consume');
  await using consumer = skein.consumer({ topic, from, ...(partition !== undefined ? { partition } : {}) });
  let printed = 0;
  try {
    while (printed < max && !stop.signal.aborted) {
      const records = await consumer.fetch({ maxRecords: Math.min(1000, max - printed), maxWaitMs: follow ? 1000 : 300, signal: stop.signal }).catch((error: unknown) => {
        if (stop.signal.aborted) return [];
        throw error;
      });
      if (records.length === 0 && !follow) break;
      for (const r of records) {
        const value = show(r.value);
        const key = r.key === null ? null : show(r.key);
        process.stdout.write(json ? `${JSON.stringify({ partition: r.partition, offset: r.offset, key, value, timestamp: r.timestamp })}\n` : `${key === null ? '' : `${stringify(key)}\t`}${stringify(value)}\n`);
        if (++printed >= max) break;
      }
    }
  } finally {
    stop.dispose();
  }
  return 0;
}

function parseFrom(text: string): From {
  if (text === 'earliest' || text === 'latest') return text;
  if (/^\d+$/.test(text)) return { offset: Number(text) };
  if (/^@\d+$/.test(text)) return { timestamp: Number(text.slice(1)) };
  throw new UsageError(`--from must be earliest, latest, an offset or @timestamp, got ${quote(text)}`);
}

const cbor = serdes.cbor();

/** Plain CBOR when the bytes are (what the SDK and `skein produce` write by default), else UTF-8 text. */
function show(bytes: Uint8Array): unknown {
  try {
    return cbor.deserialize(bytes);
  } catch {
    return Buffer.from(bytes).toString('utf8');
  }
}

function stringify(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v));
}
