import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PartitionLog } from '../../../broker/log/index.js';
import { bootstrapState, encodeConfEntry } from '../../../broker/raft/core/membership.js';
import { emptySnapshot, type Entry, type NodeId, type RaftMessage, type Snapshot } from '../../../broker/raft/core/types.js';
import { RaftDriver } from '../../../broker/raft/driver.js';
import { FileHardStateStore } from '../../../broker/raft/hard-state.js';
import { decodePartitionSnapshot, encodePartitionSnapshot, LogStorage, storableMessage } from '../../../broker/raft/log-storage.js';
import { raftEnvelopeToWire } from '../../../broker/raft/codec.js';
import { RaftMux } from '../../../broker/raft/mux.js';
import { Prng } from '../../../transport/core/prng.js';
import { isSkeinError } from '../../../transport/errors.js';
import { decodeBatchHeader, decodeRecords, encodeRecordBatch, NO_PRODUCER } from '../../../transport/protocol/record-batch.js';
import { ListStateMachine, settle } from './driver-harness.js';
import { ManualClock } from '../../support/manual-clock.js';

const dirs: string[] = [];
const logs: PartitionLog[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'skein-raftlog-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function openLog(dir: string, segmentBytes = 64 * 1024): Promise<PartitionLog> {
  const log = await PartitionLog.open({ dir: join(dir, 'log'), flush: 'manual', segmentBytes });
  logs.push(log);
  return log;
}

function batch(values: string[], size = 0): Uint8Array {
  return encodeRecordBatch({ ...NO_PRODUCER, records: values.map((v) => ({ value: new TextEncoder().encode(v + '.'.repeat(size)), timestamp: 1_700_000_000_000 })) });
}

const normal = (index: number, term: number, values: string[], size = 0): Entry => ({ index, term, type: 'normal', data: batch(values, size) });
const noop = (index: number, term: number): Entry => ({ index, term, type: 'noop', data: new Uint8Array(0) });
const values = (e: Entry): string[] => decodeRecords(e.data).map((r) => new TextDecoder().decode(r.value ?? new Uint8Array(0)));

