import { fstatSync } from 'node:fs';
import { logLimits } from '../../transport/limits.js';
import { BATCH_HEADER_BYTES, BatchFault, checkBatch, checkBatchHeader } from '../../transport/protocol/record-batch.js';
import { attempt } from './files.js';
import { SEGMENT_HEADER_BYTES } from './formats.js';
import type { Segment } from './segment.js';

export interface ScanResult {
  /** Bytes of valid batches, from the start of the file (header included). */
  validBytes: number;
  /** Size of the file as found. */
  fileBytes: number;
  /** Why the scan stopped before the end of the file; null if every byte was a valid batch. */
  fault: { position: number; reason: string } | null;
}

/**
 * Reads a segment from its header to its end, checking every batch the way
 * the log promises to serve it: header and body checksums, sanity of every
 * field, and continuity (each entry index one more than the last, each base
 * offset where the previous batch ended, terms never decreasing). Rebuilds the
 * segment's summary and sparse index through Segment.observe as it goes and
 * stops at the first batch that fails, reporting where and why. Whether that
 * is a torn tail to cut off or a damaged sealed segment is the caller's call.
 */
export function scanSegment(segment: Segment): ScanResult {
  const fd = segment.open();
  const fileBytes = attempt('stat', segment.path, () => fstatSync(fd).size);
  segment.resetSummary();
  let position = SEGMENT_HEADER_BYTES;
  let chunk: Buffer = Buffer.alloc(0);
  let chunkStart = position;
  const stopAt = (reason: string): ScanResult => ({ validBytes: position, fileBytes, fault: { position, reason } });
  while (position < fileBytes) {
    let at = position - chunkStart;
    if (chunk.length - at < BATCH_HEADER_BYTES) {
      chunk = segment.read(position, Math.min(logLimits.scanChunkBytes, fileBytes - position));
      chunkStart = position;
      at = 0;
      if (chunk.length < BATCH_HEADER_BYTES) return stopAt(`torn batch header (${chunk.length} bytes at the end of the file)`);
    }
    // The header checksum makes the length trustworthy before we read or allocate that much.
    const header = checkBatchHeader(chunk, at);
    if (header instanceof BatchFault) return stopAt(header.reason);
    if (position + header.batchLength > fileBytes) return stopAt(`torn batch (${header.batchLength} bytes claimed, ${fileBytes - position} present)`);
    if (chunk.length - at < header.batchLength) {
      chunk = segment.read(position, Math.min(Math.max(logLimits.scanChunkBytes, header.batchLength), fileBytes - position));
      chunkStart = position;
      at = 0;
    }
    const checked = checkBatch(chunk, at, chunk.length - at, true);
    if (checked instanceof BatchFault) return stopAt(checked.reason);
    if (checked.entryIndex !== segment.lastIndex + 1) return stopAt(`entry index ${checked.entryIndex} does not follow ${segment.lastIndex}`);
    if (checked.baseOffset !== segment.nextOffset) return stopAt(`base offset ${checked.baseOffset} does not follow ${segment.nextOffset}`);
    if (checked.term < segment.lastTerm) return stopAt(`term ${checked.term} is below the previous term ${segment.lastTerm}`);
    segment.observe(checked, position);
    position += checked.batchLength;
  }
  return { validBytes: position, fileBytes, fault: null };
}
