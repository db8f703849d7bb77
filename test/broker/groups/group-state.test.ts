import { describe, expect, it } from 'vitest';
import type { TopicPartition, TopicShape } from '../../../broker/groups/core/partitions.js';
import { GroupShard } from '../../../broker/groups/core/shard.js';
import { decodeGroupsSnapshot, encodeGroupsSnapshot } from '../../../broker/groups/core/snapshot.js';
import { beatCommand, checkInvariants, codeOf, commitCommand, joinCommand, names, sessionMs, viewOf } from './support/commands.js';

const orders: TopicShape = { name: 'orders', topicId: 1, partitions: 6 };
const shapes = [orders];
const tp = (partition: number, topic = 'orders'): TopicPartition => ({ topic, partition });
const offset = (partition: number, value: number, topicId = 1) => ({ topic: 'orders', topicId, partition, offset: value });

/** A shard with `ids` joined (dynamic members, in order, 1 ms apart) and settled: each owns its target. */
function settled(ids: string[]): { shard: GroupShard; nowMs: number; epochs: Map<string, number> } {
  const shard = new GroupShard();
  let nowMs = 1_000;
  for (const id of ids) viewOf(shard.apply(joinCommand(id, nowMs++, { shapes })));
  const epochs = new Map<string, number>();
  // Two rounds: the first releases what moved, the second gives it to its new owner.
  for (let round = 0; round < 3; round++) {
    for (const id of ids) {
      const group = shard.group('g')!;
      const member = group.members.get(id)!;
      const owned = [...member.assigned.values()].map((o) => o.tp);
      epochs.set(id, viewOf(shard.apply(beatCommand(id, member.epoch, nowMs++, owned))).epoch);
    }
  }
  checkInvariants(shard);
  return { shard, nowMs, epochs };
}

describe('group state: joining and the revoke-then-assign handshake', () => {
  it('the first member gets every partition at once', () => {
    const shard = new GroupShard();
    const view = viewOf(shard.apply(joinCommand('a', 1_000, { shapes })));
    expect(names(view.assignment)).toEqual(['orders/0', 'orders/1', 'orders/2', 'orders/3', 'orders/4', 'orders/5']);
    // Epoch 1 when it joined, 2 when it was given its partitions.
    expect(view).toMatchObject({ epoch: 2, groupEpoch: 1, pending: 0 });
    expect(shard.describe('g')!.state).toBe('stable');
  });

  it('a joiner gets partitions only after their owner released them', () => {
    const shard = new GroupShard();
    const first = viewOf(shard.apply(joinCommand('a', 1_000, { shapes })));
    const joined = viewOf(shard.apply(joinCommand('b', 1_001, { shapes })));
    expect(joined.assignment).toEqual([]);
    expect(joined.pending).toBe(3);
    // a is told to give three back: its assignment shrinks, and they stay its own until it says it let go.
    const told = viewOf(shard.apply(beatCommand('a', first.epoch, 1_002)));
    expect(told.assignment).toHaveLength(3);
    expect(told.epoch).toBeGreaterThan(joined.epoch);
    expect(viewOf(shard.apply(beatCommand('b', joined.epoch, 1_003))).assignment).toEqual([]);
    expect(shard.describe('g')!.state).toBe('reconciling');
    // a still lists them (draining): nothing is released.
    const all = [0, 1, 2, 3, 4, 5].map((p) => tp(p));
    viewOf(shard.apply(beatCommand('a', told.epoch, 1_004, all)));
    expect(viewOf(shard.apply(beatCommand('b', joined.epoch, 1_005))).assignment).toEqual([]);
    viewOf(shard.apply(beatCommand('a', told.epoch, 1_006, told.assignment)));
    const given = viewOf(shard.apply(beatCommand('b', joined.epoch, 1_007)));
    expect(given.assignment).toHaveLength(3);
    expect(given.pending).toBe(0);
    expect(new Set([...names(told.assignment), ...names(given.assignment)]).size).toBe(6);
    expect(shard.describe('g')!.state).toBe('stable');
    checkInvariants(shard);
  });

  it('answers a heartbeat that changes nothing without a write, with what applying it would say', () => {
    const { shard, nowMs, epochs } = settled(['a', 'b']);
    const member = shard.group('g')!.members.get('a')!;
    const beat = beatCommand('a', epochs.get('a')!, nowMs, [...member.assigned.values()].map((o) => o.tp));
    expect(shard.needsWrite(beat, nowMs)).toBe(false);
    expect(shard.answer(beat)).toEqual(shard.apply(beat));
    // A join, an unknown member and a member with a revocation to ask for all differ.
    expect(shard.needsWrite(joinCommand('c', nowMs), nowMs)).toBe(true);
    expect(shard.needsWrite(beatCommand('zz', 3, nowMs), nowMs)).toBe(false);
    expect(codeOf(shard.answer(beatCommand('zz', 3, nowMs)))).toBe('UNKNOWN_MEMBER');
    viewOf(shard.apply(joinCommand('c', nowMs + 1, { shapes })));
    expect(shard.needsWrite(beatCommand('a', epochs.get('a')!, nowMs + 2), nowMs + 2)).toBe(true);
  });

  it('a join retried after it was applied is answered as a heartbeat (no second member)', () => {
    const shard = new GroupShard();
    viewOf(shard.apply(joinCommand('a', 1_000, { shapes })));
    const again = viewOf(shard.apply(joinCommand('a', 1_001, { shapes })));
    expect(again.assignment).toHaveLength(6);
    expect(shard.group('g')!.members.size).toBe(1);
    expect(shard.group('g')!.epoch).toBe(1);
  });

  it('refuses an epoch never given and members it does not know, changing nothing', () => {
    const { shard, nowMs, epochs } = settled(['a']);
    const before = JSON.stringify(shard.describe('g'));
    expect(codeOf(shard.apply(beatCommand('a', epochs.get('a')! + 1, nowMs)))).toBe('FENCED_MEMBER_EPOCH');
    expect(codeOf(shard.apply(beatCommand('nobody', 1, nowMs)))).toBe('UNKNOWN_MEMBER');
    expect(codeOf(shard.apply(beatCommand('a', 1, nowMs, [], 'other')))).toBe('UNKNOWN_MEMBER');
    expect(codeOf(shard.apply({ ...joinCommand('x', nowMs), join: undefined }))).toBe('MALFORMED_REQUEST');
    expect(JSON.stringify(shard.describe('g'))).toBe(before);
    expect(shard.group('other')).toBeUndefined();
  });
});

