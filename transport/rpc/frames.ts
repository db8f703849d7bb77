import { Decoder, Encoder } from 'cbor-x';
import { SkeinError, type WireError } from '../errors.js';
import { transportLimits } from '../limits.js';
import { plainCborProblem } from './plain-cbor.js';

/**
 * The RPC envelope: one CBOR array per message.
 *
 *   [0, id, method, body, timeoutMs]   request (timeoutMs optional: the time the caller still waits)
 *   [1, id, body]                      response
 *   [2, id, {code, message, details?}] error response
 *   [3, method, body]                  one-way notify (broker pushes)
 *   [4, id]                            cancel: the caller stopped waiting (abort or deadline)
 *
 * The deadline travels as a relative budget, not a timestamp, so the two
 * ends need no common clock. Golden bytes in test/fixtures pin this layout.
 */
export type Frame =
  | { kind: 'request'; id: number; method: string; body: unknown; timeoutMs?: number }
  | { kind: 'response'; id: number; body: unknown }
  | { kind: 'error'; id: number; error: WireError }
  | { kind: 'notify'; method: string; body: unknown }
  | { kind: 'cancel'; id: number };

/** A frame that failed its checks; `id` is set when the frame still named a request to answer. */
export interface MalformedFrame {
  kind: 'malformed';
  reason: string;
  requestId?: number;
}

const kindCodes = { request: 0, response: 1, error: 2, notify: 3, cancel: 4 } as const;

/** Correlation ids are unsigned 32-bit so they always take at most five bytes on the wire. */
export const correlationIdMax = 0xffff_ffff;

/**
 * One encoder and one decoder for every channel, configured for plain data:
 * no record structures, no structured clone, no packing, and Uint8Array as a
 * bare byte string (not tag 64), so bodies decode on any CBOR peer.
 */
const encoder = new Encoder({
  useRecords: false,
  structuredClone: false,
  pack: false,
  mapsAsObjects: true,
  tagUint8Array: false,
});
const decoder = new Decoder({
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  // Byte strings come back as views of the received message: record batches are not copied.
  copyBuffers: false,
});

/**
 * Encodes a frame. Throws INVALID_ARGUMENT when the body is not plain data
 * (a Date, a Set, a class instance with a tag, a function inside...), because
 * the peer would refuse it anyway and the caller deserves the reason now.
 */
export function encodeFrame(frame: Frame): Uint8Array {
  let value: unknown[];
  switch (frame.kind) {
    case 'request':
      value =
        frame.timeoutMs === undefined
          ? [kindCodes.request, frame.id, frame.method, frame.body]
          : [kindCodes.request, frame.id, frame.method, frame.body, frame.timeoutMs];
      break;
    case 'response':
      value = [kindCodes.response, frame.id, frame.body];
      break;
    case 'error':
      value = [kindCodes.error, frame.id, frame.error];
      break;
    case 'notify':
      value = [kindCodes.notify, frame.method, frame.body];
      break;
    case 'cancel':
      value = [kindCodes.cancel, frame.id];
      break;
  }
  let bytes: Uint8Array;
  try {
    bytes = encoder.encode(value);
  } catch (error) {
    throw new SkeinError('INVALID_ARGUMENT', { message: `the ${frame.kind} body cannot be encoded as CBOR`, cause: error });
  }
  const problem = plainCborProblem(bytes, transportLimits.rpcFrameDepthMax);
  if (problem !== null) {
    throw new SkeinError('INVALID_ARGUMENT', {
      message: `the ${frame.kind} body is not plain data (${problem}); send numbers, strings, booleans, null, Uint8Array, arrays and plain objects`,
    });
  }
  return bytes;
}

/** Decodes a frame defensively: never throws, and a bad frame says why. */
export function decodeFrame(bytes: Uint8Array): Frame | MalformedFrame {
  const problem = plainCborProblem(bytes, transportLimits.rpcFrameDepthMax);
  if (problem !== null) {
    const requestId = peekRequestId(bytes);
    return requestId === undefined ? { kind: 'malformed', reason: problem } : { kind: 'malformed', reason: problem, requestId };
  }
  let value: unknown;
  try {
    // A plain Uint8Array view (not a Buffer) so byte strings in bodies come back as plain Uint8Array views too.
    const view = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    value = decoder.decode(view);
  } catch (error) {
    return { kind: 'malformed', reason: `undecodable CBOR: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (!Array.isArray(value) || value.length < 2) return { kind: 'malformed', reason: 'not an envelope array' };
  const [code, second] = value as unknown[];
  switch (code) {
    case kindCodes.request: {
      if (!isCorrelationId(second)) return { kind: 'malformed', reason: 'request without a valid correlation id' };
      const id = second;
      const [, , method, body, timeoutMs] = value as unknown[];
      if (value.length !== 4 && value.length !== 5) return { kind: 'malformed', reason: 'request of the wrong length', requestId: id };
      if (!isMethod(method)) return { kind: 'malformed', reason: 'request without a valid method name', requestId: id };
      if (value.length === 5) {
        if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
          return { kind: 'malformed', reason: 'request with a timeout that is not a positive number', requestId: id };
        }
        return { kind: 'request', id, method, body, timeoutMs: Math.min(timeoutMs, transportLimits.rpcTimeoutMsMax) };
      }
      return { kind: 'request', id, method, body };
    }
    case kindCodes.response:
      if (!isCorrelationId(second) || value.length !== 3) return { kind: 'malformed', reason: 'response of the wrong shape' };
      return { kind: 'response', id: second, body: value[2] };
    case kindCodes.error:
      if (!isCorrelationId(second) || value.length !== 3) return { kind: 'malformed', reason: 'error response of the wrong shape' };
      // The error body is checked where it becomes a SkeinError (errorFromWire), which tolerates any shape.
      return { kind: 'error', id: second, error: value[2] as WireError };
    case kindCodes.notify:
      if (!isMethod(second) || value.length !== 3) return { kind: 'malformed', reason: 'notify of the wrong shape' };
      return { kind: 'notify', method: second, body: value[2] };
    case kindCodes.cancel:
      if (!isCorrelationId(second) || value.length !== 2) return { kind: 'malformed', reason: 'cancel of the wrong shape' };
      return { kind: 'cancel', id: second };
    default:
      return { kind: 'malformed', reason: 'unknown frame kind' };
  }
}

/**
 * The correlation id of a frame that starts like a request ([0, id, ...])
 * even when its body is not plain data, so the caller still gets an answer
 * instead of waiting for its deadline.
 */
function peekRequestId(bytes: Uint8Array): number | undefined {
  if ((bytes[0] !== 0x84 && bytes[0] !== 0x85) || bytes[1] !== kindCodes.request) return undefined;
  const initial = bytes[2];
  if (initial === undefined || initial >> 5 !== 0) return undefined;
  const info = initial & 0x1f;
  if (info < 24) return info;
  if (info === 24 && bytes.length > 3) return bytes[3];
  if (info === 25 && bytes.length > 4) return (bytes[3]! << 8) | bytes[4]!;
  if (info === 26 && bytes.length > 6) return ((bytes[3]! << 24) >>> 0) + ((bytes[4]! << 16) | (bytes[5]! << 8) | bytes[6]!);
  return undefined;
}

export function isCorrelationId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= correlationIdMax;
}

export function isMethod(value: unknown): value is string {
  // A UTF-8 byte length is at most three per UTF-16 unit; check the cheap bound before measuring.
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    (value.length * 3 <= transportLimits.rpcMethodBytesMax || Buffer.byteLength(value) <= transportLimits.rpcMethodBytesMax)
  );
}
