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
  async expectReadBack(client: Skein, label = '', waitMsMax = 300): Promise<void> {
    const consumer = client.consumer({ topic: this.topic, from: 'earliest' });
    const seen: Seen[] = [];
    const deadline = Date.now() + 60_000;
    try {
      while (seen.length < this.acked.size && Date.now() < deadline) {
        for (const record of await consumer.fetch({ recordsMax: 5000, waitMsMax })) seen.push({ value: record.value, partition: record.partition, offset: record.offset });
      }
    } finally {
      await consumer.close();
    }
    this.expectEachOnce(seen, label);
  }

  /**
   * Records as a reader saw them (fetched or pushed, in the order they came):
   * every acknowledged record exactly once, where it was acknowledged, and
   * each partition in offset order, which is also the order its values were
   * produced in.
   */
  expectEachOnce(seen: readonly Seen[], label = ''): void {
    const byPartition = new Map<number, Seen[]>();
    for (const record of seen) {
      expect(this.acked.get(record.value), `${label}record ${record.value} at ${record.partition}/${record.offset}`).toEqual({ partition: record.partition, offset: record.offset });
      const list = byPartition.get(record.partition) ?? [];
      list.push(record);
      byPartition.set(record.partition, list);
    }
    expect(new Set(seen.map((r) => r.value)).size, `${label}duplicates`).toBe(seen.length);
    expect(seen.length, `${label}acknowledged records missing`).toBe(this.acked.size);
    for (const [partition, records] of byPartition) {
      const at = records.findIndex((r, i) => i > 0 && (r.offset <= records[i - 1]!.offset || r.value < records[i - 1]!.value));
      const near = records.slice(Math.max(0, at - 10), at + 5).map((r) => `${r.value}@${r.offset}`);
      expect(at, `${label}partition ${partition} out of order near: ${near.join(' ')}`).toBe(-1);
    }
  }
}

/** A record as a reader saw it. */
export interface Seen {
  value: number;
  partition: number;
  offset: number;
}
