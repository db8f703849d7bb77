/**
 * What the pure core needs from outside. The shell passes node:crypto
 * (HMAC-SHA256, randomFillSync); simulations pass a seeded PRNG and any MAC,
 * so a whole run replays from one seed.
 */
export interface CoreEnvironment {
  /** A MAC of `data` under `key`, at least 16 bytes long (HMAC-SHA256 in the shell). */
  mac(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** Fills `out` with unpredictable bytes: connection ids and cookie keys. */
  randomFill(out: Uint8Array): void;
}
