import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRaftEnvelope, encodeRaftEnvelope, raftEnvelopeFromWire, raftEnvelopeToWire, type RaftEnvelope } from '../../../broker/raft/codec.js';
import { encodeConfEntry } from '../../../broker/raft/core/membership.js';
import type { Entry, RaftMessage } from '../../../broker/raft/core/types.js';
import { RaftMux } from '../../../broker/raft/mux.js';
import { isSkeinError } from '../../../transport/errors.js';

const id = fc.integer({ min: 1, max: 0xffff_ffff });
const uint = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const small = fc.integer({ min: 0, max: 1_000_000 });

const message: fc.Arbitrary<RaftMessage> = fc.oneof(
  fc.record({ type: fc.constantFrom('preVote' as const, 'vote' as const), from: id, to: id, term: uint, lastIndex: uint, lastTerm: uint, transfer: fc.boolean() }),
  fc.record({ type: fc.constantFrom('preVoteResponse' as const, 'voteResponse' as const), from: id, to: id, term: uint, reject: fc.boolean() }),
  fc
    .record({
      from: id,
      to: id,
      term: fc.integer({ min: 1, max: 1000 }),
      prevIndex: small,
      commit: small,
      terms: fc.array(fc.integer({ min: 1, max: 1000 }), { maxLength: 5 }),
      datas: fc.array(fc.uint8Array({ maxLength: 20 }), { minLength: 5, maxLength: 5 }),
    })
    .map(({ from, to, term, prevIndex, commit, terms, datas }) => {
      const sorted = [...terms].sort((a, b) => a - b).map((t) => Math.min(t, term));
      const prevTerm = sorted.length > 0 ? Math.min(sorted[0]!, term) : term;
      const entries: Entry[] = sorted.map((t, i) => ({ index: prevIndex + 1 + i, term: t, type: i % 2 === 0 ? 'normal' : 'noop', data: i % 2 === 0 ? datas[i]! : new Uint8Array(0) }));
      return { type: 'append' as const, from, to, term, prevIndex, prevTerm, entries, commit };
    }),
  fc.record({ type: fc.constant('appendResponse' as const), from: id, to: id, term: uint, index: uint, reject: fc.boolean(), hintIndex: uint, hintTerm: uint }),
  // A leader before `spare` sends none: both shapes round-trip.
  fc.record({ type: fc.constant('heartbeat' as const), from: id, to: id, term: uint, commit: uint, readRound: uint, spare: fc.boolean() }, { requiredKeys: ['type', 'from', 'to', 'term', 'commit', 'readRound'] }),
  fc.record({ type: fc.constant('heartbeatResponse' as const), from: id, to: id, term: uint, readRound: uint }),
  fc
    .record({ from: id, to: id, term: fc.integer({ min: 1, max: 1000 }), index: fc.integer({ min: 1, max: 1e9 }), data: fc.uint8Array({ maxLength: 64 }), voters: fc.uniqueArray(id, { minLength: 1, maxLength: 5 }) })
    .map(({ from, to, term, index, data, voters }) => ({
      type: 'snapshot' as const,
      from,
      to,
      term,
      snapshot: { meta: { index, term, config: { voters: [...voters].sort((a, b) => a - b), votersOutgoing: [], learners: [], learnersNext: [] } }, data },
    })),
  fc.record({ type: fc.constant('timeoutNow' as const), from: id, to: id, term: uint }),
  fc.record({ type: fc.constant('readIndex' as const), from: id, to: id, term: uint, requestId: fc.string({ minLength: 1, maxLength: 40 }) }),
  fc.record({ type: fc.constant('readIndexResponse' as const), from: id, to: id, term: uint, requestId: fc.string({ minLength: 1, maxLength: 40 }), index: uint }),
);

const envelope: fc.Arbitrary<RaftEnvelope> = fc.record({ group: fc.string({ minLength: 1, maxLength: 30 }), message });

