import { randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { percentile } from './bench/latency.js';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { isSkeinError, Skein } from '../../sdk/index.js';
import { boolFlag, helpText, intFlag, parseFlags, stringFlag, type FlagSpecs } from './args.js';

const flags: FlagSpecs = {
  brokers: { type: 'string', help: 'how many brokers', default: '3' },
  port: { type: 'string', help: 'first broker port; the others follow', default: '9092' },
  data: { type: 'string', help: 'data directory (one subdirectory per broker)', default: '$TMPDIR/skein-dev-<port>' },
  fresh: { type: 'boolean', help: 'delete the data directory first' },
  demo: { type: 'boolean', help: 'also run a producer and a push consumer, printing live throughput' },
  'tick-ms': { type: 'string', help: 'Raft tick of every broker', default: '100' },
};

const usage = 'skein dev [--brokers 3] [--port 9092] [--data DIR] [--fresh] [--demo]';

/**
 * A local cluster on loopback: real broker processes (this same program run
 * as `skein broker`), an embedded configuration, and a line on how to
 * connect. Ctrl-C stops every broker gracefully.
 */
export async function devCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags);
  if (parsed.values.help === true) {
    process.stdout.write(helpText(usage, 'Runs a local cluster until Ctrl-C.', flags));
    return 0;
  }
  const count = intFlag(parsed, 'brokers', { min: 1, max: 7 }) ?? 3;
  const port = intFlag(parsed, 'port', { min: 1, max: 65_535 - 7 }) ?? 9092;
  const tickMs = intFlag(parsed, 'tick-ms', { min: 1, max: 10_000 }) ?? 100;
  const dataDir = stringFlag(parsed, 'data') ?? join(tmpdir(), `skein-dev-${port}`);
  if (boolFlag(parsed, 'fresh')) rmSync(dataDir, { recursive: true, force: true });
  const addresses = Array.from({ length: count }, (_, i) => `127.0.0.1:${port + i}`);
  const peers = addresses.map((a, i) => `${i + 1}@${a}`).join(',');
  const script = process.argv[1];
  if (script === undefined) throw new Error('cannot find the skein script to start brokers with');

  // The local brokers authenticate their peer links like a real cluster's, with a secret made for this run.
  const env = { ...process.env, SKEIN_PEER_SECRET: process.env.SKEIN_PEER_SECRET || randomBytes(24).toString('base64url') };
  const children = addresses.map((address, i) => {
    const id = i + 1;
    const child = spawn(process.execPath, [script, 'broker', '--id', String(id), '--listen', address, '--data', join(dataDir, `broker-${id}`), '--peers', peers, '--tick-ms', String(tickMs)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => process.stderr.write(`[broker ${id}] ${line}\n`));
    }
    return child;
  });
  const stopped = new AbortController();
  const exits = children.map(
    (child, i) =>
      new Promise<number>((resolve) =>
        child.on('exit', (code, signal) => {
          if (!stopped.signal.aborted) process.stderr.write(`[broker ${i + 1}] exited unexpectedly (${signal ?? code})\n`);
          resolve(code ?? 1);
        }),
      ),
  );
  const stop = (): void => stopped.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  process.stdout.write(
    `skein dev: ${count} brokers on ${addresses.join(', ')} (data in ${dataDir})\n` +
      `connect:   new Skein({ brokers: ${JSON.stringify(addresses)} })\n` +
      `           SKEIN_BROKERS=${addresses.join(',')} skein topic list\n` +
      `stop:      Ctrl-C\n`,
  );
  let demo: Promise<void> = Promise.resolve();
  if (boolFlag(parsed, 'demo')) demo = runDemo(addresses, Math.min(3, count), stopped.signal);
  await Promise.race([new Promise((resolve) => stopped.signal.addEventListener('abort', resolve, { once: true })), Promise.all(exits)]);
  stopped.abort();
  await demo.catch(() => {});
  process.stderr.write('skein dev: stopping brokers\n');
  for (const child of children) terminate(child);
  const codes = await Promise.all(exits);
  return codes.every((code) => code === 0) ? 0 : 1;
}

function terminate(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}

/** Sends of 100 records the demo producer keeps in flight. */
const demoSendsInFlight = 16;
/** The demo topic's segments; it keeps four per partition (retention deletes whole segments). */
const demoSegmentBytes = 16 * 1024 * 1024;

/** A producer at full speed and a push consumer, with one line of live figures a second. */
async function runDemo(brokers: string[], replicationFactor: number, signal: AbortSignal): Promise<void> {
  const skein = new Skein({ brokers, clientId: 'skein-dev-demo' });
  try {
    try {
      // Bounded on disk: at full speed the demo writes several MB/s to every broker, and people leave it running.
      const config = { segmentBytes: demoSegmentBytes, retentionBytes: 4 * demoSegmentBytes };
      await skein.admin().createTopic({ name: 'demo', partitions: 3, replicationFactor, config }, { signal });
    } catch (error) {
      if (!isSkeinError(error, 'TOPIC_EXISTS')) throw error;
    }
    let produced = 0;
    let consumed = 0;
    const latencies: number[] = [];
    const subscription = skein.subscribe<{ n: number; at: number }>({
      topic: 'demo',
      from: 'latest',
      handler: (record) => {
        consumed++;
        latencies.push(Date.now() - record.value.at);
      },
    });
    const producer = skein.producer({ lingerMs: 5 });
    let last = { at: performance.now(), produced: 0, consumed: 0 };
    const ticker = setInterval(() => {
      const now = performance.now();
      const seconds = (now - last.at) / 1000;
      latencies.sort((a, b) => a - b);
      const p = (q: number): string => (latencies.length === 0 ? '-' : `${percentile(latencies, q * 100)} ms`);
      process.stdout.write(
        `demo: produced ${Math.round((produced - last.produced) / seconds)} msgs/s, consumed ${Math.round((consumed - last.consumed) / seconds)} msgs/s, end-to-end p50 ${p(0.5)} p99 ${p(0.99)} (total ${consumed})\n`,
      );
      latencies.length = 0;
      last = { at: now, produced, consumed };
    }, 1000);
    // Full speed means batches in flight while earlier ones are acknowledged, not one send awaited at a time.
    const inFlight = new Set<Promise<void>>();
    try {
      let n = 0;
      while (!signal.aborted) {
        const messages = Array.from({ length: 100 }, () => ({ key: `key-${n % 16}`, value: { n: n++, at: Date.now() } }));
        const sending = producer.send({ topic: 'demo', messages }, { signal }).then(() => {
          produced += messages.length;
        });
        inFlight.add(sending);
        sending.then(
          () => inFlight.delete(sending),
          () => inFlight.delete(sending),
        );
        if (inFlight.size >= demoSendsInFlight) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      clearInterval(ticker);
      await producer.close().catch(() => {});
      await subscription.close().catch(() => {});
    }
  } finally {
    await skein.close();
  }
}
