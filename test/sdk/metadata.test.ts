import { describe, expect, it } from 'vitest';
import { MetadataCache, leaderHintOf } from '../../sdk/metadata.js';
import type { MetadataResponse, TopicMetadata } from '../../transport/protocol/messages.js';

const config = { retentionMs: null, retentionBytes: null, segmentBytes: 1 << 20, flush: { mode: 'always' as const } };

function topic(name: string, leaders: (number | null)[], epoch = 1, topicId = 1): TopicMetadata {
  return { name, topicId, config, partitions: leaders.map((leader, partition) => ({ partition, leader, leaderEpoch: epoch, replicas: [1, 2, 3] })) };
}

function response(topics: TopicMetadata[], missing: string[] = []): MetadataResponse {
  return { clusterId: 'c', controllerId: 1, brokers: [1, 2, 3].map((id) => ({ id, host: '127.0.0.1', port: 9000 + id })), topics, missing };
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('MetadataCache', () => {
  it('coalesces concurrent refreshes: one in flight, one queued follow-up for the union', async () => {
    const calls: (string[] | undefined)[] = [];
    const answers: ReturnType<typeof deferred<MetadataResponse>>[] = [];
    const cache = new MetadataCache({
      maxAgeMs: 60_000,
      fetch: (topics) => {
        calls.push(topics);
        const d = deferred<MetadataResponse>();
        answers.push(d);
        return d.promise.then((r) => ({ response: r, from: 1 }));
      },
    });
    const first = cache.refresh(['a']);
    const waiters = [cache.refresh(['b']), cache.refresh(['c']), cache.refresh(['b']), ...Array.from({ length: 100 }, () => cache.refresh(['a']))];
    expect(calls).toEqual([['a']]);
    answers[0]!.resolve(response([topic('a', [1])]));
    await first;
    await new Promise((r) => setImmediate(r));
    expect(calls).toHaveLength(2);
    expect(new Set(calls[1])).toEqual(new Set(['a', 'b', 'c']));
    answers[1]!.resolve(response([topic('a', [1]), topic('b', [2]), topic('c', [3])]));
    await Promise.all(waiters);
    expect(cache.refreshes).toBe(2);
    expect(cache.partition('c', 0)?.leader).toBe(3);
  });

  it('never lets an older leader epoch overwrite a newer one', () => {
    const cache = new MetadataCache({ maxAgeMs: 60_000, fetch: async () => ({ response: response([]), from: 1 }) });
    cache.apply(response([topic('t', [2], 5)]));
    cache.apply(response([topic('t', [1], 4)]));
    expect(cache.partition('t', 0)).toMatchObject({ leader: 2, leaderEpoch: 5 });
    cache.apply(response([topic('t', [null], 5)]));
    expect(cache.partition('t', 0)).toMatchObject({ leader: 2, leaderEpoch: 5 });
    cache.apply(response([topic('t', [3], 6)]));
    expect(cache.partition('t', 0)).toMatchObject({ leader: 3, leaderEpoch: 6 });
    // A re-created topic (new id) starts over.
    cache.apply(response([topic('t', [1], 1, 99)]));
    expect(cache.partition('t', 0)).toMatchObject({ leader: 1, leaderEpoch: 1 });
  });

  it('believes a deposed leader that says it no longer leads, and nobody else saying "no leader" at the same epoch', () => {
    const cache = new MetadataCache({ maxAgeMs: 60_000, fetch: async () => ({ response: response([]), from: 1 }) });
    cache.apply(response([topic('t', [1, 1], 5)]), undefined, 2);
    // Broker 3 has not heard of a leader at epoch 5 yet: keep broker 1.
    cache.apply(response([topic('t', [null, 1], 5)]), undefined, 3);
    expect(cache.partition('t', 0)).toMatchObject({ leader: 1, leaderEpoch: 5 });
    // Broker 1 itself says it does not lead partition 0 any more.
    cache.apply(response([topic('t', [null, 1], 5)]), undefined, 1);
    expect(cache.partition('t', 0)).toMatchObject({ leader: null, leaderEpoch: 5 });
    expect(cache.partition('t', 1)).toMatchObject({ leader: 1, leaderEpoch: 5 });
    // Its NOT_LEADER with no leader named does the same: the next request waits for fresh metadata rather than asking it again.
    expect(cache.applyHint('t', 1, { leaderId: null, leaderEpoch: 5 }, 1)).toBe(false);
    expect(cache.partition('t', 1)).toMatchObject({ leader: null, leaderEpoch: 5 });
    cache.apply(response([topic('t', [2, 2], 6)]), undefined, 2);
    expect(cache.partition('t', 0)).toMatchObject({ leader: 2, leaderEpoch: 6 });
  });

  it('follows hints that are news and refuses the ones that are not', () => {
    const cache = new MetadataCache({ maxAgeMs: 60_000, fetch: async () => ({ response: response([]), from: 1 }) });
    cache.apply(response([topic('t', [1], 3)]));
    expect(cache.applyHint('t', 0, { leaderId: 2, leaderEpoch: 4 }, 1)).toBe(true);
    expect(cache.partition('t', 0)).toMatchObject({ leader: 2, leaderEpoch: 4 });
    // Stale hint: we already know epoch 4, whose leader (2) is not the broker that refused us.
    expect(cache.applyHint('t', 0, { leaderId: 3, leaderEpoch: 2 }, 1)).toBe(true);
    expect(cache.partition('t', 0)).toMatchObject({ leader: 2, leaderEpoch: 4 });
    // A hint naming the broker that refused us, or no leader, means: refresh.
    expect(cache.applyHint('t', 0, { leaderId: 2, leaderEpoch: 9 }, 2)).toBe(false);
    expect(cache.applyHint('t', 0, { leaderId: null, leaderEpoch: 9 }, 2)).toBe(false);
    // An unknown broker with its address is learnt; without an address it is not usable.
    expect(cache.applyHint('t', 0, { leaderId: 7, leaderEpoch: 10, host: '10.0.0.7', port: 9092 }, 2)).toBe(true);
    expect(cache.brokerAddress(7)).toEqual({ host: '10.0.0.7', port: 9092 });
    expect(cache.applyHint('t', 0, { leaderId: 8, leaderEpoch: 11 }, 7)).toBe(false);
  });

  it('refreshes stale, old or missing topics and reports unknown ones', async () => {
    let now = 0;
    let fetches = 0;
    const cache = new MetadataCache({
      maxAgeMs: 1000,
      clock: { nowMs: () => now },
      fetch: async (topics) => {
        fetches++;
        return { response: topics?.includes('gone') ? response([], ['gone']) : response([topic('t', [1])]), from: 2 };
      },
    });
    await cache.topic('t');
    await cache.topic('t');
    expect(fetches).toBe(1);
    now = 2000;
    await cache.topic('t');
    expect(fetches).toBe(2);
    cache.invalidate('t');
    await cache.topic('t');
    expect(fetches).toBe(3);
    await expect(cache.topic('gone')).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
  });

  it('reads hints from error details defensively', () => {
    expect(leaderHintOf({ leaderId: 2, leaderEpoch: 3, host: 'h', port: 1 })).toEqual({ leaderId: 2, leaderEpoch: 3, host: 'h', port: 1 });
    expect(leaderHintOf({ leaderId: null, leaderEpoch: 3 })).toEqual({ leaderId: null, leaderEpoch: 3 });
    expect(leaderHintOf({ leaderId: 2, leaderEpoch: 3, host: 'h', port: 70000 })).toEqual({ leaderId: 2, leaderEpoch: 3 });
    expect(leaderHintOf({ leaderId: '2', leaderEpoch: 3 })).toBeNull();
    expect(leaderHintOf({ leaderId: 2 })).toBeNull();
    expect(leaderHintOf(undefined)).toBeNull();
  });
});
