import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignPartitions, type AssignorMember } from '../../../broker/groups/core/assignor.js';
import { keyOf, type TopicPartition, type TopicShape } from '../../../broker/groups/core/partitions.js';
import { propertyParameters } from '../../transport/support/property.js';

const shapes = (spec: Record<string, number>): TopicShape[] => Object.entries(spec).map(([name, partitions], i) => ({ name, topicId: i + 1, partitions }));
const tp = (topic: string, partition: number): TopicPartition => ({ topic, partition });
const counts = (out: Map<string, TopicPartition[]>): number[] => [...out.values()].map((l) => l.length);
const owners = (out: Map<string, TopicPartition[]>): Map<string, string> => new Map([...out].flatMap(([member, list]) => list.map((p) => [keyOf(p), member] as const)));

/** Partitions whose owner changed between two assignments (new partitions, with no owner before, do not count). */
function moved(before: Map<string, TopicPartition[]>, after: Map<string, TopicPartition[]>): number {
  const was = owners(before);
  let n = 0;
  for (const [key, member] of owners(after)) if (was.has(key) && was.get(key) !== member) n++;
  return n;
}

function members(ids: string[], topics: string[], previous?: Map<string, TopicPartition[]>): AssignorMember[] {
  return ids.map((memberId) => ({ memberId, topics, current: previous?.get(memberId) ?? [] }));
}

describe('assignPartitions', () => {
  it('deals an empty group evenly, each partition once', () => {
    const out = assignPartitions({ members: members(['a', 'b', 'c'], ['orders', 'refunds']), topics: shapes({ orders: 6, refunds: 2 }) });
    expect(counts(out).sort()).toEqual([2, 3, 3]);
    expect(owners(out).size).toBe(8);
  });

  it('a member joining takes its share from those that have most, and nothing else moves', () => {
    const topics = shapes({ orders: 10 });
    const two = assignPartitions({ members: members(['a', 'b'], ['orders']), topics });
    const three = assignPartitions({ members: members(['a', 'b', 'c'], ['orders'], two), topics });
    expect(three.get('c')).toHaveLength(3);
    expect(moved(two, three)).toBe(3);
    for (const id of ['a', 'b']) for (const p of three.get(id)!) expect(two.get(id)).toContainEqual(p);
  });

  it('a member leaving has only its partitions moved', () => {
    const topics = shapes({ orders: 7, refunds: 3 });
    const three = assignPartitions({ members: members(['a', 'b', 'c'], ['orders', 'refunds']), topics });
    const two = assignPartitions({ members: members(['a', 'c'], ['orders', 'refunds'], three), topics });
    expect(moved(three, two)).toBe(three.get('b')!.length);
    for (const id of ['a', 'c']) for (const p of three.get(id)!) expect(two.get(id)).toContainEqual(p);
    expect(counts(two)).toEqual([5, 5]);
  });

  it('drops partitions that no longer exist or are no longer subscribed, and ignores unknown topics', () => {
    const out = assignPartitions({
      members: [
        { memberId: 'a', topics: ['orders', 'ghost'], current: [tp('orders', 5), tp('refunds', 0), tp('ghost', 0)] },
        { memberId: 'b', topics: ['orders'], current: [tp('orders', 0)] },
      ],
      topics: shapes({ orders: 4, refunds: 1 }),
    });
    expect(out.get('a')!.every((p) => p.topic === 'orders' && p.partition < 4)).toBe(true);
    expect(owners(out).size).toBe(4);
    expect(out.get('b')).toContainEqual(tp('orders', 0));
  });

  it('with different subscriptions, gives each topic only to its subscribers and balances what it can', () => {
    const out = assignPartitions({
      members: [
        { memberId: 'a', topics: ['orders'], current: [] },
        { memberId: 'b', topics: ['orders', 'audit'], current: [] },
        { memberId: 'c', topics: ['audit'], current: [] },
      ],
      topics: shapes({ orders: 4, audit: 4 }),
    });
    expect(out.get('a')!.every((p) => p.topic === 'orders')).toBe(true);
    expect(out.get('c')!.every((p) => p.topic === 'audit')).toBe(true);
    expect(counts(out).sort()).toEqual([2, 3, 3]);
  });

  it('gives nothing to members subscribed to nothing that exists, and nothing at all without members', () => {
    expect(assignPartitions({ members: members(['a'], ['ghost']), topics: shapes({ orders: 3 }) }).get('a')).toEqual([]);
    expect(assignPartitions({ members: [], topics: shapes({ orders: 3 }) }).size).toBe(0);
  });

  it('refuses a member listed twice (a programmer error)', () => {
    expect(() => assignPartitions({ members: members(['a', 'a'], ['orders']), topics: shapes({ orders: 1 }) })).toThrow(/twice/);
  });
});

