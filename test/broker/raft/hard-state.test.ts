import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { emptyHardState } from '../../../broker/raft/core/types.js';
import { decodeHardState, encodeHardState, FileHardStateStore } from '../../../broker/raft/hard-state.js';
import { isSkeinError } from '../../../transport/errors.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skein-hs-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('hard-state file', () => {
  it('starts empty, saves, and loads back what was saved last', async () => {
    const path = join(tempDir(), 'raft.state');
    const store = new FileHardStateStore(path);
    expect(await store.load()).toEqual(emptyHardState);
    await Promise.all([store.save({ term: 3, vote: 2, commit: 10 }), store.save({ term: 4, vote: 0, commit: 12 })]);
    expect(await new FileHardStateStore(path).load()).toEqual({ term: 4, vote: 0, commit: 12 });
    // Only the file itself remains: the temp file was renamed over it.
    expect(readdirSync(join(path, '..'))).toEqual(['raft.state']);
  });

  it('round-trips any hard state through its 32-byte encoding', () => {
    fc.assert(
      fc.property(fc.record({ term: fc.maxSafeNat(), vote: fc.integer({ min: 0, max: 0xffff_ffff }), commit: fc.maxSafeNat() }), (hs) => {
        expect(decodeHardState(encodeHardState(hs))).toEqual(hs);
      }),
    );
  });

  it('refuses a damaged or foreign file with STORAGE_CORRUPT', async () => {
    const path = join(tempDir(), 'raft.state');
    const store = new FileHardStateStore(path);
    await store.save({ term: 5, vote: 1, commit: 7 });
    const good = readFileSync(path);
    for (let at = 0; at < good.length; at++) {
      const bad = Buffer.from(good);
      bad[at]! ^= 0x40;
      writeFileSync(path, bad);
      const error = await store.load().catch((e: unknown) => e);
      expect(isSkeinError(error, 'STORAGE_CORRUPT')).toBe(true);
    }
    for (const bad of [Buffer.alloc(0), good.subarray(0, 31), Buffer.concat([good, Buffer.from([0])]), Buffer.from('{"term":1}')]) {
      writeFileSync(path, bad);
      const error = await store.load().catch((e: unknown) => e);
      expect(isSkeinError(error, 'STORAGE_CORRUPT')).toBe(true);
    }
  });

  it('fails a save with STORAGE_FAILED when the directory is gone, and later saves still run', async () => {
    const dir = tempDir();
    const store = new FileHardStateStore(join(dir, 'missing', 'raft.state'));
    const error = await store.save({ term: 1, vote: 0, commit: 0 }).catch((e: unknown) => e);
    expect(isSkeinError(error, 'STORAGE_FAILED')).toBe(true);
    const ok = new FileHardStateStore(join(dir, 'raft.state'));
    await ok.save({ term: 2, vote: 0, commit: 0 });
    expect((await ok.load()).term).toBe(2);
  });
});
