import { SkeinError } from '../../transport/errors.js';
import { methods, type OffsetSpec } from '../../transport/protocol/messages.js';
import type { CallOptions, Cluster } from '../cluster.js';
import { readListOffsetsResponse } from '../../transport/protocol/responses.js';

/** Where a consumer starts (or seeks to): the first record kept, the next one written, an offset, or the first record at or after a time. */
export type From = 'earliest' | 'latest' | { offset: number } | { timestamp: number };

/**
 * Where a pull consumer or a push subscription starts when its options say
 * nothing: the first record kept, as `skein consume` and JetStream
 * consumers do, so nothing written before the reader started is skipped
 * without being asked for ('latest' is one word away).
 */
export const defaultFrom: From = 'earliest';

/** Checks a `from` given by application code. */
export function checkFrom(from: unknown, where: string): From {
  if (from === 'earliest' || from === 'latest') return from;
  if (typeof from === 'object' && from !== null) {
    const { offset, timestamp } = from as { offset?: unknown; timestamp?: unknown };
    if (offset !== undefined && timestamp === undefined && typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0) return { offset };
    if (timestamp !== undefined && offset === undefined && typeof timestamp === 'number' && Number.isSafeInteger(timestamp) && timestamp >= 0) return { timestamp };
  }
  throw new SkeinError('INVALID_ARGUMENT', {
    message: `${where}: from must be 'earliest', 'latest', { offset: n } or { timestamp: ms } with a non-negative integer`,
  });
}

/** The offset `from` means on one partition, asking its leader when it is not an offset already. */
export async function resolveFrom(cluster: Cluster, target: { topic: string; partition: number; from: From }, options: CallOptions): Promise<number> {
  const { from } = target;
  if (typeof from === 'object' && 'offset' in from) return from.offset;
  const spec: OffsetSpec = from === 'earliest' || from === 'latest' ? from : { timestamp: from.timestamp };
  const response = await cluster.callPartition(
    { topic: target.topic, partition: target.partition, method: methods.listOffsets, body: { topic: target.topic, partition: target.partition, spec } },
    options,
  );
  return readListOffsetsResponse(response).offset;
}