// ---------------------------------------------------------------- properties

const topicNames = ['t0', 't1', 't2', 't3'];
const shapeArb = fc
  .uniqueArray(fc.constantFrom(...topicNames), { minLength: 1, maxLength: 4 })
  .chain((names) => fc.tuple(...names.map((name) => fc.integer({ min: 1, max: 40 }).map((partitions) => ({ name, topicId: 1, partitions })))));
const idsArb = fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,6}$/), { minLength: 1, maxLength: 12, size: 'max' });

/** Any current hints, valid or not, overlapping or not. */
function hintsArb(ids: string[]): fc.Arbitrary<Map<string, TopicPartition[]>> {
  const hint = fc.array(fc.record({ topic: fc.constantFrom(...topicNames), partition: fc.integer({ min: -1, max: 45 }) }), { maxLength: 20, size: 'max' });
  return fc.tuple(...ids.map(() => hint)).map((lists) => new Map(ids.map((id, i) => [id, lists[i]!])));
}

function checkValid(input: { members: AssignorMember[]; topics: TopicShape[] }, out: Map<string, TopicPartition[]>): void {
  const byName = new Map(input.topics.map((t) => [t.name, t]));
  expect([...out.keys()].sort()).toEqual(input.members.map((m) => m.memberId).sort());
  const seen = new Set<string>();
  for (const member of input.members) {
    for (const p of out.get(member.memberId)!) {
      expect(member.topics).toContain(p.topic);
      expect(p.partition).toBeLessThan(byName.get(p.topic)!.partitions);
      expect(seen.has(keyOf(p))).toBe(false);
      seen.add(keyOf(p));
    }
  }
  const subscribed = new Set(input.members.flatMap((m) => m.topics));
  const expected = input.topics.filter((t) => subscribed.has(t.name)).reduce((n, t) => n + t.partitions, 0);
  expect(seen.size).toBe(expected);
}

/** No partition could move to another subscriber of its topic that owns two or more fewer. */
function checkBalanced(input: { members: AssignorMember[] }, out: Map<string, TopicPartition[]>): void {
  for (const from of input.members) {
    const have = out.get(from.memberId)!.length;
    for (const p of out.get(from.memberId)!) {
      for (const to of input.members) {
        if (to.topics.includes(p.topic)) expect(out.get(to.memberId)!.length, `${p.topic}/${p.partition} could move ${from.memberId} -> ${to.memberId}`).toBeGreaterThan(have - 2);
      }
    }
  }
}

