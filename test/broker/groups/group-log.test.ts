import { Encoder } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeGroupCommand, encodeGroupCommand } from '../../../broker/groups/core/command-codec.js';
import type { GroupCommand } from '../../../broker/groups/core/commands.js';
import { GroupLog } from '../../../broker/groups/group-log.js';
import { isSkeinError } from '../../../transport/errors.js';
import { decodeBatchHeader, encodeRecordBatch, NO_PRODUCER, stampBatch } from '../../../transport/protocol/record-batch.js';

const shapes = [{ name: 'orders', topicId: 3, partitions: 4 }];
const join = { instanceId: 'w-1', clientId: 'c', clientHost: '10.0.0.1', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 60_000 };
const commands: GroupCommand[] = [
  { type: 'heartbeat', group: 'g', nowMs: 10, memberId: 'a', epoch: 0, join, topics: ['orders'], shapes },
  { type: 'heartbeat', group: 'g', nowMs: 11, memberId: 'a', epoch: 1, owned: [{ topic: 'orders', partition: 0 }], missing: ['gone'], replacedLeaseEndMs: 99 },
  { type: 'commit', group: 'g', nowMs: 12, memberId: 'a', epoch: 2, offsets: [{ topic: 'orders', topicId: 3, partition: 1, offset: 5 }] },
  { type: 'leave', group: 'g', nowMs: 13, memberId: 'a', epoch: 1, temporary: true },
  { type: 'expire', group: 'g', nowMs: 14, memberId: 'a', reason: 'away', leaseEndMs: 14 },
  { type: 'reset', group: 'g', nowMs: 15, offsets: [{ topic: 'orders', topicId: 3, partition: 2, offset: 0 }], shapes },
  { type: 'topics', group: 'g', nowMs: 16, missing: ['orders'] },
  { type: 'delete', group: 'g', nowMs: 17 },
  { type: 'expireGroup', group: 'g', nowMs: 18 },
];

let nextOffset = 0;
function batchOf(values: Uint8Array[]): { header: ReturnType<typeof decodeBatchHeader>; batch: Uint8Array } {
  const batch = encodeRecordBatch({ ...NO_PRODUCER, records: values.map((value) => ({ value, timestamp: 1 })) });
  stampBatch(batch, { baseOffset: nextOffset, entryIndex: 1, term: 1 });
  nextOffset += values.length;
  return { header: decodeBatchHeader(batch), batch };
}

describe('group commands in the log', () => {
  it('round-trip every command type', () => {
    for (const command of commands) expect(decodeGroupCommand(encodeGroupCommand(command))).toEqual(command);
  });

  it('refuse anything else with MALFORMED_REQUEST, never another error', () => {
    const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });
    const plausible = fc.record({ type: fc.constantFrom('heartbeat', 'commit', 'leave', 'expire', 'reset', 'topics', 'x'), group: fc.oneof(fc.string(), fc.integer()), nowMs: fc.oneof(fc.integer(), fc.double()), memberId: fc.string(), epoch: fc.anything(), offsets: fc.anything(), shapes: fc.anything(), join: fc.anything() }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(fc.anything({ maxDepth: 3 }), plausible), (value) => {
        let bytes: Uint8Array;
        try {
          bytes = encoder.encode(value);
        } catch {
          return;
        }
        try {
          decodeGroupCommand(bytes);
        } catch (error) {
          expect(isSkeinError(error, 'MALFORMED_REQUEST')).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('apply in order, keep results for the leader only, skip an unreadable record alike on every replica, and survive a snapshot', () => {
    const leader = new GroupLog();
    const follower = new GroupLog();
    leader.collectResults(true);
    const first = batchOf([encodeGroupCommand(commands[0]!), Buffer.from('not a command'), encodeGroupCommand(commands[2]!)]);
    for (const log of [leader, follower]) log.applyBatch(first.header, first.batch);
    expect(leader.takeResult(first.header.baseOffset)).toMatchObject({ ok: true, member: { memberId: 'a', epoch: 2 } });
    expect(leader.takeResult(first.header.baseOffset + 1)).toMatchObject({ ok: false, error: { code: 'MALFORMED_REQUEST' } });
    expect(leader.takeResult(first.header.baseOffset + 2)).toMatchObject({ ok: true, committed: [{ offset: 5 }] });
    expect(leader.takeResult(first.header.baseOffset + 2)).toBeUndefined();
    expect(follower.takeResult(first.header.baseOffset)).toBeUndefined();
    expect([leader.unreadable, follower.unreadable]).toEqual([1, 1]);

    const restored = new GroupLog();
    expect(restored.checkState(follower.snapshotState())).toBe(true);
    expect(restored.checkState(Buffer.from('junk'))).toBe(false);
    restored.restoreState(follower.snapshotState());
    expect(restored.shard.describe('g')).toEqual(leader.shard.describe('g'));
  });
});
