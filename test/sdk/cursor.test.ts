import { describe, expect, it } from 'vitest';
import { BatchCursor } from '../../sdk/consumer/cursor.js';
import { StatusFeed } from '../../sdk/subscription/status.js';
import { encodeControlBatch, encodeRecordBatch, NO_PRODUCER, stampBatch } from '../../transport/protocol/record-batch.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function batch(baseOffset: number, values: string[]): Buffer {
  const encoded = encodeRecordBatch({ ...NO_PRODUCER, records: values.map((v, i) => ({ value: bytes(v), timestamp: 1000 + i })) });
  return stampBatch(encoded, { baseOffset, entryIndex: baseOffset + 1, term: 1 });
}

describe('BatchCursor', () => {
  it('walks concatenated batches from a position, stepping over control batches and records below it', () => {
    const control = stampBatch(encodeControlBatch({ data: new Uint8Array(0), timestamp: 1 }), { baseOffset: 3, entryIndex: 9, term: 2 });
    const cursor = new BatchCursor(Buffer.concat([batch(0, ['a', 'b', 'c']), control, batch(3, ['d', 'e'])]));
    expect(cursor.recordCount).toBe(5);
    expect(cursor.endOffset).toBe(5);
    const seen: number[] = [];
    let position = 1;
    for (let r = cursor.next(position); r !== null; r = cursor.next(position)) {
      seen.push(r.offset);
      position = r.offset + 1;
    }
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(cursor.exhausted).toBe(true);
  });

  it('refuses corrupt bytes with CORRUPT_BATCH', () => {
    const good = batch(0, ['a']);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1]! ^= 1;
    expect(() => new BatchCursor(flipped)).toThrow(expect.objectContaining({ code: 'CORRUPT_BATCH' }));
    expect(() => new BatchCursor(good.subarray(0, good.length - 1))).toThrow(expect.objectContaining({ code: 'CORRUPT_BATCH' }));
    expect(new BatchCursor(new Uint8Array(0)).next(0)).toBeNull();
  });

  it('unread puts back the last record', () => {
    const cursor = new BatchCursor(batch(10, ['x', 'y']));
    expect(cursor.next(0)?.offset).toBe(10);
    cursor.unread();
    expect(cursor.next(0)?.offset).toBe(10);
    expect(cursor.next(0)?.offset).toBe(11);
  });
});

describe('StatusFeed', () => {
  it('fans out to every reader, bounded per reader, and ends', async () => {
    const feed = new StatusFeed<number>(3);
    const a = feed.iterate();
    const b = feed.iterate();
    for (let i = 0; i < 5; i++) feed.emit(i);
    expect(feed.dropped).toBe(4);
    feed.end();
    const drain = async (it: AsyncIterableIterator<number>): Promise<number[]> => {
      const out: number[] = [];
      for await (const v of it) out.push(v);
      return out;
    };
    expect(await drain(a)).toEqual([2, 3, 4]);
    expect(await drain(b)).toEqual([2, 3, 4]);
  });

  it('a reader waits for the next event, and break releases it', async () => {
    const feed = new StatusFeed<string>(10);
    const reader = feed.iterate();
    const next = reader.next();
    feed.emit('hello');
    expect(await next).toEqual({ value: 'hello', done: false });
    await reader.return!();
    feed.emit('unseen');
    expect(await reader.next()).toEqual({ value: undefined, done: true });
  });
});
