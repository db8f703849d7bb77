import { crc32c } from '../../transport/protocol/crc32c.js';
import { BATCH_HEADER_BYTES, encodeRecordBatch, NO_PRODUCER } from '../../transport/protocol/record-batch.js';

/**
 * A batch whose checksums are right and whose records payload is not
 * records: what a buggy or hostile producer can send, since the checksums
 * only prove the bytes arrived as written. `fill` overwrites the payload.
 */
export function garbageBatch(recordCount: number, fill = 0xff): Buffer {
  const records = Array.from({ length: recordCount }, (_, i) => ({ key: null, value: Buffer.from(`garbage ${i}`), headers: [], timestamp: 1_700_000_000_000 }));
  const out = encodeRecordBatch({ ...NO_PRODUCER, records });
  out.fill(fill, BATCH_HEADER_BYTES);
  return reseal(out);
}

/** Recomputes both checksums after a test changed the body. */
export function reseal(batch: Buffer): Buffer {
  batch.writeUInt32BE(crc32c(batch, 40, batch.length), 12);
  batch.writeUInt32BE(crc32c(batch, 4, BATCH_HEADER_BYTES), 0);
  return batch;
}
