import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey } from '../../transport/protocol/murmur2.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('murmur2', () => {
  it('matches the hashes the Kafka Java client computes (Utils.murmur2)', () => {
    // Vectors generated with the Java client (Utils.murmur2 over UTF-8 bytes).
    const vectors: Record<string, number> = {
      '0': 971027396,
      '1': -1993445489,
      '128': -326012175,
      '2187': -1508407203,
      '16384': -325739742,
      '78125': -1654490814,
      '279936': 1462227128,
      '823543': -2014198330,
      '2097152': 607668903,
      '4782969': -1182699775,
      '10000000': -1830336757,
      '19487171': -1603849305,
      '35831808': -857013643,
      '62748517': -1167431028,
      '105413504': -381294639,
      '170859375': -1658323481,
      '100:48069': 1009543857,
      // From Kafka's own UtilsTest.
      '21': -973932308,
      foobar: -790332482,
      'a-little-bit-long-string': -985981536,
      'a-little-bit-longer-string': -1486304829,
      lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8: -58897971,
      abc: 479470107,
    };
    for (const [key, hash] of Object.entries(vectors)) expect([key, murmur2(utf8(key))]).toEqual([key, hash]);
  });

  it('hashes the empty key and every tail length', () => {
    expect(murmur2(new Uint8Array(0))).toBe(murmur2(new Uint8Array(0)));
    const seen = new Set<number>();
    for (let n = 0; n < 9; n++) seen.add(murmur2(new Uint8Array(n).fill(7)));
    expect(seen.size).toBe(9);
  });

  it('maps keys onto partitions as Kafka does (sign bit dropped, then modulo)', () => {
    expect(partitionForKey(utf8('1'), 1000)).toBe((-1993445489 & 0x7fffffff) % 1000);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 1024 }), (key, count) => {
        const partition = partitionForKey(key, count);
        expect(partition).toBeGreaterThanOrEqual(0);
        expect(partition).toBeLessThan(count);
        expect(partitionForKey(Uint8Array.from(key), count)).toBe(partition);
      }),
    );
  });
});
