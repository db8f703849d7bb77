import { afterEach, describe, expect, it } from 'vitest';
import { encodeRecordBatch, NO_PRODUCER } from '../../../transport/protocol/record-batch.js';
import { garbageBatch } from '../../support/garbage-batch.js';
import { PartitionTrio } from '../support/partition-trio.js';

/** The leader checks a batch's record framing before it appends: consumers must never meet a batch they cannot read. */
let trio: PartitionTrio | undefined;
afterEach(async () => {
  await trio?.close();
  trio = undefined;
});

describe('produce', () => {
  it('refuses a batch whose checksums hold but whose records are not framed as records, and writes nothing', async () => {
    trio = new PartitionTrio();
    await trio.startAll();
    const leader = await trio.leader();
    await expect(leader.produce(garbageBatch(3), { acks: 'all', timeoutMs: 5000 })).rejects.toMatchObject({ code: 'CORRUPT_BATCH' });
    await expect(leader.produce(garbageBatch(1, 0x00), { acks: 'all', timeoutMs: 5000 })).rejects.toMatchObject({ code: 'CORRUPT_BATCH' });
    expect(leader.logEndOffset).toBe(0);
    const good = encodeRecordBatch({ ...NO_PRODUCER, records: [{ key: null, value: Buffer.from('ok'), headers: [], timestamp: 1 }] });
    await expect(leader.produce(good, { acks: 'all', timeoutMs: 5000 })).resolves.toEqual({ baseOffset: 0, duplicate: false });
  });
});
