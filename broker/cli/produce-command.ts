import { createInterface } from 'node:readline';
import { defineTopic } from '../../sdk/index.js';
import { acksValues } from '../../transport/protocol/messages.js';
import { recordLimits } from '../../transport/limits.js';
import { boolFlag, choiceFlag, helpText, intFlag, parseFlags, stringFlag, UsageError, type FlagSpecs } from './args.js';
import { clientFlags, interrupted, openClient, topicFlag } from './client-flags.js';
import { Progress } from './progress.js';

const flags: FlagSpecs = {
  ...clientFlags,
  topic: { type: 'string', short: 't', value: 'NAME', help: 'topic to produce to' },
  key: { type: 'string', short: 'k', value: 'KEY', help: 'key of every record (keyless records spread over partitions)' },
  'key-separator': { type: 'string', value: 'TEXT', help: 'split each line into key and value at the first occurrence of this' },
  count: { type: 'string', short: 'n', value: 'N', help: 'generate this many records instead of reading stdin' },
  size: { type: 'string', value: 'BYTES', help: 'bytes of each generated value', default: '100' },
  acks: { type: 'string', value: acksValues.join('|'), help: 'acknowledgement each record waits for', default: 'all' },
  verbose: { type: 'boolean', short: 'v', help: 'print the partition and offset of every record' },
};

const usage = 'skein produce --topic T [--key K] [--count N --size B] < lines';

/** Values are UTF-8 strings (CBOR-encoded like any SDK value), so `skein consume` and applications read them back as strings. */
export async function produceCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags);
  if (boolFlag(parsed, 'help')) {
    process.stdout.write(helpText(usage, 'Produces each line of stdin (or generated records) as one record.', flags));
    return 0;
  }
  const topicName = topicFlag(parsed);
  if (topicName === undefined) throw new UsageError('--topic is required');
  const acks = choiceFlag(parsed, 'acks', acksValues, 'all');
  const count = intFlag(parsed, 'count', { min: 1, max: Number.MAX_SAFE_INTEGER });
  const size = intFlag(parsed, 'size', { min: 0, max: recordLimits.recordBytesMax }) ?? 100;
  const fixedKey = stringFlag(parsed, 'key');
  const separator = stringFlag(parsed, 'key-separator');
  // A flag that would be ignored is refused, so nobody believes it did something.
  if (count === undefined && stringFlag(parsed, 'size') !== undefined) throw new UsageError('--size sets the size of generated records: give --count too');
  if (count !== undefined && separator !== undefined) throw new UsageError('--key-separator splits lines of stdin, which --count does not read');
  if (separator === '') throw new UsageError('--key-separator must not be empty');
  const verbose = boolFlag(parsed, 'verbose');
  // The SDK's default serdes (CBOR) for keys and values: records land where an application's would, and read back alike.
  const topic = defineTopic<string, string>(topicName);
  const stop = interrupted();
  await using skein = openClient(parsed, 'skein-produce');
  const producer = skein.producer({ acks, lingerMs: 5 });
  let sent = 0;
  let failure: unknown = null;
  // On a terminal, a line with the count and rate; not while someone types the records into it.
  const progress = count !== undefined || process.stdin.isTTY !== true ? Progress.start({ label: 'produce', total: count, unit: 'acknowledged', rateUnit: 'msgs', plain: 'quiet', sample: () => ({ done: sent }) }) : null;
  const pending = new Set<Promise<void>>();
  const send = async (key: string | null, value: string): Promise<void> => {
    const [meta] = await producer.send({ topic, messages: [{ key, value }] }, { signal: stop.signal });
    sent++;
    if (verbose && meta !== undefined) (progress ?? plainOutput).log(`${meta.partition}:${meta.offset ?? '-'}`, process.stdout);
  };
  const track = async (key: string | null, value: string): Promise<void> => {
    // The first failure is kept and reported; the loop stops feeding once there is one.
    const p = send(key, value).catch((error: unknown) => void (failure ??= error));
    pending.add(p);
    void p.finally(() => pending.delete(p));
    // Bound what waits in this process: the producer batches, this loop only feeds it.
    if (pending.size >= 10_000) await Promise.race(pending);
  };
  try {
    const more = (): boolean => !stop.signal.aborted && failure === null;
    if (count !== undefined) await generate({ count, size, key: fixedKey ?? null }, track, more);
    else await readLines({ separator, key: fixedKey ?? null }, track, more);
    await Promise.all(pending);
    if (failure === null) await producer.flush();
  } finally {
    progress?.stop();
    stop.dispose();
  }
  const failed = failure !== null && !stop.signal.aborted;
  // A failure with nothing produced is said by the error alone: "produced 0 records" would read as a result.
  if (!failed) process.stderr.write(`produced ${sent} records to ${topicName}\n`);
  else if (sent > 0) process.stderr.write(`produced ${sent} records to ${topicName} before the failure below\n`);
  if (failed) throw failure;
  return 0;
}

type Track = (key: string | null, value: string) => Promise<void>;

const plainOutput = { log: (line: string, stream: NodeJS.WritableStream): void => void stream.write(`${line}\n`) };

async function generate(o: { count: number; size: number; key: string | null }, track: Track, more: () => boolean): Promise<void> {
  const filler = 'x'.repeat(o.size);
  for (let i = 0; i < o.count && more(); i++) await track(o.key, `${i} ${filler}`.slice(0, Math.max(o.size, String(i).length)));
}

async function readLines(o: { separator: string | undefined; key: string | null }, track: Track, more: () => boolean): Promise<void> {
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (!more()) break;
    const at = o.separator === undefined ? -1 : line.indexOf(o.separator);
    if (at >= 0) await track(line.slice(0, at), line.slice(at + o.separator!.length));
    else await track(o.key, line);
  }
}
