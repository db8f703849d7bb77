import { appendFileSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { PartitionLog } from '../../../broker/log/index.js';
import type { PartitionLogOptions } from '../../../broker/log/index.js';
import { encodeResetMarker } from '../../../broker/log/formats.js';
import { SkeinError, isSkeinError } from '../../../transport/errors.js';
import { makeBatch, scriptedSpec, tempDir } from './helpers.js';

/**
 * Damage injected into the files, byte by byte: a torn or garbage tail is
 * detected and cut off (and the log continues without a gap); damage to a
 * sealed segment, a foreign file, or a gap between segments is a clear
 * STORAGE_CORRUPT naming the file; damaged bytes are never served.
 */

const SEED = 99;
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const options = (dir: string): PartitionLogOptions => ({ dir, flush: 'manual', segmentBytes: 64 * 1024, indexIntervalBytes: 1024 });

/** A closed log of `count` scripted batches; returns the batch boundaries of the tail segment file. */
async function writeLog(count: number): Promise<{ dir: string; specs: ReturnType<typeof scriptedSpec>[] }> {
  const { dir, cleanup } = tempDir('corrupt');
  cleanups.push(cleanup);
  const log = await PartitionLog.open(options(dir));
  const specs: ReturnType<typeof scriptedSpec>[] = [];
  let offset = 0;
  for (let index = 1; index <= count; index++) {
    const spec = scriptedSpec(SEED, index, offset);
    specs.push(spec);
    log.append([makeBatch(spec)]);
    offset += spec.records;
  }
  await log.close();
  return { dir, specs };
}

function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.log'))
    .sort();
}

/** Byte positions where each batch of a segment file starts, read from the batch length fields. */
function batchStarts(path: string): number[] {
  const bytes = readFileSync(path);
  const starts: number[] = [];
  for (let at = 64; at < bytes.length; at += bytes.readUInt32BE(at + 4)) starts.push(at);
  return starts;
}

async function expectCorrupt(run: () => Promise<unknown>, fileName: string | RegExp): Promise<SkeinError> {
  try {
    await run();
  } catch (error) {
    expect(isSkeinError(error, 'STORAGE_CORRUPT')).toBe(true);
    expect((error as SkeinError).message).toMatch(fileName);
    return error as SkeinError;
  }
  throw new Error('expected STORAGE_CORRUPT');
}

/** The log holds exactly batches 1..n of the script, and appending continues at n + 1 without a gap. */
async function expectPrefix(dir: string, specs: ReturnType<typeof scriptedSpec>[], n: number): Promise<void> {
  const log = await PartitionLog.open(options(dir));
  try {
    expect(log.lastIndex()).toBe(n);
    for (let index = 1; index <= n; index++) expect(log.entries(index, index + 1, 0)[0]!.equals(makeBatch(specs[index - 1]!))).toBe(true);
    const next = scriptedSpec(SEED, n + 1, log.endOffset);
    expect(log.append([makeBatch(next)])).toMatchObject({ firstIndex: n + 1, lastIndex: n + 1 });
    expect(log.read({ offset: next.baseOffset, maxBytes: 1 }).batches[0]!.equals(makeBatch(next))).toBe(true);
  } finally {
    await log.close();
  }
}

