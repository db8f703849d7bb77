import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../transport/protocol/crc32c.js';

// The bit-at-a-time definition, to check the sliced tables against.
function reference(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('matches the published check values (RFC 3720 B.4 and the CRC catalogue)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('equals the bitwise definition at every length and alignment, and chains over pieces', () => {
    // fast-check caps arrays at ~10 elements unless given a size, and the word path starts at 64 bytes.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300, size: 'max' }), fc.nat(7), fc.nat(300), (data, shift, cutSeed) => {
        // Shift the data inside a larger buffer so both the aligned-word and the byte paths see every alignment.
        const host = new Uint8Array(data.length + 8);
        host.set(data, shift);
        const view = host.subarray(shift, shift + data.length);
        const expected = reference(data);
        expect(crc32c(view)).toBe(expected);
        const cut = data.length === 0 ? 0 : cutSeed % (data.length + 1);
        expect(crc32c(view, cut, data.length, crc32c(view, 0, cut))).toBe(expected);
      }),
    );
  });

  it('refuses a range outside the buffer', () => {
    expect(() => crc32c(new Uint8Array(4), 2, 5)).toThrow(RangeError);
    expect(() => crc32c(new Uint8Array(4), 3, 2)).toThrow(RangeError);
  });
});
