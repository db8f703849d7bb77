import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PartitionLog } from '../../../broker/log/index.js';
import type { PartitionLogOptions } from '../../../broker/log/index.js';
import { systemClock } from '../../../transport/clock.js';
import { logLimits } from '../../../transport/limits.js';
import { SkeinError, isSkeinError } from '../../../transport/errors.js';
import { decodeRecords, stampBatch } from '../../../transport/protocol/record-batch.js';
import { continueLog, makeBatch, tempDir } from './helpers.js';
import type { BatchSpec } from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openLog(extra: Partial<PartitionLogOptions> = {}): Promise<{ log: PartitionLog; dir: string; options: PartitionLogOptions }> {
  const { dir, cleanup } = tempDir('log');
  const options: PartitionLogOptions = { dir, flush: 'manual', segmentBytes: 64 * 1024, ...extra };
  const log = await PartitionLog.open(options);
  cleanups.push(cleanup, () => log.close());
  return { log, dir, options };
}

function code(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isSkeinError(error)) return error.code;
    throw error;
  }
  return 'none';
}

const tail = (log: PartitionLog): { lastIndex: number; nextOffset: number; term: number } => ({ lastIndex: log.lastIndex(), nextOffset: log.endOffset, term: log.lastTerm() });

function appendSpecs(log: PartitionLog, specs: BatchSpec[]): void {
  log.append(specs.map(makeBatch));
}

describe('append', () => {
  it('an empty log starts at index 1, offset 0, with the snapshot point (0, term 0)', async () => {
    const { log } = await openLog();
    expect([log.firstIndex(), log.lastIndex(), log.lastTerm(), log.termAt(0), log.termAt(1), log.startOffset, log.endOffset]).toEqual([1, 0, 0, 0, undefined, 0, 0]);
    expect(log.read({ offset: 0, maxBytes: 100 })).toEqual({ batches: [], bytes: 0, nextOffset: 0, lastIndex: null });
  });

  it('refuses a batch that does not continue the log, or is damaged, and changes nothing', async () => {
    const { log } = await openLog();
    appendSpecs(log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 3, () => ({ records: 2, valueBytes: 10, term: 2 })));
    const before = { ...tail(log), bytes: log.stats().logBytes };
    const good = continueLog(tail(log), 3, () => ({ records: 1, valueBytes: 10 }));
    const cases: Array<[string, Buffer[]]> = [
      ['gap in index', [makeBatch(good[0]!), makeBatch({ ...good[1]!, entryIndex: 9 })]],
      ['repeated index', [makeBatch({ ...good[0]!, entryIndex: 3 })]],
      ['gap in offsets', [makeBatch({ ...good[0]!, baseOffset: 7 })]],
      ['term goes down', [makeBatch(good[0]!), makeBatch({ ...good[1]!, term: 1 })]],
    ];
    for (const [name, batches] of cases) expect([name, code(() => log.append(batches))]).toEqual([name, 'INVALID_ARGUMENT']);
    const flipped = makeBatch(good[2]!);
    flipped[flipped.length - 1]! ^= 1;
    expect(code(() => log.append([makeBatch(good[0]!), makeBatch(good[1]!), flipped]))).toBe('CORRUPT_BATCH');
    expect(code(() => log.append([Buffer.concat([makeBatch(good[0]!), Buffer.alloc(1)])]))).toBe('CORRUPT_BATCH');
    expect(code(() => log.append(['nope' as unknown as Uint8Array]))).toBe('INVALID_ARGUMENT');
    expect({ ...tail(log), bytes: log.stats().logBytes }).toEqual(before);
    expect(log.append(good.map(makeBatch))).toEqual({ firstIndex: 4, lastIndex: 6, nextOffset: 9 });
  });

  it('accepts a batch whose body is damaged only when body verification is off (the caller verified on receipt)', async () => {
    const { log } = await openLog({ verifyOnAppend: false });
    const spec = continueLog(tail(log), 1, () => ({ records: 1, valueBytes: 50 }))[0]!;
    const damaged = makeBatch(spec);
    damaged[damaged.length - 1]! ^= 1;
    expect(log.append([damaged]).lastIndex).toBe(1);
    // Header damage is refused whatever the setting.
    const headerDamaged = makeBatch(continueLog(tail(log), 1, () => ({ records: 1, valueBytes: 50 }))[0]!);
    headerDamaged[20]! ^= 1;
    expect(code(() => log.append([headerDamaged]))).toBe('CORRUPT_BATCH');
  });
});

