import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Prng } from '../../../transport/core/prng.js';
import { NO_PRODUCER, encodeControlBatch, encodeRecordBatch, stampBatch } from '../../../transport/protocol/record-batch.js';

/** A batch description the tests and the model share; bytes are derived from it deterministically. */
export interface BatchSpec {
  entryIndex: number;
  baseOffset: number;
  term: number;
  /** 0 = a control batch. */
  records: number;
  /** Bytes of value per record. */
  valueBytes: number;
  timestamp: number;
}

/**
 * Builds the stamped batch for a spec. Values are derived from (entryIndex, term, record), so a
 * reader can check any batch it gets back against the spec alone, across processes.
 */
export function makeBatch(spec: BatchSpec): Buffer {
  if (spec.records === 0) {
    const data = Buffer.from(`control ${spec.entryIndex} ${spec.term}`);
    return stampBatch(encodeControlBatch({ data, timestamp: spec.timestamp }), spec);
  }
  const records = Array.from({ length: spec.records }, (_, r) => ({
    key: Buffer.from(`k${r}`),
    value: valueFor(spec.entryIndex, spec.term, r, spec.valueBytes),
    timestamp: spec.timestamp + r,
  }));
  return stampBatch(encodeRecordBatch({ ...NO_PRODUCER, records }), spec);
}

export function valueFor(entryIndex: number, term: number, record: number, bytes: number): Buffer {
  const prng = new Prng((entryIndex * 7919 + term * 104729 + record) >>> 0);
  const out = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) out[i] = prng.nextUint32() & 0xff;
  return out;
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `skein-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Specs for `count` batches continuing a log that ends at (lastIndex, nextOffset, term). */
export function continueLog(
  from: { lastIndex: number; nextOffset: number; term: number },
  count: number,
  shape: (i: number) => { records: number; valueBytes: number; term?: number },
  timestamp = 1_700_000_000_000,
): BatchSpec[] {
  const out: BatchSpec[] = [];
  let { lastIndex, nextOffset, term } = from;
  for (let i = 0; i < count; i++) {
    const s = shape(i);
    term = Math.max(term, s.term ?? term);
    out.push({ entryIndex: ++lastIndex, baseOffset: nextOffset, term, records: s.records, valueBytes: s.valueBytes, timestamp: timestamp + lastIndex });
    nextOffset += s.records;
  }
  return out;
}
