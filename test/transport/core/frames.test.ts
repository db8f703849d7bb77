import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AckFrame, encodeClose, readAck, readClose, writeAck, writeMaxData, writeStreamHeader } from '../../../transport/core/frames.js';
import {
  ConnectionId,
  packetType,
  protocolVersion,
  readCookie,
  readParameters,
  writeAccept,
  writeDataHeader,
  writeInit,
  writeRefuse,
  writeRetry,
} from '../../../transport/core/packet.js';
import { RangeSet } from '../../../transport/core/range-set.js';
import { DecodeError, Reader } from '../../../transport/core/varint.js';

function ackFrame(): AckFrame {
  return { largest: 0, ackDelayUs: 0, rangeCount: 0, ranges: new Float64Array(2) };
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('ACK frames', () => {
  it('carry the newest ranges exactly (selective acknowledgement)', () => {
    // fast-check caps arrays at ~10 elements unless given a size, and an ACK only has to drop ranges past 64.
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 5000 }), { maxLength: 300, size: 'max' }), fc.nat(100_000), (received, delayUs) => {
        fc.pre(received.length > 0);
        const set = new RangeSet();
        for (const pn of received) set.add(pn, pn + 1);
        const out = new Uint8Array(4096);
        const end = writeAck(out, 0, out.length, set, delayUs);
        const reader = new Reader(out, 1, end);
        const frame = ackFrame();
        readAck(reader, frame, 64);
        expect(reader.remaining).toBe(0);
        expect(frame.ackDelayUs).toBe(delayUs);
        const sent = Math.min(set.count, 64);
        expect(frame.rangeCount).toBe(sent);
        for (let r = 0; r < sent; r++) {
          const i = set.count - 1 - r;
          expect([frame.ranges[2 * r], frame.ranges[2 * r + 1]]).toEqual([set.start(i), set.end(i)]);
        }
      }),
    );
  });

  it('drop the oldest ranges when the room is small, never the newest', () => {
    const set = new RangeSet();
    for (let pn = 0; pn < 100; pn += 2) set.add(pn, pn + 1);
    const out = new Uint8Array(64);
    const end = writeAck(out, 0, 20, set, 0);
    expect(end).toBeLessThanOrEqual(20);
    const frame = ackFrame();
    readAck(new Reader(out, 1, end), frame, 64);
    expect(frame.largest).toBe(98);
    expect(frame.rangeCount).toBeGreaterThan(1);
    expect(writeAck(out, 0, 3, set, 0)).toBe(0);
    // With a range budget, the newest ranges go out and the rest is left to earlier ACKs.
    const big = new Uint8Array(1024);
    const limited = ackFrame();
    readAck(new Reader(big, 1, writeAck(big, 0, big.length, set, 0, 16)), limited, 64);
    expect(limited.rangeCount).toBe(16);
    expect(limited.ranges[1]).toBe(99);
  });

  it('golden bytes: largest 10, delay 25 µs, ranges [8,11) and [3,6)', () => {
    const set = new RangeSet();
    set.add(3, 6);
    set.add(8, 11);
    const out = new Uint8Array(32);
    expect(hex(out.subarray(0, writeAck(out, 0, 32, set, 25)))).toBe('020a19010201' + '02');
  });

  it('reject ranges below zero and too many ranges', () => {
    const frame = ackFrame();
    expect(() => readAck(new Reader(Uint8Array.from([5, 0, 0, 6])), frame, 64)).toThrow(DecodeError);
    expect(() => readAck(new Reader(Uint8Array.from([5, 0, 1, 2, 3, 0])), frame, 64)).toThrow(DecodeError);
    expect(() => readAck(new Reader(Uint8Array.from([50, 0, 0x40, 200, 0])), frame, 64)).toThrow(DecodeError);
  });
});

