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
 */

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

  for (;;) {
    if (position >= end) return 'truncated item';
    const initial = bytes[position++]!;
    const major = initial >> 5;
    const info = initial & 0x1f;

    let argument: number;
    if (info < 24) argument = info;
    else if (info === 24) {
      if (position + 1 > end) return 'truncated length';
      argument = bytes[position]!;
      position += 1;
    } else if (info === 25) {
      if (position + 2 > end) return 'truncated length';
      argument = (bytes[position]! << 8) | bytes[position + 1]!;
      position += 2;
    } else if (info === 26) {
      if (position + 4 > end) return 'truncated length';
      argument = readUint32(bytes, position);
      position += 4;
    } else if (info === 27) {
      if (position + 8 > end) return 'truncated length';
      argument = readUint32(bytes, position) * 0x1_0000_0000 + readUint32(bytes, position + 4);
      position += 8;
    } else if (info === 31) {
      return 'indefinite-length item';
    } else {
      return `reserved additional information ${info}`;
    }

    // In a map, an even count of items still expected means this item is a key.
    if (depth > 0 && isMap[depth - 1] === 1 && remaining[depth - 1]! % 2 === 0 && major !== 0 && major !== 1 && major !== 3) {
      return 'map key that is not a string or an integer';
    }

    switch (major) {
      case 0:
      case 1:
        break;
      case 2:
      case 3:
        if (argument > end - position) return 'string longer than the frame';
        position += argument;
        break;
      case 4:
      case 5: {
        const items = major === 5 ? argument * 2 : argument;
        // Every item takes at least one byte: a count larger than what is left is a lie.
        if (items > end - position) return 'container larger than the frame';
        if (items > 0) {
          if (depth >= depthMax) return `nesting deeper than ${depthMax}`;
          // The container counts as an item of its parent only once its last item is read.
          remaining[depth] = items;
          isMap[depth] = major === 5 ? 1 : 0;
          depth++;
          continue;
        }
        break;
      }
      case 6:
        return `tag ${argument}`;
      default:
        // major 7: false, true, null, undefined and floats; other simple values mean extensions.
        if (info >= 20 && info <= 23) break;
        if (info >= 25 && info <= 27) break;
        return `simple value ${argument}`;
    }

    // One item is complete: count it, closing every container it completes.
    for (;;) {
      if (depth === 0) return position === end ? null : 'trailing bytes after the item';
      if (--remaining[depth - 1]! > 0) break;
      depth--;
    }
  }
}

function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) >>> 0) + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}
