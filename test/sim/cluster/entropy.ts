import { Prng } from '../../../transport/core/prng.js';

/**
 * Seeded stand-ins for node:crypto's random functions (the test mocks
 * node:crypto with them): cookie keys, connection ids, producer ids, peer
 * challenges and election jitter all come from the run's seed, so a run
 * replays exactly. Everything else of node:crypto (HMAC) stays real.
 */
let prng = new Prng(1);

export function reseedEntropy(seed: number): void {
  prng = new Prng(seed ^ 0x2545f491);
}

/** Math.random's replacement while a simulation runs. */
export function seededRandom(): number {
  return prng.next();
}

function fill(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = prng.nextUint32() & 0xff;
}

export const cryptoOverrides = {
  randomFillSync<T extends ArrayBufferView>(buffer: T, offset = 0, size?: number): T {
    const view = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    fill(view.subarray(offset, size === undefined ? undefined : offset + size));
    return buffer;
  },
  randomBytes(size: number): Buffer {
    const bytes = Buffer.alloc(size);
    fill(bytes);
    return bytes;
  },
  randomInt(minOrMax: number, max?: number): number {
    const [lo, hi] = max === undefined ? [0, minOrMax] : [minOrMax, max];
    return lo + Math.floor(prng.next() * (hi - lo));
  },
};
