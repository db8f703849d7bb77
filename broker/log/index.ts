/**
 * broker/log: the durable, segmented partition log (also the partition's Raft log).
 * The record-batch format it stores lives in transport/protocol/record-batch.ts,
 * shared with the SDK.
 */
export { PartitionLog } from './partition-log.js';
export type { AppendResult, LogStats, ReadOptions, ReadResult, RetentionResult } from './partition-log.js';
export type { FlushPolicy, PartitionLogOptions, RetentionPolicy } from './options.js';
export type { RecoveryReport } from './crash-recovery.js';
export type { ResetPoint } from './formats.js';
export type { LogPoint } from './flusher.js';
