/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of record
 * batches and of every file header the log writes.
 *
 * Node 20 ships no CRC32C (zlib.crc32 arrived in Node 22 and is the IEEE
 * polynomial anyway), so this is the table-driven "slicing-by-8" variant:
 * eight 256-entry tables let one loop iteration fold 8 input bytes with 8
 * independent lookups. Castagnoli rather than IEEE because it detects more
 * error patterns at our batch lengths and is what Kafka record batches use.
 *
 * Reading aligned 32-bit words through an Int32Array view is faster than
 * assembling them from bytes, so long inputs take that word path when the
 * host is little-endian (every platform Node ships for today; the byte path
 * keeps big-endian hosts correct).
 */

const POLYNOMIAL = 0x82f63b78;

/** Below this length the word path's view allocation costs more than it saves. */
const WORD_PATH_BYTES_MIN = 64;

// One flat table: TABLE[k * 256 + b] is the CRC contribution of byte b followed by k zero bytes.
const TABLE = buildTable();
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function buildTable(): Int32Array {
  const table = new Int32Array(8 * 256);
  for (let b = 0; b < 256; b++) {
    let crc = b;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL : crc >>> 1;
    table[b] = crc;
  }
  for (let b = 0; b < 256; b++) {
    let crc = table[b]!;
    for (let k = 1; k < 8; k++) {
      crc = table[crc & 0xff]! ^ (crc >>> 8);
      table[k * 256 + b] = crc;
    }
  }
  return table;
}

/**
 * CRC32C of `data[start, end)`. Pass a previous result as `seed` to continue a
 * checksum over several pieces: crc32c(b, 0, b.length, crc32c(a)) equals the
 * checksum of a followed by b.
 */
export function crc32c(data: Uint8Array, start = 0, end = data.length, seed = 0): number {
  if (!(start >= 0 && start <= end && end <= data.length)) {
    throw new RangeError(`crc32c range [${start}, ${end}) is outside a ${data.length}-byte buffer`);
  }
  const t = TABLE;
  let crc = ~seed;
  let i = start;
  if (LITTLE_ENDIAN_HOST && end - start >= WORD_PATH_BYTES_MIN) {
    // Bytewise up to a 4-byte boundary, then 8 bytes per step from two aligned words.
    while (((data.byteOffset + i) & 3) !== 0) crc = t[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
    const wordCount = ((end - i) >>> 3) << 1;
    const words = new Int32Array(data.buffer, data.byteOffset + i, wordCount);
    for (let w = 0; w < wordCount; w += 2) crc = fold8(t, crc ^ words[w]!, words[w + 1]!);
    i += wordCount * 4;
  } else {
    const end8 = end - 7;
    for (; i < end8; i += 8) {
      const lo = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
      const hi = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
      crc = fold8(t, crc ^ lo, hi);
    }
  }
  for (; i < end; i++) crc = t[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** One slicing-by-8 step: the CRC state after 8 bytes, given as two little-endian words (the first already xored with the state). */
function fold8(t: Int32Array, lo: number, hi: number): number {
  return (
    t[1792 + (lo & 0xff)]! ^
    t[1536 + ((lo >>> 8) & 0xff)]! ^
    t[1280 + ((lo >>> 16) & 0xff)]! ^
    t[1024 + (lo >>> 24)]! ^
    t[768 + (hi & 0xff)]! ^
    t[512 + ((hi >>> 8) & 0xff)]! ^
    t[256 + ((hi >>> 16) & 0xff)]! ^
    t[hi >>> 24]!
  );
}
