import { transportLimits } from '../limits.js';

/**
 * A pre-decode check that a CBOR item is plain data: integers, floats,
 * strings, byte strings, arrays, maps keyed by strings or integers, and
 * false/true/null/undefined. Nothing else.
 *
 * Why it exists: cbor-x decodes tags through a module-global registry that no
 * Decoder option turns off. A peer could send tag 27 (constructs Error or
 * RegExp from its data), tags 28/29 (shared references), 259 (flips map
 * mode), record definitions (0xe000+), typed-array tags, or tag 2 wrapped
 * around 256 KiB (a quadratic BigInt build: about a minute of CPU). Refusing
 * every tag before cbor-x sees the bytes means a hostile frame can only ever
 * produce plain values. Indefinite lengths are refused too: our encoder never
 * writes them.
 *
 * Walks the bytes once without allocating; each item consumes at least one
 * byte, so the walk is bounded by the frame length whatever counts it claims.
 *
 * It also bounds what decoding would allocate. One byte on the wire can be an
 * empty byte string (a typed-array view, ~100 B of heap), an empty map (an
 * object, ~64 B) or an empty array: a 16 MiB frame of such items decoded to
 * ~1.8 GB and stalled a broker for seconds. The walk adds up an upper
 * estimate of each item's heap cost and refuses a value whose estimate
 * exceeds rpcFrameDecodedBytesPerByteMax times its length (plus a slack):
 * plain data (byte strings, strings, numbers, the maps of our messages)
 * stays well below, and every item costs at least its slot, so the item
 * count is bounded too.
 */

/**
 * Upper estimates of V8's heap cost per decoded item (measured on Node 20 with cbor-x, 64-bit, no pointer
 * compression): every item takes a slot in its parent; a byte string is a typed-array view of the frame
 * (copyBuffers: false); an object or array carries its header and backing store; a string its header and
 * up to two bytes a character; a float or an integer beyond 31 bits is a heap number.
 */
const heapBytes = { slot: 8, byteString: 104, array: 40, map: 64, mapEntry: 8, string: 24, heapNumber: 16 } as const;

/** Open containers: items each still expects (a map two per entry) and whether it is a map. Reused: the walk is synchronous. */
let remaining = new Float64Array(64);
let isMap = new Uint8Array(64);

export function plainCborProblem(bytes: Uint8Array, depthMax: number): string | null {
  if (remaining.length < depthMax) {
    remaining = new Float64Array(depthMax);
    isMap = new Uint8Array(depthMax);
  }
  const end = bytes.length;
  let depth = 0;
  let position = 0;
  const decodedBytesMax = transportLimits.rpcFrameDecodedBytesPerByteMax * end + transportLimits.rpcFrameDecodedBytesSlack;
  let decodedBytes = 0;

  for (;;) {
    if (position >= end) return 'truncated item';
    const initial = bytes[position]!;
    position = readHead(bytes, position);
    if (position < 0) return headProblem;
    const major = initial >> 5;
    const info = initial & 0x1f;
    const argument = headArgument;
    // In a map, an even count of items still expected means this item is a key.
    if (depth > 0 && isMap[depth - 1] === 1 && remaining[depth - 1]! % 2 === 0 && major !== 0 && major !== 1 && major !== 3) {
      return 'map key that is not a string or an integer';
    }
    decodedBytes += heapBytes.slot;
    switch (major) {
      case 0:
      case 1:
        if (info >= 26) decodedBytes += heapBytes.heapNumber;
        break;
      case 2:
      case 3:
        if (argument > end - position) return 'string longer than the frame';
        position += argument;
        decodedBytes += major === 2 ? heapBytes.byteString : heapBytes.string + 2 * argument;
        break;
      case 4:
      case 5: {
        decodedBytes += major === 5 ? heapBytes.map + heapBytes.mapEntry * argument : heapBytes.array;
        if (decodedBytes > decodedBytesMax) return decodedTooLarge(decodedBytesMax, end);
        const items = major === 5 ? argument * 2 : argument;
        // Every item takes at least one byte: a count larger than what is left is a lie.
        if (items > end - position) return 'container larger than the frame';
        if (items === 0) break;
        if (depth >= depthMax) return `nesting deeper than ${depthMax}`;
        // The container counts as an item of its parent only once its last item is read.
        remaining[depth] = items;
        isMap[depth] = major === 5 ? 1 : 0;
        depth++;
        continue;
      }
      case 6:
        return `tag ${argument}`;
      default:
        // major 7: false, true, null, undefined and floats; other simple values mean extensions.
        if (info >= 25 && info <= 27) decodedBytes += heapBytes.heapNumber;
        else if (info < 20 || info > 23) return `simple value ${argument}`;
    }
    if (decodedBytes > decodedBytesMax) return decodedTooLarge(decodedBytesMax, end);
    // One item is complete: count it, closing every container it completes.
    for (;;) {
      if (depth === 0) return position === end ? null : 'trailing bytes after the item';
      if (--remaining[depth - 1]! > 0) break;
      depth--;
    }
  }
}

/** The argument of the head readHead read last, or what was wrong with it. Reused: the walk is synchronous. */
let headArgument = 0;
let headProblem = '';

/** Reads the head of the item at `position` (its initial byte and argument); returns where its content starts, or -1 with headProblem set. */
function readHead(bytes: Uint8Array, position: number): number {
  const info = bytes[position++]! & 0x1f;
  if (info < 24) {
    headArgument = info;
    return position;
  }
  if (info > 27) {
    headProblem = info === 31 ? 'indefinite-length item' : `reserved additional information ${info}`;
    return -1;
  }
  // 24 to 27: the argument follows in 1, 2, 4 or 8 bytes.
  const length = 1 << (info - 24);
  if (position + length > bytes.length) {
    headProblem = 'truncated length';
    return -1;
  }
  if (info === 24) headArgument = bytes[position]!;
  else if (info === 25) headArgument = (bytes[position]! << 8) | bytes[position + 1]!;
  else if (info === 26) headArgument = readUint32(bytes, position);
  else headArgument = readUint32(bytes, position) * 0x1_0000_0000 + readUint32(bytes, position + 4);
  return position + length;
}

function decodedTooLarge(decodedBytesMax: number, length: number): string {
  return `decoded values would take more than ${decodedBytesMax} bytes of memory for ${length} bytes of CBOR (the bound is ${transportLimits.rpcFrameDecodedBytesPerByteMax}x plus ${transportLimits.rpcFrameDecodedBytesSlack})`;
}

function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) >>> 0) + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}
