import { systemClock } from '../../transport/clock.js';
import { isSkeinError, SkeinError } from '../../transport/errors.js';
import { brokerLimits, sdkLimits } from '../../transport/limits.js';
import { abortable } from '../../transport/abort.js';
import { OptionReader } from '../check.js';
import type { Cluster } from '../cluster.js';
import { Consumer, type FetchOptions } from '../consumer/consumer.js';
import type { From } from '../consumer/from.js';
import type { ConsumedRecord } from '../consumer/record.js';
import type { OwnedPartition } from './membership.js';
import { GroupSession, groupOptionNames, keyOf, type GroupOptions } from './session.js';

export interface GroupConsumerOptions<V = unknown, K = unknown> extends GroupOptions<V, K> {
  /** Bytes asked for in one fetch of one partition. Default 1 MiB. */
  fetchBytesMax?: number;
  /** Long-poll wait of `for await` iteration. Default 500 ms. */
  waitMsMax?: number;
  /** Records per step of `for await` iteration. Default 1000. */
  recordsMax?: number;
  /** @deprecated The name before 0.2; use `waitMsMax` (read until the next release). */
  maxWaitMs?: number;
  /** @deprecated The name before 0.2; use `recordsMax` (read until the next release). */
  maxRecords?: number;
  /**
   * What close() commits of the records the last fetch() handed out:
   * 'finished' (default) takes them as not finished (they come again after a
   * restart: at-least-once), 'handed' as finished.
   */
  commitOnClose?: 'finished' | 'handed';
}

interface Reader<V, K> {
  readonly owned: OwnedPartition;
  readonly consumer: Consumer<V, K>;
  /** Records read and not handed out yet: buffer[head] onwards (taken by moving head, not by shifting the array). */
  buffer: ConsumedRecord<V, K>[];
  head: number;
  fetching: boolean;
  failure: unknown;
  /** A fetch of this partition came back empty and nothing came since: it was read to its end. */
  atEnd: boolean;
}

/**
 * A pull consumer in a consumer group: `fetch()` or `for await` over the
 * records of the partitions this member owns now. A record counts as
 * finished when the application asks for more (the next fetch() or the next
 * step of the loop), as Kafka's poll has it; auto-commit commits what is
 * finished, never what was merely handed out. A revoked partition stops
 * being read at once; it is committed and released once the records in hand
 * are finished.
 */
export class GroupConsumer<V = unknown, K = unknown> extends GroupSession<V, K> implements AsyncIterable<ConsumedRecord<V, K>>, AsyncDisposable {
  private readonly readers = new Map<string, Reader<V, K>>();
  private readonly waiters = new Set<() => void>();
  private readonly fetchBytesMax: number;
  private readonly iterationWaitMs: number;
  private readonly iterationRecords: number;
  private readonly commitOnClose: 'finished' | 'handed';
  private turn = 0;
  private lock: Promise<unknown> = Promise.resolve();

  /** @internal Use `skein.consumer({ group, ... })`. */
  constructor(cluster: Cluster, options: GroupConsumerOptions<V, K>, onClosed: () => void) {
    const r = new OptionReader(options, 'consumer()', 'INVALID_CONFIG', [...groupOptionNames, 'fetchBytesMax', 'waitMsMax', 'recordsMax', 'commitOnClose']);
    super(cluster, options, r, onClosed);
    this.fetchBytesMax = r.int('fetchBytesMax', { min: 1024, max: brokerLimits.fetchBytesMax }, sdkLimits.fetchBytesDefault);
    this.iterationWaitMs = r.int('waitMsMax', { min: 0, max: brokerLimits.fetchWaitMsMax }, sdkLimits.fetchWaitMsDefault);
    this.iterationRecords = r.int('recordsMax', { min: 1, max: brokerLimits.fetchRecordsMax }, sdkLimits.fetchRecordsDefault);
    this.commitOnClose = r.oneOf('commitOnClose', ['finished', 'handed'], 'finished');
    this.begin();
  }