describe('group state: commits', () => {
  it('sums the dead-letter and skip counts members commit, cumulative per ownership, so that a retried or reordered commit counts nothing twice; a snapshot keeps them', () => {
    const { shard, nowMs, epochs } = settled(['a']);
    const counted = () => shard.describe('g')!.counts;
    const commit = (memberId: string, epoch: number, at: number, value: number, deadLettered: number, skipped: number) =>
      shard.apply(commitCommand(memberId, epoch, at, [{ ...offset(0, value), deadLettered, skipped }]));
    expect(commit('a', epochs.get('a')!, nowMs, 3, 1, 0).ok).toBe(true);
    expect(commit('a', epochs.get('a')!, nowMs + 1, 5, 2, 1).ok).toBe(true);
    // A retry of the first, and a second copy of the last: nothing new.
    expect(commit('a', epochs.get('a')!, nowMs + 2, 3, 1, 0).ok).toBe(true);
    expect(commit('a', epochs.get('a')!, nowMs + 3, 5, 2, 1).ok).toBe(true);
    expect(counted()).toEqual([{ topic: 'orders', partition: 0, deadLettered: 2, skipped: 1 }]);
    // a leaves; b takes the partition and counts from zero under its own ownership: its counts add to a's.
    expect(shard.apply({ type: 'leave', group: 'g', nowMs: nowMs + 4, memberId: 'a', epoch: epochs.get('a')!, temporary: false }).ok).toBe(true);
    viewOf(shard.apply(joinCommand('b', nowMs + 5, { shapes })));
    const owner = (id: string) => shard.group('g')!.members.get(id)!;
    let at = nowMs + 6;
    expect(owner('b').assigned.has('orders/0')).toBe(true);
    expect(commit('b', owner('b').epoch, at++, 6, 1, 0).ok).toBe(true);
    expect(commit('b', owner('b').epoch, at++, 6, 1, 0).ok).toBe(true);
    expect(counted()).toEqual([{ topic: 'orders', partition: 0, deadLettered: 3, skipped: 1 }]);
    // A commit below the stored offset still reports counts (it may carry a later one's): kept, never twice.
    expect(commit('b', owner('b').epoch, at++, 6, 1, 2).ok).toBe(true);
    expect(counted()).toEqual([{ topic: 'orders', partition: 0, deadLettered: 3, skipped: 3 }]);
    const copy = decodeGroupsSnapshot(encodeGroupsSnapshot(shard));
    expect(copy.describe('g')!.counts).toEqual(counted());
    // The restored copy goes on from the same ownership's report, not from zero.
    expect(copy.apply(commitCommand('b', owner('b').epoch, at++, [{ ...offset(0, 7), deadLettered: 1, skipped: 2 }])).ok).toBe(true);
    expect(copy.describe('g')!.counts).toEqual(counted());
  });

  it('stores what an owner commits; offsets never move backwards', () => {
    const { shard, nowMs, epochs } = settled(['a']);
    const epoch = epochs.get('a')!;
    expect(shard.apply(commitCommand('a', epoch, nowMs, [offset(0, 10), offset(1, 5)]))).toEqual({ ok: true, committed: [offset(0, 10), offset(1, 5)] });
    // A late retry of an older commit leaves the newer offset (and says so).
    expect(shard.apply(commitCommand('a', epoch, nowMs + 1, [offset(0, 7)]))).toEqual({ ok: true, committed: [offset(0, 10)] });
    expect(shard.describe('g')!.offsets.map((o) => [o.partition, o.offset])).toEqual([
      [0, 10],
      [1, 5],
    ]);
  });

  it('refuses, all or nothing, a commit for a partition the member does not own', () => {
    const { shard, nowMs, epochs } = settled(['a', 'b']);
    const mine = shard.describe('g')!.members.find((m) => m.memberId === 'a')!.assignment[0]!;
    const theirs = shard.describe('g')!.members.find((m) => m.memberId === 'b')!.assignment[0]!;
    const result = shard.apply(commitCommand('a', epochs.get('a')!, nowMs, [offset(mine.partition, 3), offset(theirs.partition, 3)]));
    expect(codeOf(result)).toBe('STALE_MEMBER_EPOCH');
    expect(!result.ok && result.error.details).toEqual({ partitions: [theirs], epoch: epochs.get('a') });
    expect(shard.describe('g')!.offsets).toEqual([]);
  });

  it('refuses a commit from an epoch before the partition was given (a revoked and re-given partition)', () => {
    const { shard, nowMs, epochs } = settled(['a', 'b']);
    const oldEpoch = epochs.get('a')!;
    const aOwns = shard.describe('g')!.members.find((m) => m.memberId === 'a')!.assignment;
    // b leaves: a is given b's partitions at a newer epoch.
    expect(shard.apply({ type: 'leave', group: 'g', nowMs, memberId: 'b', epoch: epochs.get('b')!, temporary: false })).toEqual({ ok: true });
    const grown = viewOf(shard.apply(beatCommand('a', oldEpoch, nowMs + 1)));
    expect(grown.assignment).toHaveLength(6);
    const newPartition = grown.assignment.find((p) => !names(aOwns).includes(`${p.topic}/${p.partition}`))!;
    expect(codeOf(shard.apply(commitCommand('a', oldEpoch, nowMs + 2, [offset(newPartition.partition, 1)])))).toBe('STALE_MEMBER_EPOCH');
    expect(shard.apply(commitCommand('a', oldEpoch, nowMs + 2, [offset(aOwns[0]!.partition, 1)])).ok).toBe(true);
    expect(shard.apply(commitCommand('a', grown.epoch, nowMs + 3, [offset(newPartition.partition, 1)])).ok).toBe(true);
  });

  it('lets a member commit what it is draining, and not once it released it', () => {
    const { shard, nowMs, epochs } = settled(['a']);
    viewOf(shard.apply(joinCommand('b', nowMs, { shapes })));
    const told = viewOf(shard.apply(beatCommand('a', epochs.get('a')!, nowMs + 1)));
    const revoked = [0, 1, 2, 3, 4, 5].map((p) => tp(p)).find((p) => !names(told.assignment).includes(`orders/${p.partition}`))!;
    expect(shard.apply(commitCommand('a', told.epoch, nowMs + 2, [offset(revoked.partition, 42)])).ok).toBe(true);
    viewOf(shard.apply(beatCommand('a', told.epoch, nowMs + 3, told.assignment)));
    expect(codeOf(shard.apply(commitCommand('a', told.epoch, nowMs + 4, [offset(revoked.partition, 43)])))).toBe('STALE_MEMBER_EPOCH');
    expect(shard.describe('g')!.offsets.find((o) => o.partition === revoked.partition)!.offset).toBe(42);
  });

  it('lets the last subscriber of a topic commit what it drains after unsubscribing from it', () => {
    const shard = new GroupShard();
    const refunds: TopicShape = { name: 'refunds', topicId: 2, partitions: 2 };
    const joined = viewOf(shard.apply(joinCommand('a', 1_000, { shapes: [orders, refunds], topics: ['orders', 'refunds'] })));
    const narrowed = viewOf(shard.apply({ ...beatCommand('a', joined.epoch, 1_001), topics: ['orders'], shapes: [orders] }));
    expect(narrowed.assignment).toHaveLength(6);
    const drain = { topic: 'refunds', topicId: 2, partition: 1, offset: 12 };
    expect(shard.apply(commitCommand('a', narrowed.epoch, 1_002, [drain])).ok).toBe(true);
    // Once released, the topic is no longer needed except for its offsets.
    viewOf(shard.apply(beatCommand('a', narrowed.epoch, 1_003, narrowed.assignment)));
    expect(codeOf(shard.apply(commitCommand('a', narrowed.epoch, 1_004, [{ ...drain, offset: 13 }])))).toBe('STALE_MEMBER_EPOCH');
    checkInvariants(shard);
  });

  it('refuses commits from unknown members, epochs never given, repeated partitions and another incarnation of the topic', () => {
    const { shard, nowMs, epochs } = settled(['a']);
    const epoch = epochs.get('a')!;
    expect(codeOf(shard.apply(commitCommand('x', 1, nowMs, [offset(0, 1)])))).toBe('UNKNOWN_MEMBER');
    expect(codeOf(shard.apply(commitCommand('a', epoch + 1, nowMs, [offset(0, 1)])))).toBe('FENCED_MEMBER_EPOCH');
    expect(codeOf(shard.apply(commitCommand('a', epoch, nowMs, [offset(0, 1), offset(0, 2)])))).toBe('MALFORMED_REQUEST');
    expect(codeOf(shard.apply(commitCommand('a', epoch, nowMs, [offset(0, 1, 99)])))).toBe('UNKNOWN_TOPIC');
    expect(shard.describe('g')!.offsets).toEqual([]);
  });
});

