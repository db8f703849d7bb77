import { expect } from 'vitest';
import type { Producer, Skein, TopicDefinition } from '../../sdk/index.js';
import type { Prng } from '../../transport/core/prng.js';

/**
 * What the crash tests promise, in one place: records are numbered values;
 * every acknowledged one must be read back exactly once, at the partition
 * and offset it was acknowledged with, and each partition must hold its
 * values in the order they were produced.
 */
export class Ledger {
  /** Acknowledged value → where it was written. */
  readonly acked = new Map<number, { partition: number; offset: number }>();
  readonly failures: unknown[] = [];

  constructor(private readonly topic: TopicDefinition<number, string>) {}

  /** Sends `values` in one call (keyed by `keyOf`) and records the outcome. */
  send(producer: Producer, values: number[], keyOf: (value: number) => string): Promise<void> {
    return producer.send({ topic: this.topic, messages: values.map((value) => ({ key: keyOf(value), value })) }).then(
      (metas) => metas.forEach((m, i) => this.acked.set(values[i]!, { partition: m.partition, offset: m.offset! })),
      (error: unknown) => void this.failures.push(error),
    );
  }

  /**
   * Writes numbered values while `keepWriting()` says so: 1–30 per send, keyed
   * over `keys` keys, at most 8 sends in flight, a pause of `pauseMs` between
   * sends. Resolves once every send has settled (acknowledged or failed).
   */
  async writeWhile(producer: Producer, options: { prng: Prng; keepWriting: () => boolean; keys: number; pauseMs: [number, number] }): Promise<void> {
    const { prng, keepWriting, keys, pauseMs } = options;
    let next = 0;
    const inFlight: Promise<void>[] = [];
    while (keepWriting()) {
      const values = Array.from({ length: prng.int(1, 30) }, () => next++);
      inFlight.push(this.send(producer, values, (v) => `k${v % keys}`));
      if (inFlight.length >= 8) await inFlight.shift();
      await new Promise((resolve) => setTimeout(resolve, prng.int(...pauseMs)));
    }
    await Promise.all(inFlight);
  }

  /** Reads the topic from the start and checks the promise; `label` prefixes every failure message (a seed, say). */
  async expectReadBack(client: Skein, label = '', maxWaitMs = 300): Promise<void> {
    const consumer = client.consumer({ topic: this.topic, from: 'earliest' });
    const seen = new Map<number, number[]>();
    let count = 0;
    const deadline = Date.now() + 60_000;
    try {
      while (count < this.acked.size && Date.now() < deadline) {
        for (const record of await consumer.fetch({ maxRecords: 5000, maxWaitMs })) {
          const list = seen.get(record.partition) ?? [];
          list.push(record.value);
          seen.set(record.partition, list);
          count++;
          expect(this.acked.get(record.value), `${label}record ${record.value} at ${record.partition}/${record.offset}`).toEqual({ partition: record.partition, offset: record.offset });
        }
      }
    } finally {
      await consumer.close();
    }
    const all = [...seen.values()].flat();
    expect(new Set(all).size, `${label}duplicates`).toBe(all.length);
    expect(all.length, `${label}acknowledged records missing`).toBe(this.acked.size);
    for (const [partition, values] of seen) {
      const at = values.findIndex((v, i) => i > 0 && v < values[i - 1]!);
      expect(at, `${label}partition ${partition} out of order near: ${values.slice(Math.max(0, at - 10), at + 5).join(' ')}`).toBe(-1);
    }
  }
}
