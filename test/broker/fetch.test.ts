import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { AdvanceSignal } from '../../broker/partition/advance-signal.js';
import type { PartitionView } from '../../broker/partition/view.js';
import { fetchRecords } from '../../broker/server/fetch.js';
import { transportLimits } from '../../transport/limits.js';
import { encodeRecordBatch, NO_PRODUCER, stampBatch } from '../../transport/protocol/record-batch.js';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

function emptyView(): PartitionView & { append(count: number): void } {
  let highWatermark = 0;
  const batches: Buffer[] = [];
  const view = {
    topic: 't',
    partition: 0,
    isLeader: () => true,
    leaderHint: () => ({ leaderId: 1, leaderEpoch: 1 }),
    get highWatermark() {
      return highWatermark;
    },
    logStartOffset: 0,
    get logEndOffset() {
      return highWatermark;
    },
    // Every batch from the start: the handler must cope with batches beginning before the offset asked.
    readCommitted: () => ({ batches: [...batches], bytes: batches.reduce((n, b) => n + b.length, 0), nextOffset: highWatermark, lastIndex: batches.length }),
    offsetForTimestamp: () => null,
    changes: new AdvanceSignal(),
    closed: false,
    append(count: number) {
      const batch = encodeRecordBatch({ ...NO_PRODUCER, records: Array.from({ length: count }, () => ({ key: null, value: Buffer.from('v'), headers: [], timestamp: 1 })) });
      batches.push(stampBatch(batch, { baseOffset: highWatermark, entryIndex: batches.length + 1, term: 1 }));
      highWatermark += count;
      view.changes.notify();
    },
  };
  return view;
}

/** A handler context with room for any response. */
function roomy(signal: AbortSignal): { signal: AbortSignal; reserveResponseBytes: (bytes: number) => Promise<number> } {
  return { signal, reserveResponseBytes: async (bytes) => bytes };
}

describe('fetch long poll', () => {
  it('ends at maxWaitMs with nothing, not at the request deadline, even when garbage is collected meanwhile', async () => {
    const view = emptyView();
    const request = new AbortController();
    const deadline = setTimeout(() => request.abort(new Error('request deadline')), 5_000);
    const collecting = setInterval(gc, 5);
    try {
      const response = await fetchRecords(view, { topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20, maxRecords: 100, maxWaitMs: 100 }, roomy(request.signal));
      expect(response.batches.byteLength).toBe(0);
      expect(request.signal.aborted).toBe(false);
    } finally {
      clearInterval(collecting);
      clearTimeout(deadline);
    }
  });

  it('answers as soon as records commit at the offset it waits on', async () => {
    const view = emptyView();
    const pending = fetchRecords(view, { topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20, maxRecords: 100, maxWaitMs: 30_000 }, roomy(new AbortController().signal));
    setTimeout(() => view.append(3), 20);
    const response = await pending;
    expect(response.highWatermark).toBe(3);
    expect(response.batches.byteLength).toBeGreaterThan(0);
  });

  it('reads nothing before its response has room on the connection, then no more than the room granted', async () => {
    const view = emptyView();
    view.append(2);
    const asked: number[] = [];
    const readCommitted = view.readCommitted.bind(view);
    view.readCommitted = (offset, maxBytes, options) => {
      // A look at the first batch's size (its header) reads no records.
      if (options?.withinBudget === true && maxBytes === 0) return { batches: [], bytes: 0, nextOffset: offset, lastIndex: null, firstBatchBytes: readCommitted(offset, 0).batches[0]!.length };
      asked.push(maxBytes);
      return readCommitted(offset, maxBytes);
    };
    let grant: (() => void) | null = null;
    const context = {
      signal: new AbortController().signal,
      reserveResponseBytes: (bytes: number) => new Promise<number>((resolve) => (grant = () => resolve(Math.min(bytes, 5000)))),
    };
    const pending = fetchRecords(view, { topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20, maxRecords: 100, maxWaitMs: 0 }, context);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(asked).toEqual([]);
    grant!();
    expect((await pending).batches.byteLength).toBeGreaterThan(0);
    expect(asked).toEqual([5000 - transportLimits.rpcEnvelopeBytesMax]);
  });

  it('refuses offsets outside the log', async () => {
    const view = emptyView();
    view.append(2);
    await expect(fetchRecords(view, { topic: 't', partition: 0, offset: 7, maxBytes: 1 << 20, maxRecords: 100, maxWaitMs: 0 }, roomy(new AbortController().signal))).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
  });
});
