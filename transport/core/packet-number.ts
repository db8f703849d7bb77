/**
 * Packet numbers are integers that never repeat within a connection (a lost
 * packet's data goes out again under a new number). On the wire only the low
 * `bits` bits travel; the receiver recovers the full number from the largest
 * one it has seen (RFC 9000 §17.1, Appendix A.3). That is correct while the
 * sender keeps fewer than 2^(bits-1) packets between the oldest one it still
 * expects to be acknowledged and the newest, which packetsInFlightMax bounds.
 */

export const packetNumberBits = 32;

/** The low `bits` bits of `packetNumber` (bits ≤ 32). */
export function truncatePacketNumber(packetNumber: number, bits = packetNumberBits): number {
  const window = 2 ** bits;
  return packetNumber % window;
}

/**
 * The full packet number closest to `largestReceived + 1` whose low `bits`
 * bits are `truncated`. `largestReceived` is -1 before any packet arrived.
 */
export function decodePacketNumber(truncated: number, largestReceived: number, bits = packetNumberBits): number {
  const window = 2 ** bits;
  const halfWindow = window / 2;
  const expected = largestReceived + 1;
  const candidate = expected - (expected % window) + truncated;
  if (candidate + halfWindow <= expected) return candidate + window;
  if (candidate > expected + halfWindow && candidate >= window) return candidate - window;
  return candidate;
}
