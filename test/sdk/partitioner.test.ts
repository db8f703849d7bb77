import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { partitionForKey } from '../../transport/protocol/murmur2.js';
import { checkedPartition, DefaultPartitioner } from '../../sdk/partitioner.js';
import { Prng } from '../../transport/core/prng.js';

describe('default partitioner', () => {
  it('sends a key to the same partition from any client instance (stable across clients)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 256 }), fc.integer(), fc.integer(), (key, count, seedA, seedB) => {
        const a = new DefaultPartitioner(new Prng(seedA));
        const b = new DefaultPartitioner(new Prng(seedB));
        expect(a.partition({ topic: 't', key, partitionCount: count })).toBe(b.partition({ topic: 't', key, partitionCount: count }));
        expect(a.partition({ topic: 't', key, partitionCount: count })).toBe(partitionForKey(key, count));
      }),
    );
  });

  it('spreads distinct keys evenly over partitions', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 32 }), fc.integer(), (count, salt) => {
        const partitioner = new DefaultPartitioner(new Prng(1));
        const hits = new Array<number>(count).fill(0);
        const keys = 4000;
        for (let i = 0; i < keys; i++) hits[partitioner.partition({ topic: 't', key: new TextEncoder().encode(`key-${salt}-${i}`), partitionCount: count })]!++;
        const expected = keys / count;
        // A chi-square bound far beyond chance (p < 1e-6 for these degrees of freedom).
        const chi = hits.reduce((sum, h) => sum + (h - expected) ** 2 / expected, 0);
        expect(chi).toBeLessThan(count * 3 + 60);
      }),
      { numRuns: 20 },
    );
  });

  it('keeps keyless records on one partition until its batch closes, then moves to another', () => {
    const partitioner = new DefaultPartitioner(new Prng(7));
    const first = partitioner.partition({ topic: 't', key: null, partitionCount: 6 });
    for (let i = 0; i < 50; i++) expect(partitioner.partition({ topic: 't', key: null, partitionCount: 6 })).toBe(first);
    partitioner.batchClosed('t', (first + 1) % 6, 6); // another partition's batch: no move
    expect(partitioner.partition({ topic: 't', key: null, partitionCount: 6 })).toBe(first);
    partitioner.batchClosed('t', first, 6);
    const second = partitioner.partition({ topic: 't', key: null, partitionCount: 6 });
    expect(second).not.toBe(first);
    // Over many batches every partition is used.
    const used = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const p = partitioner.partition({ topic: 't', key: null, partitionCount: 6 });
      used.add(p);
      partitioner.batchClosed('t', p, 6);
    }
    expect(used.size).toBe(6);
  });

  it('holds an application partitioner to the contract', () => {
    const input = { topic: 't', key: null, partitionCount: 4 };
    expect(checkedPartition(() => 3, input)).toBe(3);
    for (const bad of [() => 4, () => -1, () => 1.5, () => 'x' as unknown as number, () => { throw new Error('boom'); }]) {
      expect(() => checkedPartition(bad, input)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});
