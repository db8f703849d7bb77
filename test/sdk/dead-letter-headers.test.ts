import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { truncateUtf8 } from '../../sdk/groups/group-subscription.js';
import { groupLimits } from '../../transport/limits.js';

const bytesMax = groupLimits.deadLetterErrorBytesMax;
const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

describe('the error message a dead-lettered record carries, at deadLetterErrorBytesMax', () => {
  it('keeps a message of exactly the limit whole and cuts one byte longer to the limit', () => {
    expect(truncateUtf8('x'.repeat(bytesMax), bytesMax)).toBe('x'.repeat(bytesMax));
    expect(truncateUtf8('x'.repeat(bytesMax + 1), bytesMax)).toBe('x'.repeat(bytesMax));
  });

  it('never ends inside a character: a character the limit cuts is left out whole', () => {
    for (const [char, size] of [['é', 2], ['€', 3], ['🦀', 4]] as const) {
      for (let cut = 1; cut < size; cut++) {
        const text = 'x'.repeat(bytesMax - cut) + char + 'tail';
        expect(truncateUtf8(text, bytesMax)).toBe('x'.repeat(bytesMax - cut));
      }
    }
    // A replacement character the message really holds is kept when it fits.
    const real = 'x'.repeat(bytesMax - 3) + '\uFFFD';
    expect(truncateUtf8(real + 'more', bytesMax)).toBe(real);
  });

  it('returns a prefix of the message within the limit for any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 400 }), fc.integer({ min: 0, max: 2 * bytesMax }), (text, limit) => {
        const cut = truncateUtf8(text, limit);
        if (utf8Bytes(text) <= limit) {
          expect(cut).toBe(text);
        } else {
          expect(text.startsWith(cut)).toBe(true);
          // Within the limit, and short of it by less than one character.
          expect(limit - utf8Bytes(cut)).toBeGreaterThanOrEqual(0);
          expect(limit - utf8Bytes(cut)).toBeLessThan(4);
        }
      }),
    );
  });
});
