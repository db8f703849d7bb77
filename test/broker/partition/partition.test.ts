import { afterEach, describe, expect, it } from 'vitest';
import { encodeRecordBatch, NO_PRODUCER, splitBatches, decodeRecords } from '../../../transport/protocol/record-batch.js';
import { isSkeinError } from '../../../transport/errors.js';
import { PartitionTrio } from '../support/partition-trio.js';

const batchOf = (values: string[], producer: { producerId: number; producerEpoch: number; baseSequence: number } = NO_PRODUCER) =>
  encodeRecordBatch({ ...producer, records: values.map((v) => ({ key: null, value: Buffer.from(v), headers: [], timestamp: 1_700_000_000_000 })) });

function readAll(p: { readCommitted(o: number, b: number): { batches: Buffer[] }; highWatermark: number }): string[] {
  const out: string[] = [];
  let offset = 0;
  while (offset < p.highWatermark) {
    const { batches } = p.readCommitted(offset, 1 << 20);
    for (const b of batches) {
      for (const { header, bytes } of splitBatches(b)) {
        for (const r of decodeRecords(bytes)) out.push(Buffer.from(r.value!).toString());
        offset = header.nextOffset;
      }
    }
  }
  return out;
}

let trio: PartitionTrio | undefined;
afterEach(async () => {
  await trio?.close();
  trio = undefined;
});

describe('Partition (three replicas in one process)', () => {
  it('commits produced batches on every replica with dense offsets', async () => {
    trio = new PartitionTrio();
    await trio.startAll();
    const leader = await trio.leader();
    const first = await leader.produce(batchOf(['a', 'b']), { acks: 'all', timeoutMs: 5000 });
    const second = await leader.produce(batchOf(['c']), { acks: 'all', timeoutMs: 5000 });
    expect(first).toEqual({ baseOffset: 0, duplicate: false });
    expect(second).toEqual({ baseOffset: 2, duplicate: false });
    for (const p of trio.replicas.values()) {
      while (p.highWatermark < 3) await p.changes.next(AbortSignal.timeout(5000));
      expect(readAll(p)).toEqual(['a', 'b', 'c']);
    }
  });

  it('answers an idempotent retry with the original offset, refuses gaps, and keeps that across a leader change', async () => {
    trio = new PartitionTrio();
    await trio.startAll();
    let leader = await trio.leader();
    const producer = { producerId: 42, producerEpoch: 0 };
    // The broker's handler checks the proof that came with the batch; here every id passes.
    const issued = { acks: 'all', timeoutMs: 5000, verifyProducer: () => undefined } as const;
    // Without that check, no idempotent batch is taken.
    await expect(leader.produce(batchOf(['x', 'y'], { ...producer, baseSequence: 0 }), { acks: 'all', timeoutMs: 5000 })).rejects.toMatchObject({ code: 'INVALID_PRODUCER_ID' });
    await leader.produce(batchOf(['x', 'y'], { ...producer, baseSequence: 0 }), issued);
    expect(await leader.produce(batchOf(['x', 'y'], { ...producer, baseSequence: 0 }), issued)).toEqual({ baseOffset: 0, duplicate: true });
    await expect(leader.produce(batchOf(['z'], { ...producer, baseSequence: 5 }), issued)).rejects.toMatchObject({ code: 'OUT_OF_ORDER_SEQUENCE' });
    const old = leader.raft.status().id;
    await trio.stop(old);
    leader = await trio.leader();
    expect(leader.raft.status().id).not.toBe(old);
    expect(await leader.produce(batchOf(['x', 'y'], { ...producer, baseSequence: 0 }), issued)).toEqual({ baseOffset: 0, duplicate: true });
    expect(await leader.produce(batchOf(['z'], { ...producer, baseSequence: 2 }), issued)).toEqual({ baseOffset: 2, duplicate: false });
    await trio.start(old);
    const back = trio.replicas.get(old)!;
    while (back.highWatermark < 3) await back.changes.next(AbortSignal.timeout(5000));
    expect(readAll(back)).toEqual(['x', 'y', 'z']);
  });

  it('refuses writes on followers with a leader hint, and corrupt batches without changing anything', async () => {
    trio = new PartitionTrio();
    await trio.startAll();
    const leader = await trio.leader();
    const follower = [...trio.replicas.values()].find((p) => p !== leader)!;
    while (follower.leaderHint().leaderId === null) await follower.changes.next(AbortSignal.timeout(5000));
    const error = await follower.produce(batchOf(['a']), { acks: 'all', timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(isSkeinError(error, 'NOT_LEADER')).toBe(true);
    expect((error as { details: { leaderId: number } }).details.leaderId).toBe(leader.raft.status().id);
    const bad = batchOf(['hello']);
    bad[bad.length - 1] ^= 0xff;
    await expect(leader.produce(bad, { acks: 'all', timeoutMs: 1000 })).rejects.toMatchObject({ code: 'CORRUPT_BATCH' });
    expect(leader.logEndOffset).toBe(0);
  });
});