  /**
   * Up to `recordsMax` records of the partitions owned now, in offset order
   * per partition, waiting up to `waitMsMax` when none are ready. Calling it
   * finishes every record the previous call returned.
   */
  async fetch(options: FetchOptions = {}): Promise<ConsumedRecord<V, K>[]> {
    const r = new OptionReader(options, 'fetch', 'INVALID_ARGUMENT', ['recordsMax', 'waitMsMax', 'signal']);
    const recordsMax = r.int('recordsMax', { min: 1, max: brokerLimits.fetchRecordsMax }, sdkLimits.fetchRecordsDefault);
    const waitMsMax = r.int('waitMsMax', { min: 0, max: brokerLimits.fetchWaitMsMax }, sdkLimits.fetchWaitMsDefault);
    const signal = r.signal('signal');
    this.finishHanded();
    const run = this.lock.then(() => this.fetchNow(recordsMax, waitMsMax, signal));
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Whether this member owns partitions and has read each to its end: every
   * one handed out, and its last fetch came back empty. An empty fetch() alone
   * does not say so: a partition just assigned may not have been read yet
   * (its committed offset still being looked up). For "read what is there,
   * then stop" (`skein consume --group` without --follow).
   */
  caughtUp(): boolean {
    if (this.readers.size === 0) return false;
    for (const reader of this.readers.values()) if (!reader.atEnd || buffered(reader) > 0) return false;
    return true;
  }

  /** Yields records one by one; each is finished when the loop asks for the next. `break` (or a throw) closes the consumer. */
  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumedRecord<V, K>, void, undefined> {
    let unread: ConsumedRecord<V, K>[] = [];
    /** unread[next] is the record the loop is handed next: walked by index, not shifted off per record. */
    let next = 0;
    try {
      for (;;) {
        if (this.closingFlag && this.failure === null) return;
        unread = await this.fetch({ recordsMax: this.iterationRecords, waitMsMax: this.iterationWaitMs });
        next = 0;
        while (next < unread.length) {
          const record = unread[next]!;
          yield record;
          next++;
          this.finish(record.topic, record.partition, record.offset + 1);
        }
      }
    } finally {
      // Records fetched but never yielded were not handed to the application.
      this.unhand(unread.slice(next));
      await this.close();
      // A consumer that ended by failing says so to the loop.
      if (this.failure !== null) throw this.failure;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  override close(): Promise<void> {
    if (this.commitOnClose === 'handed') this.finishHanded();
    return super.close();
  }

  // ------------------------------------------------------------------ GroupSession

  protected start(owned: OwnedPartition, from: From): void {
    const topic = this.topics.get(owned.topic);
    if (topic === undefined) return;
    const consumer = new Consumer<V, K>(this.cluster, { topic, partition: owned.partition, from, fetchBytesMax: this.fetchBytesMax }, () => {});
    this.readers.set(keyOf(owned), { owned, consumer, buffer: [], head: 0, fetching: false, failure: undefined, atEnd: false });
  }

  protected async drain(owned: OwnedPartition[]): Promise<void> {
    this.drop(owned);
    // What was handed out is finished when the application asks for more (or at once, when closing).
    const keys = owned.map(keyOf);
    const done = (): boolean => this.closingFlag || this.failure !== null || keys.every((key) => this.isFinished(key));
    while (!done()) await new Promise<void>((resolve) => this.waiters.add(resolve));
  }

  protected drop(owned: OwnedPartition[]): void {
    for (const o of owned) {
      const key = keyOf(o);
      const reader = this.readers.get(key);
      this.readers.delete(key);
      if (reader !== undefined) void reader.consumer.close();
    }
  }

  protected changed(): void {
    if (this.waiters.size === 0) return;
    for (const wake of [...this.waiters]) wake();
    this.waiters.clear();
  }

  // ------------------------------------------------------------------ internals

  private isFinished(key: string): boolean {
    const p = this.progress.get(key);
    return p === undefined || p.handed === p.finished;
  }

  private finishHanded(): void {
    for (const p of this.progress.values()) p.finished = p.handed;
    this.changed();
  }

  private unhand(records: ConsumedRecord<V, K>[]): void {
    // The earliest offset handed back per partition wins, whatever the order.
    for (const record of records) {
      const p = this.progress.get(keyOf(record));
      if (p !== undefined && p.handed !== null && record.offset < p.handed) p.handed = record.offset;
    }
  }

  private finish(topic: string, partition: number, next: number): void {
    const p = this.progress.get(keyOf({ topic, partition }));
    if (p !== undefined && (p.finished === null || next > p.finished)) p.finished = next;
    this.changed();
  }

  private async fetchNow(recordsMax: number, waitMsMax: number, signal: AbortSignal | undefined): Promise<ConsumedRecord<V, K>[]> {
    const untilMs = systemClock.nowMs() + waitMsMax;
    for (;;) {
      this.throwIfEnded('fetch');
      signal?.throwIfAborted();
      const records = this.take(recordsMax);
      // Whole milliseconds: a fetch takes its wait as an integer.
      const remainingMs = Math.ceil(untilMs - systemClock.nowMs());
      // Keep a read in flight for every partition with nothing buffered, also while others still hand out records:
      // a partition refilled only once every buffer ran dry would read in lockstep with the slowest.
      for (const reader of this.readers.values()) if (!reader.fetching && buffered(reader) === 0) this.read(reader, Math.max(0, Math.min(remainingMs, sdkLimits.fetchWaitMsDefault)), recordsMax);
      if (records.length > 0) return records;
      for (const reader of this.readers.values()) {
        if (reader.failure === undefined) continue;
        const failure = reader.failure;
        reader.failure = undefined;
        throw failure;
      }
      if (remainingMs <= 0) return [];
      await abortable(this.nextChange(untilMs), signal);
    }
  }

  /**
   * Refills a partition's buffer with at most `recordsMax` records (what one
   * fetch() hands out): the partition's consumer keeps the rest of what it read
   * ahead as undecoded batches, so records are deserialized only shortly
   * before they are handed out and die young, as the plain consumer's do.
   */
  private read(reader: Reader<V, K>, waitMsMax: number, recordsMax: number): void {
    reader.fetching = true;
    reader.consumer
      .fetch({ recordsMax, waitMsMax })
      .then((records) => {
        if (this.readers.get(keyOf(reader.owned)) !== reader) return;
        reader.atEnd = records.length === 0;
        if (records.length === 0) return;
        // Read only when empty: the new records replace the spent ones.
        reader.buffer = records;
        reader.head = 0;
        this.fetchedUpTo(reader.owned, records[records.length - 1]!.offset + 1);
      })
      .catch((error: unknown) => {
        if (this.readers.get(keyOf(reader.owned)) !== reader || isSkeinError(error, 'CLIENT_CLOSED')) return;
        if (isSkeinError(error, 'OFFSET_OUT_OF_RANGE')) return this.skipToStart(reader, error);
        reader.failure = error;
      })
      .finally(() => {
        reader.fetching = false;
        this.changed();
      });
  }

  /** Retention deleted records the group had not read: go on from the first one kept, and say so. The only skip there is. */
  private skipToStart(reader: Reader<V, K>, error: SkeinError): void {
    const details = (error.details ?? {}) as { offset?: number; logStartOffset?: number };
    if (details.logStartOffset === undefined || details.offset === undefined || details.offset >= details.logStartOffset) {
      reader.failure = error;
      return;
    }
    reader.consumer.seek({ offset: details.logStartOffset });
    this.count(reader.owned, 'skipped', details.logStartOffset - details.offset);
    this.feed.emit({ type: 'skipped', topic: reader.owned.topic, partition: reader.owned.partition, reason: 'retention', from: details.offset, to: details.logStartOffset });
  }

  /** Up to `max` buffered records of partitions this member may consume now, a partition at a time from a different one each call. */
  private take(max: number): ConsumedRecord<V, K>[] {
    const out: ConsumedRecord<V, K>[] = [];
    const readers = [...this.readers.values()];
    const start = this.turn++;
    for (let i = 0; i < readers.length && out.length < max; i++) {
      const reader = readers[(start + i) % readers.length]!;
      if (buffered(reader) === 0 || !this.membership.mayConsume(reader.owned.topic, reader.owned.partition)) continue;
      const taken = reader.buffer.slice(reader.head, reader.head + max - out.length);
      reader.head += taken.length;
      if (buffered(reader) === 0) {
        reader.buffer = [];
        reader.head = 0;
      }
      const progress = this.progress.get(keyOf(reader.owned));
      if (progress !== undefined) progress.handed = taken[taken.length - 1]!.offset + 1;
      out.push(...taken);
    }
    return out;
  }

  private nextChange(untilMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const cancel = systemClock.after(Math.max(0, untilMs - systemClock.nowMs()), done);
      const waiters = this.waiters;
      function done(): void {
        cancel();
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });
  }
}

function buffered(reader: { buffer: readonly unknown[]; head: number }): number {
  return reader.buffer.length - reader.head;
}