describe('reads', () => {
  it('returns whole batches holding the offset, at least one, within the byte budget and maxIndex', async () => {
    const { log } = await openLog({ tailCacheBytes: 0 });
    // Control batches at 1 and 5 share their offset with the next batch.
    const specs = continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 8, (i) => ({ records: i === 0 || i === 4 ? 0 : 3, valueBytes: 100 }));
    appendSpecs(log, specs);
    const sizes = specs.map((s) => makeBatch(s).length);
    const r0 = log.read({ offset: 0, maxBytes: 0 });
    expect(r0.lastIndex).toBe(2); // the data batch holding offset 0, not the control batch before it
    expect(r0.nextOffset).toBe(3);
    expect(decodeRecords(r0.batches[0]!).map((r) => r.offset)).toEqual([0, 1, 2]);
    expect(log.read({ offset: 4, maxBytes: 0 }).lastIndex).toBe(3);
    // Budget for two batches: 3 and 4; the control batch 5 counts like any batch.
    const two = log.read({ offset: 4, maxBytes: sizes[2]! + sizes[3]! });
    expect(two.batches.length).toBe(2);
    expect(two.nextOffset).toBe(9);
    expect(log.read({ offset: 4, maxBytes: 1 << 20, maxIndex: 5 }).lastIndex).toBe(5);
    expect(log.read({ offset: 4, maxBytes: 1 << 20, maxIndex: 2 }).batches).toEqual([]);
    expect(log.read({ offset: 17, maxBytes: 1 << 20 }).lastIndex).toBe(8);
    expect(log.read({ offset: log.endOffset, maxBytes: 1 << 20 }).batches).toEqual([]);
    const outside = (() => {
      try {
        log.read({ offset: log.endOffset + 1, maxBytes: 1 });
      } catch (error) {
        return error as SkeinError;
      }
      return null;
    })();
    expect(outside?.code).toBe('OFFSET_OUT_OF_RANGE');
    expect(outside?.details).toMatchObject({ startOffset: 0, endOffset: 18 });
    expect(code(() => log.read({ offset: -1, maxBytes: 1 }))).toBe('OFFSET_OUT_OF_RANGE');
    expect(code(() => log.read({ offset: 0, maxBytes: -1 }))).toBe('INVALID_ARGUMENT');
  });

  it('withinBudget: never more than maxBytes; a first batch larger than it is not returned, its size is (from disk and from the tail cache)', async () => {
    for (const tailCacheBytes of [0, 1 << 20]) {
      const { log } = await openLog({ tailCacheBytes });
      const specs = continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 4, (i) => ({ records: i === 0 ? 0 : 3, valueBytes: 100 }));
      appendSpecs(log, specs);
      const sizes = specs.map((s) => makeBatch(s).length);
      // Offset 0: the control batch before it is skipped; the data batch holding it is what must fit.
      expect(log.read({ offset: 0, maxBytes: sizes[1]! - 1, withinBudget: true })).toEqual({ batches: [], bytes: 0, nextOffset: 0, lastIndex: null, firstBatchBytes: sizes[1] });
      const exact = log.read({ offset: 0, maxBytes: sizes[1]!, withinBudget: true });
      expect(exact.batches.length).toBe(1);
      expect(exact.firstBatchBytes).toBeUndefined();
      // One byte short of two batches: one.
      expect(log.read({ offset: 0, maxBytes: sizes[1]! + sizes[2]! - 1, withinBudget: true }).bytes).toBe(sizes[1]);
      expect(log.read({ offset: 3, maxBytes: 0, withinBudget: true }).firstBatchBytes).toBe(sizes[2]);
      // Without it, the first batch is returned whatever the budget.
      expect(log.read({ offset: 3, maxBytes: 0 }).bytes).toBe(sizes[2]);
      expect(log.read({ offset: log.endOffset, maxBytes: 0, withinBudget: true }).firstBatchBytes).toBeUndefined();
    }
  });

  it('entries and terms by index; out-of-range is refused, not guessed', async () => {
    const { log } = await openLog();
    appendSpecs(log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 6, (i) => ({ records: 1, valueBytes: 5000, term: 1 + Math.floor(i / 2) })));
    expect([1, 2, 3, 4, 5, 6].map((i) => log.termAt(i))).toEqual([1, 1, 2, 2, 3, 3]);
    expect([log.termAt(-1), log.termAt(7), log.termAt(1.5)]).toEqual([undefined, undefined, undefined]);
    expect(log.entries(2, 5, 0).length).toBe(1); // at least one, even past the budget
    expect(log.entries(2, 5, 1 << 20).length).toBe(3);
    expect(log.entries(4, 4, 100)).toEqual([]);
    expect(code(() => log.entries(0, 2, 100))).toBe('OFFSET_OUT_OF_RANGE');
    expect(code(() => log.entries(2, 8, 100))).toBe('OFFSET_OUT_OF_RANGE');
    expect(code(() => log.entries(3, 2, 100))).toBe('OFFSET_OUT_OF_RANGE');
    expect(code(() => log.headerAt(7))).toBe('OFFSET_OUT_OF_RANGE');
  });

  it('offsetForTimestamp finds the first batch with a record at or after the time', async () => {
    const { log } = await openLog({ indexIntervalBytes: 0 });
    const specs = continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 40, () => ({ records: 2, valueBytes: 3000 }), 1_000);
    appendSpecs(log, specs);
    expect(log.stats().segments).toBeGreaterThan(1);
    // Batch i has records at 1000 + i and 1000 + i + 1.
    expect(log.offsetForTimestamp(0)).toBe(0);
    expect(log.offsetForTimestamp(1_011)).toBe(18); // batch 10 (offsets 18, 19) holds 1010 and 1011
    expect(log.offsetForTimestamp(1_041)).toBe(78);
    expect(log.offsetForTimestamp(1_042)).toBeNull();
  });

  it('keeps at most openSegmentsMax segments loaded, whatever is read', async () => {
    const { log } = await openLog();
    appendSpecs(log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 200, () => ({ records: 1, valueBytes: 6000 })));
    expect(log.stats().segments).toBeGreaterThan(logLimits.openSegmentsMax * 2);
    for (let index = 1; index <= 200; index += 3) log.entries(index, index + 1, 0);
    for (let offset = 0; offset < 200; offset += 7) log.read({ offset, maxBytes: 1 });
    const stats = log.stats();
    expect(stats.loadedSegments).toBeLessThanOrEqual(logLimits.openSegmentsMax);
    expect(stats.indexBytes).toBeLessThanOrEqual(logLimits.openSegmentsMax * 32 * 64);
  });
});

