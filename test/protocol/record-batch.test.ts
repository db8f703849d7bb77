import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../transport/protocol/crc32c.js';
import { SkeinError, isSkeinError } from '../../transport/errors.js';
import { recordLimits } from '../../transport/limits.js';
import {
  BATCH_HEADER_BYTES,
  BatchFault,
  NO_PRODUCER,
  checkBatch,
  controlPayload,
  decodeBatchHeader,
  decodeRecords,
  encodeControlBatch,
  encodeRecordBatch,
  splitBatches,
  stampBatch,
} from '../../transport/protocol/record-batch.js';
import type { RecordInput } from '../../transport/protocol/record-batch.js';
import { fixtures, readFixture } from './record-batch-fixtures.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function expectSkeinError(run: () => unknown, code: SkeinError['code']): SkeinError {
  try {
    run();
  } catch (error) {
    expect(isSkeinError(error)).toBe(true);
    expect((error as SkeinError).code).toBe(code);
    return error as SkeinError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

const arbRecord: fc.Arbitrary<RecordInput> = fc.record({
  key: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null }),
  value: fc.option(fc.uint8Array({ maxLength: 200 }), { nil: null }),
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 12 }), value: fc.uint8Array({ maxLength: 20 }) }), { maxLength: 4 }),
  timestamp: fc.oneof(fc.integer({ min: 0, max: 2 ** 52 - 1 }), fc.integer({ min: 1_700_000_000_000, max: 1_700_000_100_000 })),
});

const arbProducer = fc.oneof(
  fc.constant(NO_PRODUCER),
  fc.record({
    producerId: fc.maxSafeNat(),
    producerEpoch: fc.integer({ min: 0, max: 0x7fff }),
    baseSequence: fc.integer({ min: 0, max: 0x7fffffff }),
  }),
);

const arbStamp = fc.record({ baseOffset: fc.integer({ min: 0, max: 2 ** 52 }), entryIndex: fc.maxSafeNat(), term: fc.maxSafeNat() });

describe('record batch: golden fixtures', () => {
  // A failure here means the wire and disk format changed: if that is deliberate, regenerate
  // the fixtures (test/protocol/write-fixtures.ts) and bump the magic if old bytes no longer decode.
  for (const [name, make] of Object.entries(fixtures)) {
    it(`${name} encodes to the pinned bytes`, () => {
      expect(make().toString('hex')).toBe(readFixture(name).toString('hex'));
    });
  }

  it('decodes the pinned data batch field by field', () => {
    const bytes = readFixture('data-stamped');
    const header = decodeBatchHeader(bytes);
    expect(header).toMatchObject({
      batchLength: bytes.length,
      baseOffset: 1000,
      entryIndex: 42,
      term: 7,
      control: false,
      attributes: 0,
      producerId: 4_294_967_301,
      producerEpoch: 3,
      baseSequence: 17,
      firstTimestamp: 1_700_000_000_000,
      maxTimestamp: 1_700_000_000_005,
      recordCount: 3,
      nextOffset: 1003,
    });
    const records = decodeRecords(bytes);
    expect(records.map((r) => r.offset)).toEqual([1000, 1001, 1002]);
    expect(records.map((r) => r.timestamp)).toEqual([1_700_000_000_000, 1_700_000_000_005, 1_699_999_999_998]);
    expect(records[0]!.key).toBeNull();
    expect(Buffer.from(records[0]!.value!).toString()).toBe('first');
    expect(Buffer.from(records[1]!.key!).toString()).toBe('k');
    expect(records[1]!.headers.map((h) => [h.key, Buffer.from(h.value).toString()])).toEqual([
      ['trace', 'abc'],
      ['é', ''],
    ]);
    expect(records[2]!.key!.length).toBe(0);
    expect(records[2]!.value).toBeNull();
  });

  it('decodes the pinned control batches', () => {
    const noop = decodeBatchHeader(readFixture('control-noop'));
    expect(noop).toMatchObject({ control: true, recordCount: 0, baseOffset: 1003, nextOffset: 1003, entryIndex: 43, term: 8, producerId: -1 });
    expect(decodeRecords(readFixture('control-noop'))).toEqual([]);
    expect(Buffer.from(controlPayload(readFixture('control-config'))).toString()).toBe('{"voters":[1,2,3]}');
    expectSkeinError(() => controlPayload(readFixture('data-stamped')), 'CORRUPT_BATCH');
  });

  it('stamping touches only the leader fields and the header checksum', () => {
    const unstamped = readFixture('data-unstamped');
    const stamped = readFixture('data-stamped');
    expect(unstamped.length).toBe(stamped.length);
    for (let i = 0; i < stamped.length; i++) {
      const leaderField = i < 4 || (i >= 16 && i < 40);
      if (!leaderField) expect([i, stamped[i]]).toEqual([i, unstamped[i]]);
    }
  });
});

