import { randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { isSkeinError, Skein, type Producer } from '../../sdk/index.js';
import { boolFlag, helpText, intFlag, parseFlags, quote, stringFlag, UsageError, type FlagSpecs, type ParsedFlags } from './args.js';
import { percentile } from './bench/latency.js';
import { skeinInvocation } from './invocation.js';
import { Progress } from './progress.js';

const brokerCountMax = 7;

const flags: FlagSpecs = {
  'broker-count': { type: 'string', value: 'N', help: 'how many brokers', default: '3' },
  // The first spelling, kept working for scripts written against it: everywhere else --brokers lists addresses.
  brokers: { type: 'string', hidden: true, help: 'deprecated: --broker-count' },
  port: { type: 'string', value: 'PORT', help: 'first broker port; the others follow', default: '9092' },
  data: { type: 'string', value: 'DIR', help: 'data directory (one subdirectory per broker)', default: '$TMPDIR/skein-dev-PORT' },
  fresh: { type: 'boolean', help: 'delete the data directory first' },
  demo: { type: 'boolean', help: 'also run a producer and a push consumer, showing live throughput' },
  'tick-ms': { type: 'string', value: 'MS', help: 'Raft tick of every broker', default: '100' },
};

const usage = 'skein dev [--broker-count 3] [--port 9092] [--data DIR] [--fresh] [--demo]';

/**
 * A local cluster on loopback: real broker processes (this same program run
 * as `skein broker`), an embedded configuration, and a line on how to
 * connect. Ctrl-C stops every broker gracefully.
 */
export async function devCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, flags);
  if (boolFlag(parsed, 'help')) {
    process.stdout.write(helpText(usage, 'Runs a local cluster until Ctrl-C.', flags));
    return 0;
  }
  const count = brokerCount(parsed);
  const port = intFlag(parsed, 'port', { min: 1, max: 65_535 - brokerCountMax }) ?? 9092;
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
      // A process group of its own: Ctrl-C in a terminal reaches this command alone, which stops the demo and then
      // the brokers. Were the brokers in the terminal's group they would stop first, and the demo's last sends wait on them.
      detached: true,
      windowsHide: true,
    });
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => output.log(`[broker ${id}] ${line}`));
    }
    return child;
  });
  const stopped = new AbortController();
  const exits = children.map(
    (child, i) =>
      new Promise<number>((resolve) =>
        child.on('exit', (code, signal) => {
          if (!stopped.signal.aborted) output.log(`[broker ${i + 1}] exited unexpectedly (${signal ?? code})`);
          resolve(code ?? 1);
        }),
      ),
  );
  const stop = (): void => stopped.abort();
  // A closed terminal stops the cluster as Ctrl-C does, rather than leaving its brokers behind.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, stop);

  process.stdout.write(
    `skein dev: ${count} broker${count === 1 ? '' : 's'} on ${addresses.join(', ')} (data in ${dataDir})\n` +
      `connect:   new Skein({ brokers: ${JSON.stringify(addresses)} })\n` +
      `           SKEIN_BROKERS=${addresses.join(',')} ${skeinInvocation()} topic list\n` +
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

/** Where broker output goes: straight to stderr, or above the demo's redrawn line while it runs. */
const output = { log: (line: string): void => void process.stderr.write(`${line}\n`) };

/** --broker-count, or the deprecated --brokers N with a notice; an address list there is a mistake worth explaining. */
function brokerCount(parsed: ParsedFlags): number {
  const count = intFlag(parsed, 'broker-count', { min: 1, max: brokerCountMax });
  const old = stringFlag(parsed, 'brokers');
  if (old === undefined) return count ?? 3;
  if (count !== undefined) throw new UsageError('--brokers is the old name of --broker-count; give one of them');
  if (!/^\s*\d+\s*$/.test(old)) throw new UsageError(`--brokers ${quote(old)}: skein dev starts its own brokers: --broker-count N says how many, --port where they listen`);
  const value = intFlag(parsed, 'brokers', { min: 1, max: brokerCountMax })!;
  process.stderr.write(`skein dev: --brokers ${value} is deprecated: use --broker-count ${value} (elsewhere --brokers lists addresses)\n`);
  return value;
}

function terminate(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}

/** Sends of 100 records the demo producer keeps in flight. */
const demoSendsInFlight = 16;
/** The demo topic's segments; it keeps four per partition (retention deletes whole segments). */
const demoSegmentBytes = 16 * 1024 * 1024;
/** The demo's figures cover at least this long (a little under the plain line's second, which a timer may fire early). */
const demoFiguresSeconds = 0.9;
/** Latency samples kept between two recomputations of the figures. */
const demoLatencySamplesMax = 1_000_000;

/** A producer at full speed and a push consumer, with their live figures on one line (redrawn in place on a terminal). */
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
    const figures = new DemoFigures();
    const subscription = skein.subscribe<{ n: number; at: number }>({
      topic: 'demo',
      from: 'latest',
      handler: (record) => figures.consumed(Date.now() - record.value.at),
    });
    const producer = skein.producer({ lingerMs: 5 });
    const progress = Progress.start({ label: 'demo', stream: process.stdout, sample: () => ({ done: 0, detail: figures.view(performance.now()) }) });
    output.log = (line) => progress.log(line, process.stderr);
    try {
      await produceUntil(producer, signal, (n) => figures.produced(n));
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      progress.stop();
      output.log = (line) => void process.stderr.write(`${line}\n`);
      await producer.close().catch(() => {});
      await subscription.close().catch(() => {});
    }
  } finally {
    await skein.close();
  }
}

/** Full speed means batches in flight while earlier ones are acknowledged, not one send awaited at a time. */
async function produceUntil(producer: Producer, signal: AbortSignal, acknowledged: (records: number) => void): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let n = 0;
  while (!signal.aborted) {
    const messages = Array.from({ length: 100 }, () => ({ key: `key-${n % 16}`, value: { n: n++, at: Date.now() } }));
    const sending = producer.send({ topic: 'demo', messages }, { signal }).then(() => acknowledged(messages.length));
    inFlight.add(sending);
    sending.then(
      () => inFlight.delete(sending),
      () => inFlight.delete(sending),
    );
    if (inFlight.size >= demoSendsInFlight) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

/** The demo's rates and end-to-end latency percentiles, recomputed once a second however often they are drawn. */
class DemoFigures {
  private producedTotal = 0;
  private consumedTotal = 0;
  private latencies: number[] = [];
  private last = { at: performance.now(), produced: 0, consumed: 0 };
  private shown = 'starting';

  produced(records: number): void {
    this.producedTotal += records;
  }

  consumed(latencyMs: number): void {
    this.consumedTotal++;
    // Bounded: a second at full speed is far below this, a stalled redraw cannot grow it without end.
    if (this.latencies.length < demoLatencySamplesMax) this.latencies.push(latencyMs);
  }

  view(now: number): string {
    const seconds = (now - this.last.at) / 1000;
    if (seconds < demoFiguresSeconds) return this.shown;
    const sorted = this.latencies.sort((a, b) => a - b);
    const p = (q: number): string => (sorted.length === 0 ? '-' : `${percentile(sorted, q)} ms`);
    const rate = (total: number, before: number): number => Math.round((total - before) / seconds);
    this.shown = `produced ${rate(this.producedTotal, this.last.produced)}/s consumed ${rate(this.consumedTotal, this.last.consumed)}/s e2e p50 ${p(50)} p99 ${p(99)} total ${this.consumedTotal}`;
    this.latencies = [];
    this.last = { at: now, produced: this.producedTotal, consumed: this.consumedTotal };
    return this.shown;
  }
}
