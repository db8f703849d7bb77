import { Decoder, Encoder } from 'cbor-x';
import { SkeinError } from '../../transport/errors.js';
import { raftLimits, transportLimits } from '../../transport/limits.js';
import { plainCborProblem } from '../../transport/rpc/index.js';
import { configFromUnknown, decodeConfEntry, isNodeId } from './core/membership.js';
import type { ConfigState, Entry, EntryType, NodeId, RaftMessage, Snapshot } from './core/types.js';

/**
 * Raft messages on the wire: plain CBOR-friendly objects with short keys
 * (the transport's CBOR framing carries them; encodeRaftEnvelope does the
 * CBOR here too for callers that want bytes). Many groups share one broker
 * pair, so every message travels in an envelope naming its group.
 *
 * WireEnvelope => { g: group (text), t: type code, f: from, o: to, e: term, ...per type }
 *   1 preVote / 2 vote          li: lastIndex, lt: lastTerm, x: transfer (bool)
 *   3 preVoteResponse / 4 voteResponse      r: reject (bool)
 *   5 append                    pi: prevIndex, pt: prevTerm, c: commit,
 *                               n: [[term, entry type code, data (bytes)], ...] for indexes prevIndex+1, ...
 *   6 appendResponse            i: index, r: reject, hi: hintIndex, ht: hintTerm
 *   7 heartbeat                 c: commit, rr: readRound, sp: spare (bool; absent from brokers before it)
 *   8 heartbeatResponse         rr: readRound
 *   9 snapshot                  s: { i: index, t: term, v, vo, l, ln: member id lists, d: data (bytes) }
 *  10 timeoutNow
 *  11 readIndex                 q: requestId (text)
 *  12 readIndexResponse         q: requestId, i: index
 * Entry type codes: 0 normal, 1 noop, 2 config. Integers are unsigned safe integers.
 *
 * The decoder trusts nothing: every field is checked for type and bounds,
 * entries must be contiguous with terms that never decrease and never pass
 * the message's term, config entries must decode, and anything else is a
 * MALFORMED_REQUEST that changes nothing.
 */

export interface RaftEnvelope {
  readonly group: string;
  readonly message: RaftMessage;
}

const typeCodes = {
  preVote: 1,
  vote: 2,
  preVoteResponse: 3,
  voteResponse: 4,
  append: 5,
  appendResponse: 6,
  heartbeat: 7,
  heartbeatResponse: 8,
  snapshot: 9,
  timeoutNow: 10,
  readIndex: 11,
  readIndexResponse: 12,
} as const satisfies Record<RaftMessage['type'], number>;

const entryTypeCodes: Record<EntryType, number> = { normal: 0, noop: 1, config: 2 };
const entryTypes: readonly EntryType[] = ['normal', 'noop', 'config'];

export type WireEnvelope = Record<string, unknown>;

const textEncoder = new TextEncoder();

export function raftEnvelopeToWire(envelope: RaftEnvelope): WireEnvelope {
  const m = envelope.message;
  const wire: WireEnvelope = { g: envelope.group, t: typeCodes[m.type], f: m.from, o: m.to, e: m.term };
  switch (m.type) {
    case 'preVote':
    case 'vote':
      wire.li = m.lastIndex;
      wire.lt = m.lastTerm;
      wire.x = m.transfer;
      break;
    case 'preVoteResponse':
    case 'voteResponse':
      wire.r = m.reject;
      break;
    case 'append':
      wire.pi = m.prevIndex;
      wire.pt = m.prevTerm;
      wire.c = m.commit;
      wire.n = m.entries.map((e) => [e.term, entryTypeCodes[e.type], e.data]);
      break;
    case 'appendResponse':
      wire.i = m.index;
      wire.r = m.reject;
      wire.hi = m.hintIndex;
      wire.ht = m.hintTerm;
      break;
    case 'heartbeat':
      wire.c = m.commit;
      wire.rr = m.readRound;
      if (m.spare !== undefined) wire.sp = m.spare;
      break;
    case 'heartbeatResponse':
      wire.rr = m.readRound;
      break;
    case 'snapshot':
      wire.s = snapshotToWire(m.snapshot);
      break;
    case 'timeoutNow':
      break;
    case 'readIndex':
      wire.q = m.requestId;
      break;
    case 'readIndexResponse':
      wire.q = m.requestId;
      wire.i = m.index;
      break;
  }
  return wire;
}

/** What of a group's log an append or a snapshot carries (see replicationSpan). */
export interface ReplicationSpan {
  readonly kind: 'append' | 'snapshot';
  /** The sender's term: within one term a leader's entry at an index never changes. */
  readonly term: number;
  /** An append's entries are fromIndex+1..toIndex (its prevIndex and last index); a snapshot's index is both. */
  readonly fromIndex: number;
  readonly toIndex: number;
}

