import type { SkeinError } from '../../transport/errors.js';
import { BATCH_HEADER_BYTES } from '../../transport/protocol/record-batch.js';
import type { RecordInput } from '../../transport/protocol/records.js';

/** What a record's promise resolves to once acknowledged (offset null with acks 'none'). */
export interface Acknowledgement {
  offset: number | null;
  timestamp: number;
}

/**
 * The records of one `send` call: one promise for all of them (not one per
 * record), resolved with every acknowledgement in input order, or rejected
 * with the first failure.
 */
export class SendGroup {
  readonly promise: Promise<Acknowledgement[]>;
  private readonly acks: Acknowledgement[];
  private remaining: number;
  private done = false;
  private resolve!: (acks: Acknowledgement[]) => void;
  private reject!: (error: unknown) => void;

  constructor(size: number) {
    this.acks = new Array<Acknowledgement>(size);
    this.remaining = size;
    this.promise = new Promise<Acknowledgement[]>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  acknowledge(index: number, ack: Acknowledgement): void {
    if (this.done) return;
    this.acks[index] = ack;
    if (--this.remaining === 0) {
      this.done = true;
      this.resolve(this.acks);
    }
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.reject(error);
  }
}

/** One record waiting in the producer, serialized, with its place in its `send` call. */
export interface PendingRecord {
  input: RecordInput;
  /** Upper bound of its encoded size; what the producer buffer accounts for it. */
  bytes: number;
  group: SendGroup;
  index: number;
}

/**
 * Upper bound of one record's encoded size in a batch (records.ts): its
 * payload plus at most 25 bytes of varints (length, timestamp delta, offset
 * delta, key and value lengths, header count) and 6 per header.
 */
export function recordBytesBound(input: RecordInput): number {
  let bytes = 25 + (input.key?.length ?? 0) + (input.value?.length ?? 0);
  for (const header of input.headers ?? []) bytes += 6 + Buffer.byteLength(header.key) + header.value.length;
  return bytes;
}

/**
 * A batch of records for one partition, from the first append until the
 * broker's answer. It stays appendable until the pipeline takes it (so
 * records keep joining while earlier batches are in flight); from its first
 * send its sequence number and bytes never change, unless the broker
 * definitively refused an earlier batch (then it was never written and gets
 * a new sequence number).
 */
export class ProducerBatch {
  readonly records: PendingRecord[] = [];
  /** Upper bound of its encoded size. */
  bytes = BATCH_HEADER_BYTES;
  /** Linger over, full, or flushed: the pipeline may take it. */
  ready = false;
  /** The pipeline took it: no more appends. */
  sealed = false;
  baseSequence: number | null = null;
  producerId = -1;
  producerEpoch = -1;
  /** The proof issued with its producer id: sent with it, so the partition knows the id is ours. */
  producerProof: Uint8Array | null = null;
  encoded: Uint8Array | null = null;
  attempts = 0;
  /** The last attempt ended without knowing whether the broker wrote it (timeout, dead connection). */
  uncertain = false;
  /** Its records' promises were already rejected (deadline passed); it is only resent to learn its fate. */
  abandoned = false;
  /** Producer-id rotations this batch caused; a second one means the broker keeps losing our state. */
  rotations = 0;
  lastError: SkeinError | null = null;
  /** Its bytes went back to the producer buffer. */
  released = false;

  /** Resolves once every record's promise has settled (acknowledged or rejected). */
  readonly settled: Promise<void>;
  private markSettled!: () => void;
  private isSettled = false;

  constructor(
    readonly createdAtMs: number,
    readonly deadlineMs: number,
  ) {
    this.settled = new Promise<void>((resolve) => (this.markSettled = resolve));
  }

  /** Resolves every record with its offset (base + index), or null offsets with acks 'none'. */
  acknowledge(baseOffset: number | null): void {
    if (!this.isSettled) {
      for (let i = 0; i < this.records.length; i++) {
        const record = this.records[i]!;
        record.group.acknowledge(record.index, { offset: baseOffset === null ? null : baseOffset + i, timestamp: record.input.timestamp });
      }
    }
    this.settle();
  }

  /** Rejects every record's promise; the batch may still travel (see `abandoned`). */
  fail(error: unknown): void {
    if (!this.isSettled) for (const record of this.records) record.group.fail(error);
    this.settle();
  }

  private settle(): void {
    this.isSettled = true;
    this.markSettled();
  }

  /** What its records hold of the producer buffer (the header is not accounted). */
  get bufferedBytes(): number {
    return this.bytes - BATCH_HEADER_BYTES;
  }

  add(record: PendingRecord): void {
    this.records.push(record);
    this.bytes += record.bytes;
  }

  /** Forgets the sequence number and bytes: the broker definitively never wrote this batch. */
  resequence(): void {
    this.baseSequence = null;
    this.encoded = null;
    this.uncertain = false;
  }
}