describe('record batch: round trips', () => {
  it('decodeRecords(encode(records)) gives the records back, for any records and stamp', () => {
    fc.assert(
      fc.property(fc.array(arbRecord, { minLength: 1, maxLength: 20 }), arbProducer, arbStamp, (input, producer, stamp) => {
        // Deltas against the first timestamp must stay within 2^52: keep timestamps of one batch close.
        const first = input[0]!.timestamp;
        const records = input.map((r) => ({ ...r, timestamp: Math.min(2 ** 52 - 1, first + (r.timestamp % 100_000)) }));
        const bytes = stampBatch(encodeRecordBatch({ ...producer, records }), stamp);
        const header = decodeBatchHeader(bytes);
        expect(header).toMatchObject({ ...producer, ...stamp, recordCount: records.length, control: false, nextOffset: stamp.baseOffset + records.length });
        expect(header.firstTimestamp).toBe(records[0]!.timestamp);
        expect(header.maxTimestamp).toBe(Math.max(...records.map((r) => r.timestamp)));
        const decoded = decodeRecords(bytes);
        expect(decoded).toEqual(
          records.map((r, i) => ({
            offset: stamp.baseOffset + i,
            timestamp: r.timestamp,
            key: r.key === null || r.key === undefined ? null : Buffer.from(r.key),
            value: r.value === null ? null : Buffer.from(r.value),
            headers: (r.headers ?? []).map((h) => ({ key: h.key, value: Buffer.from(h.value) })),
          })),
        );
      }),
    );
  });

  it('a stamped copy leaves the original untouched; restamping is idempotent', () => {
    fc.assert(
      fc.property(arbStamp, arbStamp, (a, b) => {
        const original = encodeRecordBatch({ ...NO_PRODUCER, records: [{ value: text('v'), timestamp: 5 }] });
        const before = Buffer.from(original);
        const copy = stampBatch(original, a, { copy: true });
        expect(original.equals(before)).toBe(true);
        expect(decodeBatchHeader(copy)).toMatchObject(a);
        expect(decodeBatchHeader(stampBatch(stampBatch(copy, b), a)).headerCrc).toBe(decodeBatchHeader(copy).headerCrc);
      }),
    );
  });

  it('splitBatches walks concatenated batches and rejects a torn last one', () => {
    const parts = [readFixture('data-stamped'), readFixture('control-noop'), readFixture('control-config')];
    const all = Buffer.concat(parts);
    const split = splitBatches(all);
    expect(split.map((s) => s.header.entryIndex)).toEqual([42, 43, 44]);
    expect(split.map((s) => Buffer.from(s.bytes).equals(parts[split.indexOf(s)]!))).toEqual([true, true, true]);
    expectSkeinError(() => splitBatches(all.subarray(0, all.length - 1)), 'CORRUPT_BATCH');
  });
});

