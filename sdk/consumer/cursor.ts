import { SkeinError } from '../../transport/errors.js';
import { decodeRecords, splitBatches, type BatchHeader } from '../../transport/protocol/record-batch.js';
import type { DecodedRecord } from '../../transport/protocol/records.js';

/**
 * Walks the records of a fetch response or push (whole batches,
 * concatenated), decoding one batch at a time. Every batch is verified
 * (both checksums) before a record of it is handed out; control batches
 * (Raft's own entries) carry no records and are stepped over; records below
 * the reader's position (a response may start before it) are skipped.
 */
export class BatchCursor {
  private readonly batches: { header: BatchHeader; bytes: Uint8Array }[];
  private batchIndex = 0;
  private records: DecodedRecord[] = [];
  private recordIndex = 0;
  /** The offset after the last batch: where the next read continues. */
  readonly endOffset: number;
  readonly byteLength: number;
  readonly recordCount: number;

  /** Throws CORRUPT_BATCH when the bytes are not whole, valid batches. */
  constructor(bytes: Uint8Array) {
    this.batches = splitBatches(bytes);
    this.byteLength = bytes.byteLength;
    let count = 0;
    let end = 0;
    for (const { header } of this.batches) {
      count += header.recordCount;
      end = Math.max(end, header.nextOffset);
    }
    this.recordCount = count;
    this.endOffset = end;
  }

  /**
   * The next record at or after `position`, or null when the cursor is
   * exhausted. A batch whose records cannot be decoded throws CORRUPT_BATCH
   * (details: offset and nextOffset of the batch) and stays where it is:
   * every call throws again until skipBatch() steps over it, so nothing is
   * skipped without the caller knowing.
   */
  next(position: number): DecodedRecord | null {
    for (;;) {
      while (this.recordIndex < this.records.length) {
        const record = this.records[this.recordIndex++]!;
        if (record.offset >= position) return record;
      }
      const batch = this.batches[this.batchIndex];
      if (batch === undefined) return null;
      // Already verified by splitBatches; a control batch or one wholly below the position is skipped undecoded.
      this.records = batch.header.control || batch.header.nextOffset <= position ? [] : decodeAt(batch);
      this.batchIndex++;
      this.recordIndex = 0;
    }
  }

  /** Steps over the batch that next() could not decode; returns it (null if there is none). */
  skipBatch(): BatchHeader | null {
    const batch = this.batches[this.batchIndex];
    if (batch === undefined) return null;
    this.batchIndex++;
    this.records = [];
    this.recordIndex = 0;
    return batch.header;
  }

  /** Puts back the record `next` just returned (its deserialization failed, and it stays the position). */
  unread(): void {
    if (this.recordIndex > 0) this.recordIndex--;
  }

  get exhausted(): boolean {
    return this.recordIndex >= this.records.length && this.batchIndex >= this.batches.length;
  }
}

function decodeAt(batch: { header: BatchHeader; bytes: Uint8Array }): DecodedRecord[] {
  try {
    return decodeRecords(batch.bytes, { verifyBody: false });
  } catch (error) {
    if (!(error instanceof SkeinError)) throw error;
    const { baseOffset, nextOffset } = batch.header;
    throw new SkeinError(error.code, { message: `batch at offset ${baseOffset}: ${error.message}`, cause: error, details: { ...error.details, offset: baseOffset, nextOffset } });
  }
}