describe('group state: leaving, expiry and holds', () => {
  it('a member leaving frees its partitions for the others at once', () => {
    const { shard, nowMs, epochs } = settled(['a', 'b', 'c']);
    expect(shard.apply({ type: 'leave', group: 'g', nowMs, memberId: 'b', epoch: epochs.get('b')!, temporary: false })).toEqual({ ok: true });
    const a = viewOf(shard.apply(beatCommand('a', epochs.get('a')!, nowMs + 1)));
    const c = viewOf(shard.apply(beatCommand('c', epochs.get('c')!, nowMs + 2)));
    expect(a.assignment.length + c.assignment.length).toBe(6);
    expect(codeOf(shard.apply(beatCommand('b', epochs.get('b')!, nowMs + 3)))).toBe('UNKNOWN_MEMBER');
    checkInvariants(shard);
  });

  it('an expired member\'s partitions are held until its lease has ended, then given', () => {
    const { shard, nowMs, epochs } = settled(['a', 'b']);
    const leaseEndMs = nowMs + 4_000;
    expect(shard.apply({ type: 'expire', group: 'g', nowMs, memberId: 'b', reason: 'rebalance', leaseEndMs })).toEqual({ ok: true });
    expect(shard.describe('g')!.held).toHaveLength(3);
    expect(viewOf(shard.apply(beatCommand('a', epochs.get('a')!, leaseEndMs - 1))).assignment).toHaveLength(3);
    expect(shard.needsWrite(beatCommand('a', epochs.get('a')!, leaseEndMs), leaseEndMs)).toBe(true);
    expect(viewOf(shard.apply(beatCommand('a', epochs.get('a')!, leaseEndMs))).assignment).toHaveLength(6);
    expect(shard.describe('g')!.held).toEqual([]);
    // Expiring a member that is already gone is no error.
    expect(shard.apply({ type: 'expire', group: 'g', nowMs: leaseEndMs, memberId: 'b', reason: 'session', leaseEndMs })).toEqual({ ok: true });
  });

  it('a hold outlives its topic leaving the group: a later subscriber still waits for the old lease', () => {
    const shard = new GroupShard();
    const a = viewOf(shard.apply(joinCommand('a', 1_000, { shapes })));
    viewOf(shard.apply(joinCommand('b', 1_001, { shapes: [{ name: 'audit', topicId: 5, partitions: 1 }], topics: ['audit'] })));
    shard.apply({ type: 'expire', group: 'g', nowMs: 1_002, memberId: 'a', reason: 'rebalance', leaseEndMs: 9_000 });
    // Nobody subscribes to orders now: the group forgets the topic, not the holds.
    expect(shard.group('g')!.topics.has('orders')).toBe(false);
    const c = viewOf(shard.apply(joinCommand('c', 1_003, { shapes })));
    expect(c.assignment).toEqual([]);
    expect(viewOf(shard.apply(beatCommand('c', c.epoch, 9_000))).assignment).toEqual(a.assignment);
    checkInvariants(shard);
  });

  it('the last member leaving makes the group empty; it is forgotten only when empty', () => {
    const { shard, nowMs, epochs } = settled(['a']);
    shard.apply(commitCommand('a', epochs.get('a')!, nowMs, [offset(0, 9)]));
    expect(shard.apply({ type: 'expireGroup', group: 'g', nowMs })).toEqual({ ok: true });
    expect(shard.group('g')).toBeDefined();
    shard.apply({ type: 'leave', group: 'g', nowMs, memberId: 'a', epoch: epochs.get('a')!, temporary: false });
    expect(shard.describe('g')).toMatchObject({ state: 'empty', offsets: [{ partition: 0, offset: 9 }] });
    expect(shard.group('g')!.emptySinceMs).toBe(nowMs);
    shard.apply({ type: 'expireGroup', group: 'g', nowMs: nowMs + 1 });
    expect(shard.group('g')).toBeUndefined();
    expect(shard.costBytes).toBe(0);
  });
});

