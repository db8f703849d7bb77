import { defineTopic, serdes, type From } from '../../sdk/index.js';
import { brokerLimits } from '../../transport/limits.js';
import { boolFlag, helpText, intFlag, parseFlags, quote, stringFlag, UsageError, type FlagSpecs } from './args.js';
import { checkTopicName, clientFlags, interrupted, openClient } from './client-flags.js';

const flags: FlagSpecs = {
  ...clientFlags,
  topic: { type: 'string', short: 't', value: 'NAME', help: 'topic to read' },
  partition: { type: 'string', short: 'p', value: 'N', help: 'one partition', default: 'all' },
  from: { type: 'string', value: 'earliest|latest|OFFSET|@TIMESTAMP_MS', help: 'where to start', default: 'earliest' },
  follow: { type: 'boolean', short: 'f', help: 'keep waiting for new records' },
  'records-max': { type: 'string', short: 'n', value: 'N', help: 'stop after this many records' },
  json: { type: 'boolean', help: 'one JSON object per record (partition, offset, key, value, timestamp)' },
  group: { type: 'string', short: 'g', value: 'NAME', help: 'read as a member of this consumer group (it shares the partitions, starts at its committed offsets and commits what it printed)' },
  'instance-id': { type: 'string', value: 'ID', help: 'with --group: static membership (a restart within the session gets the same partitions back)' },
  // The name before 0.2, read until the next release: limits are named as the SDK's are (recordsMax).
  max: { type: 'string', renamedTo: 'records-max', help: 'the old name of --records-max' },
};

const usage = 'skein consume --topic T[,T2...] [--group G [--instance-id I]] [--partition P] [--from earliest|latest|OFFSET|@TS] [--follow] [--records-max N]';

export async function consumeCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags);
  if (boolFlag(parsed, 'help')) {
    process.stdout.write(helpText(usage, 'Prints records: values decoded from CBOR when they are CBOR, else as UTF-8.', flags));
    return 0;
  }
  const group = stringFlag(parsed, 'group');
  const topicNames = (stringFlag(parsed, 'topic') ?? '').split(',').filter((t) => t !== '').map(checkTopicName);
  if (topicNames.length === 0) throw new UsageError('--topic is required');
  if (topicNames.length > 1 && group === undefined) throw new UsageError('several topics need --group');
  const partition = intFlag(parsed, 'partition', { min: 0, max: brokerLimits.partitionsPerTopicMax - 1 });
  if (partition !== undefined && group !== undefined) throw new UsageError('--partition and --group exclude each other: the group decides who reads which partition');
  const instanceId = stringFlag(parsed, 'instance-id');
  if (instanceId !== undefined && group === undefined) throw new UsageError('--instance-id needs --group');
  const from = parseFrom(stringFlag(parsed, 'from') ?? 'earliest');
  const follow = boolFlag(parsed, 'follow');
  const max = intFlag(parsed, 'records-max', { min: 1, max: Number.MAX_SAFE_INTEGER }) ?? Number.POSITIVE_INFINITY;
  const json = boolFlag(parsed, 'json');
  const topics = topicNames.map((name) => defineTopic(name, { value: serdes.bytes(), key: serdes.bytes() }));
  const stop = interrupted();
  await using skein = openClient(parsed, 'skein-consume');
  // In a group, what is printed is finished: closing (at the end, or on SIGINT) commits it and leaves the group.
  await using consumer =
    group === undefined
      ? skein.consumer({ topic: topics[0]!, from, ...(partition !== undefined ? { partition } : {}) })
      : skein.consumer({ group, topics, from, commitOnClose: 'handed', ...(instanceId !== undefined ? { instanceId } : {}) });
  let printed = 0;
  const joinUntilMs = Date.now() + 15_000;
  try {
    while (printed < max && !stop.signal.aborted) {
      const records = await consumer.fetch({ recordsMax: Math.min(1000, max - printed), waitMsMax: follow ? 1000 : 300, signal: stop.signal }).catch((error: unknown) => {
        if (stop.signal.aborted) return [];
        throw error;
      });
      // A group member has nothing to read until it is given partitions and has read them: without --follow, it stops
      // at the first empty read once each of its partitions was read to its end (an empty read before that is a slow start).
      if (records.length === 0 && !follow && (!('caughtUp' in consumer) || consumer.caughtUp() || Date.now() > joinUntilMs)) break;
      for (const r of records) {
        const value = show(r.value);
        const key = r.key === null ? null : show(r.key);
        process.stdout.write(json ? `${JSON.stringify({ ...(group === undefined ? {} : { topic: r.topic }), partition: r.partition, offset: r.offset, key, value, timestamp: r.timestamp })}\n` : `${key === null ? '' : `${stringify(key)}\t`}${stringify(value)}\n`);
        if (++printed >= max) break;
      }
    }
  } finally {
    stop.dispose();
  }
  return 0;
}

export function parseFrom(text: string, flag = '--from'): From {
  if (text === 'earliest' || text === 'latest') return text;
  if (/^\d+$/.test(text)) return { offset: Number(text) };
  if (/^@\d+$/.test(text)) return { timestamp: Number(text.slice(1)) };
  throw new UsageError(`${flag} must be earliest, latest, an offset or @timestamp, got ${quote(text)}`);
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