describe('a damaged tail is cut at the last valid batch', () => {
  it('a batch torn at any byte', async () => {
    const { dir, specs } = await writeLog(30);
    const tail = join(dir, segmentFiles(dir).at(-1)!);
    const starts = batchStarts(tail);
    const size = statSync(tail).size;
    const original = readFileSync(tail);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: starts[0]!, max: size - 1 }), async (cut) => {
        writeFileSync(tail, original);
        rmSync(join(dir, 'CLEAN'), { force: true });
        truncateSync(tail, cut);
        const log = await PartitionLog.open(options(dir));
        const keptInTail = starts.filter((s, i) => (starts[i + 1] ?? size) <= cut).length;
        const expectedLast = specs.length - starts.length + keptInTail;
        expect(log.lastIndex()).toBe(expectedLast);
        expect(log.recovery.truncated === null).toBe(starts.includes(cut));
        await log.close();
      }),
      { numRuns: 25 },
    );
    writeFileSync(tail, original);
    rmSync(join(dir, 'CLEAN'), { force: true });
    truncateSync(tail, starts.at(-1)! + 100);
    await expectPrefix(dir, specs, specs.length - 1);
  });

  it('any flipped byte in the tail segment (CRC) drops that batch and everything after it', async () => {
    const { dir, specs } = await writeLog(30);
    const tail = join(dir, segmentFiles(dir).at(-1)!);
    const starts = batchStarts(tail);
    const original = readFileSync(tail);
    const firstInTail = specs.length - starts.length + 1;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: starts[0]!, max: original.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        const damaged = Buffer.from(original);
        damaged[at]! ^= xor;
        writeFileSync(tail, damaged);
        rmSync(join(dir, 'CLEAN'), { force: true });
        const log = await PartitionLog.open(options(dir));
        const hit = starts.filter((s) => s <= at).length - 1;
        expect(log.lastIndex()).toBe(firstInTail + hit - 1);
        expect(log.recovery.truncated).toMatchObject({ position: starts[hit], droppedBytes: original.length - starts[hit]! });
        await log.close();
      }),
      { numRuns: 40 },
    );
    const damaged = Buffer.from(original);
    damaged[starts[3]! + 90]! ^= 0x40;
    writeFileSync(tail, damaged);
    rmSync(join(dir, 'CLEAN'), { force: true });
    await expectPrefix(dir, specs, firstInTail + 2);
  });

  it('garbage or zeros after the last batch', async () => {
    const { dir, specs } = await writeLog(12);
    const tail = join(dir, segmentFiles(dir).at(-1)!);
    for (const junk of [Buffer.alloc(4096), Buffer.from('not a batch at all, just text that follows the log'), makeBatch(scriptedSpec(SEED, 99, 0))]) {
      appendFileSync(tail, junk);
      rmSync(join(dir, 'CLEAN'), { force: true });
      const log = await PartitionLog.open(options(dir));
      expect(log.lastIndex()).toBe(specs.length);
      expect(log.recovery.truncated?.droppedBytes).toBe(junk.length);
      await log.close();
    }
    await expectPrefix(dir, specs, specs.length);
  });

  it('a clean-shutdown marker that no longer matches the tail is ignored and the tail rescanned', async () => {
    const { dir, specs } = await writeLog(12);
    appendFileSync(join(dir, segmentFiles(dir).at(-1)!), Buffer.alloc(100, 7));
    const log = await PartitionLog.open(options(dir));
    expect(log.recovery.clean).toBe(false);
    expect(log.recovery.truncated?.droppedBytes).toBe(100);
    await log.close();
    await expectPrefix(dir, specs, specs.length);
  });
});