describe('group state: static membership', () => {
  function staticPair(): { shard: GroupShard; nowMs: number; aOwns: TopicPartition[]; epochs: Map<string, number> } {
    const shard = new GroupShard();
    let nowMs = 1_000;
    viewOf(shard.apply(joinCommand('a1', nowMs++, { shapes, instanceId: 'worker-a' })));
    viewOf(shard.apply(joinCommand('b', nowMs++, { shapes })));
    const epochs = new Map<string, number>();
    for (let round = 0; round < 3; round++) {
      for (const id of ['a1', 'b']) {
        const member = shard.group('g')!.members.get(id)!;
        epochs.set(id, viewOf(shard.apply(beatCommand(id, member.epoch, nowMs++, [...member.assigned.values()].map((o) => o.tp)))).epoch);
      }
    }
    return { shard, nowMs, aOwns: shard.describe('g')!.members.find((m) => m.memberId === 'a1')!.assignment, epochs };
  }

  it('a member that left temporarily and comes back gets its partitions at once, with no rebalance', () => {
    const { shard, nowMs, aOwns, epochs } = staticPair();
    const groupEpoch = shard.group('g')!.epoch;
    expect(shard.apply({ type: 'leave', group: 'g', nowMs, memberId: 'a1', epoch: epochs.get('a1')!, temporary: true })).toEqual({ ok: true });
    // Meanwhile nobody else gets them.
    expect(viewOf(shard.apply(beatCommand('b', epochs.get('b')!, nowMs + 1))).assignment).toHaveLength(3);
    const back = viewOf(shard.apply(joinCommand('a2', nowMs + 2, { shapes, instanceId: 'worker-a' })));
    expect(back.assignment).toEqual(aOwns);
    expect(back.groupEpoch).toBe(groupEpoch);
    expect(codeOf(shard.apply(commitCommand('a1', epochs.get('a1')!, nowMs + 3, [offset(aOwns[0]!.partition, 1)])))).toBe('UNKNOWN_MEMBER');
    expect(shard.apply(commitCommand('a2', back.epoch, nowMs + 3, [offset(aOwns[0]!.partition, 1)])).ok).toBe(true);
    checkInvariants(shard);
  });

  it('a static member restarted before its crash was noticed waits out the old lease, then gets the same partitions; the old one is fenced', () => {
    const { shard, nowMs, aOwns, epochs } = staticPair();
    const groupEpoch = shard.group('g')!.epoch;
    const leaseEndMs = nowMs + 5_000;
    const back = viewOf(shard.apply(joinCommand('a2', nowMs, { shapes, instanceId: 'worker-a', replacedLeaseEndMs: leaseEndMs })));
    expect(back.assignment).toEqual([]);
    expect(back.pending).toBe(3);
    expect(codeOf(shard.apply(beatCommand('a1', epochs.get('a1')!, nowMs + 1)))).toBe('FENCED_INSTANCE_ID');
    expect(codeOf(shard.apply(commitCommand('a1', epochs.get('a1')!, nowMs + 1, [offset(aOwns[0]!.partition, 1)])))).toBe('FENCED_INSTANCE_ID');
    expect(viewOf(shard.apply(beatCommand('b', epochs.get('b')!, nowMs + 2))).assignment).toHaveLength(3);
    expect(viewOf(shard.apply(beatCommand('a2', back.epoch, leaseEndMs - 1))).assignment).toEqual([]);
    const later = viewOf(shard.apply(beatCommand('a2', back.epoch, leaseEndMs)));
    expect(later.assignment).toEqual(aOwns);
    expect(later.groupEpoch).toBe(groupEpoch);
    // The old member id cannot come back either.
    expect(codeOf(shard.apply(joinCommand('a1', leaseEndMs, { shapes, instanceId: 'worker-a' })))).toBe('FENCED_INSTANCE_ID');
    checkInvariants(shard);
  });

  it('a replacing join the coordinator did not stamp holds the old partitions for a whole session', () => {
    const { shard, nowMs } = staticPair();
    const back = viewOf(shard.apply(joinCommand('a2', nowMs, { shapes, instanceId: 'worker-a' })));
    expect(shard.describe('g')!.held.map((h) => h.untilMs)).toEqual([nowMs + sessionMs, nowMs + sessionMs, nowMs + sessionMs]);
    expect(viewOf(shard.apply(beatCommand('a2', back.epoch, nowMs + sessionMs))).assignment).toHaveLength(3);
  });

  it('a member away longer than its session is expired: its partitions go to the others', () => {
    const { shard, nowMs, epochs } = staticPair();
    shard.apply({ type: 'leave', group: 'g', nowMs, memberId: 'a1', epoch: epochs.get('a1')!, temporary: true });
    shard.apply({ type: 'expire', group: 'g', nowMs: nowMs + 10_000, memberId: 'a1', reason: 'away', leaseEndMs: nowMs + 10_000 });
    expect(viewOf(shard.apply(beatCommand('b', epochs.get('b')!, nowMs + 10_001))).assignment).toHaveLength(6);
  });

  it('only a static member may leave temporarily', () => {
    const { shard, nowMs, epochs } = staticPair();
    expect(codeOf(shard.apply({ type: 'leave', group: 'g', nowMs, memberId: 'b', epoch: epochs.get('b')!, temporary: true }))).toBe('INVALID_ARGUMENT');
  });

  it('remembers a bounded number of replaced members, the oldest forgotten first', () => {
    const shard = new GroupShard();
    const max = shard.limits.replacedMembersMax;
    for (let i = 0; i <= max + 1; i++) viewOf(shard.apply(joinCommand(`m${i}`, 1_000 + i, { shapes, instanceId: 'same' })));
    const group = shard.group('g')!;
    expect(group.replaced.size).toBe(max);
    expect(group.replaced.has('m0')).toBe(false);
    expect(group.replaced.has('m1')).toBe(true);
    expect(group.members.size).toBe(1);
  });
});