describe('assignPartitions properties', () => {
  it('every subscribed partition once, to a subscriber; counts within one when subscriptions are the same', () => {
    const arb = fc.tuple(shapeArb, idsArb).chain(([topics, ids]) =>
      fc.record({ topics: fc.constant(topics), ids: fc.constant(ids), hints: hintsArb(ids), subset: fc.subarray(topics.map((t) => t.name), { minLength: 1 }) }),
    );
    fc.assert(
      fc.property(arb, ({ topics, ids, hints, subset }) => {
        const input = { members: members(ids, subset, hints), topics };
        const out = assignPartitions(input);
        checkValid(input, out);
        const c = counts(out);
        expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
      }),
      propertyParameters(300),
    );
  });

  it('with different subscriptions: valid and as balanced as the subscriptions allow', () => {
    const arb = fc.tuple(shapeArb, idsArb).chain(([topics, ids]) =>
      fc.record({
        topics: fc.constant(topics),
        hints: hintsArb(ids),
        subscriptions: fc.tuple(...ids.map(() => fc.subarray(topicNames))),
        ids: fc.constant(ids),
      }),
    );
    fc.assert(
      fc.property(arb, ({ topics, ids, hints, subscriptions }) => {
        const input = { members: ids.map((memberId, i) => ({ memberId, topics: subscriptions[i]!, current: hints.get(memberId)! })), topics };
        const out = assignPartitions(input);
        checkValid({ ...input, members: input.members.map((m) => ({ ...m, topics: m.topics.filter((t) => topics.some((s) => s.name === t)) })) }, out);
        checkBalanced(input, out);
      }),
      propertyParameters(300),
    );
  });

  it('deterministic: the order of members, topics and hints does not matter; and assigning again moves nothing', () => {
    const arb = fc.tuple(shapeArb, idsArb).chain(([topics, ids]) =>
      fc.record({ topics: fc.constant(topics), ids: fc.constant(ids), hints: hintsArb(ids), subscriptions: fc.tuple(...ids.map(() => fc.subarray(topicNames))), seed: fc.nat() }),
    );
    fc.assert(
      fc.property(arb, ({ topics, ids, hints, subscriptions, seed }) => {
        const list = ids.map((memberId, i) => ({ memberId, topics: subscriptions[i]!, current: hints.get(memberId)! }));
        const out = assignPartitions({ members: list, topics });
        const shuffle = <T>(items: T[]): T[] => items.map((item, i) => ({ item, k: (i * 7919 + seed) % 104_729 })).sort((a, b) => a.k - b.k).map((x) => x.item);
        const again = assignPartitions({ members: shuffle(list.map((m) => ({ ...m, topics: shuffle([...m.topics]), current: shuffle([...m.current]) }))), topics: shuffle([...topics]) });
        expect([...again].sort()).toEqual([...out].sort());
        const stable = assignPartitions({ members: list.map((m) => ({ ...m, current: out.get(m.memberId)! })), topics });
        expect(moved(out, stable)).toBe(0);
        expect([...stable].sort()).toEqual([...out].sort());
      }),
      propertyParameters(300),
    );
  });

  it('sticky: from any valid current assignment, only the partitions balance requires move (same subscriptions)', () => {
    const arb = fc.tuple(shapeArb, idsArb).chain(([topics, ids]) => {
      const all = topics.flatMap((t) => Array.from({ length: t.partitions }, (_, p) => tp(t.name, p)));
      // Each partition: unowned (-1) or owned by one member.
      return fc.record({ topics: fc.constant(topics), ids: fc.constant(ids), all: fc.constant(all), owner: fc.array(fc.integer({ min: -1, max: ids.length - 1 }), { minLength: all.length, maxLength: all.length }) });
    });
    fc.assert(
      fc.property(arb, ({ topics, ids, all, owner }) => {
        const current = new Map(ids.map((id) => [id, [] as TopicPartition[]]));
        all.forEach((p, i) => owner[i]! >= 0 && current.get(ids[owner[i]!]!)!.push(p));
        const names = topics.map((t) => t.name);
        const out = assignPartitions({ members: members(ids, names, current), topics });
        // The fewest moves any balanced assignment needs: the extra shares go to the members holding most.
        const base = Math.floor(all.length / ids.length);
        const extra = all.length % ids.length;
        const held = ids.map((id) => current.get(id)!.length).sort((a, b) => b - a);
        const minimum = held.reduce((n, c, rank) => n + Math.max(0, c - (base + (rank < extra ? 1 : 0))), 0);
        expect(moved(current, out)).toBe(minimum);
      }),
      propertyParameters(300),
    );
  });

  it('sticky: a join moves exactly the joiner\'s share, a leave exactly the leaver\'s partitions', () => {
    const arb = fc.tuple(shapeArb, idsArb, fc.nat());
    fc.assert(
      fc.property(arb, ([topics, ids, pick]) => {
        const names = topics.map((t) => t.name);
        const total = topics.reduce((n, t) => n + t.partitions, 0);
        const before = assignPartitions({ members: members(ids, names), topics });
        const joined = assignPartitions({ members: members([...ids, 'joiner'], names, before), topics });
        expect(joined.get('joiner')).toHaveLength(Math.floor(total / (ids.length + 1)));
        expect(moved(before, joined)).toBe(joined.get('joiner')!.length);
        if (ids.length < 2) return;
        const leaver = ids[pick % ids.length]!;
        const left = assignPartitions({ members: members(ids.filter((id) => id !== leaver), names, before), topics });
        expect(moved(before, left)).toBe(before.get(leaver)!.length);
        for (const id of ids) if (id !== leaver) for (const p of before.get(id)!) expect(left.get(id)).toContainEqual(p);
      }),
      propertyParameters(300),
    );
  });
});
