import { afterEach, describe, expect, it } from 'vitest';
import { Segment } from '../../../broker/log/segment.js';
import { storageError } from '../../../broker/log/files.js';
import { isSkeinError } from '../../../transport/errors.js';
import { encodeRecordBatch, NO_PRODUCER } from '../../../transport/protocol/record-batch.js';
import { PartitionTrio } from '../support/partition-trio.js';

/**
 * A replica whose disk fills (ENOSPC on an append, injected into the
 * segment's write) stops taking writes and answers STORAGE_FULL; the others
 * elect a leader and go on; nothing becomes an unhandled rejection (vitest
 * fails the run on one).
 */
const batchOf = (values: string[]) =>
  encodeRecordBatch({ ...NO_PRODUCER, records: values.map((v) => ({ key: null, value: Buffer.from(v), headers: [], timestamp: 1_700_000_000_000 })) });

let trio: PartitionTrio | undefined;
let restore: (() => void) | undefined;
afterEach(async () => {
  restore?.();
  await trio?.close();
  trio = undefined;
  restore = undefined;
});

/** Makes every segment write under `dir` fail as a full disk does. */
function fillDisk(dir: string): () => void {
  const write = Segment.prototype.write;
  Segment.prototype.write = function (this: Segment, batches, headers) {
    if (this.path.startsWith(dir)) throw storageError('write', this.path, Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
    return write.call(this, batches, headers);
  };
  return () => {
    Segment.prototype.write = write;
  };
}

describe('a replica whose disk is full', () => {
  it('stops taking writes with STORAGE_FULL (retriable) while another replica takes over', async () => {
    trio = new PartitionTrio();
    await trio.startAll();
    const leader = await trio.leader();
    await leader.produce(batchOf(['before']), { acks: 'all', timeoutMs: 5000 });
    const leaderId = leader.raft.status().id;
    restore = fillDisk(`${trio.dir}/broker-${leaderId}/`);

    const failed = await leader.produce(batchOf(['lost?']), { acks: 'all', timeoutMs: 5000 }).catch((error: unknown) => error);
    expect(isSkeinError(failed)).toBe(true);

    const again = await leader.produce(batchOf(['refused']), { acks: 'all', timeoutMs: 5000 }).catch((error: unknown) => error);
    expect(again).toMatchObject({ code: 'STORAGE_FULL', retriable: true });
    expect(leader.storageFailure).toMatchObject({ code: 'STORAGE_FULL' });
    expect(leader.isLeader()).toBe(false);
    // Whoever asks the stopped replica where it stands gets an answer, not its log's failure.
    expect(leader.raft.status()).toMatchObject({ role: 'follower' });
    expect(leader.leaderHint().leaderId).not.toBe(leaderId);
    // Reading the failed replica answers the same way, never with a raw storage error.
    expect(() => leader.readCommitted(0, 1 << 20)).toThrow(expect.objectContaining({ code: 'STORAGE_FULL' }));

    const successor = await trio.leader();
    expect(successor.raft.status().id).not.toBe(leaderId);
    await successor.produce(batchOf(['after']), { acks: 'all', timeoutMs: 5000 });
  });

  it('hands leadership to a caught-up follower at once, not an election timeout later', async () => {
    // Elections by timeout would take 10 s here; the test waits 5 s for a successor, so only a handover passes.
    trio = new PartitionTrio(undefined, { tickMs: 10, electionTicks: 1000, heartbeatTicks: 2 });
    await trio.startAll();
    trio.replicas.get(1)!.raft.campaign();
    const leader = await trio.leader(5000);
    await leader.produce(batchOf(['before']), { acks: 'all', timeoutMs: 5000 });
    const { id: leaderId, term } = leader.raft.status();
    restore = fillDisk(`${trio.dir}/broker-${leaderId}/`);
    await leader.produce(batchOf(['lost?']), { acks: 'all', timeoutMs: 5000 }).catch(() => {});
    const successor = await trio.leader(5000);
    expect(successor.raft.status()).toMatchObject({ term: term + 1 });
    expect(successor.raft.status().id).not.toBe(leaderId);
  });
});