describe('group state: admin', () => {
  it('refuses to reset or delete a group with members; resets an empty one in any direction', () => {
    const { shard, nowMs, epochs } = settled(['a']);
    shard.apply(commitCommand('a', epochs.get('a')!, nowMs, [offset(0, 50)]));
    const reset = { type: 'reset', group: 'g', nowMs, shapes, offsets: [offset(0, 3)] } as const;
    expect(codeOf(shard.apply(reset))).toBe('GROUP_NOT_EMPTY');
    expect(codeOf(shard.apply({ type: 'delete', group: 'g', nowMs }))).toBe('GROUP_NOT_EMPTY');
    shard.apply({ type: 'leave', group: 'g', nowMs, memberId: 'a', epoch: epochs.get('a')!, temporary: false });
    expect(shard.apply(reset)).toEqual({ ok: true, committed: [offset(0, 3)] });
    expect(codeOf(shard.apply({ ...reset, offsets: [offset(6, 1)] }))).toBe('UNKNOWN_PARTITION');
    expect(codeOf(shard.apply({ ...reset, offsets: [{ topic: 'other', topicId: 2, partition: 0, offset: 1 }] }))).toBe('UNKNOWN_TOPIC');
    expect(shard.describe('g')!.offsets.map((o) => o.offset)).toEqual([3]);
    expect(shard.apply({ type: 'delete', group: 'g', nowMs })).toEqual({ ok: true });
    expect(codeOf(shard.apply({ type: 'delete', group: 'g', nowMs }))).toBe('UNKNOWN_GROUP');
  });

  it('a reset can set offsets of a group nobody consumes yet', () => {
    const shard = new GroupShard();
    expect(shard.apply({ type: 'reset', group: 'fresh', nowMs: 5, shapes, offsets: [offset(2, 7)] }).ok).toBe(true);
    expect(shard.describe('fresh')).toMatchObject({ state: 'empty', offsets: [{ partition: 2, offset: 7 }] });
    // A failed reset creates nothing.
    expect(codeOf(shard.apply({ type: 'reset', group: 'none', nowMs: 5, shapes, offsets: [offset(9, 7)] }))).toBe('UNKNOWN_PARTITION');
    expect(shard.group('none')).toBeUndefined();
  });
});

