import { withTimeout } from '../../transport/abort.js';
import { SkeinError } from '../../transport/errors.js';
import { transportLimits } from '../../transport/limits.js';
import type { FetchRequest, FetchResponse } from '../../transport/protocol/messages.js';
import { BatchFault, checkBatchHeader } from '../../transport/protocol/record-batch.js';
import type { RpcHandlerContext } from '../../transport/rpc/index.js';
import type { PartitionView } from '../partition/view.js';

/**
 * A fetch: whole committed batches from the one holding `offset`, within the
 * byte and record budgets, waiting up to maxWaitMs (long poll) when nothing
 * is committed at `offset` yet. Any replica serves it, up to what it knows is
 * committed, so consumers may read from followers.
 *
 * An offset past the committed end but within this replica's log is not an
 * error: a new leader's high watermark can briefly trail the old one's, and
 * the consumer simply waits for it.
 *
 * The response's room on the connection is reserved before the log is read
 * (RpcHandlerContext.reserveResponseBytes), and the log reads within it, as
 * pushes do: a consumer that stops reading its responses holds what it was
 * sent, and further fetches wait for room instead of reading megabytes the
 * broker would have to hold for it (or read and throw away, refused).
 */
export async function fetchRecords(view: PartitionView, request: FetchRequest, context: Pick<RpcHandlerContext, 'signal' | 'reserveResponseBytes'>): Promise<FetchResponse> {
  const { signal } = context;
  const wait = request.maxWaitMs > 0 ? withTimeout(signal, request.maxWaitMs, () => new Error('long poll over')) : null;
  try {
    return await poll(view, request, context, wait?.signal ?? null);
  } finally {
    wait?.dispose();
  }
}

async function poll(
  view: PartitionView,
  request: FetchRequest,
  { signal, reserveResponseBytes }: Pick<RpcHandlerContext, 'signal' | 'reserveResponseBytes'>,
  waitUntil: AbortSignal | null,
): Promise<FetchResponse> {
  for (;;) {
    if (view.closed) throw new SkeinError('NOT_LEADER', { message: `this broker no longer hosts ${view.topic}/${view.partition}`, details: { ...view.leaderHint() } });
    if (request.offset < view.logStartOffset || request.offset > Math.max(view.logEndOffset, view.highWatermark)) {
      throw new SkeinError('OFFSET_OUT_OF_RANGE', {
        message: `offset ${request.offset} is outside ${view.topic}/${view.partition} [${view.logStartOffset}, ${view.highWatermark}]`,
        details: { offset: request.offset, logStartOffset: view.logStartOffset, highWatermark: view.highWatermark },
      });
    }
    if (request.offset < view.highWatermark) return readWithinRoom(view, request, { signal, reserveResponseBytes });
    if (waitUntil === null || waitUntil.aborted) return empty(view);
    await view.changes.next(waitUntil);
    if (signal.aborted) throw signal.reason;
  }
}

/**
 * Room for the response first, then the log read within it: up to maxBytes of whole batches, and at least
 * the first (a consumer must get past a batch larger than its maxBytes). The first batch's size comes from
 * its header before anything is read, so the reservation waits for room for all of it at once, holding
 * nothing meanwhile, rather than reading a batch it has no room for.
 */
async function readWithinRoom(
  view: PartitionView,
  request: FetchRequest,
  { signal, reserveResponseBytes }: Pick<RpcHandlerContext, 'signal' | 'reserveResponseBytes'>,
): Promise<FetchResponse> {
  const envelopeBytes = transportLimits.rpcEnvelopeBytesMax;
  const firstBatchBytes = view.readCommitted(request.offset, 0, { withinBudget: true }).firstBatchBytes ?? 0;
  const wantedBytes = envelopeBytes + Math.max(request.maxBytes, firstBatchBytes);
  const reservedBytes = await reserveResponseBytes(wantedBytes, envelopeBytes + Math.max(1, firstBatchBytes));
  if (signal.aborted) throw signal.reason;
  // Committed batches never change size, so the first one fits; should retention have removed it meanwhile,
  // the answer is empty and the consumer's next fetch learns where the log starts.
  return respond(view, request, view.readCommitted(request.offset, reservedBytes - envelopeBytes, { withinBudget: true }).batches);
}

/** Whole batches only: stop at the first batch that reaches maxRecords, keeping at least one. */
function respond(view: PartitionView, request: FetchRequest, read: Buffer[]): FetchResponse {
  let batches = read;
  let records = 0;
  for (let i = 0; i < batches.length; i++) {
    const header = checkBatchHeader(batches[i]!, 0);
    if (header instanceof BatchFault) throw header.toError(`${view.topic}/${view.partition}: `);
    records += header.nextOffset - Math.max(header.baseOffset, request.offset);
    if (records >= request.maxRecords) {
      batches = batches.slice(0, i + 1);
      break;
    }
  }
  return {
    batches: joinBatches(batches),
    highWatermark: view.highWatermark,
    logStartOffset: view.logStartOffset,
  };
}

function empty(view: PartitionView): FetchResponse {
  return { batches: new Uint8Array(0), highWatermark: view.highWatermark, logStartOffset: view.logStartOffset };
}

/**
 * Batches as one byte string for the wire. Batches read from disk in one run are adjacent views of one
 * buffer: one view spans them, without the copy a concatenation makes (a copy as large as the response).
 */
export function joinBatches(batches: Buffer[]): Uint8Array {
  if (batches.length === 1) return batches[0]!;
  const first = batches[0];
  if (first === undefined) return new Uint8Array(0);
  let end = first.byteOffset + first.length;
  for (let i = 1; i < batches.length; i++) {
    const batch = batches[i]!;
    if (batch.buffer !== first.buffer || batch.byteOffset !== end) return Buffer.concat(batches);
    end += batch.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
}
