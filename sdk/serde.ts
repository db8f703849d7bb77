import { Encoder } from 'cbor-x';
import { transportLimits } from '../transport/limits.js';
import { plainCborProblem } from '../transport/rpc/plain-cbor.js';

/**
 * How a topic's keys and values become bytes and back. A serde is plain
 * synchronous code run on the application's thread; it throws on bad input,
 * and the SDK turns that into a typed error naming the record.
 */
export interface Serde<T> {
  serialize(value: T): Uint8Array;
  deserialize(bytes: Uint8Array): T;
}

// Plain data only: no cbor-x record extension (other CBOR readers would not
// understand it), maps read back as objects, byte strings copied out of the
// batch so a kept value does not pin a whole fetched batch in memory.
const cborCodec = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  pack: false,
  tagUint8Array: false,
  copyBuffers: true,
});

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

function asUint8Array(bytes: Uint8Array): Uint8Array {
  // cbor-x hands back Buffers on Node; applications get the plain type the API promises.
  return Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes;
}

function assertPlainCbor(bytes: Uint8Array, hint: string): void {
  const problem = plainCborProblem(bytes, transportLimits.rpcFrameDepthMax);
  if (problem !== null) throw new TypeError(`not plain CBOR (${problem}); ${hint}`);
}

function cbor<T = unknown>(): Serde<T> {
  return {
    serialize: (value) => {
      if (value === undefined) throw new TypeError('undefined has no CBOR form here; use null');
      // A Buffer is a Uint8Array; it only goes into a batch, so no wrapper is needed (it would cost a copy-free allocation per record).
      const bytes: Uint8Array = cborCodec.encode(value);
      // cbor-x tags a Date, Map, Set or huge bigint, which every reader refuses: refuse it here, before it is acknowledged.
      assertPlainCbor(bytes, 'use plain data: objects, arrays, strings, numbers, booleans, null, byte strings');
      return bytes;
    },
    deserialize: (bytes) => {
      // Records come from any producer: refuse CBOR tags before cbor-x sees them (some build objects,
      // one decodes in quadratic time), as the RPC layer does for frames.
      assertPlainCbor(bytes, 'written by something other than this serde');
      const value: unknown = cborCodec.decode(bytes);
      return (value instanceof Uint8Array ? asUint8Array(value) : value) as T;
    },
  };
}

function json<T = unknown>(): Serde<T> {
  return {
    serialize: (value) => {
      const text = JSON.stringify(value);
      if (text === undefined) throw new TypeError(`${typeof value} has no JSON form`);
      return utf8Encoder.encode(text);
    },
    deserialize: (bytes) => JSON.parse(utf8Decoder.decode(bytes)) as T,
  };
}

function bytes(): Serde<Uint8Array> {
  return {
    serialize: (value) => {
      if (!(value instanceof Uint8Array)) throw new TypeError('the bytes serde takes a Uint8Array');
      return value;
    },
    // A copy: the received bytes are a view into a whole fetched batch, which a kept value would pin.
    deserialize: (data) => data.slice(),
  };
}

function string(): Serde<string> {
  return {
    serialize: (value) => {
      if (typeof value !== 'string') throw new TypeError('the string serde takes a string');
      return utf8Encoder.encode(value);
    },
    deserialize: (data) => utf8Decoder.decode(data),
  };
}

/** The serdes that ship with skein. CBOR is the default for keys and values. */
export const serdes = { cbor, json, bytes, string } as const;

export const defaultSerde: Serde<unknown> = cbor();