describe('group state: topics deleted and recreated', () => {
  it('forgets a recreated topic\'s offsets; owners release the old partitions and cannot commit them into the new topic', () => {
    const { shard, nowMs, epochs } = settled(['a']);
    const epoch = epochs.get('a')!;
    shard.apply(commitCommand('a', epoch, nowMs, [offset(0, 50)]));
    expect(shard.apply({ type: 'topics', group: 'g', nowMs, shapes: [{ ...orders, topicId: 2 }] })).toEqual({ ok: true });
    expect(shard.describe('g')!.offsets).toEqual([]);
    expect(codeOf(shard.apply(commitCommand('a', epoch, nowMs + 1, [offset(0, 51)])))).toBe('UNKNOWN_TOPIC');
    expect(codeOf(shard.apply(commitCommand('a', epoch, nowMs + 1, [offset(0, 51, 2)])))).toBe('STALE_MEMBER_EPOCH');
    // Its view no longer lists the old partitions; once released, the new topic's are given.
    expect(viewOf(shard.apply(beatCommand('a', epoch, nowMs + 2))).assignment).toEqual([]);
    const fresh = viewOf(shard.apply(beatCommand('a', epoch, nowMs + 3, [])));
    expect(fresh.assignment).toHaveLength(6);
    expect(shard.apply(commitCommand('a', fresh.epoch, nowMs + 4, [offset(0, 1, 2)])).ok).toBe(true);
    checkInvariants(shard);
  });

  it('a deleted topic leaves the assignment and its offsets go', () => {
    const { shard, nowMs, epochs } = settled(['a']);
    shard.apply(commitCommand('a', epochs.get('a')!, nowMs, [offset(0, 50)]));
    shard.apply({ type: 'topics', group: 'g', nowMs, missing: ['orders'] });
    expect(shard.describe('g')).toMatchObject({ offsets: [], held: [] });
    expect(viewOf(shard.apply(beatCommand('a', epochs.get('a')!, nowMs + 1, []))).assignment).toEqual([]);
    checkInvariants(shard);
  });
});
