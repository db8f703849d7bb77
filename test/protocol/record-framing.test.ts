import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSkeinError } from '../../transport/errors.js';
import { BATCH_HEADER_BYTES, checkRecordFraming, decodeBatchHeader, decodeRecords, encodeRecordBatch, NO_PRODUCER } from '../../transport/protocol/record-batch.js';
import { reseal } from '../support/garbage-batch.js';

/** checkRecordFraming (the leader's check) refuses exactly what decodeRecords (the consumer's read) cannot read. */
function outcome(run: () => unknown): string {
  try {
    run();
    return 'ok';
  } catch (error) {
    return isSkeinError(error) ? error.code : `not a SkeinError: ${String(error)}`;
  }
}

const recordArb = fc.record({
  key: fc.option(fc.uint8Array({ maxLength: 12 }), { nil: null }),
  value: fc.option(fc.uint8Array({ maxLength: 24 }), { nil: null }),
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 6 }), value: fc.uint8Array({ maxLength: 6 }) }), { maxLength: 3 }),
  timestamp: fc.integer({ min: 1_000, max: 2_000 }),
});

describe('checkRecordFraming', () => {
  it('agrees with decodeRecords on every mutation of a valid payload (checksums resealed)', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb, { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (records, mutations) => {
          const batch = encodeRecordBatch({ ...NO_PRODUCER, records });
          const payload = batch.length - BATCH_HEADER_BYTES;
          for (const [at, byte] of mutations) batch[BATCH_HEADER_BYTES + (at % payload)] = byte;
          reseal(batch);
          const header = decodeBatchHeader(batch);
          const decoded = outcome(() => decodeRecords(batch));
          expect(outcome(() => checkRecordFraming(batch, header))).toBe(decoded);
          expect(['ok', 'CORRUPT_BATCH']).toContain(decoded);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('passes every batch the encoder writes', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 8 }), (records) => {
        const batch = encodeRecordBatch({ ...NO_PRODUCER, records });
        expect(() => checkRecordFraming(batch, decodeBatchHeader(batch))).not.toThrow();
      }),
    );
  });
});
