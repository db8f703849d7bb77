import type { PartitionLog } from '../../../broker/log/partition-log.js';

/** Reads `log` whole, start to end, in 1 MiB reads: the bytes read and the milliseconds it took. */
export function readWhole(log: PartitionLog): { bytes: number; ms: number } {
  let offset = log.startOffset;
  let bytes = 0;
  const startMs = performance.now();
  while (offset < log.endOffset) {
    const result = log.read({ offset, maxBytes: 1024 * 1024 });
    bytes += result.bytes;
    offset = result.nextOffset;
  }
  return { bytes, ms: performance.now() - startMs };
}
