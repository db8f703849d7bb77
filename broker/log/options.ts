import { systemClock, type Clock } from '../../transport/clock.js';
import { SkeinError } from '../../transport/errors.js';
import { logLimits } from '../../transport/limits.js';

/**
 * When appended data is fsynced:
 * - 'every-append': after each append() (group commit: appends arriving while
 *   an fsync runs share the next one);
 * - { everyRecords, everyMs }: once that many records were appended since the
 *   last flush, and/or on a timer when anything is unflushed (Kafka's
 *   flush.messages / flush.ms);
 * - 'manual': only when flush() is called (a Raft driver that persists
 *   before it sends). close() always flushes.
 */
export type FlushPolicy = 'every-append' | 'manual' | { everyRecords?: number; everyMs?: number };

export interface RetentionPolicy {
  /** Delete the oldest segments while the log minus that segment stays at or above this size. */
  bytes?: number;
  /** Delete segments whose newest record is older than this. */
  ms?: number;
}

export interface PartitionLogOptions {
  /** The partition's directory; created if missing. The log owns it: unknown files are refused. */
  dir: string;
  /** Roll to a new segment before one would exceed this size. */
  segmentBytes?: number;
  /** Roll to a new segment once the active one is this old (so age retention can delete it). */
  segmentMs?: number;
  /** Bytes of log between sparse index entries. */
  indexIntervalBytes?: number;
  flush?: FlushPolicy;
  retention?: RetentionPolicy;
  /** Memory for the newest batches, served without a system call. */
  tailCacheBytes?: number;
  /**
   * Check every payload byte's checksum on append (default true). A broker
   * verifies each batch on receipt, before Raft sees it, and turns this off
   * rather than checksum every byte twice (CRC32C in JS runs at about the
   * speed of a page-cache write). Headers are always checked.
   */
  verifyOnAppend?: boolean;
  /** Check every payload byte's checksum when serving from disk (default true), so bytes damaged at rest are never served. */
  verifyOnRead?: boolean;
  /** Ages segments for rolling and retention (its epochMs) and runs the flush timer; default systemClock. */
  clock?: Clock;
  /** Called whenever the durable point advances (after an fsync completes). */
  onDurable?: (point: { index: number; offset: number }) => void;
}

export interface ResolvedOptions {
  dir: string;
  segmentBytes: number;
  segmentMs: number;
  indexIntervalBytes: number;
  flush: { everyAppend: boolean; everyRecords: number; everyMs: number };
  retention: { bytes: number; ms: number };
  tailCacheBytes: number;
  verifyOnAppend: boolean;
  verifyOnRead: boolean;
  clock: Clock;
  onDurable: (point: { index: number; offset: number }) => void;
}

function invalid(message: string): SkeinError {
  return new SkeinError('INVALID_CONFIG', { message: `PartitionLog: ${message}` });
}

function integer(value: number | undefined, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw invalid(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  return value;
}

export function resolveOptions(options: PartitionLogOptions): ResolvedOptions {
  if (typeof options.dir !== 'string' || options.dir.length === 0) throw invalid('dir is required');
  const flush = options.flush ?? 'every-append';
  let resolvedFlush: ResolvedOptions['flush'];
  if (flush === 'every-append') resolvedFlush = { everyAppend: true, everyRecords: Infinity, everyMs: Infinity };
  else if (flush === 'manual') resolvedFlush = { everyAppend: false, everyRecords: Infinity, everyMs: Infinity };
  else if (typeof flush === 'object' && flush !== null && (flush.everyRecords !== undefined || flush.everyMs !== undefined)) {
    resolvedFlush = {
      everyAppend: false,
      everyRecords: integer(flush.everyRecords, 'flush.everyRecords', 1, logLimits.flushRecordsMax, Infinity),
      everyMs: integer(flush.everyMs, 'flush.everyMs', 1, logLimits.flushIntervalMsMax, Infinity),
    };
  } else {
    throw invalid("flush must be 'every-append', 'manual' or { everyRecords?, everyMs? } with at least one set");
  }
  const retention = options.retention ?? {};
  return {
    dir: options.dir,
    segmentBytes: integer(options.segmentBytes, 'segmentBytes', logLimits.segmentBytesMin, logLimits.segmentBytesMax, logLimits.segmentBytesDefault),
    segmentMs: integer(options.segmentMs, 'segmentMs', logLimits.segmentMsMin, Number.MAX_SAFE_INTEGER, Infinity),
    indexIntervalBytes: integer(options.indexIntervalBytes, 'indexIntervalBytes', 0, logLimits.indexIntervalBytesMax, logLimits.indexIntervalBytes),
    flush: resolvedFlush,
    retention: {
      bytes: integer(retention.bytes, 'retention.bytes', 0, Number.MAX_SAFE_INTEGER, Infinity),
      ms: integer(retention.ms, 'retention.ms', 0, Number.MAX_SAFE_INTEGER, Infinity),
    },
    tailCacheBytes: integer(options.tailCacheBytes, 'tailCacheBytes', 0, logLimits.tailCacheBytesMax, logLimits.tailCacheBytesDefault),
    verifyOnAppend: options.verifyOnAppend ?? true,
    verifyOnRead: options.verifyOnRead ?? true,
    clock: options.clock ?? systemClock,
    onDurable: options.onDurable ?? (() => {}),
  };
}
