import { Encoder } from 'cbor-x';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8Bytes } from '../../../broker/groups/core/cost.js';
import { GroupShard } from '../../../broker/groups/core/shard.js';
import { decodeGroupsSnapshot, encodeGroupsSnapshot, isGroupsSnapshot } from '../../../broker/groups/core/snapshot.js';
import { isSkeinError } from '../../../transport/errors.js';
import { brokerLimits, groupLimits, sdkLimits } from '../../../transport/limits.js';
import { propertyParameters } from '../../transport/support/property.js';
import { beatCommand, checkInvariants, commitCommand, joinCommand, viewOf } from './support/commands.js';

const shapes = [
  { name: 'orders', topicId: 1, partitions: 6 },
  { name: 'refunds', topicId: 2, partitions: 2 },
];
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });

/** A shard with a bit of everything: members settling, one draining, a static member away, a hold, offsets, a replaced member. */
function busyShard(): GroupShard {
  const shard = new GroupShard();
  const topics = ['orders', 'refunds'];
  const a = viewOf(shard.apply(joinCommand('a', 1_000, { shapes, topics })));
  expect(shard.apply(commitCommand('a', a.epoch, 1_001, [{ topic: 'orders', topicId: 1, partition: 0, offset: 17 }])).ok).toBe(true);
  const s1 = viewOf(shard.apply(joinCommand('s1', 1_002, { shapes, topics, instanceId: 'static-1' })));
  viewOf(shard.apply(beatCommand('a', a.epoch, 1_003)));
  viewOf(shard.apply(joinCommand('s2', 1_004, { shapes, topics: ['orders'], instanceId: 'static-2' })));
  viewOf(shard.apply(joinCommand('s2b', 1_005, { shapes, topics: ['orders'], instanceId: 'static-2', replacedLeaseEndMs: 9_000 })));
  expect(shard.apply({ type: 'leave', group: 'g', nowMs: 1_006, memberId: 's1', epoch: s1.epoch, temporary: true }).ok).toBe(true);
  viewOf(shard.apply(joinCommand('x', 1_007, { group: 'other', shapes, topics })));
  viewOf(shard.apply(joinCommand('y', 1_008, { group: 'other', shapes, topics })));
  expect(shard.apply({ type: 'expire', group: 'other', nowMs: 1_008, memberId: 'x', reason: 'rebalance', leaseEndMs: 9_000 }).ok).toBe(true);
  shard.apply({ type: 'reset', group: 'idle', nowMs: 1_008, shapes, offsets: [{ topic: 'refunds', topicId: 2, partition: 1, offset: 3 }] });
  checkInvariants(shard);
  expect(shard.group('g')!.members.get('a')!.revoking.size).toBeGreaterThan(0);
  expect(shard.describe('other')!.held.length).toBeGreaterThan(0);
  return shard;
}

function describeAll(shard: GroupShard): unknown {
  return shard.names().map((name) => shard.describe(name));
}