describe('truncation, reset, retention', () => {
  it('truncateSuffix rolls the end back across segments and appending continues from there', async () => {
    const { log } = await openLog();
    appendSpecs(log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 30, () => ({ records: 2, valueBytes: 5000 })));
    const segments = log.stats().segments;
    log.truncateSuffix(8);
    expect([log.lastIndex(), log.endOffset, log.stats().segments < segments]).toEqual([7, 14, true]);
    expect(code(() => log.truncateSuffix(0))).toBe('OFFSET_OUT_OF_RANGE');
    expect(code(() => log.truncateSuffix(9))).toBe('OFFSET_OUT_OF_RANGE');
    appendSpecs(log, continueLog(tail(log), 2, () => ({ records: 1, valueBytes: 10, term: 5 })));
    expect([log.lastIndex(), log.lastTerm(), log.endOffset]).toEqual([9, 5, 16]);
    log.truncateSuffix(1);
    expect([log.firstIndex(), log.lastIndex(), log.endOffset, log.termAt(0)]).toEqual([1, 0, 0, 0]);
  });

  it('resetTo starts the log after a snapshot point', async () => {
    const { log, dir, options } = await openLog();
    appendSpecs(log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 30, () => ({ records: 2, valueBytes: 5000 })));
    log.resetTo({ entryIndex: 1000, term: 7, baseOffset: 5000 });
    expect([log.firstIndex(), log.lastIndex(), log.termAt(1000), log.termAt(999), log.startOffset, log.endOffset, log.durableIndex]).toEqual([1001, 1000, 7, undefined, 5000, 5000, 1000]);
    expect(code(() => log.append([makeBatch({ entryIndex: 1001, baseOffset: 5000, term: 6, records: 1, valueBytes: 1, timestamp: 1 })]))).toBe('INVALID_ARGUMENT');
    appendSpecs(log, continueLog(tail(log), 2, () => ({ records: 3, valueBytes: 10 })));
    expect(readdirSync(dir).filter((n) => n.endsWith('.log'))).toEqual(['00000000000000005000-00000000000000001001.log']);
    await log.close();
    const again = await PartitionLog.open(options);
    cleanups.push(() => again.close());
    expect([again.firstIndex(), again.lastIndex(), again.endOffset, again.termAt(1000)]).toEqual([1001, 1002, 5006, 7]);
  });

  it('retention deletes whole old segments by size and by age, never the active one, never at or past beforeIndex', async () => {
    let now = 10_000;
    const { log } = await openLog({ retention: { bytes: 150_000, ms: 60_000 }, clock: { ...systemClock, epochMs: () => now } });
    appendSpecs(log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 60, () => ({ records: 1, valueBytes: 6000 }), now));
    const segments = log.stats().segments;
    expect(log.enforceRetention({ beforeIndex: 1 })).toEqual({ segmentsDeleted: 0, bytesDeleted: 0 });
    const bySize = log.enforceRetention();
    expect(bySize.segmentsDeleted).toBeGreaterThan(0);
    expect(log.stats().logBytes).toBeGreaterThanOrEqual(150_000);
    expect(log.stats().logBytes - bySize.bytesDeleted).toBeLessThan(150_000);
    // The first entry left starts a segment, and its predecessor's term is still known.
    expect(log.termAt(log.firstIndex() - 1)).toBe(1);
    expect(log.startOffset).toBe(log.firstIndex() - 1);
    now += 120_000;
    const byAge = log.enforceRetention();
    expect(byAge.segmentsDeleted + bySize.segmentsDeleted).toBe(segments - 1);
    expect(log.stats().segments).toBe(1);
    expect(code(() => log.read({ offset: 0, maxBytes: 1 }))).toBe('OFFSET_OUT_OF_RANGE');
  });

  it('rolls a segment once it is segmentMs old, so age retention can reach quiet partitions', async () => {
    let now = 1_000_000;
    const { log } = await openLog({ segmentMs: 5_000, clock: { ...systemClock, epochMs: () => now } });
    appendSpecs(log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 3, () => ({ records: 1, valueBytes: 10 })));
    expect(log.stats().segments).toBe(1);
    now += 5_000;
    appendSpecs(log, continueLog(tail(log), 1, () => ({ records: 1, valueBytes: 10 })));
    expect(log.stats().segments).toBe(2);
  });
});

