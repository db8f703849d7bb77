import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NO_PRODUCER, encodeControlBatch, encodeRecordBatch, stampBatch } from '../../transport/protocol/record-batch.js';

/**
 * The inputs behind the golden batch fixtures in test/fixtures/record-batch/.
 * A fixture is hex text, 16 bytes a line, so a deliberate format change shows
 * up as a readable diff; regenerate with
 * `node test/support/run.mjs test/protocol/write-fixtures.ts`.
 */

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

export const fixtureDir = 'test/fixtures/record-batch';

export const fixtures: Record<string, () => Buffer> = {
  // As the producer sends it: leader fields zero.
  'data-unstamped': () =>
    encodeRecordBatch({
      producerId: 4_294_967_301,
      producerEpoch: 3,
      baseSequence: 17,
      records: [
        { key: null, value: text('first'), timestamp: 1_700_000_000_000 },
        { key: text('k'), value: text('second'), headers: [{ key: 'trace', value: text('abc') }, { key: 'é', value: new Uint8Array(0) }], timestamp: 1_700_000_000_005 },
        { key: new Uint8Array(0), value: null, timestamp: 1_699_999_999_998 },
      ],
    }),
  // The same batch after the leader stamped it.
  'data-stamped': () => stampBatch(fixtures['data-unstamped']!(), { baseOffset: 1000, entryIndex: 42, term: 7 }),
  'plain-producer': () => stampBatch(encodeRecordBatch({ ...NO_PRODUCER, records: [{ value: text('x'), timestamp: 0 }] }), { baseOffset: 0, entryIndex: 1, term: 1 }),
  // A new leader's no-op entry: control, zero records, base offset = the next offset.
  'control-noop': () => stampBatch(encodeControlBatch({ data: new Uint8Array(0), timestamp: 1_700_000_000_100 }), { baseOffset: 1003, entryIndex: 43, term: 8 }),
  'control-config': () => stampBatch(encodeControlBatch({ data: text('{"voters":[1,2,3]}'), timestamp: 1_700_000_000_200 }), { baseOffset: 1003, entryIndex: 44, term: 8 }),
};

export function toHex(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) lines.push(Buffer.from(bytes.subarray(i, i + 16)).toString('hex').replace(/(..)(?!$)/g, '$1 '));
  return `${lines.join('\n')}\n`;
}

export function readFixture(name: string): Buffer {
  const hex = readFileSync(join(fixtureDir, `${name}.hex`), 'utf8').replace(/\s+/g, '');
  return Buffer.from(hex, 'hex');
}