describe('other frames and packet headers (golden bytes: a change must be deliberate)', () => {
  const clientCid = new ConnectionId(0x01020304, 0x05060708);
  const serverCid = new ConnectionId(0xa1a2a3a4, 0xb5b6b7b8);
  const params = { messageBytesMax: 16_777_216, receiveWindowBytes: 33_554_432, datagramBytesMax: 1200, ackDelayMaxMs: 5, idleTimeoutMs: 30_000, initialCreditBytes: 0 };

  it('STREAM, MAX_DATA, CLOSE', () => {
    const out = new Uint8Array(64);
    expect(hex(out.subarray(0, writeStreamHeader(out, 0, 70_000, 1174)))).toBe('08' + '80011170' + '4496');
    expect(hex(out.subarray(0, writeMaxData(out, 0, 33_554_432)))).toBe('04' + '82000000');
    expect(hex(encodeClose('', ''))).toBe('050000');
    const close = encodeClose('PROTOCOL_VIOLATION', 'bad ack');
    const reader = new Reader(close, 1);
    expect(readClose(reader)).toEqual({ code: 'PROTOCOL_VIOLATION', reason: 'bad ack' });
  });

  it('DATA header', () => {
    const out = new Uint8Array(32);
    expect(hex(out.subarray(0, writeDataHeader(out, serverCid, 0xdeadbeef)))).toBe('10' + 'a1a2a3a4b5b6b7b8' + 'deadbeef');
  });

  it('INIT is padded; RETRY, ACCEPT and REFUSE are small', () => {
    const out = new Uint8Array(1500);
    const init = writeInit(out, clientCid, null, params, 1200);
    expect(init).toBe(1200);
    expect(hex(out.subarray(0, 32))).toBe(
      '01' + '534b4e01' + '0102030405060708' + '00' + '81000000' + '82000000' + '44b0' + '05' + '80007530' + '000000',
    );
    const reader = new Reader(out, 13, init);
    expect(readCookie(reader).length).toBe(0);
    expect(readParameters(reader)).toEqual(params);
    const cookie = Uint8Array.from([9, 9, 9]);
    const retry = writeRetry(out, clientCid, cookie);
    expect(hex(out.subarray(0, retry))).toBe('02534b4e010102030405060708' + '03090909');
    const accept = writeAccept(out, clientCid, serverCid, params);
    expect(out[0]).toBe(packetType.accept);
    expect(accept).toBeLessThan(64);
    expect(hex(out.subarray(0, writeRefuse(out, clientCid, 1)))).toBe('04534b4e01010203040506070801');
    expect(protocolVersion).toBe(0x534b4e01);
  });

  it('transport parameters out of range are malformed', () => {
    const bad = (p: Partial<typeof params>): (() => void) => {
      const out = new Uint8Array(64);
      const full = { ...params, ...p };
      const end = writeAccept(out, clientCid, serverCid, full);
      return () => readParameters(new Reader(out, 21, end));
    };
    expect(bad({})).not.toThrow();
    expect(bad({ datagramBytesMax: 100 })).toThrow(DecodeError);
    expect(bad({ datagramBytesMax: 70_000 })).toThrow(DecodeError);
    expect(bad({ messageBytesMax: 2 ** 40 })).toThrow(DecodeError);
    expect(bad({ receiveWindowBytes: 10 })).toThrow(DecodeError);
    expect(bad({ ackDelayMaxMs: 5000 })).toThrow(DecodeError);
    expect(bad({ initialCreditBytes: 100 })).toThrow(DecodeError);
    expect(bad({ initialCreditBytes: params.receiveWindowBytes + 1 })).toThrow(DecodeError);
    expect(bad({ initialCreditBytes: 256 * 1024 })).not.toThrow();
  });

  it('initialCreditBytes is optional on the wire: a peer that predates it ends its parameters before it, and reads as 0 (the whole window)', () => {
    const out = new Uint8Array(64);
    const end = writeAccept(out, clientCid, serverCid, { ...params, initialCreditBytes: 256 * 1024 });
    expect(readParameters(new Reader(out, 21, end))).toEqual({ ...params, initialCreditBytes: 256 * 1024 });
    // The same ACCEPT from a server before initialCreditBytes: its last byte is the idle timeout's.
    const older = writeAccept(out, clientCid, serverCid, params) - 1;
    expect(readParameters(new Reader(out, 21, older))).toEqual({ ...params, initialCreditBytes: 0 });
    // A client before it reads a new server's ACCEPT as it always did, the credit varint unread at its end.
    const reader = new Reader(out, 21, end);
    for (let i = 0; i < 5; i++) reader.varint();
    expect(reader.remaining).toBeGreaterThan(0);
  });

  it('connection ids keep a unique 53-bit key and print as hex', () => {
    const out = new Uint8Array(8);
    serverCid.write(out, 0);
    expect(ConnectionId.keyAt(out, 0)).toBe(serverCid.key);
    expect(ConnectionId.hiAt(out, 0)).toBe(serverCid.hi);
    expect(serverCid.toString()).toBe('a1a2a3a4b5b6b7b8');
    expect(Number.isSafeInteger(new ConnectionId(0xffffffff, 0xffffffff).key)).toBe(true);
  });
});
