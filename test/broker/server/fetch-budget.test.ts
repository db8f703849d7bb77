import { describe, expect, it } from 'vitest';
import type { PartitionView } from '../../../broker/partition/view.js';
import { fetchRecords } from '../../../broker/server/fetch.js';
import { transportLimits } from '../../../transport/limits.js';
import type { FetchRequest } from '../../../transport/protocol/messages.js';
import { committedView } from './support/committed-view.js';

/**
 * A fetch against a connection whose room is counted by hand: the broker
 * reads from the log no more than the room it reserved for the response,
 * as pushes do, however large the batch at the offset is.
 */
const envelopeBytes = transportLimits.rpcEnvelopeBytesMax;

/**
 * A connection with `roomBytes` of room, as RpcChannel reserves it: a reservation waits until at least
 * `minBytes` (1 by default) is free, then takes up to what it wants. `free` is the client reading.
 */
class CountedRoom {
  reservedBytes = 0;
  /** The most the handler had reserved when the log handed it bytes. */
  readonly reservedAtRead: number[] = [];
  private waiters: Array<() => void> = [];

  constructor(public roomBytes: number) {}

  readonly reserveResponseBytes = async (wantedBytes: number, minBytes = 1): Promise<number> => {
    while (this.roomBytes < minBytes) await new Promise<void>((resolve) => this.waiters.push(resolve));
    const granted = Math.min(wantedBytes, this.roomBytes);
    this.roomBytes -= granted;
    this.reservedBytes += granted;
    return granted;
  };

  free(bytes: number): void {
    this.roomBytes += bytes;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

const request = (maxBytes: number): FetchRequest => ({ topic: 't', partition: 0, offset: 0, maxBytes, maxRecords: 1_000, maxWaitMs: 0 });
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('fetch within its reservation', () => {
  it('reads no more from the log than the room it reserved: a batch larger than the room waits for room for all of it', async () => {
    const view = committedView(3, 256 * 1024);
    const room = new CountedRoom(transportLimits.reassemblyBytesGuaranteed);
    const readCommitted = view.readCommitted.bind(view);
    view.readCommitted = (offset, maxBytes, options) => {
      const result = readCommitted(offset, maxBytes, options);
      if (result.bytes > 0) room.reservedAtRead.push(room.reservedBytes);
      return result;
    };
    const pending = fetchRecords(view, request(1024 * 1024), { signal: new AbortController().signal, reserveResponseBytes: room.reserveResponseBytes });
    let answered = false;
    void pending.then(() => (answered = true));
    await settle();
    // The first batch alone exceeds the connection's room: nothing is read, and nothing is held while it waits.
    expect(view.handedOut).toEqual([]);
    expect(answered).toBe(false);
    expect(room.reservedBytes).toBe(0);
    room.free(1024 * 1024);
    const response = await pending;
    expect(view.handedOut).toHaveLength(1);
    expect(response.batches.byteLength).toBe(view.handedOut[0]);
    expect(view.handedOut[0]! + envelopeBytes).toBeLessThanOrEqual(room.reservedAtRead[0]!);
    expect(response.batches.byteLength + envelopeBytes).toBeLessThanOrEqual(room.reservedBytes);
  });

  it('with room for part of maxBytes, answers with the whole batches that fit it', async () => {
    const view = committedView(8, 100 * 1024);
    const batchBytes = readBatchBytes(view);
    // Room for the envelope and two and a half batches, well below the 1 MiB asked.
    const room = new CountedRoom(envelopeBytes + Math.floor(2.5 * batchBytes));
    const response = await fetchRecords(view, request(1024 * 1024), { signal: new AbortController().signal, reserveResponseBytes: room.reserveResponseBytes });
    expect(response.batches.byteLength).toBe(2 * batchBytes);
    expect(view.handedOut).toEqual([2 * batchBytes]);
  });

  it('a first batch above maxBytes is still served whole once it has room (a consumer always gets past it)', async () => {
    const view = committedView(2, 64 * 1024);
    const room = new CountedRoom(16 * 1024 * 1024);
    const response = await fetchRecords(view, request(1), { signal: new AbortController().signal, reserveResponseBytes: room.reserveResponseBytes });
    expect(response.batches.byteLength).toBe(readBatchBytes(view));
    expect(response.batches.byteLength + envelopeBytes).toBeLessThanOrEqual(room.reservedBytes);
  });

  it('an abort while it waits for room ends it without reading', async () => {
    const view = committedView(1, 256 * 1024);
    const room = new CountedRoom(1024);
    const controller = new AbortController();
    const pending = fetchRecords(view, request(1024 * 1024), { signal: controller.signal, reserveResponseBytes: abortable(room, controller.signal) });
    await settle();
    controller.abort(new Error('deadline'));
    await expect(pending).rejects.toThrow('deadline');
    expect(view.handedOut).toEqual([]);
  });
});

function readBatchBytes(view: PartitionView): number {
  return view.readCommitted(0, 0, { withinBudget: true }).firstBatchBytes!;
}

/** The room's reservation, rejecting with the signal's reason on abort (as RpcChannel's does). */
function abortable(room: CountedRoom, signal: AbortSignal): (wantedBytes: number, minBytes?: number) => Promise<number> {
  return (wantedBytes, minBytes) =>
    new Promise<number>((resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      void room.reserveResponseBytes(wantedBytes, minBytes).then(resolve);
    });
}
