import { createInterface } from 'node:readline';
import { defineTopic, serdes, type Acks } from '../../sdk/index.js';
import { boolFlag, helpText, intFlag, parseFlags, stringFlag, UsageError, type FlagSpecs } from './args.js';
import { clientFlags, interrupted, openClient } from './client-flags.js';

const flags: FlagSpecs = {
  ...clientFlags,
  topic: { type: 'string', short: 't', help: 'topic to produce to' },
  key: { type: 'string', short: 'k', help: 'key of every record (keyless records spread over partitions)' },
  'key-separator': { type: 'string', help: 'split each line into key and value at the first occurrence of this' },
  count: { type: 'string', short: 'n', help: 'generate this many records instead of reading stdin' },
  size: { type: 'string', help: 'bytes of each generated value', default: '100' },
  acks: { type: 'string', help: 'all | leader | none', default: 'all' },
  verbose: { type: 'boolean', short: 'v', help: 'print the partition and offset of every record' },
};

const usage = 'skein produce --topic T [--key K] [--count N --size B] < lines';

/** Values are UTF-8 strings (CBOR-encoded like any SDK value), so `skein consume` and applications read them back as strings. */
export async function produceCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags);
  if (parsed.values.help === true) {
    process.stdout.write(helpText(usage, 'Produces each line of stdin (or generated records) as one record.', flags));
    return 0;
  }
  const topicName = stringFlag(parsed, 'topic');
  if (topicName === undefined) throw new UsageError('--topic is required');
  const acks = stringFlag(parsed, 'acks') ?? 'all';
  if (acks !== 'all' && acks !== 'leader' && acks !== 'none') throw new UsageError(`--acks must be all, leader or none, got "${acks}"`);
  const count = intFlag(parsed, 'count', { min: 1, max: Number.MAX_SAFE_INTEGER });
  const size = intFlag(parsed, 'size', { min: 0, max: 4 * 1024 * 1024 }) ?? 100;
  const fixedKey = stringFlag(parsed, 'key');
  const separator = stringFlag(parsed, 'key-separator');
  const verbose = boolFlag(parsed, 'verbose');
  const topic = defineTopic<string, string>(topicName, { key: serdes.string() });
  const stop = interrupted();
  await using skein = openClient(parsed, 'skein-produce');
  const producer = skein.producer({ acks: acks as Acks, lingerMs: 5 });
  let sent = 0;
  const pending = new Set<Promise<void>>();
  const send = async (key: string | null, value: string): Promise<void> => {
    const [meta] = await producer.send({ topic, messages: [{ key, value }] }, { signal: stop.signal });
    sent++;
    if (verbose && meta !== undefined) process.stdout.write(`${meta.partition}:${meta.offset ?? '-'}\n`);
  };
  const track = async (key: string | null, value: string): Promise<void> => {
    const p = send(key, value);
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => {});
    // Bound what waits in this process: the producer batches, this loop only feeds it.
    if (pending.size >= 10_000) await Promise.race(pending);
  };
  try {
    if (count !== undefined) {
      const filler = 'x'.repeat(size);
      for (let i = 0; i < count && !stop.signal.aborted; i++) await track(fixedKey ?? null, `${i} ${filler}`.slice(0, Math.max(size, String(i).length)));
    } else {
      for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
        if (stop.signal.aborted) break;
        if (separator !== undefined && line.includes(separator)) {
          const at = line.indexOf(separator);
          await track(line.slice(0, at), line.slice(at + separator.length));
        } else {
          await track(fixedKey ?? null, line);
        }
      }
    }
    await Promise.all(pending);
    await producer.flush();
  } finally {
    stop.dispose();
  }
  process.stderr.write(`produced ${sent} records to ${topicName}\n`);
  return 0;
}
