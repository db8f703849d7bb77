/**
 * QUIC variable-length integers (RFC 9000 §16): the two high bits of the first
 * byte give the length (1, 2, 4 or 8 bytes). Values are JS numbers, so the
 * 8-byte form is limited to Number.MAX_SAFE_INTEGER; a larger value on the
 * wire is malformed input, never silently rounded.
 *
 * Every value has exactly one encoding: the shortest. A value written in a
 * longer form than it needs is malformed (RFC 9000 lets a sender pad; we
 * never do), so no two byte strings decode to the same fields, and nothing
 * keyed by bytes (a used cookie, say) can be dodged by re-encoding it.
 */

/** Thrown by every decoder in the core on malformed input; the endpoint counts and drops. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

export const varintMax = Number.MAX_SAFE_INTEGER;

export function varintLength(value: number): number {
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x4000_0000) return 4;
  return 8;
}

/** Writes `value` at `pos` and returns the position after it. The caller checks room (programmer error otherwise). */
export function writeVarint(out: Uint8Array, pos: number, value: number): number {
  if (value < 0x40) {
    out[pos] = value;
    return pos + 1;
  }
  if (value < 0x4000) {
    out[pos] = 0x40 | (value >>> 8);
    out[pos + 1] = value & 0xff;
    return pos + 2;
  }
  if (value < 0x4000_0000) {
    out[pos] = 0x80 | (value >>> 24);
    out[pos + 1] = (value >>> 16) & 0xff;
    out[pos + 2] = (value >>> 8) & 0xff;
    out[pos + 3] = value & 0xff;
    return pos + 4;
  }
  if (!(value <= varintMax) || !Number.isInteger(value)) throw new RangeError(`varint out of range: ${value}`);
  const high = Math.floor(value / 0x1_0000_0000);
  const low = value >>> 0;
  out[pos] = 0xc0 | (high >>> 24);
  out[pos + 1] = (high >>> 16) & 0xff;
  out[pos + 2] = (high >>> 8) & 0xff;
  out[pos + 3] = high & 0xff;
  out[pos + 4] = low >>> 24;
  out[pos + 5] = (low >>> 16) & 0xff;
  out[pos + 6] = (low >>> 8) & 0xff;
  out[pos + 7] = low & 0xff;
  return pos + 8;
}

/**
 * A forward-only reader over one datagram. Every read checks bounds and throws
 * DecodeError, so a frame parser can be written straight-line.
 */
export class Reader {
  bytes: Uint8Array;
  pos: number;
  end: number;

  constructor(bytes: Uint8Array = new Uint8Array(0), pos = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }

  /** Points the reader at a new datagram, so the hot path reuses one reader. */
  reset(bytes: Uint8Array, pos: number, end: number): void {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw new DecodeError('truncated');
    return this.bytes[this.pos++]!;
  }

  u32(): number {
    const p = this.pos;
    if (p + 4 > this.end) throw new DecodeError('truncated');
    const b = this.bytes;
    this.pos = p + 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  varint(): number {
    const p = this.pos;
    if (p >= this.end) throw new DecodeError('truncated varint');
    const b = this.bytes;
    const first = b[p]!;
    const kind = first >>> 6;
    if (kind === 0) {
      this.pos = p + 1;
      return first;
    }
    if (kind === 1) {
      if (p + 2 > this.end) throw new DecodeError('truncated varint');
      const value = ((first & 0x3f) << 8) | b[p + 1]!;
      if (value < 0x40) throw new DecodeError('non-canonical varint');
      this.pos = p + 2;
      return value;
    }
    if (kind === 2) {
      if (p + 4 > this.end) throw new DecodeError('truncated varint');
      const value = (((first & 0x3f) << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
      if (value < 0x4000) throw new DecodeError('non-canonical varint');
      this.pos = p + 4;
      return value;
    }
    if (p + 8 > this.end) throw new DecodeError('truncated varint');
    const high = (((first & 0x3f) << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    const low = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
    if (high > 0x1f_ffff) throw new DecodeError('varint beyond 2^53');
    if (high === 0 && low < 0x4000_0000) throw new DecodeError('non-canonical varint');
    this.pos = p + 8;
    return high * 0x1_0000_0000 + low;
  }

  /** A view (no copy) of the next `length` bytes. */
  view(length: number): Uint8Array {
    const p = this.pos;
    if (length < 0 || p + length > this.end) throw new DecodeError('truncated bytes');
    this.pos = p + length;
    return this.bytes.subarray(p, p + length);
  }

  skip(length: number): void {
    if (length < 0 || this.pos + length > this.end) throw new DecodeError('truncated bytes');
    this.pos += length;
  }
}

export function writeU32(out: Uint8Array, pos: number, value: number): number {
  out[pos] = value >>> 24;
  out[pos + 1] = (value >>> 16) & 0xff;
  out[pos + 2] = (value >>> 8) & 0xff;
  out[pos + 3] = value & 0xff;
  return pos + 4;
}