describe('groups snapshot', () => {
  it('round-trips every group, the clock and the cost; both copies then answer commands alike', () => {
    const shard = busyShard();
    const bytes = encodeGroupsSnapshot(shard);
    const copy = decodeGroupsSnapshot(bytes);
    expect(describeAll(copy)).toEqual(describeAll(shard));
    expect(copy.nowMs).toBe(shard.nowMs);
    expect(copy.costBytes).toBe(shard.costBytes);
    expect(bytes.byteLength).toBeLessThanOrEqual(shard.costBytes);
    for (const command of [beatCommand('a', 1, 2_000, []), beatCommand('s2b', 1, 9_000), joinCommand('s1-back', 2_001, { shapes, topics: ['orders', 'refunds'], instanceId: 'static-1' }), beatCommand('s2', 1, 2_002)]) {
      expect(copy.apply(command)).toEqual(shard.apply(command));
    }
    expect(describeAll(copy)).toEqual(describeAll(shard));
  });

  it('the estimate bounds the bytes of the smallest groups too (their fixed fields dominate)', () => {
    const shard = new GroupShard();
    shard.apply({ type: 'reset', group: 'e', nowMs: Number.MAX_SAFE_INTEGER - 1, shapes, offsets: [] });
    viewOf(shard.apply(joinCommand('m'.repeat(groupLimits.memberIdBytesMax), Number.MAX_SAFE_INTEGER, { group: 'x', shapes, topics: [] })));
    for (const name of shard.names()) {
      const one = GroupShard.restore([shard.group(name)!], shard.nowMs);
      // The snapshot's envelope (version, clock, list header) is the only part outside the estimate.
      expect(encodeGroupsSnapshot(one).byteLength).toBeLessThanOrEqual(one.costBytes + 32);
    }
  });

  it('counts UTF-8 bytes as Node encodes them, lone surrogates included', () => {
    const unit = fc.oneof(fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), fc.constantFrom('a', 'é', '€', '😀'));
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 40, size: 'max' }), (text) => {
        expect(utf8Bytes(text)).toBe(Buffer.byteLength(text));
      }),
      propertyParameters(500),
    );
  });

  it('an empty coordinator round-trips', () => {
    const copy = decodeGroupsSnapshot(encodeGroupsSnapshot(new GroupShard()));
    expect(copy.size).toBe(0);
  });

  it('refuses, with a typed error, what is not a snapshot of ours', () => {
    const valid = encodeGroupsSnapshot(busyShard());
    const cases: Array<[string, Uint8Array]> = [
      ['empty', new Uint8Array(0)],
      ['a tag', Uint8Array.from([0xd8, 0x1b, 0xa0])],
      ['another version', encoder.encode({ v: 2, nowMs: 0, groups: [] })],
      ['truncated', valid.subarray(0, valid.byteLength - 3)],
    ];
    for (const [what, bytes] of cases) {
      let error: unknown;
      try {
        decodeGroupsSnapshot(bytes);
      } catch (e) {
        error = e;
      }
      expect([what, isSkeinError(error, 'MALFORMED_REQUEST')]).toEqual([what, true]);
      expect(isGroupsSnapshot(bytes)).toBe(false);
    }
    expect(isGroupsSnapshot(valid)).toBe(true);
  });

  it('refuses a snapshot whose state breaks an invariant (a partition with two owners, a dangling reference, a member twice)', () => {
    const good = { v: 1, nowMs: 5, groups: [maximalGroup({ members: 2, topics: 1, partitionsPerTopic: 4, replaced: 0 })] };
    const twoOwners = structuredClone(good);
    (twoOwners.groups[0]!.members[1]!.assigned as unknown[]).push(twoOwners.groups[0]!.members[0]!.assigned[0]);
    const dangling = structuredClone(good);
    dangling.groups[0]!.members[0]!.topics = [7];
    const twice = structuredClone(good);
    twice.groups[0]!.members[1]!.id = twice.groups[0]!.members[0]!.id;
    const badPartition = structuredClone(good);
    badPartition.groups[0]!.offsets[0]![1] = 4;
    expect(isGroupsSnapshot(encoder.encode(good))).toBe(true);
    for (const bad of [twoOwners, dangling, twice, badPartition]) expect(isGroupsSnapshot(encoder.encode(bad))).toBe(false);
  });

  it('never fails on random bytes with anything but a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600, size: 'max' }), fc.nat(), (noise, at) => {
        const valid = encodeGroupsSnapshot(busyShard());
        // Random bytes, and a valid snapshot with a few bytes changed.
        const flipped = Uint8Array.from(valid);
        for (let i = 0; i < 3; i++) flipped[(at + i * 131) % flipped.length] ^= noise[i] ?? 0x55;
        for (const bytes of [noise, flipped]) {
          try {
            decodeGroupsSnapshot(bytes);
          } catch (error) {
            expect(isSkeinError(error, 'MALFORMED_REQUEST')).toBe(true);
          }
        }
      }),
      propertyParameters(300),
    );
  });

  it('a coordinator full of groups at every bound fits the snapshot budget, and the estimate bounds the bytes', () => {
    // The largest group the bounds allow: members, topics and partitions at their maxima, the longest strings.
    const group = maximalGroup({ members: groupLimits.membersPerGroupMax, topics: groupLimits.topicsPerGroupMax, partitionsPerTopic: groupLimits.partitionsPerGroupMax / groupLimits.topicsPerGroupMax, replaced: groupLimits.replacedMembersMax });
    const bytes = encoder.encode({ v: 1, nowMs: Number.MAX_SAFE_INTEGER, groups: [group] });
    const shard = decodeGroupsSnapshot(bytes);
    expect(shard.costBytes).toBeLessThanOrEqual(groupLimits.coordinatorStateBytesMax);
    expect(bytes.byteLength).toBeLessThanOrEqual(shard.costBytes);
    expect(encodeGroupsSnapshot(shard).byteLength).toBeLessThanOrEqual(shard.costBytes);
  });
});

/**
 * A group's snapshot form built directly, at chosen sizes, with the longest
 * strings and largest numbers the reader accepts: every member owns (and
 * targets) an equal share, every partition has an offset.
 */
function maximalGroup(size: { members: number; topics: number; partitionsPerTopic: number; replaced: number }) {
  const big = Number.MAX_SAFE_INTEGER;
  const pad = (prefix: string, bytes: number): string => (prefix + 'x'.repeat(bytes)).slice(0, bytes);
  const names = Array.from({ length: size.topics }, (_, i) => pad(`t${i}-`, brokerLimits.topicNameBytesMax));
  const partitions = names.flatMap((_, t) => Array.from({ length: size.partitionsPerTopic }, (_, p) => [t, p] as [number, number]));
  const share = Math.ceil(partitions.length / size.members);
  const members = Array.from({ length: size.members }, (_, m) => {
    const mine = partitions.slice(m * share, (m + 1) * share);
    return {
      id: pad(`m${m}-`, groupLimits.memberIdBytesMax),
      instanceId: pad(`i${m}-`, groupLimits.instanceIdBytesMax),
      clientId: pad('c', sdkLimits.clientIdBytesMax),
      clientHost: pad('h', groupLimits.clientHostBytesMax),
      sessionTimeoutMs: groupLimits.sessionTimeoutMsMax,
      rebalanceTimeoutMs: groupLimits.rebalanceTimeoutMsMax,
      epoch: big,
      joinedAtMs: big,
      revokingSinceMs: null,
      awaySinceMs: null,
      topics: names.map((_, t) => t).sort((x, y) => (names[x]! < names[y]! ? -1 : 1)),
      assigned: mine.map(([t, p]) => [t, p, big, t + 1]),
      revoking: [] as unknown[],
      target: mine.map(([t, p]) => [t, p]),
    };
  });
  return {
    name: pad('g', groupLimits.groupNameBytesMax),
    epoch: big,
    memberEpochs: big,
    createdAtMs: big,
    emptySinceMs: null,
    names,
    shapes: names.map((_, t) => [t, t + 1, size.partitionsPerTopic]),
    members,
    holds: [] as unknown[],
    offsets: partitions.map(([t, p]) => [t, p, big, big]),
    replaced: Array.from({ length: size.replaced }, (_, r) => [pad(`r${r}-`, groupLimits.memberIdBytesMax), pad(`ri${r}-`, groupLimits.instanceIdBytesMax), big]),
  };
}