describe('LogStorage: Raft entries as record batches', () => {
  it('stamps batches with index, term and offsets, stores Raft entries as control batches, and reads them back', async () => {
    const dir = tempDir();
    const log = await openLog(dir);
    const storage = LogStorage.open({ log, snapshotPath: join(dir, 'snapshot') });
    const config = { index: 1, term: 1, type: 'config' as const, data: encodeConfEntry({ kind: 'bootstrap', config: { voters: [1, 2, 3], votersOutgoing: [], learners: [], learnersNext: [] } }) };
    storage.append([config, noop(2, 2), normal(3, 2, ['a', 'b']), normal(4, 2, ['c'])]);
    await storage.sync();
    expect([storage.firstIndex(), storage.lastIndex(), storage.termAt(0), storage.termAt(4), storage.termAt(5)]).toEqual([1, 4, 0, 2, undefined]);
    const read = storage.entries(1, 5, 1 << 20);
    expect(read.map((e) => [e.index, e.term, e.type])).toEqual([
      [1, 1, 'config'],
      [2, 2, 'noop'],
      [3, 2, 'normal'],
      [4, 2, 'normal'],
    ]);
    expect([...read[0]!.data]).toEqual([...config.data]);
    expect(values(read[2]!)).toEqual(['a', 'b']);
    // Offsets are dense over records; control batches take none.
    expect(decodeBatchHeader(read[2]!.data)).toMatchObject({ baseOffset: 0, entryIndex: 3, term: 2 });
    expect(decodeBatchHeader(read[3]!.data)).toMatchObject({ baseOffset: 2, entryIndex: 4 });
    expect(log.endOffset).toBe(3);
    expect(storage.configEntries(1, 5).map((e) => e.index)).toEqual([1]);
  });

  it("leaves the caller's bytes alone (the core shares them) and truncates a conflicting suffix", async () => {
    const dir = tempDir();
    const storage = LogStorage.open({ log: await openLog(dir), snapshotPath: join(dir, 'snapshot') });
    const e = normal(1, 1, ['x']);
    const before = Buffer.from(e.data);
    storage.append([e, normal(2, 1, ['y']), normal(3, 1, ['z'])]);
    expect(Buffer.from(e.data).equals(before)).toBe(true);
    storage.truncateSuffix(2);
    storage.append([normal(2, 3, ['y2'])]);
    expect(storage.entries(1, 3, 1 << 20).map((x) => [x.term, ...values(x)])).toEqual([
      [1, 'x'],
      [3, 'y2'],
    ]);
  });

  it('refuses a normal entry that is not a record batch, changing nothing', async () => {
    const dir = tempDir();
    const storage = LogStorage.open({ log: await openLog(dir), snapshotPath: join(dir, 'snapshot') });
    let error: unknown;
    try {
      storage.append([{ index: 1, term: 1, type: 'normal', data: new TextEncoder().encode('not a batch') }]);
    } catch (e) {
      error = e;
    }
    expect(isSkeinError(error, 'CORRUPT_BATCH')).toBe(true);
    expect(storage.lastIndex()).toBe(0);
  });

  it('tells which peer messages it could store, so a mux drops the others before they reach the replica', () => {
    const append = (data: Uint8Array): RaftMessage => ({ type: 'append', from: 2, to: 1, term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 1, type: 'normal', data }] });
    const good = batch(['a', 'b']);
    expect(storableMessage(append(good))).toBe(true);
    const flipped = Uint8Array.from(good);
    flipped[flipped.length - 1]! ^= 1; // body checksum no longer matches
    expect(storableMessage(append(flipped))).toBe(false);
    expect(storableMessage(append(new Uint8Array([1, 2, 3])))).toBe(false);
    expect(storableMessage(append(Uint8Array.from([...good, 0])))).toBe(false); // trailing bytes
    const snapshot = (data: Uint8Array): RaftMessage => ({ type: 'snapshot', from: 2, to: 1, term: 1, snapshot: { ...emptySnapshot, data } });
    expect(storableMessage(snapshot(encodePartitionSnapshot({ nextOffset: 9, state: new Uint8Array() })))).toBe(true);
    expect(storableMessage(snapshot(new Uint8Array(7)))).toBe(false);

    const mux = new RaftMux(() => undefined);
    const got: RaftMessage[] = [];
    mux.transport('p', storableMessage).onMessage((m) => got.push(m));
    mux.receiveWire(raftEnvelopeToWire({ group: 'p', message: append(flipped) }), 2);
    mux.receiveWire(raftEnvelopeToWire({ group: 'p', message: append(good) }), 2);
    expect(got).toHaveLength(1);
    expect(mux.counters).toMatchObject({ received: 1, malformed: 1 });
  });

  it('compacts whole segments behind a durable snapshot, which survives a reopen', async () => {
    const dir = tempDir();
    let log = await openLog(dir);
    let storage = LogStorage.open({ log, snapshotPath: join(dir, 'snapshot') });
    const entries = Array.from({ length: 12 }, (_, i) => normal(i + 1, 1, [`v${i}`], 20_000));
    storage.append(entries);
    await storage.sync();
    const snapshot: Snapshot = { meta: { index: 10, term: 1, config: { voters: [1], votersOutgoing: [], learners: [], learnersNext: [] } }, data: encodePartitionSnapshot({ nextOffset: 10, state: new Uint8Array([9]) }) };
    storage.compact(snapshot, 11);
    expect(storage.firstIndex()).toBeGreaterThan(1);
    expect(storage.firstIndex()).toBeLessThanOrEqual(11);
    expect(storage.termAt(storage.firstIndex() - 1)).toBe(1);
    await log.close();
    log = await openLog(dir);
    storage = LogStorage.open({ log, snapshotPath: join(dir, 'snapshot') });
    expect(storage.snapshot().meta).toEqual(snapshot.meta);
    expect(decodePartitionSnapshot(storage.snapshot().data)).toEqual({ nextOffset: 10, state: new Uint8Array([9]) });
    expect(storage.lastIndex()).toBe(12);
  });

  it("installs a leader's snapshot by resetting the log, and finishes an install a crash interrupted", async () => {
    const source = tempDir();
    const installed = LogStorage.open({ log: await openLog(source), snapshotPath: join(source, 'snapshot') });
    const snapshot: Snapshot = { meta: { index: 50, term: 4, config: { voters: [1, 2], votersOutgoing: [], learners: [], learnersNext: [] } }, data: encodePartitionSnapshot({ nextOffset: 1234, state: new Uint8Array(0) }) };
    installed.installSnapshot(snapshot);
    expect([installed.firstIndex(), installed.lastIndex(), installed.termAt(50)]).toEqual([51, 50, 4]);
    installed.append([normal(51, 4, ['after'])]);
    expect(decodeBatchHeader(installed.entries(51, 52, 1 << 20)[0]!.data).baseOffset).toBe(1234);

    // Another replica crashed after writing the snapshot file but before resetting its old log.
    const crashed = tempDir();
    const oldLog = await openLog(crashed);
    LogStorage.open({ log: oldLog, snapshotPath: join(crashed, 'unused') }).append([normal(1, 1, ['old'])]);
    copyFileSync(join(source, 'snapshot'), join(crashed, 'snapshot'));
    const repaired = LogStorage.open({ log: oldLog, snapshotPath: join(crashed, 'snapshot') });
    expect([repaired.firstIndex(), repaired.lastIndex(), repaired.termAt(50), oldLog.endOffset]).toEqual([51, 50, 4, 1234]);
  });

  it('refuses a damaged snapshot file with STORAGE_CORRUPT', async () => {
    const dir = tempDir();
    const log = await openLog(dir);
    writeFileSync(join(dir, 'snapshot'), Buffer.from('SKRS\x01\x00\x00\x00\x00\x00\x00\x00garbage'));
    expect(() => LogStorage.open({ log, snapshotPath: join(dir, 'snapshot') })).toThrow(expect.objectContaining({ code: 'STORAGE_CORRUPT' }));
    writeFileSync(join(dir, 'snapshot'), Buffer.from('hello'));
    expect(() => LogStorage.open({ log, snapshotPath: join(dir, 'snapshot') })).toThrow(expect.objectContaining({ code: 'STORAGE_CORRUPT' }));
  });
});

