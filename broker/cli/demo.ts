import { randomUUID } from 'node:crypto';
import { isSkeinError, Skein, type Producer, type Subscription } from '../../sdk/index.js';
import { percentile } from './bench/latency.js';
import { Progress, type ProgressStream } from './progress.js';

/** Sends of 100 records the demo producer keeps in flight. */
const demoSendsInFlight = 16;
/** The demo topic's segments; it keeps four per partition (retention deletes whole segments). */
const demoSegmentBytes = 16 * 1024 * 1024;
/** The demo's figures cover at least this long (a little under the plain line's second, which a timer may fire early). */
const demoFiguresSeconds = 0.9;
/** Latency samples kept between two recomputations of the figures. */
const demoLatencySamplesMax = 1_000_000;
/** The brokers were spawned a moment ago: on a busy machine Node takes a few seconds to start them. */
const demoBootstrapTimeoutMs = 30_000;
/** On stop, how long the sends in flight may take to be acknowledged, and then their records to arrive. */
const demoDrainMs = 3_000;

export interface DemoOptions {
  brokers: string[];
  replicationFactor: number;
  /** Stops the demo: it closes its producer and subscription and returns. */
  signal: AbortSignal;
  /** Where the figures go: redrawn in place on a terminal, a line a second elsewhere. */
  stream: ProgressStream;
  /** Told how to write a line above the figures while they are drawn (the brokers' output), and null once they are not. */
  onLogger?: (log: ((line: string) => void) | null) => void;
}

/** What the demo writes: its run's id, a counter, and when the record was made (ms since the epoch). */
interface DemoValue {
  run: string;
  n: number;
  at: number;
}

/**
 * A producer at full speed and a push consumer, with their live figures on
 * one line. It counts only records of its own run: the topic outlives the
 * demo (a `skein dev` restarted on the same data finds it), and anyone may
 * write to it from another terminal.
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  const { signal } = options;
  const skein = new Skein({ brokers: options.brokers, clientId: 'skein-dev-demo', bootstrapTimeoutMs: demoBootstrapTimeoutMs });
  try {
    const partitions = await demoTopic(skein, options.replicationFactor, signal);
    const run = randomUUID();
    const figures = new DemoFigures();
    const subscription = skein.subscribe<unknown>({
      topic: 'demo',
      from: 'latest',
      handler: (record) => {
        if (isDemoValue(record.value, run)) figures.consumed(Date.now() - record.value.at);
      },
    });
    const producer = skein.producer({ lingerMs: 5 });
    const progress = Progress.start({ label: 'demo', stream: options.stream, sample: () => ({ done: 0, detail: figures.view(performance.now()) }) });
    options.onLogger?.((line) => progress.log(line, process.stderr));
    try {
      // Every record produced is one the subscription sees, and no figure includes the wait for the cluster.
      await subscribed(subscription, partitions, signal);
      await produceUntil(producer, signal, run, (n) => figures.produced(n));
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      // The sends in flight finish (bounded), so the summary counts what was written and what arrived of it.
      await producer.close({ signal: AbortSignal.timeout(demoDrainMs) }).catch(() => {});
      await figures.caughtUp(demoDrainMs);
      progress.stop();
      options.onLogger?.(null);
      await subscription.close().catch(() => {});
      // The redrawn line is erased: what the whole run did stays on the screen.
      options.stream.write(`demo: ${figures.summary(performance.now())}\n`);
    }
  } finally {
    await skein.close();
  }
}

/** Creates the demo topic, bounded on disk (at full speed it writes several MB/s to every broker, and people leave it running); returns its partition count. */
async function demoTopic(skein: Skein, replicationFactor: number, signal: AbortSignal): Promise<number> {
  const admin = skein.admin();
  try {
    const config = { segmentBytes: demoSegmentBytes, retentionBytes: 4 * demoSegmentBytes };
    await admin.createTopic({ name: 'demo', partitions: 3, replicationFactor, config }, { signal });
    return 3;
  } catch (error) {
    if (!isSkeinError(error, 'TOPIC_EXISTS')) throw error;
    return (await admin.describeTopic('demo', { signal })).partitions.length;
  }
}

/** Resolves once every partition reports 'subscribed' (its start resolved, its leader found); rejects on 'failed' or the signal. */
async function subscribed(subscription: Subscription<unknown>, partitions: number, signal: AbortSignal): Promise<void> {
  const statuses = subscription.status();
  const stop = (): void => void statuses.return?.();
  signal.addEventListener('abort', stop, { once: true });
  const ready = new Set<number>();
  try {
    for await (const status of statuses) {
      if (status.type === 'failed') throw status.error;
      if (status.type === 'subscribed') ready.add(status.partition);
      if (ready.size >= partitions) return;
    }
    signal.throwIfAborted();
    throw new Error('the demo subscription ended before every partition was subscribed');
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

function isDemoValue(value: unknown, run: string): value is DemoValue {
  return typeof value === 'object' && value !== null && (value as Partial<DemoValue>).run === run && typeof (value as Partial<DemoValue>).at === 'number';
}

/**
 * Full speed means batches in flight while earlier ones are acknowledged, not
 * one send awaited at a time. The signal stops new sends; those in flight
 * finish when the producer closes.
 */
async function produceUntil(producer: Producer, signal: AbortSignal, run: string, acknowledged: (records: number) => void): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  let n = 0;
  while (!signal.aborted) {
    const messages = Array.from({ length: 100 }, () => ({ key: `key-${n % 16}`, value: { run, n: n++, at: Date.now() } satisfies DemoValue }));
    const sending = producer.send({ topic: 'demo', messages }).then(() => acknowledged(messages.length));
    inFlight.add(sending);
    sending.then(
      () => inFlight.delete(sending),
      () => inFlight.delete(sending),
    );
    if (inFlight.size >= demoSendsInFlight) await Promise.race([stopped, ...inFlight]);
  }
}

/** The demo's rates and end-to-end latency percentiles, recomputed once a second however often they are drawn. */
class DemoFigures {
  private producedTotal = 0;
  private consumedTotal = 0;
  private latencies: number[] = [];
  private latencyMaxMs = 0;
  private readonly startedAt = performance.now();
  private last = { at: this.startedAt, produced: 0, consumed: 0 };
  private shown = 'starting';

  produced(records: number): void {
    this.producedTotal += records;
  }

  consumed(latencyMs: number): void {
    this.consumedTotal++;
    // Bounded: a second at full speed is far below this, a stalled redraw cannot grow it without end.
    if (this.latencies.length < demoLatencySamplesMax) this.latencies.push(latencyMs);
    this.latencyMaxMs = Math.max(this.latencyMaxMs, latencyMs);
  }

  /** Resolves once every record acknowledged has been consumed, or after `limitMs`. */
  async caughtUp(limitMs: number): Promise<void> {
    const untilMs = performance.now() + limitMs;
    while (this.consumedTotal < this.producedTotal && performance.now() < untilMs) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  /** The whole run: what was acknowledged and consumed, and the longest end-to-end latency. */
  summary(now: number): string {
    const seconds = ((now - this.startedAt) / 1000).toFixed(1);
    const max = this.consumedTotal === 0 ? '-' : `${this.latencyMaxMs} ms`;
    return `produced ${this.producedTotal}, consumed ${this.consumedTotal} in ${seconds} s, e2e max ${max}`;
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