describe('the sparse index', () => {
  it('after reopens and truncations it is the index a rebuild from the segment produces', async () => {
    const { log, dir, options } = await openLog({ indexIntervalBytes: 700, segmentBytes: 1024 * 1024 });
    let current = log;
    const grow = (n: number): void => {
      current.append(continueLog(tail(current), n, (i) => ({ records: i % 4, valueBytes: 150 * (i % 7) })).map(makeBatch));
    };
    grow(20);
    await current.close();
    current = await PartitionLog.open(options);
    grow(15);
    current.truncateSuffix(27);
    grow(10);
    await current.close();
    const indexFile = readdirSync(dir).find((n) => n.endsWith('.index'))!;
    const written = readFileSync(join(dir, indexFile));
    // Rebuild: no index, no clean marker, so open scans the segment.
    rmSync(join(dir, indexFile));
    rmSync(join(dir, 'CLEAN'));
    current = await PartitionLog.open(options);
    await current.close();
    expect(readFileSync(join(dir, indexFile)).equals(written)).toBe(true);
  });
});

describe('durability', () => {
  it('flush() makes everything appended before it durable; every-append flushes by itself', async () => {
    const points: number[] = [];
    const { log } = await openLog({ flush: 'every-append', onDurable: (p) => points.push(p.index) });
    appendSpecs(log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 3, () => ({ records: 1, valueBytes: 10 })));
    expect(log.durableIndex).toBe(0); // fsync runs in the thread pool: not yet
    await log.flush();
    expect([log.durableIndex, log.durableOffset]).toEqual([3, 3]);
    appendSpecs(log, continueLog(tail(log), 1, () => ({ records: 1, valueBytes: 10 })));
    await new Promise<void>((resolve) => {
      const poll = (): void => void (log.durableIndex === 4 ? resolve() : setTimeout(poll, 2));
      poll();
    });
    expect(points.at(-1)).toBe(4);
    expect(points).toEqual([...points].sort((a, b) => a - b));
  });

  it('concurrent flushes share fsyncs and all resolve', async () => {
    const { log } = await openLog();
    const waits: Array<Promise<void>> = [];
    for (let i = 0; i < 20; i++) {
      appendSpecs(log, continueLog(tail(log), 1, () => ({ records: 1, valueBytes: 10 })));
      waits.push(log.flush());
    }
    await Promise.all(waits);
    expect(log.durableIndex).toBe(20);
  });

  it('every N records and every T ms flush without being asked; manual does not', async () => {
    const byRecords = await openLog({ flush: { everyRecords: 10 } });
    appendSpecs(byRecords.log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 3, () => ({ records: 4, valueBytes: 10 })));
    const byTime = await openLog({ flush: { everyMs: 5 } });
    appendSpecs(byTime.log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 1, () => ({ records: 1, valueBytes: 10 })));
    const manual = await openLog({ flush: 'manual' });
    appendSpecs(manual.log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 3, () => ({ records: 4, valueBytes: 10 })));
    await new Promise<void>((resolve) => {
      const poll = (): void => void (byRecords.log.durableIndex === 3 && byTime.log.durableIndex === 1 ? resolve() : setTimeout(poll, 2));
      poll();
    });
    expect(manual.log.durableIndex).toBe(0);
  });

  it('a durable point never runs ahead of a truncation', async () => {
    const { log } = await openLog();
    appendSpecs(log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 5, () => ({ records: 1, valueBytes: 10 })));
    const flushing = log.flush();
    log.truncateSuffix(3);
    await flushing;
    expect(log.durableIndex).toBeLessThanOrEqual(2);
  });
});

