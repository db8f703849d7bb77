import { describe, expect, it } from 'vitest';
import type { TopicShape } from '../../../broker/groups/core/partitions.js';
import { GroupShard } from '../../../broker/groups/core/shard.js';
import { groupLimits } from '../../../transport/limits.js';
import { beatCommand, checkInvariants, codeOf, joinCommand, viewOf } from './support/commands.js';

/** Every bound of the group core, tested at its edge: the last thing that fits is taken, the next is refused with GROUP_FULL and changes nothing. */

const orders: TopicShape = { name: 'orders', topicId: 1, partitions: 6 };

describe('group core limits', () => {
  it(`holds ${groupLimits.groupsPerCoordinatorMax} groups per coordinator, not one more`, () => {
    const shard = new GroupShard();
    for (let i = 0; i < groupLimits.groupsPerCoordinatorMax; i++) viewOf(shard.apply(joinCommand('m', i, { group: `g${i}`, shapes: [orders] })));
    const cost = shard.costBytes;
    expect(codeOf(shard.apply(joinCommand('m', 1e9, { group: 'one-more', shapes: [orders] })))).toBe('GROUP_FULL');
    expect(codeOf(shard.apply({ type: 'reset', group: 'one-more', nowMs: 1e9, shapes: [orders], offsets: [] }))).toBe('GROUP_FULL');
    expect(shard.size).toBe(groupLimits.groupsPerCoordinatorMax);
    expect(shard.costBytes).toBe(cost);
    // Room again once one is gone.
    shard.apply({ type: 'leave', group: 'g0', nowMs: 1e9, memberId: 'm', epoch: 1, temporary: false });
    shard.apply({ type: 'delete', group: 'g0', nowMs: 1e9 });
    expect(shard.apply(joinCommand('m', 1e9, { group: 'one-more', shapes: [orders] })).ok).toBe(true);
  });

  it(`takes ${groupLimits.membersPerGroupMax} members per group, not one more; a static member returning still fits`, () => {
    const shard = new GroupShard();
    for (let i = 0; i < groupLimits.membersPerGroupMax; i++) viewOf(shard.apply(joinCommand(`m${i}`, i, { shapes: [orders], instanceId: i === 0 ? 'static' : null })));
    const epoch = shard.group('g')!.epoch;
    const result = shard.apply(joinCommand('late', 1e6, { shapes: [orders] }));
    expect(codeOf(result)).toBe('GROUP_FULL');
    expect(!result.ok && result.error.message).toMatch(/more than 1024 members/);
    expect(shard.group('g')!.members.size).toBe(groupLimits.membersPerGroupMax);
    expect(shard.group('g')!.epoch).toBe(epoch);
    expect(shard.apply(joinCommand('static-again', 1e6, { shapes: [orders], instanceId: 'static' })).ok).toBe(true);
    checkInvariants(shard);
  });

  it(`knows ${groupLimits.topicsPerGroupMax} topics per group (existing or not), not one more`, () => {
    const shard = new GroupShard();
    const topics = Array.from({ length: groupLimits.topicsPerGroupMax }, (_, i) => `t${i}`);
    viewOf(shard.apply(joinCommand('a', 1, { topics, shapes: [] })));
    expect(codeOf(shard.apply(joinCommand('b', 2, { topics: [...topics.slice(1), 'extra'], shapes: [] })))).toBe('GROUP_FULL');
    expect(codeOf(shard.apply({ ...beatCommand('a', 0, 3), topics: [...topics, 'extra'] }))).toBe('GROUP_FULL');
    expect(shard.group('g')!.members.get('a')!.topics).toHaveLength(groupLimits.topicsPerGroupMax);
    expect(shard.apply(joinCommand('b', 4, { topics: topics.slice(1), shapes: [] })).ok).toBe(true);
  });

  it(`takes ${groupLimits.partitionsPerGroupMax} partitions per group, not one more`, () => {
    const shard = new GroupShard();
    const perTopic = 1024;
    const count = groupLimits.partitionsPerGroupMax / perTopic;
    const shapes = Array.from({ length: count }, (_, i) => ({ name: `t${i}`, topicId: i + 1, partitions: perTopic }));
    const view = viewOf(shard.apply(joinCommand('a', 1, { topics: shapes.map((s) => s.name), shapes })));
    expect(view.assignment).toHaveLength(groupLimits.partitionsPerGroupMax);
    const more = { ...beatCommand('a', view.epoch, 2), topics: [...shapes.map((s) => s.name), 'one'], shapes: [{ name: 'one', topicId: 99, partitions: 1 }] };
    expect(codeOf(shard.apply(more))).toBe('GROUP_FULL');
    expect(shard.group('g')!.partitionCount()).toBe(groupLimits.partitionsPerGroupMax);
  });

  it('refuses growth past the coordinator\'s byte budget, changing nothing', () => {
    const probe = new GroupShard();
    viewOf(probe.apply(joinCommand('a', 1, { group: 'g0', shapes: [orders] })));
    const oneMember = probe.costBytes;
    // Room for a second group like it, not a third.
    const shard = new GroupShard({ ...groupLimits, coordinatorStateBytesMax: 2 * oneMember + 10 });
    viewOf(shard.apply(joinCommand('a', 1, { group: 'g1', shapes: [orders] })));
    viewOf(shard.apply(joinCommand('a', 2, { group: 'g2', shapes: [orders] })));
    expect(codeOf(shard.apply(joinCommand('a', 3, { group: 'g3', shapes: [orders] })))).toBe('GROUP_FULL');
    expect(codeOf(shard.apply(joinCommand('b', 4, { group: 'g1', shapes: [orders] })))).toBe('GROUP_FULL');
    expect(shard.costBytes).toBe(2 * oneMember);
    expect(shard.group('g1')!.members.size).toBe(1);
    expect(shard.group('g3')).toBeUndefined();
    // Shrinking is never refused: the member leaves, and a new one fits in its place.
    expect(shard.apply({ type: 'leave', group: 'g1', nowMs: 5, memberId: 'a', epoch: 1, temporary: false }).ok).toBe(true);
    expect(shard.apply(joinCommand('b', 6, { group: 'g1', shapes: [orders] })).ok).toBe(true);
  });

  it('a topic recreated larger than a group may hold is treated as missing, not refused', () => {
    const shard = new GroupShard({ ...groupLimits, partitionsPerGroupMax: 8 });
    viewOf(shard.apply(joinCommand('a', 1, { shapes: [orders] })));
    expect(shard.apply({ type: 'topics', group: 'g', nowMs: 2, shapes: [{ name: 'orders', topicId: 2, partitions: 9 }] })).toEqual({ ok: true });
    expect(shard.group('g')!.topics.has('orders')).toBe(false);
    expect(viewOf(shard.apply(beatCommand('a', 1, 3, []))).assignment).toEqual([]);
    checkInvariants(shard);
  });
});