describe('record batch: every corruption is caught', () => {
  it('any single flipped bit fails the header or the body checksum', () => {
    const bytes = readFixture('data-stamped');
    fc.assert(
      fc.property(fc.nat(bytes.length * 8 - 1), (bit) => {
        const damaged = Buffer.from(bytes);
        damaged[bit >>> 3]! ^= 1 << (bit & 7);
        const error = expectSkeinError(() => decodeBatchHeader(damaged), 'CORRUPT_BATCH');
        expect(error.message).toMatch(/corrupt record batch/);
      }),
    );
  });

  it('a flipped payload bit passes a header-only check but not the body check', () => {
    const bytes = Buffer.from(readFixture('data-stamped'));
    bytes[BATCH_HEADER_BYTES + 3]! ^= 0x10;
    expect(decodeBatchHeader(bytes, { verifyBody: false }).recordCount).toBe(3);
    expect(expectSkeinError(() => decodeBatchHeader(bytes), 'CORRUPT_BATCH').message).toMatch(/body checksum mismatch/);
  });

  it('names the reason for structural faults even when the checksums are right', () => {
    const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
      ['magic', (b) => (b[8] = 9), /unsupported magic 9/],
      ['reserved', (b) => (b[10] = 1), /reserved header bytes/],
      ['compression', (b) => b.writeUInt16BE(0x0001, 40), /compression codec 1/],
      ['unknown attribute', (b) => b.writeUInt16BE(0x0100, 40), /unknown attribute bits/],
      ['short length', (b) => b.writeUInt32BE(10, 4), /shorter than the header/],
      ['long length', (b) => b.writeUInt32BE(b.length + 1, 4), /runs past/],
      ['huge offset', (b) => b.writeUInt32BE(0x00400000, 16), /base offset/],
      ['negative term', (b) => b.writeInt32BE(-1, 32), /term/],
      ['timestamps', (b) => b.writeUInt32BE(0, 64), /max timestamp/],
      ['no records', (b) => b.writeUInt32BE(0, 72), /data batch holds no records/],
      ['too many records', (b) => b.writeUInt32BE(1000, 72), /cannot fit/],
    ];
    for (const [name, damage, reason] of cases) {
      const bytes = Buffer.from(readFixture('data-stamped'));
      damage(bytes);
      // Recompute both checksums so only the structural check can object.
      const fixed = resealHeader(resealBody(bytes));
      const error = expectSkeinError(() => decodeRecords(fixed), 'CORRUPT_BATCH');
      expect([name, error.message]).toEqual([name, expect.stringMatching(reason)]);
      expect(error.details).toEqual({ reason: expect.any(String) });
    }
  });

  it('an oversized batch is RECORD_TOO_LARGE', () => {
    const bytes = Buffer.from(readFixture('data-stamped'));
    bytes.writeUInt32BE(recordLimits.batchBytesMax + 1, 4);
    const fault = checkBatch(stampBatch(bytes, { baseOffset: 0, entryIndex: 0, term: 0 }), 0, bytes.length, true);
    expect(fault).toBeInstanceOf(BatchFault);
    expect((fault as BatchFault).code).toBe('RECORD_TOO_LARGE');
  });
});