/**
 * For a wire object this broker built (so trusted): the log span of an append
 * or a snapshot, the messages that carry a group's log in order and must not
 * overtake one another (see broker/cluster/peer-lanes.ts); null for every
 * other message.
 */
export function replicationSpan(wire: WireEnvelope): ReplicationSpan | null {
  const term = wire.e as number;
  if (wire.t === typeCodes.append) {
    const fromIndex = wire.pi as number;
    return { kind: 'append', term, fromIndex, toIndex: fromIndex + (wire.n as unknown[]).length };
  }
  if (wire.t === typeCodes.snapshot) {
    const index = (wire.s as { i: number }).i;
    return { kind: 'snapshot', term, fromIndex: index, toIndex: index };
  }
  return null;
}

// Plain CBOR as the transport's frames use it: byte strings untagged, no records, and a
// decoder that only ever sees bytes the plain-data guard accepted (no tags from peers).
const cborEncoder = new Encoder({ useRecords: false, structuredClone: false, pack: false, mapsAsObjects: true, tagUint8Array: false });
const cborDecoder = new Decoder({ useRecords: false, structuredClone: false, mapsAsObjects: true });

/** A wire object as plain CBOR bytes. */
export function encodeWire(wire: WireEnvelope): Uint8Array {
  return cborEncoder.encode(wire);
}

/** Plain CBOR bytes back to a (not yet validated) wire object; MALFORMED_REQUEST if they are not plain CBOR. */
export function decodeWire(bytes: Uint8Array): unknown {
  const problem = plainCborProblem(bytes, transportLimits.rpcFrameDepthMax);
  if (problem !== null) throw new SkeinError('MALFORMED_REQUEST', { message: `raft message is not plain CBOR: ${problem}` });
  try {
    // From a plain view (not a Buffer), cbor-x hands byte strings back as plain Uint8Array views.
    return cborDecoder.decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (cause) {
    throw new SkeinError('MALFORMED_REQUEST', { message: 'raft message is not CBOR', cause });
  }
}

export function encodeRaftEnvelope(envelope: RaftEnvelope): Uint8Array {
  return encodeWire(raftEnvelopeToWire(envelope));
}

/** Decodes CBOR bytes into an envelope; MALFORMED_REQUEST for anything that is not one. */
export function decodeRaftEnvelope(bytes: Uint8Array): RaftEnvelope {
  return raftEnvelopeFromWire(decodeWire(bytes));
}

class Malformed extends Error {}

function bad(what: string): never {
  throw new Malformed(what);
}

/** Validates a decoded wire object into an envelope; MALFORMED_REQUEST for anything that is not one. */
export function raftEnvelopeFromWire(value: unknown): RaftEnvelope {
  try {
    return parseEnvelope(value);
  } catch (error) {
    if (error instanceof Malformed) {
      throw new SkeinError('MALFORMED_REQUEST', { message: `malformed raft message: ${error.message}` });
    }
    throw error;
  }
}

function parseEnvelope(value: unknown): RaftEnvelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) bad('not a map');
  const w = value as Record<string, unknown>;
  const group = w.g;
  if (typeof group !== 'string' || group.length === 0) bad('group');
  if (textEncoder.encode(group).byteLength > raftLimits.groupIdBytesMax) bad('group too long');
  const from = nodeId(w.f, 'from');
  const to = nodeId(w.o, 'to');
  const term = uint(w.e, 'term');
  const base = { from, to, term };
  let message: RaftMessage;
  switch (w.t) {
    case typeCodes.preVote:
    case typeCodes.vote:
      message = {
        type: w.t === typeCodes.preVote ? 'preVote' : 'vote',
        ...base,
        lastIndex: uint(w.li, 'lastIndex'),
        lastTerm: uint(w.lt, 'lastTerm'),
        transfer: bool(w.x, 'transfer'),
      };
      break;
    case typeCodes.preVoteResponse:
    case typeCodes.voteResponse:
      message = { type: w.t === typeCodes.preVoteResponse ? 'preVoteResponse' : 'voteResponse', ...base, reject: bool(w.r, 'reject') };
      break;
    case typeCodes.append: {
      const prevIndex = uint(w.pi, 'prevIndex');
      const prevTerm = uint(w.pt, 'prevTerm');
      message = { type: 'append', ...base, prevIndex, prevTerm, commit: uint(w.c, 'commit'), entries: parseEntries(w.n, prevIndex, prevTerm, term) };
      break;
    }
    case typeCodes.appendResponse:
      message = {
        type: 'appendResponse',
        ...base,
        index: uint(w.i, 'index'),
        reject: bool(w.r, 'reject'),
        hintIndex: uint(w.hi, 'hintIndex'),
        hintTerm: uint(w.ht, 'hintTerm'),
      };
      break;
    case typeCodes.heartbeat:
      message = { type: 'heartbeat', ...base, commit: uint(w.c, 'commit'), readRound: uint(w.rr, 'readRound'), ...(w.sp === undefined ? {} : { spare: bool(w.sp, 'spare') }) };
      break;
    case typeCodes.heartbeatResponse:
      message = { type: 'heartbeatResponse', ...base, readRound: uint(w.rr, 'readRound') };
      break;
    case typeCodes.snapshot:
      message = { type: 'snapshot', ...base, snapshot: parseSnapshot(w.s, term) };
      break;
    case typeCodes.timeoutNow:
      message = { type: 'timeoutNow', ...base };
      break;
    case typeCodes.readIndex:
      message = { type: 'readIndex', ...base, requestId: requestId(w.q) };
      break;
    case typeCodes.readIndexResponse:
      message = { type: 'readIndexResponse', ...base, requestId: requestId(w.q), index: uint(w.i, 'index') };
      break;
    default:
      bad('unknown message type');
  }
  return { group, message };
}

