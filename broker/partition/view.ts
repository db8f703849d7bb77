import type { ReadResult } from '../log/index.js';
import type { LeaderHint } from '../../transport/protocol/messages.js';
import type { AdvanceSignal } from './advance-signal.js';

/**
 * What the request handlers see of one partition replica: enough to read
 * committed records and to wait for more, nothing of Raft or the disk.
 */
export interface PartitionView {
  readonly topic: string;
  readonly partition: number;
  /** True while this replica leads and has committed an entry of its term (it may take writes). */
  isLeader(): boolean;
  /** Who leads, as far as this replica knows. */
  leaderHint(): LeaderHint;
  /** Offset after the last committed record: consumers read below it. */
  readonly highWatermark: number;
  readonly logStartOffset: number;
  /** Offset after the last record in this replica's log, committed or not. */
  readonly logEndOffset: number;
  /**
   * Whole committed batches from the one holding `offset` (OFFSET_OUT_OF_RANGE outside the log); at least
   * one, unless withinBudget: then none when the first exceeds maxBytes, and its size in firstBatchBytes.
   */
  readCommitted(offset: number, maxBytes: number, options?: { withinBudget?: boolean }): ReadResult;
  /** The base offset of the first batch with a record at or after `timestamp`, or null. */
  offsetForTimestamp(timestamp: number): number | null;
  /** Fires when the high watermark moves, leadership changes, or the replica closes. */
  readonly changes: AdvanceSignal;
  readonly closed: boolean;
}
