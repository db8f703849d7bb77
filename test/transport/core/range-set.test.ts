import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RangeSet } from '../../../transport/core/range-set.js';

/** The set as a sorted list of members, for comparison with a plain model. */
function members(set: RangeSet): number[] {
  const out: number[] = [];
  for (let i = 0; i < set.count; i++) for (let x = set.start(i); x < set.end(i); x++) out.push(x);
  return out;
}

function checkInvariants(set: RangeSet): void {
  for (let i = 0; i < set.count; i++) {
    expect(set.start(i)).toBeLessThan(set.end(i));
    if (i > 0) expect(set.start(i)).toBeGreaterThan(set.end(i - 1)); // disjoint and not adjacent
  }
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), start: fc.nat(200), length: fc.nat(20) }),
  fc.record({ kind: fc.constant('remove' as const), start: fc.nat(200), length: fc.nat(20) }),
  fc.record({ kind: fc.constant('removeBelow' as const), start: fc.nat(200), length: fc.constant(0) }),
);

describe('RangeSet', () => {
  it('behaves like a set of integers under any mix of operations', () => {
    // fast-check caps arrays at ~10 elements unless given a size.
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60, size: 'max' }), (ops) => {
        const set = new RangeSet();
        const model = new Set<number>();
        for (const { kind, start, length } of ops) {
          if (kind === 'add') {
            let fresh = 0;
            for (let x = start; x < start + length; x++) if (!model.has(x)) fresh++;
            for (let x = start; x < start + length; x++) model.add(x);
            expect(set.add(start, start + length)).toBe(fresh);
          } else if (kind === 'remove') {
            for (let x = start; x < start + length; x++) model.delete(x);
            set.remove(start, start + length);
          } else {
            for (const x of [...model]) if (x < start) model.delete(x);
            set.removeBelow(start);
          }
          checkInvariants(set);
          expect(members(set)).toEqual([...model].sort((a, b) => a - b));
        }
        for (let x = 0; x < 230; x++) {
          expect(set.has(x)).toBe(model.has(x));
          let missing = x;
          while (model.has(missing)) missing++;
          expect(set.nextMissing(x)).toBe(missing);
          expect(set.covers(x, x + 3)).toBe(model.has(x) && model.has(x + 1) && model.has(x + 2));
        }
      }),
    );
  });

  it('finds the next range start after a point', () => {
    const set = new RangeSet();
    set.add(10, 20);
    set.add(30, 40);
    expect(set.nextStartAfter(0)).toBe(10);
    expect(set.nextStartAfter(15)).toBe(30);
    expect(set.nextStartAfter(25)).toBe(30);
    expect(set.nextStartAfter(35)).toBe(Infinity);
  });
});
