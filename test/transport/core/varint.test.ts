import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, Reader, varintLength, writeVarint } from '../../../transport/core/varint.js';

describe('QUIC varints', () => {
  it('round-trip every safe integer in the shortest form', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 0x3fff_ffff }), fc.maxSafeNat()), (value) => {
        const out = new Uint8Array(8);
        const end = writeVarint(out, 0, value);
        expect(end).toBe(varintLength(value));
        const reader = new Reader(out, 0, end);
        expect(reader.varint()).toBe(value);
        expect(reader.remaining).toBe(0);
      }),
    );
  });

  it('uses the RFC 9000 encodings (golden bytes)', () => {
    const encode = (value: number): number[] => {
      const out = new Uint8Array(8);
      return [...out.subarray(0, writeVarint(out, 0, value))];
    };
    // RFC 9000 Appendix A.1 examples.
    expect(encode(37)).toEqual([0x25]);
    expect(encode(15_293)).toEqual([0x7b, 0xbd]);
    expect(encode(494_878_333)).toEqual([0x9d, 0x7f, 0x3e, 0x7d]);
  });

  it('rejects truncated input and values beyond 2^53 with DecodeError', () => {
    expect(() => new Reader(Uint8Array.from([0x40])).varint()).toThrow(DecodeError);
    expect(() => new Reader(Uint8Array.from([0x80, 1, 2])).varint()).toThrow(DecodeError);
    expect(() => new Reader(Uint8Array.from([0xc0, 0, 0, 0, 0, 0, 0])).varint()).toThrow(DecodeError);
    // RFC 9000's 8-byte example, 151,288,809,941,952,652, does not fit a JS safe integer.
    expect(() => new Reader(Uint8Array.from([0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c])).varint()).toThrow(DecodeError);
    expect(() => new Reader(new Uint8Array(0)).u8()).toThrow(DecodeError);
    expect(() => new Reader(new Uint8Array(3)).u32()).toThrow(DecodeError);
    expect(() => new Reader(new Uint8Array(3)).view(4)).toThrow(DecodeError);
  });

  it('rejects non-canonical encodings (a value in a longer form than it needs) with DecodeError', () => {
    // 5 in two, four and eight bytes; 64 in four bytes; 2^30 - 1 in eight bytes.
    for (const bytes of [
      [0x40, 0x05],
      [0x80, 0, 0, 0x05],
      [0xc0, 0, 0, 0, 0, 0, 0, 0x05],
      [0x80, 0, 0, 0x40],
      [0xc0, 0, 0, 0, 0x3f, 0xff, 0xff, 0xff],
    ]) {
      expect(() => new Reader(Uint8Array.from(bytes)).varint(), bytes.join(',')).toThrow(DecodeError);
    }
    // The smallest value of each length is canonical.
    expect(new Reader(Uint8Array.from([0x40, 0x40])).varint()).toBe(64);
    expect(new Reader(Uint8Array.from([0x80, 0, 0x40, 0])).varint()).toBe(0x4000);
    expect(new Reader(Uint8Array.from([0xc0, 0, 0, 0, 0x40, 0, 0, 0])).varint()).toBe(0x4000_0000);
  });

  it('refuses to write values it cannot represent', () => {
    expect(() => writeVarint(new Uint8Array(8), 0, 2 ** 53)).toThrow(RangeError);
    expect(() => writeVarint(new Uint8Array(8), 0, 2 ** 40 + 0.5)).toThrow(RangeError);
  });
});