function parseEntries(value: unknown, prevIndex: number, prevTerm: number, messageTerm: number): Entry[] {
  if (!Array.isArray(value)) bad('entries');
  if (value.length > raftLimits.entriesPerAppendMax) bad('too many entries');
  const entries: Entry[] = [];
  let lastTerm = prevTerm;
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    if (!Array.isArray(item) || item.length !== 3) bad('entry');
    const term = uint(item[0], 'entry term');
    if (term < lastTerm || term > messageTerm || term === 0) bad('entry terms must not decrease nor pass the message term');
    lastTerm = term;
    const typeCode = item[1];
    if (typeof typeCode !== 'number' || !Number.isInteger(typeCode) || entryTypes[typeCode] === undefined) bad('entry type');
    const type = entryTypes[typeCode]!;
    const data = bytes(item[2], 'entry data', raftLimits.entryBytesMax);
    if (type === 'config' && typeof decodeConfEntry(data) === 'string') bad('config entry does not decode');
    entries.push({ index: prevIndex + 1 + i, term, type, data });
  }
  return entries;
}

/** A snapshot as a plain CBOR-friendly object (messages carry it; a replica's snapshot file holds it). */
export function snapshotToWire(snapshot: Snapshot): Record<string, unknown> {
  const { meta, data } = snapshot;
  const c = meta.config;
  return { i: meta.index, t: meta.term, v: c.voters, vo: c.votersOutgoing, l: c.learners, ln: c.learnersNext, d: data };
}

/** Validates a snapshot from untrusted plain data; MALFORMED_REQUEST if it is not one. */
export function snapshotFromWire(value: unknown): Snapshot {
  try {
    return parseSnapshot(value, Number.MAX_SAFE_INTEGER);
  } catch (error) {
    if (error instanceof Malformed) throw new SkeinError('MALFORMED_REQUEST', { message: `malformed snapshot: ${error.message}` });
    throw error;
  }
}

function parseSnapshot(value: unknown, messageTerm: number): Snapshot {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('snapshot');
  const s = value as Record<string, unknown>;
  const index = uint(s.i, 'snapshot index');
  const term = uint(s.t, 'snapshot term');
  if (index === 0 || term === 0 || term > messageTerm) bad('snapshot index/term');
  const config = configFromUnknown({ voters: s.v, votersOutgoing: s.vo, learners: s.l, learnersNext: s.ln });
  if (typeof config === 'string') bad(config);
  if (config.voters.length === 0) bad('snapshot configuration has no voters');
  return { meta: { index, term, config: config satisfies ConfigState }, data: bytes(s.d, 'snapshot data', raftLimits.snapshotBytesMax) };
}

function uint(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) bad(what);
  return value;
}

function nodeId(value: unknown, what: string): NodeId {
  if (!isNodeId(value)) bad(what);
  return value;
}

function bool(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') bad(what);
  return value;
}

function bytes(value: unknown, what: string, max: number): Uint8Array {
  if (!(value instanceof Uint8Array)) bad(what);
  if (value.byteLength > max) bad(`${what} too large`);
  return value;
}

function requestId(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || textEncoder.encode(value).byteLength > raftLimits.readRequestIdBytesMax) bad('requestId');
  return value;
}