describe('record batch: decoders against hostile bytes', () => {
  // Puts `bytes` in the middle of a larger buffer full of `fill`, so a read past the view would see the fill.
  function embedded(bytes: Uint8Array, fill: number): Uint8Array {
    const host = new Uint8Array(bytes.length + 64).fill(fill);
    host.set(bytes, 32);
    return host.subarray(32, 32 + bytes.length);
  }

  function outcome(run: () => unknown): unknown {
    try {
      return { ok: run() };
    } catch (error) {
      if (!isSkeinError(error)) throw error;
      return { code: error.code, message: error.message };
    }
  }

  function checkAll(bytes: Uint8Array): void {
    for (const decode of [
      (b: Uint8Array) => decodeRecords(b),
      (b: Uint8Array) => decodeRecords(b, { verifyBody: false }),
      (b: Uint8Array) => splitBatches(b),
      (b: Uint8Array) => controlPayload(b),
    ]) {
      // Same answer whatever surrounds the bytes: nothing outside the view was read.
      const a = outcome(() => decode(embedded(bytes, 0x00)));
      const b = outcome(() => decode(embedded(bytes, 0xff)));
      expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    }
  }

  it('random bytes give a result or a SkeinError, never another throw', () => {
    // fast-check caps arrays at ~10 elements unless given a size, and a batch header alone is 76 bytes.
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400, size: 'max' }), (bytes) => checkAll(bytes)), { numRuns: 2000 });
  });

  it('valid batches with a damaged payload (checksums fixed up) give a result or a SkeinError', () => {
    const arbDamage = fc.array(fc.record({ at: fc.nat(), value: fc.nat(255) }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(fc.array(arbRecord, { minLength: 1, maxLength: 5 }), arbDamage, fc.nat(), (records, damage, cut) => {
        const same = records.map((r) => ({ ...r, timestamp: records[0]!.timestamp }));
        const bytes = Buffer.from(encodeRecordBatch({ ...NO_PRODUCER, records: same }));
        const payloadBytes = bytes.length - BATCH_HEADER_BYTES;
        for (const d of damage) bytes[BATCH_HEADER_BYTES + (d.at % payloadBytes)] = d.value;
        // Sometimes also shorten the batch (and its length field), to hit every "runs past the end" path.
        const length = cut % 3 === 0 ? BATCH_HEADER_BYTES + (cut % (payloadBytes + 1)) : bytes.length;
        const cutBytes = Buffer.from(bytes.subarray(0, length));
        cutBytes.writeUInt32BE(length, 4);
        const resealed = stampBatch(resealBody(cutBytes), { baseOffset: 0, entryIndex: 1, term: 1 });
        checkAll(resealed);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('record batch: producer input limits', () => {
  it('refuses input it cannot encode with a typed error, before allocating', () => {
    expectSkeinError(() => encodeRecordBatch({ ...NO_PRODUCER, records: [] }), 'INVALID_ARGUMENT');
    expectSkeinError(() => encodeRecordBatch({ ...NO_PRODUCER, records: [{ value: null, timestamp: -1 }] }), 'INVALID_ARGUMENT');
    expectSkeinError(() => encodeRecordBatch({ ...NO_PRODUCER, records: [{ value: null, timestamp: 2 ** 52 }] }), 'INVALID_ARGUMENT');
    expectSkeinError(() => encodeRecordBatch({ ...NO_PRODUCER, attributes: 1, records: [{ value: null, timestamp: 1 }] }), 'INVALID_ARGUMENT');
    expectSkeinError(() => encodeRecordBatch({ producerId: -2, producerEpoch: 0, baseSequence: 0, records: [{ value: null, timestamp: 1 }] }), 'INVALID_ARGUMENT');
    expectSkeinError(() => encodeRecordBatch({ producerId: 1, producerEpoch: 0x8000, baseSequence: 0, records: [{ value: null, timestamp: 1 }] }), 'INVALID_ARGUMENT');
    const big = new Uint8Array(recordLimits.recordBytesMax + 1);
    expectSkeinError(() => encodeRecordBatch({ ...NO_PRODUCER, records: [{ value: big, timestamp: 1 }] }), 'RECORD_TOO_LARGE');
    const headers = Array.from({ length: recordLimits.headersPerRecordMax + 1 }, () => ({ key: 'h', value: new Uint8Array(0) }));
    expectSkeinError(() => encodeRecordBatch({ ...NO_PRODUCER, records: [{ value: null, headers, timestamp: 1 }] }), 'RECORD_TOO_LARGE');
    const longKey = [{ key: 'x'.repeat(recordLimits.headerKeyBytesMax + 1), value: new Uint8Array(0) }];
    expectSkeinError(() => encodeRecordBatch({ ...NO_PRODUCER, records: [{ value: null, headers: longKey, timestamp: 1 }] }), 'RECORD_TOO_LARGE');
    const half = new Uint8Array(recordLimits.recordBytesMax);
    expectSkeinError(() => encodeRecordBatch({ ...NO_PRODUCER, records: [{ value: half, timestamp: 1 }, { value: half, timestamp: 1 }, { value: half, timestamp: 1 }] }), 'RECORD_TOO_LARGE');
    expectSkeinError(() => encodeControlBatch({ data: new Uint8Array(recordLimits.batchBytesMax), timestamp: 1 }), 'RECORD_TOO_LARGE');
  });

  it('the largest legal record fits', () => {
    const value = new Uint8Array(recordLimits.recordBytesMax);
    const decoded = decodeRecords(encodeRecordBatch({ ...NO_PRODUCER, records: [{ value, timestamp: 1 }] }));
    expect(decoded[0]!.value!.length).toBe(recordLimits.recordBytesMax);
  });
});

// Test helpers that rebuild checksums after a deliberate edit, so structural checks are reached.
function resealBody(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  out.writeUInt32BE(crc32c(out, 40, out.length), 12);
  return out;
}

function resealHeader(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  out.writeUInt32BE(crc32c(out, 4, BATCH_HEADER_BYTES), 0);
  return out;
}
