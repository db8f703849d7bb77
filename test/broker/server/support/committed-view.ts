import { AdvanceSignal } from '../../../../broker/partition/advance-signal.js';
import type { PartitionView } from '../../../../broker/partition/view.js';
import { encodeRecordBatch, NO_PRODUCER, stampBatch } from '../../../../transport/protocol/record-batch.js';

/**
 * A partition of `count` batches of one record of `valueBytes`, all committed, for the handlers that read
 * the log (fetch, pushes); reads honour withinBudget as the log does, and `handedOut` lists the bytes each
 * read handed out (reads that handed out none are not listed).
 */
export function committedView(count: number, valueBytes: number): PartitionView & { handedOut: number[] } {
  const batches = Array.from({ length: count }, (_, i) =>
    stampBatch(encodeRecordBatch({ ...NO_PRODUCER, records: [{ key: null, value: Buffer.alloc(valueBytes, i), headers: [], timestamp: 1 }] }), { baseOffset: i, entryIndex: i + 1, term: 1 }),
  );
  const handedOut: number[] = [];
  return {
    handedOut,
    topic: 't',
    partition: 0,
    isLeader: () => true,
    leaderHint: () => ({ leaderId: 1, leaderEpoch: 1 }),
    highWatermark: count,
    logStartOffset: 0,
    logEndOffset: count,
    readCommitted: (offset, maxBytes, options) => {
      const taken: Buffer[] = [];
      let bytes = 0;
      for (let i = offset; i < count && (taken.length === 0 || bytes + batches[i]!.length <= maxBytes); i++) {
        if (options?.withinBudget === true && bytes + batches[i]!.length > maxBytes) return { batches: [], bytes: 0, nextOffset: offset, lastIndex: null, firstBatchBytes: batches[i]!.length };
        taken.push(batches[i]!);
        bytes += batches[i]!.length;
      }
      if (bytes > 0) handedOut.push(bytes);
      return { batches: taken, bytes, nextOffset: offset + taken.length, lastIndex: offset + taken.length };
    },
    offsetForTimestamp: () => null,
    changes: new AdvanceSignal(),
    closed: false,
  };
}
