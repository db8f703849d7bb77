import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePacketNumber, truncatePacketNumber } from '../../../transport/core/packet-number.js';

describe('truncated packet numbers', () => {
  it('decode to the full number whenever it is within half the window of the next expected one', () => {
    for (const bits of [8, 16, 32]) {
      const half = 2 ** (bits - 1);
      // RFC 9000 A.3: correct for pn in (expected - half, expected + half], expected = largest + 1.
      fc.assert(
        fc.property(fc.integer({ min: -1, max: 2 ** 50 }), fc.integer({ min: 2 - half, max: half + 1 }), (largest, delta) => {
          const pn = largest + delta;
          fc.pre(pn >= 0);
          expect(decodePacketNumber(truncatePacketNumber(pn, bits), largest, bits)).toBe(pn);
        }),
      );
    }
  });

  it('crosses the wrap of the wire field in both directions', () => {
    // 8-bit field: after 0xff comes 0x00 of the next window, and a late 0xfe stays in the old one.
    expect(decodePacketNumber(0x00, 0xff, 8)).toBe(0x100);
    expect(decodePacketNumber(0x01, 0x1ff, 8)).toBe(0x201);
    expect(decodePacketNumber(0xfe, 0x101, 8)).toBe(0xfe);
    // 32-bit field around 2^32.
    expect(decodePacketNumber(5, 2 ** 32 - 3, 32)).toBe(2 ** 32 + 5);
    expect(decodePacketNumber(0xffff_fff0, 2 ** 32 + 7, 32)).toBe(2 ** 32 - 16);
    // RFC 9000 Appendix A.3 example: largest 0xa82f30ea, 16-bit 0x9b32 → 0xa82f9b32.
    expect(decodePacketNumber(0x9b32, 0xa82f30ea, 16)).toBe(0xa82f9b32);
  });

  it('never decodes below zero near the start', () => {
    expect(decodePacketNumber(0xffff_ffff, -1, 32)).toBe(0xffff_ffff);
    expect(decodePacketNumber(0, -1, 32)).toBe(0);
  });
});
