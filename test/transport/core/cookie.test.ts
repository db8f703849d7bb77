import { describe, expect, it } from 'vitest';
import { CookieMinter } from '../../../transport/core/cookie.js';
import { ConnectionId } from '../../../transport/core/packet.js';
import { Prng } from '../../../transport/core/prng.js';
import { simEnvironment } from '../support/sim.js';

const lifetimeMs = 30_000;
const cid = new ConnectionId(1, 2);

describe('stateless cookies', () => {
  it('verify for the same address and connection id within their lifetime, across one key rotation', () => {
    const minter = new CookieMinter(simEnvironment(new Prng(1)), lifetimeMs);
    const cookie = minter.mint(29_000, '10.0.0.1', 5000, cid);
    expect(minter.verify(29_500, cookie, '10.0.0.1', 5000, cid)).toBe('valid');
    // The key rotated at 30 s; the previous key still verifies.
    expect(minter.verify(45_000, cookie, '10.0.0.1', 5000, cid)).toBe('valid');
  });

  it('expire after their lifetime', () => {
    const minter = new CookieMinter(simEnvironment(new Prng(1)), lifetimeMs);
    const cookie = minter.mint(1000, '10.0.0.1', 5000, cid);
    expect(minter.verify(1000 + lifetimeMs + 1, cookie, '10.0.0.1', 5000, cid)).toBe('expired');
    // Two rotations later the key is gone: still reported as expired, not as forged.
    expect(minter.verify(100_000, cookie, '10.0.0.1', 5000, cid)).toBe('expired');
  });

  it('fail for another address, port, connection id, endpoint or any flipped bit', () => {
    const minter = new CookieMinter(simEnvironment(new Prng(1)), lifetimeMs);
    const cookie = minter.mint(1000, '10.0.0.1', 5000, cid);
    expect(minter.verify(2000, cookie, '10.0.0.2', 5000, cid)).toBe('forged');
    expect(minter.verify(2000, cookie, '10.0.0.1', 5001, cid)).toBe('forged');
    expect(minter.verify(2000, cookie, '10.0.0.1', 5000, new ConnectionId(1, 3))).toBe('forged');
    const other = new CookieMinter(simEnvironment(new Prng(2)), lifetimeMs);
    other.mint(1000, 'x', 1, cid);
    expect(other.verify(2000, cookie, '10.0.0.1', 5000, cid)).toBe('forged');
    for (let bit = 0; bit < cookie.length * 8; bit++) {
      const flipped = cookie.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(['forged', 'expired']).toContain(minter.verify(2000, flipped, '10.0.0.1', 5000, cid));
      expect(minter.verify(2000, flipped, '10.0.0.1', 5000, cid)).not.toBe('valid');
    }
    expect(minter.verify(2000, new Uint8Array(0), '10.0.0.1', 5000, cid)).toBe('forged');
    expect(minter.verify(2000, new Uint8Array(40), '10.0.0.1', 5000, cid)).toBe('forged');
  });

  it('refuse a cookie from the future (a forged timestamp)', () => {
    const minter = new CookieMinter(simEnvironment(new Prng(1)), lifetimeMs);
    const cookie = minter.mint(20_000, '10.0.0.1', 5000, cid);
    expect(minter.verify(10_000, cookie, '10.0.0.1', 5000, cid)).toBe('forged');
  });
});