/** Buffers from cbor-x compare by content, not class. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: [...value] };
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

function expectMalformed(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    expect(isSkeinError(error, 'MALFORMED_REQUEST')).toBe(true);
    return;
  }
  throw new Error('expected MALFORMED_REQUEST');
}

describe('raft message codec', () => {
  it('round-trips every message through wire objects and through CBOR bytes', () => {
    fc.assert(
      fc.property(envelope, (env) => {
        expect(plain(raftEnvelopeFromWire(raftEnvelopeToWire(env)))).toEqual(plain(env));
        expect(plain(decodeRaftEnvelope(encodeRaftEnvelope(env)))).toEqual(plain(env));
      }),
    );
  });

  it('pins the wire form and the bytes (a change to either must be deliberate)', () => {
    const append: RaftEnvelope = {
      group: 'orders/0',
      message: { type: 'append', from: 1, to: 2, term: 3, prevIndex: 4, prevTerm: 2, commit: 4, entries: [{ index: 5, term: 3, type: 'normal', data: new Uint8Array([7]) }] },
    };
    expect(plain(raftEnvelopeToWire(append))).toEqual({ g: 'orders/0', t: 5, f: 1, o: 2, e: 3, pi: 4, pt: 2, c: 4, n: [[3, 0, { bytes: [7] }]] });
    const decoded = decodeRaftEnvelope(encodeRaftEnvelope(append)).message;
    // Entry data comes back as a plain Uint8Array view, not a Buffer.
    expect(decoded.type === 'append' && Object.getPrototypeOf(decoded.entries[0]!.data)).toBe(Uint8Array.prototype);
    // Byte strings go untagged (no CBOR tag 64), as the transport's plain-data guard requires.
    expect(Buffer.from(encodeRaftEnvelope(append)).toString('hex')).toBe('b900096167686f72646572732f30617405616601616f026165036270690462707402616304616e818303004107');
    const heartbeat: RaftEnvelope = { group: 'meta', message: { type: 'heartbeat', from: 3, to: 1, term: 9, commit: 120, readRound: 2 } };
    expect(Buffer.from(encodeRaftEnvelope(heartbeat)).toString('hex')).toBe('b900076167646d657461617407616603616f016165096163187862727202');
  });

  it('refuses CBOR with tags before decoding it', () => {
    // The append above with its byte string wrapped in tag 64 (a typed array), as a default cbor-x encoder writes it.
    const tagged = Buffer.from('b900096167686f72646572732f30617405616601616f026165036270690462707402616304616e81830300d8404107', 'hex');
    expectMalformed(() => decodeRaftEnvelope(tagged));
  });

  it('rejects random bytes with MALFORMED_REQUEST and never throws anything else', () => {
    // fast-check caps arrays at ~10 elements unless given a size.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200, size: 'max' }), (bytes) => {
        try {
          decodeRaftEnvelope(bytes);
        } catch (error) {
          expect(isSkeinError(error, 'MALFORMED_REQUEST')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects random wire objects and mutations of valid ones', () => {
    fc.assert(
      fc.property(envelope, fc.string({ maxLength: 3 }), fc.anything(), (env, key, value) => {
        const wire = { ...raftEnvelopeToWire(env), [key]: value };
        try {
          raftEnvelopeFromWire(wire);
        } catch (error) {
          expect(isSkeinError(error, 'MALFORMED_REQUEST')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.anything(), (value) => {
        try {
          raftEnvelopeFromWire(value);
        } catch (error) {
          expect(isSkeinError(error, 'MALFORMED_REQUEST')).toBe(true);
        }
      }),
    );
  });

  it('rejects messages that are well typed but impossible', () => {
    const base = { g: 'g', f: 1, o: 2, e: 5 };
    expectMalformed(() => raftEnvelopeFromWire({ ...base, t: 5, pi: 1, pt: 3, c: 0, n: [[2, 0, new Uint8Array(0)]] })); // entry term below prevTerm
    expectMalformed(() => raftEnvelopeFromWire({ ...base, t: 5, pi: 1, pt: 1, c: 0, n: [[6, 0, new Uint8Array(0)]] })); // entry term past the message's
    expectMalformed(() => raftEnvelopeFromWire({ ...base, t: 5, pi: 1, pt: 1, c: 0, n: [[2, 2, new TextEncoder().encode('{"kind":"nope"}')]] })); // config that does not decode
    expectMalformed(() => raftEnvelopeFromWire({ ...base, t: 7, c: -1, rr: 0 })); // negative
    expectMalformed(() => raftEnvelopeFromWire({ ...base, t: 7, c: 1.5, rr: 0 })); // fractional
    expectMalformed(() => raftEnvelopeFromWire({ ...base, f: 0, t: 10 })); // node 0
    expectMalformed(() => raftEnvelopeFromWire({ ...base, g: 'x'.repeat(600), t: 10 })); // group too long
    expectMalformed(() => raftEnvelopeFromWire({ ...base, t: 9, s: { i: 3, t: 9, v: [1], vo: [], l: [], ln: [], d: new Uint8Array(0) } })); // snapshot term past the message's
    expectMalformed(() => raftEnvelopeFromWire({ ...base, t: 9, s: { i: 3, t: 2, v: [], vo: [], l: [], ln: [], d: new Uint8Array(0) } })); // no voters
    expectMalformed(() => raftEnvelopeFromWire({ ...base, t: 9, s: { i: 3, t: 2, v: [1], vo: [], l: [1], ln: [], d: new Uint8Array(0) } })); // voter and learner
    expectMalformed(() => raftEnvelopeFromWire({ ...base, t: 11, q: '' }));
    expectMalformed(() => raftEnvelopeFromWire({ ...base, t: 99 }));
    // A valid config entry passes.
    const ok = raftEnvelopeFromWire({ ...base, t: 5, pi: 1, pt: 1, c: 0, n: [[2, 2, encodeConfEntry({ kind: 'leaveJoint' })]] });
    expect(ok.message.type).toBe('append');
  });
});

describe('raft mux', () => {
  it('routes by group, and counts and drops the malformed, the forged and the unknown', () => {
    const sent: Array<{ to: number; wire: unknown }> = [];
    const mux = new RaftMux((to, wire) => sent.push({ to, wire }));
    const got: RaftMessage[] = [];
    const unsubscribe = mux.transport('a').onMessage((m) => got.push(m));
    const hb: RaftMessage = { type: 'heartbeat', from: 2, to: 1, term: 1, commit: 0, readRound: 0 };
    mux.transport('a').send(2, hb);
    expect(sent).toHaveLength(1);
    mux.receiveWire(raftEnvelopeToWire({ group: 'a', message: hb }), 2);
    mux.receiveWire(raftEnvelopeToWire({ group: 'b', message: hb }), 2);
    mux.receiveWire(raftEnvelopeToWire({ group: 'a', message: hb }), 3); // claims to be 2, came from 3
    mux.receiveWire({ nonsense: true }, 2);
    expect(got).toEqual([hb]);
    expect(mux.counters).toMatchObject({ received: 1, unknownGroup: 1, malformed: 2, sent: 1 });
    expect(() => mux.transport('a').onMessage(() => undefined)).toThrow();
    expect(() => mux.transport('')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => mux.transport('x'.repeat(600))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    unsubscribe();
    mux.receiveWire(raftEnvelopeToWire({ group: 'a', message: hb }), 2);
    expect(mux.counters.unknownGroup).toBe(2);
  });
});
