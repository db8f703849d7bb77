/**
 * A pre-decode check that a CBOR item is plain data: integers, floats,
 * strings, byte strings, arrays, maps keyed by strings or integers, and
 * false/true/null/undefined. Nothing else.
 *
 * Why it exists: cbor-x decodes tags through a module-global registry that no
 * Decoder option turns off. A peer could send tag 27 (constructs Error or
 * RegExp from its data), tags 28/29 (shared references), 259 (flips map
 * mode), record definitions (0xe000+), typed-array tags, or tag 2 wrapped
 * around a megabyte (a quadratic BigInt build). Refusing every tag before
 * cbor-x sees the bytes means a hostile frame can only ever produce plain
 * values. Indefinite lengths are refused too: our encoder never writes them.
 *
 * Walks the bytes once without allocating; each item consumes at least one
 * byte, so the walk is bounded by the frame length whatever counts it claims.
 */
export function plainCborProblem(bytes: Uint8Array, depthMax: number): string | null {
  const end = bytes.length;
  // remaining[k]: items still expected by the k-th open container (a map expects two per entry); isMap[k]: whether it is a map.
  const remaining: number[] = [];
  const isMap: boolean[] = [];
  let position = 0;
  let itemsLeftAtTop = 1;

  while (itemsLeftAtTop > 0 || remaining.length > 0) {
    if (position >= end) return 'truncated item';
    const depth = remaining.length;
    const keySlot = depth > 0 && isMap[depth - 1] === true && remaining[depth - 1]! % 2 === 0;
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

    if (keySlot && major !== 0 && major !== 1 && major !== 3) return 'map key that is not a string or an integer';

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
          if (depth + 1 > depthMax) return `nesting deeper than ${depthMax}`;
          // The container counts as an item of its parent only once its last item is read.
          remaining.push(items);
          isMap.push(major === 5);
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
    consumeOne();
  }
  return position === end ? null : 'trailing bytes after the item';

  function consumeOne(): void {
    if (remaining.length === 0) {
      itemsLeftAtTop--;
      return;
    }
    const top = remaining.length - 1;
    remaining[top]!--;
    // Close every container this item completed (the item itself may have been the last of several).
    while (remaining.length > 0 && remaining[remaining.length - 1] === 0) {
      remaining.pop();
      isMap.pop();
      if (remaining.length === 0) itemsLeftAtTop--;
      else remaining[remaining.length - 1]!--;
    }
  }
}

function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) >>> 0) + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}