describe('lifecycle', () => {
  it('one open log per directory, in this process too; closing releases it and marks a clean shutdown', async () => {
    const { log, options } = await openLog();
    appendSpecs(log, continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 3, () => ({ records: 1, valueBytes: 10 })));
    await expect(PartitionLog.open(options)).rejects.toMatchObject({ code: 'STORAGE_LOCKED' });
    await log.close();
    expect(code(() => log.lastIndex())).toBe('STORAGE_FAILED');
    await expect(log.flush()).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    const again = await PartitionLog.open(options);
    cleanups.push(() => again.close());
    expect(again.recovery.clean).toBe(true);
    expect(again.lastIndex()).toBe(3);
  });

  it.runIf(process.platform === 'linux')('takes over a lock whose process was killed but not yet reaped (a zombie still answers kill(pid, 0))', async () => {
    const { dir, cleanup } = tempDir('log');
    cleanups.push(cleanup);
    // sh starts `sleep 300`, then becomes `sleep 300`, which never waits for it: killed, it stays a
    // zombie until its parent ends, which the cleanup does (a short-lived parent let a loaded machine
    // reap it before the test looked).
    const parent = spawn('sh', ['-c', 'sleep 300 & echo $!; exec sleep 300'], { stdio: ['ignore', 'pipe', 'ignore'] });
    cleanups.push(() => void parent.kill('SIGKILL'));
    const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
    const pid = Number(line.toString().trim());
    process.kill(pid, 'SIGKILL');
    const state = (): string => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0]!;
    for (let i = 0; i < 200 && state() !== 'Z'; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(state()).toBe('Z');
    writeFileSync(join(dir, 'LOCK'), `${pid} 0123456789abcdef\n`);
    const log = await PartitionLog.open({ dir });
    cleanups.push(() => log.close());
    expect(log.lastIndex()).toBe(0);
  });

  it('refuses invalid options with INVALID_CONFIG', async () => {
    const { dir, cleanup } = tempDir('log');
    cleanups.push(cleanup);
    for (const bad of [{ segmentBytes: 10 }, { flush: {} }, { flush: { everyMs: 0 } }, { indexIntervalBytes: -1 }, { tailCacheBytes: 1e12 }] as Array<Partial<PartitionLogOptions>>) {
      await expect(PartitionLog.open({ dir, ...bad })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    }
  });

  it('a stamped copy appended by a follower equals the leader copy byte for byte', async () => {
    const leader = await openLog();
    const follower = await openLog();
    const specs = continueLog({ lastIndex: 0, nextOffset: 0, term: 1 }, 10, (i) => ({ records: i % 3, valueBytes: 700 }));
    appendSpecs(leader.log, specs);
    const shipped = leader.log.entries(1, 11, 1 << 20).map((b) => stampBatch(b, { baseOffset: 0, entryIndex: 0, term: 0 }, { copy: true }));
    // Restamped with the leader's values, they are what the leader holds.
    follower.log.append(shipped.map((b, i) => stampBatch(b, specs[i]!)));
    expect(follower.log.entries(1, 11, 1 << 20).map((b) => b.toString('hex'))).toEqual(leader.log.entries(1, 11, 1 << 20).map((b) => b.toString('hex')));
  });
});