describe('a Raft group over real partition logs', () => {
  it('replicates record batches into identical partition logs and survives a replica restart', async () => {
    const clock = new ManualClock();
    const prng = new Prng(3);
    const ids: NodeId[] = [1, 2, 3];
    const boot = bootstrapState({ voters: ids, votersOutgoing: [], learners: [], learnersNext: [] });
    const queue: Array<{ from: NodeId; to: NodeId; wire: unknown }> = [];
    const replicas = new Map<NodeId, { dir: string; log: PartitionLog; driver: RaftDriver; mux: RaftMux }>();

    const start = async (id: NodeId, dir: string, fresh: boolean): Promise<void> => {
      const log = await openLog(dir);
      const storage = LogStorage.open({ log, snapshotPath: join(dir, 'snapshot') });
      const hardStateStore = new FileHardStateStore(join(dir, 'raft.state'));
      if (fresh) {
        storage.append([boot.entry]);
        await storage.sync();
        await hardStateStore.save(boot.hardState);
      }
      const mux = new RaftMux((to, wire) => queue.push({ from: id, to, wire }));
      const driver = await RaftDriver.open({ group: 'orders/0', id, storage, hardStateStore, transport: mux.transport('orders/0'), stateMachine: new ListStateMachine(), prng: prng.fork(), clock, tickMs: 10, electionTicks: 10, heartbeatTicks: 1 });
      replicas.set(id, { dir, log, driver, mux });
    };
    const pump = async (): Promise<void> => {
      for (let i = 0; i < 100 && queue.length > 0; i++) {
        for (const { from, to, wire } of queue.splice(0)) {
          const r = replicas.get(to);
          if (r !== undefined && !r.driver.isStopped) r.mux.receiveWire(wire, from);
        }
        // Real fsyncs run in the thread pool: give them time.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    };
    const run = async (ms: number): Promise<void> => {
      await clock.advanceSettling(ms, pump);
      await pump();
    };
    const leader = (): RaftDriver | undefined => [...replicas.values()].map((r) => r.driver).find((d) => !d.isStopped && d.status().role === 'leader');
    // Simulated time only moves when the test says so; real fsyncs finish whenever the disk does.
    const until = async (done: () => boolean): Promise<void> => {
      for (let i = 0; i < 5000 && !done(); i++) await run(10);
      expect(done()).toBe(true);
    };
    const settled = (promises: Array<Promise<unknown>>): (() => boolean) => {
      let count = 0;
      for (const p of promises) void p.then(() => count++);
      return () => count === promises.length;
    };

    for (const id of ids) await start(id, tempDir(), true);
    await until(() => leader() !== undefined);
    const l = leader()!;
    const acks = Array.from({ length: 5 }, (_, i) => l.propose(batch([`r${i}`])));
    await until(settled(acks));
    const applied = (): boolean => [...replicas.values()].every((r) => r.driver.status().applied === l.status().commit);
    await until(applied);

    const logBytes = (log: PartitionLog): string[] => log.entries(1, log.lastIndex() + 1, 1 << 20).map((b) => Buffer.from(b).toString('hex'));
    const reference = logBytes(replicas.get(1)!.log);
    for (const r of replicas.values()) expect(logBytes(r.log)).toEqual(reference);
    expect(replicas.get(1)!.log.endOffset).toBe(5);

    // A follower restarts from its files and keeps up.
    const follower = [...replicas.entries()].find(([, r]) => r.driver !== l)!;
    follower[1].driver.close();
    await follower[1].log.close();
    await start(follower[0], follower[1].dir, false);
    await until(settled([l.propose(batch(['after restart']))]));
    await until(applied);
    expect(logBytes(replicas.get(follower[0])!.log)).toEqual(logBytes([...replicas.values()].find((r) => r.driver === l)!.log));
    expect(replicas.get(follower[0])!.driver.status().config.voters).toEqual(ids);
    for (const r of replicas.values()) r.driver.close();
    await settle();
  });
});