describe('damage that is not a torn tail is reported, never served', () => {
  it('a damaged sealed segment: its reads fail, a rebuild of its index fails, naming the file', async () => {
    const { dir } = await writeLog(40);
    const sealed = segmentFiles(dir)[0]!;
    const starts = batchStarts(join(dir, sealed));
    const bytes = readFileSync(join(dir, sealed));
    bytes[starts[2]! + 200]! ^= 1; // inside the payload of the third batch
    writeFileSync(join(dir, sealed), bytes);
    // With its index intact the segment is trusted at open (sealed segments were fsynced before the next began)...
    const log = await PartitionLog.open(options(dir));
    expect(log.read({ offset: 0, maxBytes: 1 }).batches.length).toBe(1);
    // ...but the damaged batch is never returned.
    const damaged = log.headerAt(3);
    expect(() => log.read({ offset: damaged.baseOffset, maxBytes: 1 })).toThrow(/body checksum mismatch/);
    // A read that starts before it gets the good batches up to it.
    expect(log.read({ offset: 0, maxBytes: 1 << 20 }).lastIndex).toBe(2);
    expect(() => log.entries(3, 4, 0)).toThrow(sealed);
    await log.close();
    // Without its index, open rebuilds it by scanning, finds the damage and refuses with the file and byte.
    rmSync(join(dir, sealed.replace('.log', '.index')));
    const error = await expectCorrupt(() => PartitionLog.open(options(dir)), sealed);
    expect(error.details).toMatchObject({ position: starts[2] });
  });

  it('a damaged or stale index is rebuilt from the segment', async () => {
    const { dir, specs } = await writeLog(40);
    const [first, second] = segmentFiles(dir);
    const index1 = join(dir, first!.replace('.log', '.index'));
    const index2 = join(dir, second!.replace('.log', '.index'));
    const damaged = readFileSync(index1);
    damaged[damaged.length - 3]! ^= 0xff;
    writeFileSync(index1, damaged);
    rmSync(index2);
    const log = await PartitionLog.open(options(dir));
    // The second index was missing: rebuilt at open. The first has an intact header: rebuilt when first used.
    expect(log.recovery.rebuiltIndexes).toEqual([second!.replace('.log', '')]);
    for (let index = 1; index <= specs.length; index++) expect(log.entries(index, index + 1, 0)[0]!.equals(makeBatch(specs[index - 1]!))).toBe(true);
    await log.close();
    expect(readFileSync(index1).equals(damaged)).toBe(false);
  });

  it('a foreign file, a foreign segment, a mislabelled segment and a gap are named', async () => {
    const { dir } = await writeLog(40);
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    await expectCorrupt(() => PartitionLog.open(options(dir)), /notes\.txt: foreign file/);
    rmSync(join(dir, 'notes.txt'));

    const foreign = join(dir, `${String(1e12).padStart(20, '0')}-${String(1e9).padStart(20, '0')}.log`);
    writeFileSync(foreign, Buffer.alloc(200, 0x41));
    await expectCorrupt(() => PartitionLog.open(options(dir)), /not a skein segment: does not start with the skein segment magic/);
    rmSync(foreign);
    writeFileSync(join(dir, `${'9'.repeat(20)}-${'9'.repeat(20)}.log`), '');
    await expectCorrupt(() => PartitionLog.open(options(dir)), /segment name out of range/);
    rmSync(join(dir, `${'9'.repeat(20)}-${'9'.repeat(20)}.log`));

    const [first, second, third] = segmentFiles(dir);
    const renamed = join(dir, second!.replace(/^\d{20}/, '00000000000000000001'));
    writeFileSync(renamed, readFileSync(join(dir, second!)));
    rmSync(join(dir, second!));
    await expectCorrupt(() => PartitionLog.open(options(dir)), /the name says otherwise/);
    writeFileSync(join(dir, second!), readFileSync(renamed));
    rmSync(renamed);

    // A segment missing from the middle: the next one does not continue the previous.
    const saved = readFileSync(join(dir, second!));
    rmSync(join(dir, second!));
    await expectCorrupt(() => PartitionLog.open(options(dir)), new RegExp(`${third}: does not continue ${first!.replace('.log', '')}`));
    writeFileSync(join(dir, second!), saved);
    const log = await PartitionLog.open(options(dir));
    expect(log.lastIndex()).toBe(40);
    await log.close();
  });

  it('an interrupted resetTo is finished on open; leftover temporary files are removed', async () => {
    const { dir } = await writeLog(20);
    writeFileSync(join(dir, 'RESET'), encodeResetMarker({ entryIndex: 500, term: 9, baseOffset: 7000 }));
    writeFileSync(join(dir, '00000000000000000000-00000000000000000001.index.tmp'), 'half written');
    const log = await PartitionLog.open(options(dir));
    expect(log.recovery.resetCompleted).toBe(true);
    expect([log.firstIndex(), log.lastIndex(), log.termAt(500), log.startOffset, log.endOffset]).toEqual([501, 500, 9, 7000, 7000]);
    await log.close();
    expect(readdirSync(dir).sort()).toEqual(['00000000000000007000-00000000000000000501.index', '00000000000000007000-00000000000000000501.log', 'CLEAN']);
    writeFileSync(join(dir, 'RESET'), 'garbage');
    await expectCorrupt(() => PartitionLog.open(options(dir)), /RESET: not a skein reset marker/);
  });
});
