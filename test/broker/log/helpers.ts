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
  // 64 seeded bytes repeated: distinct per record, cheap enough to regenerate megabytes for checking.
  const prng = new Prng((entryIndex * 7919 + term * 104729 + record) >>> 0);
  const pattern = Buffer.allocUnsafe(64);
  for (let i = 0; i < 64; i++) pattern[i] = prng.nextUint32() & 0xff;
  const out = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i += 64) pattern.copy(out, i, 0, Math.min(64, bytes - i));
  return out;
}

/**
 * The batch a long-running writer appends at `entryIndex`, derived from the
 * seed and the index alone, so another process can regenerate and compare it.
 */
export function scriptedSpec(seed: number, entryIndex: number, baseOffset: number): BatchSpec {
  const prng = new Prng((seed ^ Math.imul(entryIndex, 0x9e3779b1)) >>> 0);
  const control = prng.chance(0.05);
  const large = prng.chance(0.05);
  return {
    entryIndex,
    baseOffset,
    term: 1 + Math.floor(entryIndex / 37),
    records: control ? 0 : prng.int(1, 20),
    valueBytes: large ? prng.int(20_000, 120_000) : prng.int(10, 2_000),
    timestamp: 1_700_000_000_000 + entryIndex,
  };
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
