import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { PartitionLog } from '../../../broker/log/index.js';
import { decodeHardState, encodeHardState, FileHardStateStore } from '../../../broker/raft/hard-state.js';
import { decodePartitionSnapshot, encodePartitionSnapshot, LogStorage } from '../../../broker/raft/log-storage.js';
import { isSkeinError } from '../../../transport/errors.js';
import { crc32c } from '../../../transport/protocol/crc32c.js';
import { projectRoot } from '../../support/root.js';

/**
 * Raft's files (hard state, snapshot) carry CRC32C from version 2, as the partition log does; files of version 1
 * (the IEEE CRC-32), written by brokers before, are still read. The version-1 fixtures were written by that code.
 */
const fixture = (name: string): Buffer => Buffer.from(readFileSync(join(projectRoot(), 'test', 'fixtures', 'raft', `${name}.hex`), 'utf8').trim(), 'hex');
const dirs: string[] = [];
const logs: PartitionLog[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skein-raft-format-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function openStorage(dir: string): Promise<LogStorage> {
  const log = await PartitionLog.open({ dir: join(dir, 'log'), flush: 'manual' });
  logs.push(log);
  return LogStorage.open({ log, snapshotPath: join(dir, 'snapshot') });
}

const corrupt = (run: () => unknown): boolean => {
  try {
    run();
    return false;
  } catch (error) {
    return isSkeinError(error, 'STORAGE_CORRUPT');
  }
};

describe('hard-state file versions', () => {
  it('writes version 2 with a CRC32C, and reads a version-1 file (IEEE CRC-32) written before', () => {
    const written = encodeHardState({ term: 7, vote: 2, commit: 41 });
    expect(written[4]).toBe(2);
    expect(new DataView(written.buffer).getUint32(28)).toBe(crc32c(written, 0, 28));
    const old = fixture('hard-state-v1');
    expect(old[4]).toBe(1);
    expect(old.readUInt32BE(28)).toBe(crc32(old.subarray(0, 28)));
    expect(decodeHardState(old)).toEqual({ term: 7, vote: 2, commit: 41 });
  });

  it('refuses a damaged version-1 file, a version-1 file with a CRC32C and an unknown version', () => {
    const old = fixture('hard-state-v1');
    for (let at = 0; at < old.length; at++) {
      const bad = Buffer.from(old);
      bad[at]! ^= 0x01;
      expect([at, corrupt(() => decodeHardState(bad))]).toEqual([at, true]);
    }
    const mislabelled = Buffer.from(encodeHardState({ term: 7, vote: 2, commit: 41 }));
    mislabelled[4] = 1;
    expect(corrupt(() => decodeHardState(mislabelled))).toBe(true);
    mislabelled[4] = 3;
    expect(corrupt(() => decodeHardState(mislabelled))).toBe(true);
  });

  it('a store over a version-1 file loads it, and its next save is version 2', async () => {
    const path = join(tempDir(), 'raft-state');
    writeFileSync(path, fixture('hard-state-v1'));
    const store = new FileHardStateStore(path);
    expect(await store.load()).toEqual({ term: 7, vote: 2, commit: 41 });
    await store.save({ term: 8, vote: 0, commit: 41 });
    expect(readFileSync(path)[4]).toBe(2);
    expect(await new FileHardStateStore(path).load()).toEqual({ term: 8, vote: 0, commit: 41 });
  });
});

describe('snapshot file versions', () => {
  it('opens over a version-1 snapshot written before, and writes the next one as version 2 with a CRC32C', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'snapshot'), fixture('raft-snapshot-v1'));
    const storage = await openStorage(dir);
    expect(storage.snapshot().meta).toEqual({ index: 50, term: 4, config: { voters: [1, 2, 3], votersOutgoing: [], learners: [4], learnersNext: [] } });
    expect(decodePartitionSnapshot(storage.snapshot().data)).toEqual({ nextOffset: 1234, state: new Uint8Array([1, 2, 3]) });
    // The log continues after the snapshot, as after any install.
    expect(storage.lastIndex()).toBe(50);
    storage.installSnapshot({ meta: { index: 60, term: 5, config: { voters: [1, 2, 3], votersOutgoing: [], learners: [], learnersNext: [] } }, data: encodePartitionSnapshot({ nextOffset: 2000, state: new Uint8Array(0) }) });
    const file = readFileSync(join(dir, 'snapshot'));
    expect(file[4]).toBe(2);
    expect(file.readUInt32BE(8)).toBe(crc32c(file, 12));
  });

  it('refuses a damaged version-1 snapshot and an unknown version with STORAGE_CORRUPT', async () => {
    const old = fixture('raft-snapshot-v1');
    for (const [at, value] of [[20, old[20]! ^ 0x01], [4, 3]] as const) {
      const dir = tempDir();
      const bad = Buffer.from(old);
      bad[at] = value;
      writeFileSync(join(dir, 'snapshot'), bad);
      const error = await openStorage(dir).catch((e: unknown) => e);
      expect([at, isSkeinError(error, 'STORAGE_CORRUPT')]).toEqual([at, true]);
    }
  });
});
