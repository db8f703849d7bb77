import { describe, expect, it } from 'vitest';
import { Liveness } from '../../../broker/groups/core/liveness.js';
import { GroupShard } from '../../../broker/groups/core/shard.js';
import { beatCommand, joinCommand, rebalanceMs, sessionMs, viewOf } from './support/commands.js';

const shapes = [{ name: 'orders', topicId: 1, partitions: 4 }];
const retention = 3_600_000;
const liveness = (sinceMs: number, failoverGraceMs = 0): Liveness => new Liveness({ sinceMs, failoverGraceMs, retryMs: 1_000, emptyGroupRetentionMs: retention });

describe('Liveness', () => {
  it('expires a member unheard for its session timeout, with its lease end, and not a moment before', () => {
    const shard = new GroupShard();
    const live = liveness(0);
    viewOf(shard.apply(joinCommand('a', 1_000, { shapes })));
    live.heard('g', 'a', 1_000);
    live.heard('g', 'a', 4_000);
    expect(live.due(shard, 4_000 + sessionMs - 1)).toEqual([]);
    expect(live.due(shard, 4_000 + sessionMs)).toEqual([{ type: 'expire', group: 'g', nowMs: 4_000 + sessionMs, memberId: 'a', reason: 'session', leaseEndMs: 4_000 + sessionMs }]);
  });

  it('proposes an expiry once per retry interval, and forgets members once they are gone', () => {
    const shard = new GroupShard();
    const live = liveness(0);
    viewOf(shard.apply(joinCommand('a', 0, { shapes })));
    expect(live.due(shard, sessionMs)).toHaveLength(1);
    expect(live.due(shard, sessionMs + 999)).toEqual([]);
    const again = live.due(shard, sessionMs + 1_000);
    expect(again).toHaveLength(1);
    shard.apply(again[0]!);
    expect(live.due(shard, sessionMs + 5_000)).toEqual([]);
  });

  it('a new coordinator gives every member a full session plus the grace from its first instant', () => {
    const shard = new GroupShard();
    viewOf(shard.apply(joinCommand('a', 0, { shapes })));
    // The old coordinator heard 'a' last at 0; this one takes over at 50 s, knowing nothing of that.
    const live = liveness(50_000, 2_000);
    expect(live.leaseEndMs('g', shard.group('g')!.members.get('a')!)).toBe(52_000 + sessionMs);
    expect(live.due(shard, 52_000 + sessionMs - 1)).toEqual([]);
    expect(live.due(shard, 52_000 + sessionMs)).toHaveLength(1);
  });

  it('fences a member slower than its rebalance timeout to release, holding its partitions until its lease ends', () => {
    const shard = new GroupShard();
    const live = liveness(0);
    const a = viewOf(shard.apply(joinCommand('a', 0, { shapes })));
    viewOf(shard.apply(joinCommand('b', 1, { shapes })));
    viewOf(shard.apply(beatCommand('a', a.epoch, 2)));
    const member = shard.group('g')!.members.get('a')!;
    expect(member.revokingSinceMs).toBe(2);
    // 'a' keeps heartbeating but never releases.
    for (let t = 1_000; t < 2 + rebalanceMs; t += 1_000) {
      live.heard('g', 'a', t);
      live.heard('g', 'b', t);
      expect(live.due(shard, t)).toEqual([]);
    }
    live.heard('g', 'a', rebalanceMs);
    const due = live.due(shard, 2 + rebalanceMs);
    expect(due).toEqual([{ type: 'expire', group: 'g', nowMs: 2 + rebalanceMs, memberId: 'a', reason: 'rebalance', leaseEndMs: rebalanceMs + sessionMs }]);
  });

  it('expires a static member away longer than its session timeout, and an empty group past its retention', () => {
    const shard = new GroupShard();
    const live = liveness(0);
    const a = viewOf(shard.apply(joinCommand('a', 0, { shapes, instanceId: 'i' })));
    shard.apply({ type: 'leave', group: 'g', nowMs: 100, memberId: 'a', epoch: a.epoch, temporary: true });
    expect(live.due(shard, 100 + sessionMs - 1)).toEqual([]);
    const [expiry] = live.due(shard, 100 + sessionMs);
    expect(expiry).toMatchObject({ type: 'expire', memberId: 'a', reason: 'away' });
    shard.apply(expiry!);
    expect(live.due(shard, 100 + sessionMs + retention - 1)).toEqual([]);
    const [forget] = live.due(shard, 100 + sessionMs + retention);
    expect(forget).toEqual({ type: 'expireGroup', group: 'g', nowMs: 100 + sessionMs + retention });
    shard.apply(forget!);
    expect(shard.size).toBe(0);
  });
});
